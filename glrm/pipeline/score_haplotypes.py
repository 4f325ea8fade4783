"""`glrm score-haplotypes`: each target's effect in each sample's own haplotypes (docs/score-haplotypes.md).

Order of work, as score-vcf's (`glrm.pipeline.score_vcf`), so bad input fails before the model loads:
1. options, output paths; the FASTA, the phased VCF (samples, -s/-S), the targets (the phased VCF's own
   records, those of -r/-R, or --targets), the ##contig lengths; the checkpoint and the window;
2. the model and score-vcf's engine (`glrm.scoring.engine.SmallVariantEngine`: batching, chunking, prefix
   reuse, tile mode), built once;
3. the targets stream in order. For each target ALT: score-vcf's window on the reference (its status, and the
   reference-background score), then, per haplotype of the selected samples, the background
   (`glrm.windows.haplotype.walk` over the records within 2W, `glrm.pipeline.haplotype_sites`): the set of the
   haplotype's own alleles the windows read, or why it cannot be applied. Haplotypes with the same set share
   one job (`--no-dedup`: every haplotype its own job, and no pass shared); each job's windows are score-vcf's
   rule on the haplotype (`small_window` on a `HapGenome`), built when its block is scored;
4. each target record is written in input order with INFO (Number=A: the reference-background score under
   score-vcf's key, mean/min/max over the haplotypes, their count and distinct backgrounds, GLRM_STATUS) and
   FORMAT (per ALT then haplotype: the score, the background id, the status). Nothing is dropped or reordered.
Without -r/-R and --targets the phased VCF is read once: each record is both a background and a target, and
is scored once the records 2W past it have been read. Otherwise the backgrounds come by region query.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from contextlib import ExitStack
from dataclasses import dataclass, field, replace

from glrm.defaults import DEFAULT_HAP_SCORES_CAUSAL, DEFAULT_HAP_SCORES_MASKED
from glrm.dna import normalize
from glrm.errors import InputError
from glrm.io.fields import (
    BOTH_STRANDS,
    GLRM_HAP_BG,
    GLRM_HAP_N,
    GLRM_HAP_N_UNIQUE,
    GLRM_HAP_STATUS,
    GLRM_STATUS,
    SCORE_FIELDS,
    defined_for,
    hap_score_fields,
    needs_mirror,
)
from glrm.io.vcf import Record
from glrm.pipeline.hap_output import HapSummary, HapWriter
from glrm.pipeline.haplotype_sites import (
    RegionFeed,
    SiteBuffer,
    haplotype_columns,
    make_site,
    select_samples,
)
from glrm.pipeline.options import ScoreHaplotypesOptions
from glrm.pipeline.score_vcf import (
    BLOCK_BASES,
    BLOCK_JOBS,
    check_scores_defined,
    fields_for,
    model_window,
    open_small_variant_engine,
)
from glrm.pipeline.session import check_outputs
from glrm.variants import NO_PHASE_SET, Allele, Status
from glrm.windows import Window, mirror_small_window, small_window
from glrm.windows.haplotype import HapGenome, SpanGenome, TargetSpan, protected_span, read_span, walk

log = logging.getLogger(__name__)

REACH = 2          # backgrounds are read within REACH * W of a target (docs: BACKGROUND_TOO_LONG past it)


@dataclass
class _Job:
    """One background of one target ALT, scored once: its edits, then its windows' status and scores."""

    target: _Target
    alt: int
    up: tuple
    down: tuple
    status: str = Status.OK.value
    result: dict | None = None


@dataclass
class _Alt:
    """One target ALT: score-vcf's window on the reference, and per haplotype slot its job or its status."""

    allele: Allele
    window: Window
    rc: Window | None
    ref_job: _Job | None = None
    slots: list = field(default_factory=list)   # per haplotype slot (2S): a _Job, or a status string


@dataclass
class _Target:
    rec: Record
    alts: list[_Alt]
    genome: object = None          # a SpanGenome over the target's reach, while its jobs are pending


def default_scores(causal: bool) -> tuple[str, ...]:
    """score-haplotypes' --scores when none is given: the model's main score."""
    return DEFAULT_HAP_SCORES_CAUSAL if causal else DEFAULT_HAP_SCORES_MASKED


