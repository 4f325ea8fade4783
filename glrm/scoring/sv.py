"""The structural-variant scoring engine (docs/definitions.md, "Structural variants (score-sv)"). No file I/O.

API (as built)::

    from glrm.scoring.sv import SVEngine, SVScores
    engine = SVEngine(model, emb_flank=768, rc="none", chunk_size=None, precision="fp32",
                      device=torch.device("cpu"), want_track=False, batch_size=None, prefix_reuse=None)
    res = engine.score_allele(windows)   # windows: allele_windows(genome, allele, W, sv=True), all OK
    res.emb, res.llr, res.reach, res.bp, res.track   # track = (genome positions, d values) or None
    engine.passes_run                      # model passes run so far (int)
    engine.batch_sizes, engine.chunk_sizes # per forward run: batch size and chunk size used (logs, tests)

`chunk_size`: None (whole window in one chunk), an int, or "auto" (`glrm.resources.auto_chunk_size` per window
length). `batch_size`: passes per forward; None = auto (`glrm.resources.auto_batch`: 1 on CPU, else from free
memory), so on
a GPU the ref and alt windows of one allele run together when memory allows and one by one for long
windows. Results do not depend on batch size or chunk size beyond float rounding (tested to 1e-5).

Window lengths: breakpoint and BND windows have W bases each; a fits-mode pair covers one genome span, so its
ref and alt windows differ by k' - k bases (the longer has W). Masked models run each at its own length
(batches never mix lengths). A causal model never reads what follows a position, so for it the shorter window
runs N-padded at its end to W: the same outputs on its own bases, and ref and alt share a batch.
Causal prefix reuse (`prefix_reuse`, default on unless GLRM_PREFIX_REUSE=0; HyenaDNA with hyena_order 2 and
the Mamba LM, `glrm.scoring.prefix.supports_prefix_reuse`): when a strand's alt window starts with the same
o >= 1 tokens as its ref window (fits mode: at least the left flank; left breakpoint and t[p[ / t]p]
breakends: at least W // 2), the alt pass starts from the ref pass's state after them (`run_linked`), so its
outputs there are the ref pass's, bit for bit: a causal model's left flank is exactly unchanged.

Scores of one window (pairs (ri, ai) = the aligned flank positions, `Window.left`/`right`, both flanks):
- l[t]: causal models log p(x_t | x_<t); masked models the wild-type marginal lw[t] (unmasked pass,
  log-prob of the observed token); log-softmax over A/C/G/T, N contributes 0 (`glrm.scoring.scores`).
- SV_LLR = sum over ALL pairs of l_alt[ai] - l_ref[ri] (float64 sums).
- SV_EMB = cosine distance of mean h_ref[ri] and mean h_alt[ai] over the pairs at distance <= K (--emb-flank);
  None (written '.') when there is no such pair. h is the last hidden state; RC-equivariant checkpoints
  (Caduceus-ps) are combined strand-symmetrically first (scores.strand_symmetric).
- d[j] = ||h_alt[ai_j] - h_ref[ri_j]||_2 over channels (after the strand-symmetric combination).
  SV_REACH = the largest distance over pairs with d[j] >= 0.1 * max(d); 0 when no pairs, or when ref and
  alt agree at every pair: max(d) <= REACH_RTOL (5e-5) * max ||h_ref[ri]|| (float32 rounding, e.g.
  HyenaDNA's FFT convolution leaves d ~ 2e-6 of the norm on a causal prefix that did not change).
- The allele: every window scored; SV_BP = the window with the larger SV_EMB (ties and None: the first; fits
  mode and BND have one window, bp 0 is reported as 1); its EMB, LLR, REACH (and track) are reported.

`--rc mean`: causal models and Caduceus-ph run revcomp(ref) and revcomp(alt) as extra passes; forward index i
of a window of L bases is index L-1-i there, so each pair (ri, ai) reads (Lr-1-ri, La-1-ai). LLR and EMB are
the means of the two strands' values; d is averaged per pair over the strands, and REACH (and the track) come
from that mean d. RC-equivariant checkpoints (Caduceus-ps) never run a second pass: their outputs on
revcomp(x) are the position-flipped outputs on x with the vocabulary complement-permuted and the channels
reversed, and the strand-symmetric combination is invariant under channel reversal, so every RC-strand value
(lw, combined h, hence d, EMB, LLR, REACH) equals the forward value exactly; the mean is the forward value.

Identical ref and alt sequences (e.g. an edit with q == G[s:e]) run once, so such an allele scores exactly 0.
Memory: per window only one strand's ref outputs are held while its alt outputs are reduced; logits are
dropped as soon as l is taken, and d is computed over pair blocks (`PAIR_BLOCK`).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import numpy as np
import torch

from glrm.defaults import (
    DEFAULT_EMB_FLANK,
    DEFAULT_PRECISION,
    DEFAULT_RC,
    check_batch_size,
    check_chunk_size,
    check_emb_flank,
    check_precision,
    check_rc,
)
from glrm.errors import InputError
from glrm.models.base import GenomicLM
from glrm.models.tokenizer import vocabulary_of
from glrm.resources import Backoff, auto_batch, auto_chunk_size, size_model_caches
from glrm.scoring import scores as S
from glrm.scoring.engine import Role, cast_model
from glrm.scoring.prefix import run_linked, supports_prefix_reuse
from glrm.windows import FlankMap, Window, revcomp

log = logging.getLogger(__name__)

REACH_FRACTION = 0.1
REACH_RTOL = 5e-5            # d at or below this fraction of the largest ref norm counts as no change
PAIR_BLOCK = 1 << 14          # pairs per block for d and the means (float64 temporaries: 16384 x H)


@dataclass
class SVScores:
    emb: float | None
    llr: float | None
    reach: int | None
    bp: int
    # (genome positions int64, d float64) of the reported window, when asked
    track: tuple[np.ndarray, np.ndarray] | None = None


def token_logprobs(kind: str, logits: torch.Tensor, ids: torch.Tensor,
                   nuc: S.Nuc = S.NUC_IDS) -> torch.Tensor:
    """l (L,) float32: causal log p(x_t | x_<t) (l[0] = 0), masked the wild-type marginal log p(x_t) from the
    unmasked logits; 0 where x_t is not A/C/G/T. logits (L, V), ids (L,); `nuc`: the model's A/C/G/T ids."""
    if kind == "causal":
        return S.causal_token_logprobs(logits, ids, nuc)
    return S.gather_nucleotide(S.nucleotide_logprobs(logits, nuc), ids, nuc)  # (L,)


