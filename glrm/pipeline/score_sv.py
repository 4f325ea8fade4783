"""`glrm score-sv`: score the structural variants of a VCF with a DNA language model; write it back annotated.

Same order of work as `glrm.pipeline.score_vcf` (whose device helper it reuses):
1. options (`ScoreSvOptions.validate`), then the output paths (VCF, BED, --track-dir: created when missing),
   before anything is read;
2. the inputs: FASTA, VCF header, `-r/-R`, the VCF's ##contig lengths against the FASTA;
3. the checkpoint folder, the window against the model's trained length: HyenaDNA cannot go past it (error);
   Mamba/Caduceus may (extrapolation): a warning on stderr and `Extrapolation=` in `##glrm_model`;
4. threads, device, the model, the SV engine (`glrm.scoring.sv.SVEngine`), `--chunk-size auto`;
5. records stream one at a time: per ALT the SV windows (`glrm.windows.allele_windows(..., sv=True)`: one
   window in fits mode and for BND, two in breakpoint mode), the allele's status (`allele_status`: the first
   non-OK window's), the engine's scores for OK alleles, and every record written in input order with one
   value per ALT for each INFO key, one BED row per ALT and, with --track-dir, one bedGraph per scored ALT.
Outputs are atomic: an error or Ctrl-C leaves no partial VCF, index, BED or track file.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from glrm.errors import InputError, OutputError
from glrm.io.fields import DEFINITIONS_VERSION, GLRM_STATUS, score_sv_fields
from glrm.io.vcf import Record
from glrm.pipeline.options import ScoreSvOptions
from glrm.pipeline.progress import RunSummary
from glrm.pipeline.score_vcf import resolve_device
from glrm.pipeline.session import check_outputs, finish, open_inputs, open_outputs
from glrm.resources import auto_chunk_size, set_threads
from glrm.variants import Allele, Kind, Status
from glrm.windows import Window, allele_status, allele_windows

log = logging.getLogger(__name__)


def check_sv_outputs(opts: ScoreSvOptions) -> str:
    """The output paths of score-sv (`session.check_outputs`, as score-vcf), and the --track-dir folder:
    created when missing; refused when it cannot be. Returns the VCF output type."""
    out_type = check_outputs(opts)
    if opts.track_dir is not None:
        prepare_track_dir(opts.track_dir)
    return out_type


def prepare_track_dir(path: str) -> Path:
    """The --track-dir folder, created (with parents) when missing; refused when it is a file or read-only."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise OutputError(f"--track-dir {path}: is a file, not a folder; give a folder name")
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"--track-dir {path}: cannot create the folder ({e.strerror}); choose another "
                          "folder") from e
    if not os.access(p, os.W_OK | os.X_OK):
        raise OutputError(f"--track-dir {path}: the folder is not writable; choose another folder")
    return p


def sv_window(ckpt, requested: int | None) -> tuple[int, int | None]:
    """(window, trained length when the window goes past it, else None).

    The trained length is `glrm.models.info.trained_window`. HyenaDNA cannot run past it (`max_seq_len - 2`
    bases; its positional table): an error with the fix. Mamba and Caduceus run any length; past the trained
    length the scores are extrapolation: a warning here, and the caller writes `Extrapolation=...` into
    `##glrm_model`.
    """
    from glrm.models.info import trained_window, window_is_limit
    from glrm.models.loading import checkpoint_max_length
    from glrm.windows import check_window

    max_len, source = checkpoint_max_length(ckpt)
    limit = trained_window(ckpt.family, max_len)
    if requested is None:
        check_window(limit)
        return limit, None
    check_window(requested)
    if requested <= limit:
        return requested, None
    if window_is_limit(ckpt.family):
        raise InputError(
            f"--window {requested} is longer than {ckpt.name} can take: {limit} bases (HyenaDNA max_seq_len "
            f"{max_len} minus 2, from {source}); HyenaDNA cannot extrapolate (positional embedding). Give "
            f"--window {limit} or less, or a longer-context checkpoint such as hyenadna-large-1m")
    log.warning("--window %d is longer than %s's trained length of %d bases (%s): scores past it are "
                "extrapolation (noted in ##glrm_model)", requested, ckpt.name, limit, source)
    return requested, limit


