"""The small-variant scoring engine: which model passes to run, deduplicated and batched, and their reduction
into the score-vcf scores (docs/definitions.md) with the pure functions of `glrm.scoring.scores`. No file I/O.

Passes, each over one W-token window with no special tokens:
- causal models (HyenaDNA, Mamba LM): the ref window (l_ref and H_ref for LLR/CLLR, MLR, u of EMB, the Evo 2
  mean) and the alt window (l_alt, H_alt, v, the Evo 2 mean).
- masked models (Caduceus): the ref window with positions [o, o+n) set to [MASK] jointly (MLR, SNV/MNV only;
  GPN's LLR, SNVs only), the unmasked ref window (u) and the alt window (v). LLR, CLLR and Evo 2's delta are
  not defined for masked models.
- GPN's whole-window embedding distances (SNV/MNV) read the ref and alt hidden states together: the first of
  the two passes to finish is kept until the other has run.
A pass is only planned when one of its scores was requested and is defined for the allele.

Within one `score()` call, passes with the same token sequence and the same mask span run once, whoever asks
for them (e.g. every ALT at one position shares the ref pass; a masked ref pass is shared by the ALTs with the
same REF span). Passes are batched in order of first request; after each batch every requester's reduction
(a few sums and an (H,) mean) is taken and the batch's (B, W, V) logits and (B, W, H) hidden states are
dropped, so memory is bounded by one batch, whatever the number of jobs.

The reverse strand: with `--rc mean` each score is the mean of its forward value and its value on the
mirrored reverse-complement windows (`glrm.windows.mirror_small_window`, `Job.rc_window`), which run as
passes of their own; GPN's recipes (BOTH_STRANDS) always average the two strands, as GPN does, so for them
the SNV/MNV mirror runs with `--rc none` too. An RC-equivariant checkpoint (Caduceus-ps) is never run twice:
its outputs on revcomp(x) are, exactly, the position-flipped outputs on x with the vocabulary
complement-permuted (logits) or the channels reversed (hidden states), so the RC values are computed from
the forward passes through that identity, as scores of revcomp(ref) and revcomp(alt). For SNVs and MNVs
these are the mirrored windows. For an indel the mirrored windows shift one of the two windows by |n - m|
bases; reaching that would take a second pass, so for RC-equivariant checkpoints the RC strand is revcomp of
the forward windows, and `Job.rc_window` is not used (docs/definitions.md, "Both strands").

Tokens are the model's own (`model.vocab`, glrm.models.tokenizer.Vocabulary): windows are encoded with it,
[MASK] is its mask id, scores read its four nucleotide columns and the RC identity permutes logits with its
complement map.

Results do not depend on the batch size, chunk size, torch threads or the order of the jobs beyond float
rounding (tested to a relative 1e-5): every pass is the same computation whichever batch it lands in, and
reductions are taken per pass in float64.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from glrm.defaults import (
    DEFAULT_EMB_FLANK,
    DEFAULT_PRECISION,
    DEFAULT_RC,
    DEFAULT_SCORES,
    check_batch_size,
    check_chunk_size,
    check_emb_flank,
    check_precision,
    check_rc,
)
from glrm.io.fields import BOTH_STRANDS, SCORE_FIELDS, check_scores, needs_mirror
from glrm.models.base import GenomicLM
from glrm.models.tokenizer import Vocabulary, vocabulary_of
from glrm.resources import Backoff, auto_batch, model_dims, size_model_caches
from glrm.scoring import scores as S
from glrm.scoring.prefix import run_linked, supports_prefix_reuse
from glrm.windows import Window

log = logging.getLogger(__name__)

KEYS = {name: f.id for name, f in SCORE_FIELDS.items()}   # --scores name -> INFO key
TILE_CACHE = 2         # tile mode: ref tile passes kept across score() calls (a tile, its --rc mean mirror)


@dataclass
class EngineConfig:
    scores: tuple[str, ...] = DEFAULT_SCORES
    rc: str = DEFAULT_RC             # "none" | "mean"
    emb_flank: int = DEFAULT_EMB_FLANK   # K
    batch_size: int | None = None    # None = auto (glrm.resources.auto_batch)
    chunk_size: int | None = None    # handed to the model's forward
    precision: str = DEFAULT_PRECISION   # "fp32" | "bf16"
    tile: bool = False               # --tile: windows are tiles (glrm.windows.tile_origin), see below
    # causal prefix reuse (glrm.scoring.prefix): a Mamba LM's alt pass starts from the ref pass's state at the
    # variant, a HyenaDNA alt pass recomputes only the suffix; GLRM_PREFIX_REUSE=0 turns it off (for
    # comparisons: the scores are the same, HyenaDNA's up to float rounding)
    prefix_reuse: bool = field(default_factory=lambda: os.environ.get("GLRM_PREFIX_REUSE", "1") != "0")
    # passes with the same tokens are run once per score() call, whoever asks; False runs each job's own
    # (score-haplotypes --no-dedup: the naive baseline its benchmark compares with)
    share_passes: bool = True

    def __post_init__(self):   # the checks of glrm.defaults, as score-vcf's options (a library caller's too)
        self.scores = tuple(self.scores)
        check_scores(self.scores, self.tile)
        check_rc(self.rc)
        check_precision(self.precision)
        check_emb_flank(self.emb_flank)
        check_batch_size(self.batch_size)
        check_chunk_size(self.chunk_size, auto=False)


@dataclass
class Job:
    window: Window                   # an OK small-variant window (glrm.windows.small_window)
    # its mirror (glrm.windows.mirror_small_window), for models without the RC identity: with rc == "mean",
    # and for an SNV/MNV when a both-strand recipe (BOTH_STRANDS) is asked for
    rc_window: Window | None = None


# --- precision -------------------------------------------------------------------------------------

def cast_model(model: GenomicLM, precision: str) -> GenomicLM:
    """bf16: cast the model in place with its family's recipe (HyenaDNA `to_dtype`: filters and FFTs stay
    float32; Mamba/Caduceus `cast_for_inference`: scans, convs and norms stay float32). Logits come back
    float32 either way, and all score arithmetic is float32/float64."""
    if precision == "fp32":
        return model
    if model.info.family == "hyenadna":
        return model.to_dtype(torch.bfloat16)
    from glrm.models.mamba import cast_for_inference

    return cast_for_inference(model, torch.bfloat16)


# --- planning -------------------------------------------------------------------------------------

class Role:
    """What a pass is to a strand that reads it (`SmallVariantEngine._requests`). Names, so that a typo is an
    AttributeError; their values are plain strings rather than Enum members, whose attribute lookup and hash
    cost about four times a string's on Python 3.11, and roles are read several times per variant."""

    REF = "ref"     # the ref window (causal models)
    ALT = "alt"     # the alt window
    MREF = "mref"   # masked models: the ref window with the REF span masked (MLR, GPN's LLR)
    UREF = "uref"   # masked models: the unmasked ref window (u of EMB, GPN's embeddings; tile mode's MLR)


