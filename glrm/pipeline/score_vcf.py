"""`glrm score-vcf`: score every ALT of a VCF with a DNA language model and write the VCF back, annotated.

Order of work (everything a user can get wrong fails before the model loads):
1. options (`ScoreVcfOptions.validate`), then the output paths (`session.check_outputs`: VCF and BED writable,
   type known);
2. the inputs: FASTA, VCF header, `-r/-R`, the VCF's ##contig lengths against the FASTA (wrong assembly);
3. the checkpoint folder (files present, format), the window against what the model can take;
4. torch threads and device, the model, the engine (`glrm.scoring.engine.SmallVariantEngine`);
5. records stream in blocks (bounded memory): one small-variant window per ALT (`glrm.windows.small_window`,
   plus the mirrored window for `--rc mean` unless the model is RC-equivariant), the OK ones go to the
   engine, and every record is written in input order with one value per ALT for each INFO key, and one
   BED row per ALT. Nothing is dropped, reordered or rewritten; non-OK ALTs get their status and '.'.
   With --resume the finished records are checkpointed at least every GLRM_CHECKPOINT_SECONDS of work
   (`_Run`: blocks cut by time at one window per forward pass, of a fixed size with larger batches).
Output files are atomic: an error or Ctrl-C leaves no partial VCF, index or BED.

`--scores` picks the score keys (glrm.io.fields.SCORE_FIELDS: glrm's llr, cllr, mlr, emb and the published
recipes evo2, gpn_llr, gpn_cos, gpn_euc): only the requested ones are declared in the header and written;
GLRM_STATUS is always written. A key is declared whatever the model kind (with '.' values where it is not
defined), so that every model gives the same header; the BED drops the columns the model kind cannot fill
(for masked models its score column is then GLRM_MLR).
"""

from __future__ import annotations

import logging
import os
import time
from contextlib import ExitStack
from dataclasses import dataclass

from glrm.errors import InputError
from glrm.io.fields import (
    BOTH_STRANDS,
    DEFINITIONS_VERSION,
    GLRM_MLR,
    GLRM_MLR_TILE,
    GLRM_STATUS,
    SCORE_FIELDS,
    InfoField,
    defined_for,
    needs_mirror,
    score_vcf_fields,
)
from glrm.io.vcf import Record
from glrm.pipeline.options import ScoreVcfOptions
from glrm.pipeline.progress import RunSummary
from glrm.pipeline.session import check_outputs, finish, open_inputs, open_outputs
from glrm.resources import auto_chunk_size, set_threads
from glrm.variants import Status
from glrm.windows import Window, check_window, small_window

log = logging.getLogger(__name__)

BLOCK_BASES = 1 << 26      # window bases held per block (ref + alt strings), bounds memory for long windows
BLOCK_JOBS = 512           # at most this many OK alleles per engine call
BLOCK_BATCHES = 4          # with batches of more than one window: about this many batches per engine call


# --- model-dependent settings ------------------------------------------------------------------------

def model_window(ckpt, requested: int | None) -> int:
    """The window length: `requested`, or the checkpoint's trained context; refused above what it takes.

    The trained context is `glrm.models.info.trained_window`: HyenaDNA takes at most `max_seq_len - 2` bases.
    Caduceus and Mamba run any length, so a longer window only gets a warning.
    """
    from glrm.models.info import trained_window, window_is_limit
    from glrm.models.loading import checkpoint_max_length

    max_len, source = checkpoint_max_length(ckpt)
    limit = trained_window(ckpt.family, max_len)
    if requested is None:
        check_window(limit)
        return limit
    if requested > limit:
        if window_is_limit(ckpt.family):
            raise InputError(
                f"--window {requested} is longer than {ckpt.name} can take: {limit} bases (HyenaDNA "
                f"max_seq_len {max_len} minus 2, from {source}); give --window {limit} or less, or a "
                "longer-context checkpoint"
            )
        log.warning("--window %d is longer than %s's trained context of %d bases (%s); scores past it "
                    "are extrapolation", requested, ckpt.name, limit, source)
    return requested