def reach(d: np.ndarray, distance: np.ndarray, ref_norm: float = 0.0) -> int:
    """GLRM_SV_REACH: max distance over pairs with d >= 0.1 * max(d); 0 when there are no pairs or
    max(d) <= REACH_RTOL * ref_norm (the largest ||h_ref|| over the pairs; 0 asks for max(d) == 0)."""
    if d.size == 0:
        return 0
    top = float(d.max())
    if top <= REACH_RTOL * ref_norm:
        return 0
    return int(distance[d >= REACH_FRACTION * top].max())


def _mirror(fm: FlankMap, wr: int, wa: int) -> FlankMap:
    """The same pairs on the reverse-complement strand (ref index i -> wr-1-i, alt index i -> wa-1-i, for
    windows of wr and wa bases), in reversed pair order."""
    return FlankMap(wr - fm.ref_start - fm.length, wa - fm.alt_start - fm.length, fm.length,
                    fm.dist_start + fm.dist_step * (fm.length - 1), -fm.dist_step)


def _pairs(win: Window) -> list[FlankMap]:
    return [fm for fm in (win.left, win.right) if fm.length > 0]


def _rows(h: torch.Tensor, a: int, b: int, eq: bool) -> torch.Tensor:
    """h[a:b] as float64 (b-a, H'), strand-symmetric for RC-equivariant checkpoints."""
    x = h[a:b].double()  # (n, H)
    return S.strand_symmetric(x) if eq else x


@dataclass
class _Strand:
    llr: float
    u: torch.Tensor | None     # (H',) float64 ref mean over pairs within K, None when there are none
    v: torch.Tensor | None
    d: np.ndarray              # (P,) float64, pairs in forward order (left flank then right)
    ref_norm: float            # the largest ||h_ref[ri]|| over the pairs