@dataclass(frozen=True)
class _View:
    """One strand of one job: the geometry its reductions need."""

    o_ref: int
    o_alt: int
    n: int
    m: int
    w: int
    ref_allele: torch.Tensor   # (n,) token ids
    alt_allele: torch.Tensor   # (m,)
    want: frozenset = frozenset()   # the scores this strand contributes to
    mirrored: bool = False     # read from the forward passes through the RC-equivariance identity


@dataclass
class _Pass:
    seq: str
    mask: tuple[int, int] | None
    consumers: list[tuple[int, int, str, bool]] = field(default_factory=list)  # job, strand, role, mirrored
    parent: _Pass | None = None   # prefix reuse: the ref pass this alt pass shares its first `at` tokens with
    at: int = 0

    def ids(self, vocab: Vocabulary) -> torch.Tensor:
        x = vocab.encode(self.seq)  # (W,)
        if self.mask is not None:
            x[self.mask[0]:self.mask[1]] = vocab.mask
        return x


def _view(win: Window, want: frozenset, vocab: Vocabulary) -> _View:
    o, n, m = win.offset, win.n, win.m
    if win.ref is None or win.alt is None or not win.ok:
        raise ValueError(f"the engine scores OK windows only, got status {win.status.value}")
    if len(win.ref) != len(win.alt):
        raise ValueError(f"ref and alt windows differ in length ({len(win.ref)} vs {len(win.alt)})")
    return _View(o, o, n, m, len(win.ref), vocab.encode(win.ref[o:o + n]), vocab.encode(win.alt[o:o + m]),
                 want)