def resolve_device(name: str):
    """'auto' -> cuda when available, else cpu; otherwise the named device, checked."""
    import torch

    from glrm.models.loading import parse_device

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return parse_device(name)


# --- the run -------------------------------------------------------------------------------------------

def _where(path: str, rec: Record) -> str:
    return f"{path}: line {rec.line}" if rec.line is not None else f"{path}: record {rec.chrom}:{rec.pos}"


def check_scores_defined(scores: tuple[str, ...], ckpt) -> None:
    """Refuse a --scores list none of whose scores is defined for the checkpoint's kind (before any weights
    load)."""
    causal = ckpt.family != "caduceus"
    if not any(defined_for(name, causal) for name in scores):
        kind = "a causal model (HyenaDNA, Mamba)" if causal else "a masked model (Caduceus)"
        usable = ",".join(n for n in SCORE_FIELDS if defined_for(n, causal))
        raise InputError(f"--scores {','.join(scores)}: none of these is defined for {ckpt.name}, "
                         f"{kind}; ask for some of {usable}")


@dataclass
class SmallVariantScorer:
    """What `open_small_variant_engine` sets up: the model on its device, the engine, the chunk size it
    resolved (for the summary line) and the `##glrm_model` fields."""

    model: object
    engine: object
    device: object
    chunk: int | None
    meta: dict


def open_small_variant_engine(opts, scores: tuple[str, ...], window: int, meta_extra: dict | None = None,
                              **config) -> SmallVariantScorer:
    """Threads, device, the model and score-vcf's engine for `opts` (score-vcf and score-haplotypes);
    `meta_extra`: `##glrm_model` fields after Definitions; `config`: further EngineConfig fields."""
    set_threads(opts.threads)
    device = resolve_device(opts.device)

    from glrm.models import load_model
    from glrm.scoring.engine import EngineConfig, SmallVariantEngine

    model = load_model(opts.model, device=device)
    chunk = opts.chunk_size
    if chunk == "auto":
        chunk = auto_chunk_size(model, window, device)   # the summary line names it
    engine = SmallVariantEngine(model, EngineConfig(
        scores=scores, rc=opts.rc, emb_flank=opts.emb_flank, batch_size=opts.batch_size,
        chunk_size=chunk, precision=opts.precision, tile=opts.tile, **config), device)
    meta = {"ID": model.info.name, "Checkpoint": model.info.checkpoint, "SHA256": model.info.sha256,
            "Window": window, "RC": opts.rc, "Precision": opts.precision, "Definitions": DEFINITIONS_VERSION,
            **(meta_extra or {})}
    if opts.tile:
        meta["Mode"], meta["TileStride"] = "tile", window // 2
    return SmallVariantScorer(model, engine, device, chunk, meta)


def score_vcf(opts: ScoreVcfOptions) -> RunSummary:
    """Run `glrm score-vcf` with `opts`; return the summary (also printed on stderr unless quiet)."""
    t0 = time.perf_counter()
    opts.validate()
    out_type = check_outputs(opts)
    with ExitStack() as stack:
        inp = open_inputs(opts, stack)

        from glrm.models.loading import inspect_checkpoint

        ckpt = inspect_checkpoint(opts.model)   # missing files, unknown format: before any weights load
        check_scores_defined(opts.scores, ckpt)
        window = model_window(ckpt, opts.window)
        s = open_small_variant_engine(opts, opts.scores, window)
        model, engine, device, chunk = s.model, s.engine, s.device, s.chunk

        vcf_fields = fields_for(opts.scores, causal=None, tile=opts.tile)   # the same header for every model
        bed_fields = fields_for(opts.scores, causal=model.info.kind == "causal", tile=opts.tile)
        out = open_outputs(opts, stack, inp, out_type, vcf_fields, bed_fields, s.meta)
        summary = RunSummary(device=str(device), window=window, chunk=chunk,
                             chunk_auto=opts.chunk_size == "auto")
        run = _Run(opts, inp.fasta, model, engine, window, vcf_fields, bed_fields, out.vcf, out.bed, summary,
                   out.progress, inp.resume)
        out.progress.follow(engine)
        run.stream(out.records)
        summary.passes = engine.passes_run
    # the stack closed the bar first (entered last), then committed the BED and the VCF (with its index)
    finish(opts, summary, t0, inp.resume)
    return summary