def score_haplotypes(opts: ScoreHaplotypesOptions) -> HapSummary:
    """Run `glrm score-haplotypes` with `opts`; return the summary (also printed on stderr unless quiet)."""
    t0 = time.perf_counter()
    opts.validate()
    out_type = check_outputs(opts)
    with ExitStack() as stack:
        from glrm.io.fasta import Fasta
        from glrm.io.vcf import VcfReader

        fasta = stack.enter_context(Fasta(opts.fasta))
        phased = stack.enter_context(VcfReader(opts.input))
        fasta.check_contigs(phased.contigs, opts.input, ignore_length=opts.ignore_contig_length)
        rows = select_samples(phased.samples, opts.input, opts.samples, opts.samples_file)
        regions = opts.regions is not None or opts.regions_file is not None
        if opts.targets is not None:
            targets = stack.enter_context(VcfReader(opts.targets, regions=opts.regions,
                                                    regions_file=opts.regions_file))
            fasta.check_contigs(targets.contigs, opts.targets, ignore_length=opts.ignore_contig_length)
        elif regions:
            targets = stack.enter_context(VcfReader(opts.input, regions=opts.regions,
                                                    regions_file=opts.regions_file))
        else:
            targets = phased                      # one pass: every record a background and a target
        columns = _output_columns(opts, phased, targets, rows)

        from glrm.models.loading import inspect_checkpoint

        ckpt = inspect_checkpoint(opts.model)
        causal = ckpt.family != "caduceus"
        scores = opts.scores if opts.scores is not None else default_scores(causal)
        check_scores_defined(scores, ckpt)
        window = model_window(ckpt, opts.window)
        s = open_small_variant_engine(opts, scores, window, {"Backgrounds": "haplotypes"},
                                      share_passes=opts.dedup)
        model, engine, device, chunk, meta = s.model, s.engine, s.device, s.chunk, s.meta
        summary = HapSummary(device=str(device), window=window, chunk=chunk,
                             chunk_auto=opts.chunk_size == "auto", samples=len(rows))
        added = [phased.samples[j] for j in rows] if not targets.samples else []
        out = HapWriter(opts, stack, out_type, targets, columns, added, _fields(scores, opts.tile, None),
                        _fields(scores, opts.tile, model.info.kind == "causal"), meta, summary)
        run = _Run(opts, fasta, engine, window, scores, rows, phased.samples, out, summary)
        out.follow(engine)
        run.stream(phased, targets)
        summary.passes = engine.passes_run
    out.finish(t0)
    return summary


def _fields(scores, tile: bool, causal: bool | None):
    """(INFO keys, FORMAT keys) of a run: per score its score-vcf key (the reference background) and
    mean/min/max, the counts, GLRM_STATUS; FORMAT: the per-haplotype scores, GLRM_HAP_BG, GLRM_HAP_STATUS.
    `causal` None declares every asked-for score (the VCF); True/False only those defined (the BED)."""
    ref = [f for f in fields_for(scores, causal, tile) if f is not GLRM_STATUS]
    names = [n for n in SCORE_FIELDS if n in scores and (causal is None or defined_for(n, causal))]
    hap = [hap_score_fields(n) for n in names]
    info = [*ref, *(f for h in hap for f in h[1:]), GLRM_HAP_N, GLRM_HAP_N_UNIQUE, GLRM_STATUS]
    return info, [*(h[0] for h in hap), GLRM_HAP_BG, GLRM_HAP_STATUS]


def _output_columns(opts, phased, targets, rows: list[int]) -> list[int | None]:
    """For each sample column of the output, the row of the selected samples it shows (None: not selected):
    the phased VCF's own columns, or a targets VCF's when it has the same samples; a sites-only targets VCF
    gains one column per selected sample."""
    chosen = {j: r for r, j in enumerate(rows)}
    if targets is phased or targets.samples == phased.samples:
        return [chosen.get(j) for j in range(len(phased.samples))]
    if not targets.samples:
        return list(range(len(rows)))
    raise InputError(f"{opts.targets}: has samples ({', '.join(targets.samples[:3])}...) other than "
                     f"{opts.input}'s; give a sites-only targets VCF (bcftools view -G) or one with the same "
                     "samples")