def _mirror(v: _View, want: frozenset, vocab: Vocabulary) -> _View:
    """The RC strand of a forward view: revcomp(ref) has REF' at W - o - n, revcomp(alt) ALT' at W - o - m."""
    return _View(v.w - v.o_ref - v.n, v.w - v.o_alt - v.m, v.n, v.m, v.w,
                 vocab.revcomp_ids(v.ref_allele), vocab.revcomp_ids(v.alt_allele), want, mirrored=True)


@dataclass(slots=True)
class _Side:
    """One strand's reductions of its ref or its alt pass (None: not reduced, or not requested)."""

    llr: float | None = None            # scores.llr_side: the allele and the M downstream positions
    entropy: float | None = None        # the summed entropies over the allele (CLLR)
    ev: float | None = None             # scores.mean_full_vocab_ll (Evo 2)
    emb: torch.Tensor | None = None     # (H,) mean hidden state around the allele: u (ref) or v (alt) of EMB
    flat: torch.Tensor | None = None    # (W, H) hidden states, held until the other side's arrive (GPN)


@dataclass(slots=True)
class _Acc:
    """One strand's reductions, from which `_combine` takes its scores."""

    ref: _Side = field(default_factory=_Side)
    alt: _Side = field(default_factory=_Side)
    mlr: float | None = None
    gpn_cos: float | None = None
    gpn_euc: float | None = None


@dataclass(slots=True)
class _Shared:
    """Results of one pass shared by its requesters (one per strand reading: forward, mirrored)."""

    logp: torch.Tensor | None = None      # (W,) causal token log-probabilities
    entropy: torch.Tensor | None = None   # (W,) causal entropies
    ev: float | None = None               # scores.mean_full_vocab_ll
    lp: torch.Tensor | None = None        # (W, 4) nucleotide log-probabilities
    hidden: torch.Tensor | None = None    # (W, H) hidden states, copied (GPN's embeddings)


def _shared() -> tuple[_Shared, _Shared]:
    """A pass's shared results, indexed by `mirrored`: (forward, mirrored)."""
    return _Shared(), _Shared()