class _Run:
    """The streaming loop: records in blocks, windows per ALT, engine per block, writes in input order."""

    def __init__(self, opts: ScoreVcfOptions, fasta, model, engine, window, vcf_fields, bed_fields, vcf_out,
                 bed_out, summary, progress, resume=None) -> None:
        self.opts, self.model, self.engine, self.window = opts, model, engine, window
        # tile mode: the variants of a tile fetch the same ref window; read it from the FASTA once
        self.fasta = LastFetch(fasta, window) if opts.tile else fasta
        self.vcf_keys = [f.id for f in vcf_fields]
        self.bed_keys = [f.id for f in bed_fields]
        self.vcf_out, self.bed_out, self.summary, self.progress = vcf_out, bed_out, summary, progress
        # the engine gets both strands of an RC-equivariant (masked) checkpoint from one pass; others need
        # the mirrored windows (with --rc mean, and for SNVs/MNVs with GPN's both-strand recipes)
        self.one_pass = model.info.rc_equivariant and model.info.kind == "masked"
        both = opts.rc == "mean" or bool(BOTH_STRANDS.intersection(opts.scores))
        self.mirror = both and not self.one_pass
        self.resume = resume                 # glrm.pipeline.resume.ResumeState with --resume
        cap = int(os.environ.get("GLRM_BLOCK_JOBS", BLOCK_JOBS))   # smaller blocks: for tests of --resume
        self.block_jobs = max(1, min(cap, BLOCK_BASES // (2 * window * (2 if self.mirror else 1))))
        # Blocks and --resume checkpoints. The windows of one block share the engine's batches, and a batch
        # of several windows can round differently from another grouping of them, so where blocks fall must
        # not depend on timing: with batches of B > 1 windows a block is about BLOCK_BATCHES batches (a fixed
        # number of alleles, the same in every run of the same command, --resume or not), and --resume
        # commits at the first block end after each interval. With one window per forward (CPU) no grouping
        # changes a value, so --resume cuts blocks by time: the job cap starts at 1 and then fits the pace
        # of the last block in the interval (at most doubling), and a block is closed once the interval is up.
        batch = engine.batch_size_for(window)
        if batch > 1:
            per_job = 2 * (2 if self.mirror else 1)          # ref and alt passes, of each strand
            self.block_jobs = max(1, min(self.block_jobs, BLOCK_BATCHES * batch // per_job))
        self.interval: float | None = None
        self.cap = self.block_jobs
        self.by_time = False                 # blocks cut by time (--resume, one window per forward)
        if resume is not None:
            from glrm.pipeline.resume import checkpoint_seconds

            self.interval = checkpoint_seconds()
            if batch == 1:
                self.by_time, self.cap = True, 1
        self._since = time.monotonic()      # the last commit (or the start of the loop)
        self._pending = [0, 0]              # records and jobs written since the last commit

    def stream(self, reader) -> None:
        block: list[tuple[Record, list[tuple[Window, Window | None]]]] = []
        jobs = 0
        self._since = time.monotonic()
        for rec in reader:
            wins = [self._window_pair(rec, a) for a in rec.alleles]
            block.append((rec, wins))
            jobs += sum(w.ok for w, _ in wins)
            if jobs >= self.cap or len(block) >= 4 * BLOCK_JOBS or (self.by_time and self._overdue()):
                self._flush(block)
                block, jobs = [], 0
        self._flush(block)
        self._commit()

    def _overdue(self) -> bool:
        """--resume: the time since the last commit has reached the checkpoint interval already."""
        return self.interval is not None and time.monotonic() - self._since >= self.interval

    def _commit(self) -> None:
        """Checkpoint the records written since the last commit (--resume); with blocks cut by time, size
        the next block from the pace of these."""
        records, jobs = self._pending
        if self.resume is None or records == 0:
            return
        self.resume.commit(records)
        self._pending = [0, 0]
        now = time.monotonic()
        took, self._since = now - self._since, now
        if self.by_time and jobs > 0:
            fits = int(self.interval / (took / jobs)) if took > 0 else self.block_jobs
            self.cap = max(1, min(self.block_jobs, 2 * self.cap, fits))

    def _window_pair(self, rec: Record, allele) -> tuple[Window, Window | None]:
        """The forward window, and the mirrored one for --rc mean (its status wins when it is not OK)."""
        w = small_window(self.fasta, allele, self.window, self.opts.max_n_frac, tiled=self.opts.tile)
        if w.status is Status.REF_MISMATCH and self.opts.ref_mismatch == "error":
            raise InputError(
                f"{_where(self.opts.input, rec)}: {rec.chrom}:{rec.pos} REF {rec.ref} ALT {allele.alt}: "
                f"{w.note} Use the FASTA the VCF was called against, or --ref-mismatch status to mark "
                "such ALTs REF_MISMATCH and go on"
            )
        if not (self.mirror and w.ok and needs_mirror(self.opts.scores, self.opts.rc, w.n, w.m)):
            return w, None
        from glrm.windows import mirror_small_window

        rc = mirror_small_window(self.fasta, allele, self.window, self.opts.max_n_frac, forward=w)
        return (w, rc) if rc.ok else (rc, None)

    def _flush(self, block) -> None:
        if not block:
            return
        from glrm.scoring.engine import Job

        jobs = [Job(w, rc) for _rec, wins in block for w, rc in wins if w.ok]
        scored = self.engine.score(jobs) if jobs else []
        if len(scored) != len(jobs):
            raise RuntimeError(f"the engine returned {len(scored)} results for {len(jobs)} windows")
        results = iter(scored)
        for rec, wins in block:
            per_alt = [next(results) if w.ok else {} for w, _ in wins]
            values = {k: [r.get(k) for r in per_alt] for k in self.vcf_keys if k != GLRM_STATUS.id}
            values[GLRM_STATUS.id] = [w.status.value for w, _ in wins]
            self.vcf_out.write(rec.raw, values)
            for allele, (w, _), r in zip(rec.alleles, wins, per_alt, strict=True):
                where = "" if w.ok else f"{_where(self.opts.input, rec)} ALT {allele.alt}"
                self.summary.add(w.status, where, w.note, allele.kind)
                if self.bed_out is not None:
                    row = {k: r.get(k) for k in self.bed_keys if k != GLRM_STATUS.id}
                    row[GLRM_STATUS.id] = w.status.value
                    self.bed_out.write_allele(allele, row)
            self.summary.records += 1
        self._pending[0] += len(block)
        self._pending[1] += len(jobs)
        if self.by_time or self._overdue():
            self._commit()
        self.progress.advance(len(block), sum(len(wins) for _rec, wins in block))


def fields_for(scores: tuple[str, ...], causal: bool | None, tile: bool = False) -> list[InfoField]:
    """The INFO keys a run with `scores` declares (GLRM_STATUS always last): all of them (causal None), or
    those defined for a causal (True) or masked (False) model; `--tile` labels GLRM_MLR."""
    out = score_vcf_fields(causal=causal, scores=scores)
    return [GLRM_MLR_TILE if tile and f is GLRM_MLR else f for f in out]


class LastFetch:
    """A genome that remembers the last two W-long fetches (tile mode: every variant of a tile reads the
    same ref window, and with --rc mean the same mirrored one; the engine then finds their shared passes by
    the very same strings). Other fetches pass through."""

    def __init__(self, genome, w: int):
        self.genome, self.w = genome, w
        self._seqs: dict[tuple[str, int, int], str] = {}

    def __getattr__(self, name):
        return getattr(self.genome, name)

    def fetch(self, chrom: str, start: int, end: int) -> str:
        if end - start != self.w:
            return self.genome.fetch(chrom, start, end)
        key = (chrom, start, end)
        if key not in self._seqs:
            if len(self._seqs) >= 2:
                del self._seqs[next(iter(self._seqs))]
            self._seqs[key] = self.genome.fetch(chrom, start, end)
        return self._seqs[key]