def reduce_strand(maps: list[FlankMap], near: list[FlankMap], l_ref, l_alt, h_ref, h_alt, eq: bool,
                  mirrored: bool, wr: int, wa: int) -> _Strand:
    """One strand's LLR, EMB means and d from the ref and alt outputs: l (L,), h (L, H), L at least the
    window's wr (ref) and wa (alt) bases. `maps`: the window's flank runs; `near`: the same within K.
    `mirrored`: outputs are of the revcomp windows."""
    llr, ref_norm = 0.0, 0.0
    ds = []
    for fm in maps:
        g = _mirror(fm, wr, wa) if mirrored else fm
        llr += float(l_alt[g.alt_slice].double().sum()) - float(l_ref[g.ref_slice].double().sum())
        parts = []
        for i in range(0, g.length, PAIR_BLOCK):
            n = min(PAIR_BLOCK, g.length - i)
            r = _rows(h_ref, g.ref_start + i, g.ref_start + i + n, eq)      # (n, H')
            a = _rows(h_alt, g.alt_start + i, g.alt_start + i + n, eq)      # (n, H')
            parts.append(torch.linalg.vector_norm(a - r, dim=-1).cpu().numpy())
            ref_norm = max(ref_norm, float(torch.linalg.vector_norm(r, dim=-1).max()))
        d = np.concatenate(parts)
        ds.append(d[::-1] if mirrored else d)
    count = sum(fm.length for fm in near)
    u = v = None
    if count:
        su = sv = 0.0
        for fm in near:
            g = _mirror(fm, wr, wa) if mirrored else fm
            for i in range(0, g.length, PAIR_BLOCK):
                n = min(PAIR_BLOCK, g.length - i)
                su = su + _rows(h_ref, g.ref_start + i, g.ref_start + i + n, eq).sum(0)  # (H',)
                sv = sv + _rows(h_alt, g.alt_start + i, g.alt_start + i + n, eq).sum(0)
        u, v = (su / count).cpu(), (sv / count).cpu()
    d_all = np.concatenate(ds) if ds else np.zeros(0)
    return _Strand(llr, u, v, np.ascontiguousarray(d_all), ref_norm)


def window_scores(win: Window, strands: list[_Strand]) -> tuple[float | None, float, int, np.ndarray]:
    """(EMB, LLR, REACH, d) of one window from its strands (mean over strands; d averaged per pair)."""
    embs = [S.cosine_distance(s.u, s.v) if s.u is not None else None for s in strands]
    emb = None if any(e is None for e in embs) else sum(embs) / len(embs)
    llr = sum(s.llr for s in strands) / len(strands)
    d = strands[0].d if len(strands) == 1 else sum(s.d for s in strands) / len(strands)
    dist = np.concatenate([fm.distance for fm in _pairs(win)]) if _pairs(win) else np.zeros(0, np.int64)
    return emb, llr, reach(d, dist, max(s.ref_norm for s in strands)), d