class SmallVariantEngine:
    """Scores OK small-variant windows with one model. `score(jobs)` -> one dict per job with the keys
    GLRM_LLR, GLRM_MLR, GLRM_EMB (None = undefined for the model kind or allele, or not requested).

    The model must already be on `device`; with precision "bf16" it is cast in place (`cast_model`).
    `passes_run` / `passes_deduped` count model passes run and pass requests served by another job's pass,
    over the engine's lifetime.
    """

    def __init__(self, model: GenomicLM, config: EngineConfig, device: torch.device | str):
        self.model = model
        self.config = config
        self.device = torch.device(device)
        if config.precision == "bf16" and self.device.type != "cuda":
            log.warning("--precision bf16 on CPU: most CPUs run bfloat16 slower than fp32, and values lose "
                        "precision; use --precision fp32 on CPU")
        cast_model(model, config.precision)
        model.eval()
        size_model_caches(model, self.device)   # HyenaDNA: filter spectra kept where memory allows
        self.kind = model.info.kind
        self.tokens: Vocabulary = vocabulary_of(model)   # its vocabulary (self.vocab: its row count)
        self.nuc = self.tokens.nucleotides     # the four logit columns every score reads
        if self.kind == "masked" and self.tokens.mask is None:
            raise ValueError(f"a masked model needs a [MASK] token; its vocabulary has none "
                             f"({self.tokens.source})")
        # the identity is exact for masked RC-equivariant checkpoints (Caduceus-ps), the only ones there are
        self.rc_identity = model.info.rc_equivariant and model.info.kind == "masked"
        self.hidden, self.vocab = model_dims(model)
        self.passes_run = 0
        self.passes_deduped = 0
        self.batch_sizes: list[int] = []   # batch sizes run (the last score() call), for logs and tests
        self._cmap: torch.Tensor | None = None
        self.tokens_run = 0               # tokens through the model (alt suffixes count their length)
        # prefix reuse: one explicit condition (glrm.scoring.prefix: Mamba LM and HyenaDNA, asked for)
        self.prefix_reuse = config.prefix_reuse and supports_prefix_reuse(model)
        self._tile_cache: dict = {}       # tile mode: (seq, mask) -> (ids, logits, hidden, shared), see _keep
        self._backoffs: dict[int, Backoff] = {}   # window length -> its batch and chunk

    # --- public -------------------------------------------------------------------------------
    def batch_size_for(self, w: int) -> int:
        if self.config.batch_size is not None:
            return self.config.batch_size
        return auto_batch(self.model, w, self.device)

    def score(self, jobs: Sequence[Job]) -> list[dict[str, float | None]]:
        """One dict per job: the INFO key of each requested score -> its value, None where the score is not
        defined for the model kind or the allele."""
        views, passes = self._plan(jobs)
        acc = [[_Acc() for _ in v] for v in views]
        self._run(passes, views, acc)
        return [self._combine(v, a) for v, a in zip(views, acc, strict=True)]

    # --- planning -----------------------------------------------------------------------------
    def _plan(self, jobs: Sequence[Job]) -> tuple[list[list[_View]], list[_Pass]]:
        want = frozenset(self.config.scores)
        # the reverse strand: every score with --rc mean, else only the both-strand recipes (SNV/MNV)
        want_rc = want if self.config.rc == "mean" else want & BOTH_STRANDS
        table: dict[tuple, _Pass] = {}
        requests = 0
        all_views = []
        for j, job in enumerate(jobs):
            fwd = _view(job.window, want, self.tokens)
            views = [fwd]
            windows = [job.window]
            mirrored: set[str] = set()   # roles the RC identity strand reads from the forward passes
            if needs_mirror(want_rc, self.config.rc, fwd.n, fwd.m):
                if self.rc_identity:
                    views.append(_mirror(fwd, want_rc, self.tokens))
                    mirrored = {role for _s, _m, role in self._requests(job.window, views[1], want_rc)}
                else:
                    if job.rc_window is None:
                        raise ValueError("the reverse strand needs Job.rc_window (glrm.windows."
                                         "mirror_small_window)")
                    rv = _view(job.rc_window, want_rc, self.tokens)
                    if (rv.n, rv.m, rv.w) != (fwd.n, fwd.m, fwd.w):
                        raise ValueError("Job.rc_window does not mirror Job.window (allele/window lengths)")
                    views.append(rv)
                    windows.append(job.rc_window)
            all_views.append(views)
            for strand, win in enumerate(windows):
                ref_pass = None
                for seq, mask, role in self._requests(win, views[strand], views[strand].want):
                    requests += 1
                    key = (seq, mask) if self.config.share_passes else (seq, mask, j)
                    p = table.setdefault(key, _Pass(seq, mask))
                    p.consumers.append((j, strand, role, False))
                    if role in mirrored:
                        p.consumers.append((j, 1, role, True))
                    if role == Role.REF:
                        ref_pass = p
                    elif (role == Role.ALT and self.prefix_reuse and ref_pass is not None and p.parent is None
                          and views[strand].o_ref):
                        p.parent, p.at = ref_pass, views[strand].o_ref   # alt[:o] == ref[:o]
        self.passes_deduped += requests - len(table)
        return all_views, list(table.values())

    def _requests(self, win: Window, v: _View, want: frozenset):
        """(sequence, mask span, role) of each pass this strand needs for the requested, defined scores."""
        snv = v.n == v.m
        flat = snv and bool(want & {"gpn_cos", "gpn_euc"})    # whole-window embeddings, position by position
        if self.kind == "causal":
            if want & {"llr", "cllr", "emb", "evo2"} or ("mlr" in want and snv) or flat:
                yield win.ref, None, Role.REF
            if want & {"llr", "cllr", "emb", "evo2"} or flat:
                yield win.alt, None, Role.ALT
            return
        if ("mlr" in want and snv and not self.config.tile) or ("gpn_llr" in want and v.n == v.m == 1):
            yield win.ref, (v.o_ref, v.o_ref + v.n), Role.MREF
        if "emb" in want or ("mlr" in want and snv and self.config.tile) or flat:
            yield win.ref, None, Role.UREF   # tile mode: also the wild-type marginal MLR
        if "emb" in want or flat:
            yield win.alt, None, Role.ALT

    # --- running ------------------------------------------------------------------------------
    def _run(self, passes: list[_Pass], views, acc) -> None:
        self.batch_sizes = []
        linked: dict[int, list[_Pass]] = {}   # id(ref pass) -> alt passes run from its state
        for p in passes:
            if p.parent is not None:              # set only with prefix reuse (_plan)
                linked.setdefault(id(p.parent), []).append(p)
        plain = [p for p in passes if p.parent is None and id(p) not in linked]
        for w, group in _by_length(plain).items():
            todo = [p for p in group if not self._from_cache(p, views, acc)]
            self._backoff(w).run(todo, lambda batch, chunk: self._run_batch(batch, chunk, views, acc))
        families = [p for p in passes if id(p) in linked]
        for w, group in _by_length(families).items():
            bo = self._backoff(w)
            bo.run(group, lambda refs, chunk, bo=bo: self._run_linked(refs, linked, bo.batch, chunk,
                                                                      views, acc))

    def _backoff(self, w: int) -> Backoff:
        """The batch and chunk for `w`-token passes, kept for the run: halved on a CUDA out-of-memory error
        (glrm.resources.Backoff logs each change), then retried."""
        if w not in self._backoffs:
            self._backoffs[w] = Backoff(w, self.batch_size_for(w), self.config.chunk_size)
        return self._backoffs[w]

    def _run_batch(self, batch: list[_Pass], chunk: int | None, views, acc) -> None:
        """One forward of `batch` and its reductions; re-runnable after an OOM (reductions only assign)."""
        ids = torch.stack([p.ids(self.tokens) for p in batch]).to(self.device)  # (B, W)
        with torch.inference_mode():
            out = self.model(ids, chunk_size=chunk)
            for b, p in enumerate(batch):
                shared = self._keep(p, ids[b], out.logits[b], out.hidden_states[b])
                self._reduce(p, ids[b], out.logits[b], out.hidden_states[b], views, acc, shared)
        self.passes_run += len(batch)
        self.tokens_run += ids.numel()
        self.batch_sizes.append(len(batch))

    def _run_linked(self, refs: list[_Pass], linked, bs: int, chunk: int | None, views, acc) -> None:
        """Ref passes and their alt passes, the alt passes from the ref states (glrm.scoring.prefix)."""
        alts = [(r, c) for r, p in enumerate(refs) for c in linked[id(p)]]
        with torch.inference_mode():
            tokens = run_linked(
                self.model, [p.ids(self.tokens) for p in refs],
                [(r, c.ids(self.tokens), c.at) for r, c in alts], bs, chunk,
                emit_ref=lambda r, x, lg, h: self._reduce(refs[r], x, lg, h, views, acc),
                emit_alt=lambda k, x, lg, h: self._reduce(alts[k][1], x, lg, h, views, acc))
        self.passes_run += len(refs) + len(alts)
        self.tokens_run += len(refs) * len(refs[0].seq) + tokens
        self.batch_sizes.append(len(refs))

    def _from_cache(self, p: _Pass, views, acc) -> bool:
        """Tile mode: a ref tile pass run by an earlier `score()` call is reduced again, not re-run."""
        hit = self._tile_cache.get((p.seq, p.mask))
        if hit is None:
            return False
        self.passes_deduped += 1
        ids, logits, hidden, shared = hit
        self._reduce(p, ids, logits, hidden, views, acc, shared)
        return True

    def _keep(self, p: _Pass, ids, logits, hidden) -> tuple[_Shared, _Shared]:
        """The pass's shared results; in tile mode a ref tile pass is kept, shared results included, for the
        next `score()` calls: the latest TILE_CACHE tiles (a tile and, with --rc mean, its mirror), each its
        (W, V) logits and (W, H) hidden states, copied: a row of the batch's output would keep the whole
        batch."""
        shared = _shared()
        if self.config.tile and p.mask is None and any(
                role in (Role.REF, Role.UREF) for _j, _s, role, _m in p.consumers):
            key = (p.seq, p.mask)
            self._tile_cache.pop(key, None)
            self._tile_cache[key] = (ids.clone(), logits.clone(), hidden.clone(), shared)
            while len(self._tile_cache) > TILE_CACHE:
                del self._tile_cache[next(iter(self._tile_cache))]   # the oldest
        return shared

    def _reduce(self, p: _Pass, ids, logits, hidden, views, acc,
                shared: tuple[_Shared, _Shared] | None = None) -> None:
        """Every requester's share of one pass: ids (W,), logits (W, V), hidden (W, H). `shared` holds the
        pass's results shared by its requesters (`_shared`: forward, mirrored)."""
        flipped = None
        shared = shared if shared is not None else _shared()
        self._mlr_together(p, logits, views, acc, shared[False])
        for j, strand, role, mirrored in p.consumers:
            v = views[j][strand]
            x, lg, h = ids, logits, hidden
            if mirrored:
                if flipped is None:
                    flipped = self._rc_outputs(ids, logits, hidden)
                x, lg, h = flipped
            self._reduce_one(role, v, x, lg, h, acc[j][strand], shared[mirrored])

    def _rc_outputs(self, ids, logits, hidden):
        """The outputs an RC-equivariant model gives on revcomp(ids), from its outputs on ids:
        logits'[t, c] = logits[W-1-t, comp(c)], hidden'[t] = channel-reversed hidden[W-1-t]."""
        if self._cmap is None or self._cmap.numel() != logits.shape[-1]:
            self._cmap = self.tokens.complement_map(logits.shape[-1]).to(logits.device)
        # (W,), (W, V), (W, H)
        return self.tokens.revcomp_ids(ids), logits.flip(0)[:, self._cmap], hidden.flip(0).flip(-1)

    def _reduce_one(self, role: str, v: _View, ids, logits, hidden, out: _Acc, shared: _Shared) -> None:
        want = v.want
        k_flank, eq = self.config.emb_flank, self.model.info.rc_equivariant
        snv = v.n == v.m
        flat = snv and bool(want & {"gpn_cos", "gpn_euc"})
        big_m = S.downstream_pairs(v.w, v.o_ref, v.n, v.m)
        if role in (Role.REF, Role.ALT) and self.kind == "causal":
            is_ref = role == Role.REF
            side = out.ref if is_ref else out.alt
            o, k = (v.o_ref, v.n) if is_ref else (v.o_alt, v.m)
            if want & {"llr", "cllr"}:
                if shared.logp is None:
                    shared.logp = S.causal_token_logprobs(logits, ids, self.nuc)  # (W,)
                side.llr = S.llr_side(shared.logp, o, k, big_m)
            if "cllr" in want:
                if shared.entropy is None:
                    shared.entropy = S.causal_entropies(logits, ids, self.nuc)    # (W,)
                side.entropy = float(shared.entropy[o:o + k].sum())
            if is_ref and "mlr" in want and snv and out.mlr is None:   # else: _mlr_together
                rows = self._lp(shared, logits)[v.o_ref - 1:v.o_ref + v.n - 1]  # (n, 4) predict o..o+n-1
                out.mlr = S.mlr(rows, v.ref_allele.to(rows.device), v.alt_allele.to(rows.device), self.nuc)
            if "evo2" in want:
                if shared.ev is None:
                    shared.ev = S.mean_full_vocab_ll(logits, ids)
                side.ev = shared.ev
            if "emb" in want:
                side.emb = S.emb_mean(hidden, o, k, k_flank, eq).cpu()
            if flat:
                self._flat(out, side, hidden, shared)
        elif role == Role.MREF:
            rows = S.nucleotide_logprobs(logits[v.o_ref:v.o_ref + v.n], self.nuc)  # (n, 4), masked positions
            out.mlr = S.mlr(rows, v.ref_allele.to(rows.device), v.alt_allele.to(rows.device), self.nuc)
        elif role == Role.UREF:
            if "mlr" in want and snv and self.config.tile and out.mlr is None:   # wild-type marginal
                rows = self._lp(shared, logits)[v.o_ref:v.o_ref + v.n]  # (n, 4)
                out.mlr = S.mlr(rows, v.ref_allele.to(rows.device), v.alt_allele.to(rows.device), self.nuc)
            if "emb" in want:
                out.ref.emb = S.emb_mean(hidden, v.o_ref, v.n, k_flank, eq).cpu()
            if flat:
                self._flat(out, out.ref, hidden, shared)
        elif role == Role.ALT:
            if "emb" in want:
                out.alt.emb = S.emb_mean(hidden, v.o_alt, v.m, k_flank, eq).cpu()
            if flat:
                self._flat(out, out.alt, hidden, shared)
        else:  # pragma: no cover - roles come from _requests
            raise AssertionError(role)

    @staticmethod
    def _flat(out: _Acc, side: _Side, hidden: torch.Tensor, shared: _Shared) -> None:
        """GPN's whole-window embedding scores need the ref and the alt hidden states together: the first
        of the two to arrive is kept (one copy per pass, shared by its requesters) until the other comes."""
        if out.gpn_cos is not None:            # a slice re-run after a CUDA OOM: already reduced
            return
        if shared.hidden is None:
            shared.hidden = hidden.clone()     # (W, H): a row of the batch's output would keep the batch
        side.flat = shared.hidden
        if out.ref.flat is not None and out.alt.flat is not None:
            # dropped only once computed: an OOM inside flat_distances leaves both for the retry
            out.gpn_cos, out.gpn_euc = S.flat_distances(out.ref.flat, out.alt.flat)
            out.ref.flat = out.alt.flat = None

    def _mlr_together(self, p: _Pass, logits, views, acc, shared: _Shared) -> None:
        """GLRM_MLR of all the pass's forward SNV/MNV requesters in one gather (a tile holds thousands):
        the same sums as `scores.mlr`, rows o-1.. of a causal ref pass or, in tile mode, rows o.. of an
        unmasked ref pass (the wild-type marginal). Mirrored and masked-pass requesters go one by one."""
        if "mlr" not in self.config.scores:
            return
        sel = []
        for j, strand, role, mirrored in p.consumers:
            v = views[j][strand]
            if mirrored or v.n != v.m or "mlr" not in v.want:
                continue
            if role == Role.REF and self.kind == "causal":
                sel.append((j, strand, v, v.o_ref - 1))
            elif role == Role.UREF and self.config.tile:
                sel.append((j, strand, v, v.o_ref))
        if not sel:
            return
        lp = self._lp(shared, logits)                                                # (W, 4)
        dev = lp.device
        rows = torch.tensor([a + i for _j, _s, v, a in sel for i in range(v.n)], device=dev)       # (R,)
        owner = torch.tensor([k for k, (_j, _s, v, _a) in enumerate(sel) for _ in range(v.n)], device=dev)
        ref_ids = torch.cat([v.ref_allele for _j, _s, v, _a in sel]).to(dev)         # (R,)
        alt_ids = torch.cat([v.alt_allele for _j, _s, v, _a in sel]).to(dev)
        got = lp[rows].double()                                                      # (R, 4)
        per = S.gather_nucleotide(got, alt_ids, self.nuc) - S.gather_nucleotide(got, ref_ids, self.nuc)
        sums = torch.zeros(len(sel), dtype=torch.float64, device=dev).index_add_(0, owner, per)
        for (j, strand, _v, _a), value in zip(sel, sums.tolist(), strict=True):
            acc[j][strand].mlr = value

    def _lp(self, shared: _Shared, logits: torch.Tensor) -> torch.Tensor:
        """The pass's (W, 4) nucleotide log-probabilities, computed once for all its requesters."""
        if shared.lp is None:
            shared.lp = S.nucleotide_logprobs(logits, self.nuc)  # (W, 4)
        return shared.lp

    # --- results ------------------------------------------------------------------------------
    def _combine(self, views: list[_View], acc: list[_Acc]) -> dict[str, float | None]:
        """The requested scores of one job from its strands' accumulators: the mean over the strands the
        score uses (the forward one; both with --rc mean, and always both for BOTH_STRANDS recipes)."""
        causal = self.kind == "causal"
        per_strand = []
        for v, a in zip(views, acc, strict=True):
            r, t = a.ref, a.alt
            both = t.llr is not None and r.llr is not None
            per_strand.append({
                "llr": t.llr - r.llr if both else None,
                "cllr": (t.llr + t.entropy) - (r.llr + r.entropy)
                if both and t.entropy is not None and r.entropy is not None else None,
                "mlr": a.mlr,
                "emb": S.cosine_distance(r.emb, t.emb) if r.emb is not None and t.emb is not None else None,
                "evo2": t.ev - r.ev if t.ev is not None and r.ev is not None else None,
                "gpn_llr": a.mlr if not causal and v.n == v.m == 1 else None,
                "gpn_cos": a.gpn_cos,
                "gpn_euc": a.gpn_euc,
            })
        strands_rc = 2 if self.config.rc == "mean" else 1
        result = {}
        for name in self.config.scores:
            got = [s[name] for s in per_strand[:2 if name in BOTH_STRANDS else strands_rc]]
            ok = got and len(got) == (2 if name in BOTH_STRANDS else strands_rc) and None not in got
            result[KEYS[name]] = sum(got) / len(got) if ok else None
        return result


def _by_length(passes: list[_Pass]) -> dict[int, list[_Pass]]:
    groups: dict[int, list[_Pass]] = {}
    for p in passes:
        groups.setdefault(len(p.seq), []).append(p)
    return groups