class _Run:
    """The streaming loop: targets in order, their backgrounds, jobs in blocks, records written in order."""

    def __init__(self, opts, fasta, engine, window: int, scores, rows, names, out, summary):
        self.opts, self.fasta, self.engine, self.w, self.scores = opts, fasta, engine, window, scores
        self.rows, self.names, self.out, self.summary = rows, names, out, summary
        model = engine.model
        one_pass = model.info.rc_equivariant and model.info.kind == "masked"
        self.mirror = (opts.rc == "mean" or bool(BOTH_STRANDS.intersection(scores))) and not one_pass
        self.buffer = SiteBuffer(opts.input)
        self.block: list[_Target] = []
        self.jobs: list[_Job] = []
        self.cap = max(1, min(BLOCK_JOBS, BLOCK_BASES // (2 * window * (2 if self.mirror else 1))))

    # --- the stream ----------------------------------------------------------------------------------
    def stream(self, phased, targets) -> None:
        if targets is phased:
            self._one_pass(phased)
        else:
            feed = RegionFeed(self.opts.input, self.buffer, self._site, jump=REACH * 2 * self.w)
            try:
                for rec in targets:
                    self._take(rec, self._where(rec, targets.path), feed)
            finally:
                feed.close()
        self._flush()

    def _one_pass(self, reader) -> None:
        pending: deque[tuple[Record, str]] = deque()
        for rec in reader:
            chrom = self.fasta.resolve(rec.chrom)
            where = self._where(rec, reader.path)
            while pending and (chrom is None or chrom != self.buffer.chrom
                               or rec.pos - 1 >= self._bounds(pending[0][0])[1]):
                self._take(*pending.popleft())
            if chrom is not None:
                self.buffer.add(self._site(rec, chrom, where), chrom, where)
            pending.append((rec, where))
        while pending:
            self._take(*pending.popleft())

    def _site(self, rec: Record, chrom: str, where: str):
        return make_site(rec, self.fasta, chrom, self.rows, where)

    @staticmethod
    def _where(rec: Record, path: str) -> str:
        return f"{path}: line {rec.line}" if rec.line is not None else f"{path}: record {rec.chrom}:{rec.pos}"

    def _bounds(self, rec: Record) -> tuple[int, int]:
        """The reference span whose records a target's backgrounds may use: REACH * W either side."""
        return rec.pos - 1 - REACH * self.w, rec.pos - 1 + len(rec.ref) + REACH * self.w

    def _take(self, rec: Record, where: str, feed: RegionFeed | None = None) -> None:
        """Prepare one target (its backgrounds from the buffer, filled by `feed` in region mode)."""
        chrom = self.fasta.resolve(rec.chrom)
        lo, hi = self._bounds(rec)
        stored = []
        if chrom is not None:
            if feed is not None:
                feed.ensure(rec.chrom, chrom, lo, hi)
            stored = self.buffer.between(lo, hi) if self.buffer.chrom == chrom else []
        self.block.append(self._prepare(rec, chrom, stored, lo, hi, where))
        if chrom is not None and self.buffer.chrom == chrom:
            self.buffer.drop_before(lo)
        if len(self.jobs) >= self.cap:
            self._flush()

    # --- one target ----------------------------------------------------------------------------------
    def _prepare(self, rec: Record, chrom, stored, lo: int, hi: int, where: str) -> _Target:
        target = _Target(rec, [])
        genome = SpanGenome(self.fasta, chrom, lo, hi) if chrom is not None else self.fasta
        target.genome = genome
        n_slots = 2 * len(self.rows)
        sites = [x.site for x in stored]
        ref = normalize(rec.ref)
        at = {i for i, x in enumerate(stored) if x.site.start == rec.pos - 1 and x.ref == ref}
        if at:
            sites = [replace(s, at_target=True) if i in at else s for i, s in enumerate(sites)]
        cols = haplotype_columns(stored) if stored else None
        for k, allele in enumerate(rec.alleles):
            w, rc = self._reference_windows(genome, allele, where)
            alt = _Alt(allele, w, rc)
            target.alts.append(alt)
            if not w.ok:
                alt.slots = [w.status.value] * n_slots
                continue
            alt.ref_job = self._job(target, k, (), ())
            p0, p1, ins = protected_span(genome, chrom, w, (allele.pos - 1, allele.pos - 1 + len(allele.ref)))
            mirror = self.mirror and needs_mirror(self.scores, self.opts.rc, w.n, w.m)
            r_lo, r_hi = read_span(w, self.w, mirror)
            span = TargetSpan(p0, p1, ins, r_lo, r_hi, lo, hi)
            alt.slots = self._slots(target, k, sites, cols, span, alt.ref_job, n_slots)
        return target

    def _reference_windows(self, genome, allele: Allele, where: str) -> tuple[Window, Window | None]:
        """score-vcf's windows of the ALT on the reference (`score_vcf._Run._window_pair`'s rule)."""
        w = small_window(genome, allele, self.w, self.opts.max_n_frac, tiled=self.opts.tile)
        if w.status is Status.REF_MISMATCH and self.opts.ref_mismatch == "error":
            raise InputError(f"{where}: {allele.chrom}:{allele.pos} REF {allele.ref} ALT {allele.alt}: "
                             f"{w.note} Use the FASTA the VCF was called against, or --ref-mismatch status")
        if not (w.ok and self.mirror and needs_mirror(self.scores, self.opts.rc, w.n, w.m)):
            return w, None
        rc = mirror_small_window(genome, allele, self.w, self.opts.max_n_frac, forward=w)
        return (w, rc) if rc.ok else (rc, None)

    def _slots(self, target, k: int, sites, cols, span: TargetSpan, ref_job: _Job, n_slots: int) -> list:
        """Per haplotype slot: its job (shared by the slots with the same background unless --no-dedup), or
        why it is not scored."""
        if cols is None:            # no record near the target: every haplotype is the reference
            return [ref_job if self.opts.dedup else self._job(target, k, (), ()) for _ in range(n_slots)]
        codes, sets, inverse, first = cols
        per_column = []
        for u in first:                           # one walk per distinct column
            keep = codes[:, u] != 0
            if sets is not None:
                keep |= sets[:, u] != NO_PHASE_SET
            idx = keep.nonzero()[0]
            bad, up, down = walk([sites[i] for i in idx], codes[idx, u].tolist(),
                                 sets[idx, u].tolist() if sets is not None else None, span)
            per_column.append(bad.value if bad is not None else (up, down))
        jobs: dict[tuple, _Job] = {((), ()): ref_job}
        out = []
        for slot in range(n_slots):
            got = per_column[inverse[slot]]
            if isinstance(got, str):
                out.append(got)
            elif self.opts.dedup:
                out.append(jobs.get(got) or jobs.setdefault(got, self._job(target, k, *got)))
            else:
                out.append(self._job(target, k, *got))
        return out

    def _job(self, target, k: int, up: tuple, down: tuple) -> _Job:
        job = _Job(target, k, up, down)
        self.jobs.append(job)
        return job

    # --- scoring and writing -------------------------------------------------------------------------
    def _flush(self) -> None:
        from glrm.scoring.engine import Job

        for i in range(0, len(self.jobs), self.cap):
            chunk = self.jobs[i:i + self.cap]
            ready = []
            for job in chunk:
                w, rc = self._job_windows(job)
                if not w.ok:
                    job.status = w.status.value
                else:
                    ready.append((job, Job(w, rc)))
            results = self.engine.score([j for _job, j in ready]) if ready else []
            for (job, _j), r in zip(ready, results, strict=True):
                job.result = r
        for target in self.block:
            self.out.write(target, self.rows, self.names)
        self.summary.jobs += len(self.jobs)
        self.block, self.jobs = [], []

    def _job_windows(self, job: _Job) -> tuple[Window, Window | None]:
        """The job's windows: score-vcf's rule on the haplotype (the reference background's own windows when
        the haplotype carries nothing in them)."""
        alt = job.target.alts[job.alt]
        if not job.up and not job.down:
            return alt.window, alt.rc
        genome = HapGenome(job.target.genome, alt.window.chrom, job.up, job.down)
        w = small_window(genome, alt.allele, self.w, self.opts.max_n_frac, tiled=self.opts.tile)
        if not (w.ok and alt.rc is not None):
            return w, None
        rc = mirror_small_window(genome, alt.allele, self.w, self.opts.max_n_frac, forward=w)
        return (w, rc) if rc.ok else (rc, None)