def bed_span(allele: Allele) -> tuple[int, int]:
    """The BED start/end of an SV allele: POS0 .. END for symbolic alleles with a usable INFO/END,
    else the REF span (spelled-out alleles, BND: the REF bases as written)."""
    if allele.kind is Kind.SV_SYMBOLIC and allele.sv.end is not None and allele.sv.end >= allele.pos:
        return allele.pos - 1, allele.sv.end
    return allele.start, max(allele.end, allele.start + 1)


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class TrackNames:
    """File names of the bedGraph tracks: the record ID (sanitised), or CHROM_POS without one; `_altN` for
    records with several ALTs; `_recN` (N = the record's 1-based number in the input) when that name was
    already used in this run (novoBreak gives every call the ID 'N')."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def name(self, rec: Record, allele: Allele) -> str:
        base = allele.id if allele.id not in ("", ".") else f"{allele.chrom}_{allele.pos}"
        base = _UNSAFE.sub("_", base).strip("._") or f"{allele.chrom}_{allele.pos}"
        if len(rec.alts) > 1:
            base += f"_alt{allele.alt_index + 1}"
        if base in self.used:
            base += f"_rec{rec.index + 1}"
        self.used.add(base)
        return base + ".bedgraph"


@dataclass
class SvSummary(RunSummary):
    """score-sv's summary lines on stderr (counts per status, the first reason of each, outputs)."""

    imprecise: int = 0
    tracks: int = 0

    def lines(self) -> list[str]:
        order = [s.value for s in Status]
        counts = ", ".join(f"{k} {self.statuses[k]:,}" for k in order if k in self.statuses) or "none"
        out = [
            f"glrm score-sv: {self.records:,} records, {self.alleles:,} ALT alleles: {counts}"
            + self.resumed_note(),
            f"glrm score-sv: {self.passes:,} model passes, {self.geometry()}, "
            f"{self.seconds:.1f} s wall, device {self.device}",
        ]
        if self.imprecise:
            out.append(f"glrm score-sv: {self.imprecise:,} IMPRECISE calls scored at POS/END "
                       "(CIPOS/CIEND kept as written)")
        for key in order:
            if key in self.examples:
                out.append(f"glrm score-sv: first {key}: {self.examples[key]}")
        if self.outputs:
            out.append("glrm score-sv: wrote " + ", ".join(self.outputs))
        return out


def score_sv(opts: ScoreSvOptions) -> SvSummary:
    """Run `glrm score-sv` with `opts`; return the summary (also printed on stderr unless quiet)."""
    t0 = time.perf_counter()
    opts.validate()
    out_type = check_sv_outputs(opts)
    with ExitStack() as stack:
        inp = open_inputs(opts, stack)

        from glrm.models.loading import inspect_checkpoint

        ckpt = inspect_checkpoint(opts.model)
        window, trained = sv_window(ckpt, opts.window)
        set_threads(opts.threads)
        device = resolve_device(opts.device)

        from glrm.models import load_model
        from glrm.scoring.sv import SVEngine

        model = load_model(opts.model, device=device)
        chunk = auto_chunk_size(model, window, device) if opts.chunk_size == "auto" else opts.chunk_size
        engine = SVEngine(model, emb_flank=opts.emb_flank, rc=opts.rc, chunk_size=chunk,
                          precision=opts.precision, device=device, want_track=opts.track_dir is not None)

        fields = score_sv_fields()
        info = model.info
        meta: dict[str, object] = {"ID": info.name, "Checkpoint": info.checkpoint, "SHA256": info.sha256,
                                   "Window": window, "RC": opts.rc, "Precision": opts.precision,
                                   "EmbFlank": opts.emb_flank, "Definitions": DEFINITIONS_VERSION}
        if chunk is not None:
            # the option as given: an auto chunk depends on the machine's free memory, and shards scored on
            # different GPUs must keep identical headers for `glrm merge` (the summary line names the chunk)
            meta["ChunkSize"] = opts.chunk_size
        if trained is not None:
            meta["Extrapolation"] = f"window {window} is beyond the trained length {trained} of {info.name}"

        def open_tracks(st: ExitStack):   # committed after the progress bar closes, before the BED and VCF
            return st.enter_context(_Tracks(opts.track_dir, info.name)) if opts.track_dir else None

        out = open_outputs(opts, stack, inp, out_type, fields, fields, meta, before_progress=open_tracks,
                           command_name="glrm score-sv")
        tracks = out.extra[0]
        summary = SvSummary(device=str(device), window=window, chunk=chunk,
                            chunk_auto=opts.chunk_size == "auto")
        out.progress.follow(engine)
        for rec in out.records:
            _score_record(opts, inp.fasta, engine, window, rec, out.vcf, out.bed, tracks, summary)
            if inp.resume is not None:
                inp.resume.commit(1)
            out.progress.advance(1, len(rec.alleles))
        summary.passes = engine.passes_run
    extra = ()
    if tracks is not None:
        summary.tracks = tracks.written
        extra = (f"{tracks.written:,} tracks in {opts.track_dir}",)
    finish(opts, summary, t0, inp.resume, extra)
    return summary