class SVEngine:
    """Scores the windows of one SV allele with one model (see the module docstring for the API and scores).

    The model must already be on `device`; with precision "bf16" it is cast in place (`engine.cast_model`).
    """

    def __init__(self, model: GenomicLM, *, emb_flank: int = DEFAULT_EMB_FLANK, rc: str = DEFAULT_RC,
                 chunk_size: int | str | None = None, precision: str = DEFAULT_PRECISION,
                 device: torch.device | str = torch.device("cpu"), want_track: bool = False,
                 batch_size: int | None = None, prefix_reuse: bool | None = None):
        check_rc(rc)                 # the checks of glrm.defaults, as score-sv's options
        check_precision(precision)
        check_emb_flank(emb_flank)
        check_chunk_size(chunk_size)
        check_batch_size(batch_size)
        self.model, self.emb_flank, self.rc = model, emb_flank, rc
        self.chunk_size, self.batch_size, self.want_track = chunk_size, batch_size, want_track
        self.device = torch.device(device)
        cast_model(model, precision)
        model.eval()
        size_model_caches(model, self.device)   # HyenaDNA: filter spectra kept where memory allows
        self.kind = model.info.kind
        self.tokens = vocabulary_of(model)   # the model's vocabulary (windows are encoded with it)
        self.eq = model.info.rc_equivariant
        self.second_pass = rc == "mean" and not (self.eq and self.kind == "masked")
        # causal models: an alt pass that shares its first o tokens with its ref pass starts from the ref
        # pass's state there (glrm.scoring.prefix), so the shared prefix's outputs are the ref's exactly
        if prefix_reuse is None:
            prefix_reuse = os.environ.get("GLRM_PREFIX_REUSE", "1") != "0"
        self.prefix_reuse = prefix_reuse and supports_prefix_reuse(model)
        self.passes_run = 0
        self.batch_sizes: list[int] = []   # forwards' batch sizes, over the engine's lifetime (logs, tests)
        self.chunk_sizes: list[int | None] = []
        self._backoffs: dict[int, Backoff] = {}   # window length -> its batch and chunk

    # --- sizes ----------------------------------------------------------------------------------
    def chunk_for(self, w: int) -> int | None:
        if self.chunk_size == "auto":
            return auto_chunk_size(self.model, w, self.device)
        return self.chunk_size

    def batch_for(self, w: int) -> int:
        if self.batch_size is not None:
            return self.batch_size
        return auto_batch(self.model, w, self.device)

    def _backoff(self, w: int) -> Backoff:
        """Batch and chunk for `w`-token windows, kept for the run and halved on a CUDA out-of-memory error
        (glrm.resources.Backoff)."""
        if w not in self._backoffs:
            self._backoffs[w] = Backoff(w, self.batch_for(w), self.chunk_for(w))
        return self._backoffs[w]

    # --- scoring --------------------------------------------------------------------------------
    def score_allele(self, windows: list[Window]) -> SVScores:
        if not windows:
            raise ValueError("score_allele needs the allele's windows (allele_windows(..., sv=True))")
        for win in windows:
            if not win.ok or win.ref is None or win.alt is None:
                raise ValueError(f"the SV engine scores OK windows only, got status {win.status.value}")
            info, w = self.model.info, max(len(win.ref), len(win.alt))
            if info.window_is_limit and w > info.trained_window:
                raise InputError(f"--window {w} is longer than this HyenaDNA checkpoint's trained length "
                                 f"{info.trained_window} (its positional embedding cannot extrapolate); use "
                                 "--window <= that length or a Caduceus/Mamba model")
        results = [self._score_window(win) for win in windows]
        best = 0
        for i, (emb, _, _, _) in enumerate(results):
            if emb is not None and (results[best][0] is None or emb > results[best][0]):
                best = i
        emb, llr, rch, d = results[best]
        win = windows[best]
        track = None
        if self.want_track:
            pos = np.concatenate([win.ref_start + fm.ref_idx for fm in _pairs(win)]) if _pairs(win) \
                else np.zeros(0, np.int64)
            order = np.argsort(pos, kind="stable")
            track = (pos[order], d[order])
        return SVScores(emb, llr, rch, max(1, win.bp), track)

    def _score_window(self, win: Window):
        wr, wa = len(win.ref), len(win.alt)
        maps = _pairs(win)
        near = [m for m in (fm.within(self.emb_flank) for fm in maps) if m.length > 0]
        strands = [(win.ref, win.alt, False)]
        if self.second_pass:
            strands.append((revcomp(win.ref), revcomp(win.alt), True))
        if self.kind == "causal" and wr != wa:
            # a causal model never reads what follows a position, so the shorter window of a fits-mode pair
            # runs N-padded at its end to the longer one's length: the same outputs on its own bases, and
            # both passes of a strand can share a batch and a prefix
            width = max(wr, wa)
            strands = [(r + "N" * (width - len(r)), a + "N" * (width - len(a)), mir) for r, a, mir in strands]
        held: dict[tuple[int, str], tuple[torch.Tensor, torch.Tensor]] = {}
        done: dict[int, _Strand] = {}

        def hold(si: int, role: str, ids, logits, hidden) -> None:
            if si not in done:   # a slice retried after an OOM may hold passes of a strand already reduced
                held[(si, role)] = (token_logprobs(self.kind, logits, ids, self.tokens.nucleotides), hidden)

        def reduce_ready() -> None:
            for si, (ref, alt, mirrored) in enumerate(strands):
                alt_key = (si, Role.ALT) if alt != ref else (si, Role.REF)
                if si in done or (si, Role.REF) not in held or alt_key not in held:
                    continue
                l_r, h_r = held[(si, Role.REF)]
                l_a, h_a = held[alt_key]
                # popped only once reduced: an OOM inside reduce_strand leaves the passes for the retry
                done[si] = reduce_strand(maps, near, l_r, l_a, h_r, h_a, self.eq, mirrored, wr, wa)
                held.pop((si, Role.REF)), held.pop(alt_key, None)

        def step(batch, chunk):   # plain passes (si, role, seq) of one length; re-runnable after a CUDA OOM
            ids = torch.stack([self.tokens.encode(seq) for _, _, seq in batch]).to(self.device)  # (B, L)
            with torch.inference_mode():
                out = self.model(ids, chunk_size=chunk)
            for b, (si, role, _) in enumerate(batch):
                hold(si, role, ids[b], out.logits[b], out.hidden_states[b])
            del out, ids
            reduce_ready()
            self._count(len(batch), len(batch), chunk)

        def step_linked(batch, chunk):   # strands (si, o) whose alt shares its first o tokens with its ref
            refs = [self.tokens.encode(strands[si][0]) for si, _ in batch]           # each (L,)
            alts = [(i, self.tokens.encode(strands[si][1]), o) for i, (si, o) in enumerate(batch)]
            with torch.inference_mode():
                run_linked(self.model, refs, alts, self._backoff(max(wr, wa)).batch, chunk,
                           emit_ref=lambda i, *out: hold(batch[i][0], Role.REF, *out),
                           emit_alt=lambda i, *out: hold(batch[i][0], Role.ALT, *out))
            reduce_ready()
            self._count(2 * len(batch), len(batch), chunk)

        linked, plain = [], []
        for si, (ref, alt, _) in enumerate(strands):
            o = _shared_prefix(ref, alt) if self.prefix_reuse and alt != ref else 0
            if o >= 1:
                linked.append((si, o))
            else:
                plain.extend([(si, Role.REF, ref)] + ([(si, Role.ALT, alt)] if alt != ref else []))
        log.debug("SV window %s:%d bp %d, %d + %d bases: %d strands from a shared prefix, %d plain passes",
                  win.chrom, win.ref_start, win.bp, wr, wa, len(linked), len(plain))
        if linked:
            self._backoff(max(wr, wa)).run(linked, step_linked)
        # batches never mix lengths; sizes come from the window's longer side (W): what fits W fits the
        # shorter side of a fits-mode pair, and one back-off per W keeps a reduced size for all the run's SVs
        for group in _equal_length_runs(plain):
            self._backoff(max(wr, wa)).run(group, step)
        return window_scores(win, [done[si] for si in range(len(strands))])

    def _count(self, passes: int, batch: int, chunk: int | None) -> None:
        self.passes_run += passes
        self.batch_sizes.append(batch)
        self.chunk_sizes.append(chunk)


def _shared_prefix(a: str, b: str) -> int:
    """The number of leading characters two equal-length strings share (numpy: windows reach 1 Mbp)."""
    x = np.frombuffer(a.encode("ascii"), np.uint8)
    y = np.frombuffer(b.encode("ascii"), np.uint8)
    diff = np.flatnonzero(x != y)
    return int(diff[0]) if diff.size else len(a)


def _equal_length_runs(passes: list[tuple[int, str, str]]) -> list[list[tuple[int, str, str]]]:
    """Consecutive passes grouped while their sequences have the same length (input order kept)."""
    runs: list[list[tuple[int, str, str]]] = []
    for p in passes:
        if runs and len(runs[-1][0][2]) == len(p[2]):
            runs[-1].append(p)
        else:
            runs.append([p])
    return runs