def reported_window(windows: list[Window], bp: int) -> Window:
    """The window whose values an allele reports: the breakpoint `bp` (1 or 2) in breakpoint mode."""
    return windows[bp - 1] if len(windows) == 2 else windows[0]


def _score_record(opts: ScoreSvOptions, fasta, engine, window, rec: Record, vcf_out, bed_out, tracks,
                  summary) -> None:
    per_alt = []
    for allele in rec.alleles:
        wins = allele_windows(fasta, allele, window, sv=True, max_n_frac=opts.max_n_frac,
                              max_sv_len=opts.max_sv_len)
        status = allele_status(wins)
        scores = engine.score_allele(wins) if status is Status.OK else None
        per_alt.append((allele, wins, status, scores))
        note = next((w.note for w in wins if not w.ok), "")
        where = (f"{opts.input}: line {rec.line}" if rec.line is not None
                 else f"{opts.input}: {rec.chrom}:{rec.pos}")
        summary.add(status, f"{where} ALT {allele.alt}", note, allele.kind)
        if status is Status.OK and allele.sv.imprecise:
            summary.imprecise += 1
        if tracks is not None and scores is not None and scores.track is not None:
            tracks.write(rec, allele, reported_window(wins, scores.bp), scores)
    values: dict[str, list[object]] = {
        "GLRM_SV_EMB": [s.emb if s else None for _, _, _, s in per_alt],
        "GLRM_SV_LLR": [s.llr if s else None for _, _, _, s in per_alt],
        "GLRM_SV_REACH": [s.reach if s else None for _, _, _, s in per_alt],
        "GLRM_SV_BP": [s.bp if s else None for _, _, _, s in per_alt],
        GLRM_STATUS.id: [st.value for _, _, st, _ in per_alt],
    }
    vcf_out.write(rec.raw, values)
    if bed_out is not None:
        for k, (allele, _w, _st, _s) in enumerate(per_alt):
            start, end = bed_span(allele)
            bed_out.write_row(allele.chrom, start, end, allele.name, {key: v[k] for key, v in values.items()})
    summary.records += 1


class _Tracks:
    """Writes one bedGraph per scored ALT into the track folder (each file atomic on its own). On an error
    the files already finished stay: each is complete; none is left half-written. With --resume they are
    written into the checkpoint's track folder and moved into place when the run succeeds."""

    def __init__(self, folder: str, model_name: str) -> None:
        self.target = self.folder = Path(folder)
        self.model_name = model_name
        self.names = TrackNames()
        self.written = 0
        self.resume = None      # glrm.pipeline.resume.ResumeState with --resume

    def resume_into(self, resume) -> None:
        self.resume = resume
        self.folder = resume.track_folder
        try:
            self.folder.mkdir(exist_ok=True)
        except OSError as e:
            raise OutputError(f"{self.folder}: cannot create the checkpoint's track folder ({e.strerror}); "
                              "choose another output path or drop --resume") from None

    def replayed(self, name: str) -> None:
        """A track a killed run wrote (into the checkpoint) before the record was checkpointed."""
        self.names.used.add(Path(name).stem)
        self.written += 1

    def __enter__(self) -> _Tracks:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None and self.folder != self.target:
            for f in sorted(self.folder.iterdir()):
                if f.suffix == ".bedgraph":
                    shutil.move(str(f), str(self.target / f.name))
        return None

    def write(self, rec: Record, allele: Allele, win: Window, scores) -> None:
        from glrm.io.bedgraph import TrackMeta, write_bedgraph

        positions, values = scores.track
        name = self.names.name(rec, allele)
        if allele.kind is Kind.BND:
            mode = "bnd"
        else:
            mode = "fits" if win.bp == 0 else "breakpoint"
        meta = TrackMeta(
            name=Path(name).stem, chrom=win.chrom, window_start=win.ref_start,
            window_end=win.ref_start + len(win.ref), event_start=win.s, event_end=win.e, mode=mode,
            bp=scores.bp, sv=_sv_label(allele), vcf_id=allele.id, vcf_pos=allele.pos,
            mate=(f"{allele.bnd.mate_chrom}:{allele.bnd.mate_pos0 + 1}" if allele.bnd else None),
            own_side=("left" if len(win.left) else "right") if mode == "bnd" else None,
            model=self.model_name, emb=scores.emb, reach=scores.reach)
        write_bedgraph(self.folder / name, meta, positions, values)
        if self.resume is not None:
            self.resume.record_track(name)
        self.written += 1


def _sv_label(allele: Allele) -> str:
    if allele.kind is Kind.BND:
        return "BND"
    if allele.kind is Kind.SV_SYMBOLIC:
        return allele.alt.strip("<>")
    return allele.sv.svtype or allele.kind.value

