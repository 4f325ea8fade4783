"""`glrm models check`: does a loaded checkpoint read real sequence better than shuffled sequence?

A model whose token ids are wrong (a tokenizer from another checkpoint, A/C/G/T rows that are not the ones it
was trained on) still runs and still gives numbers; only its loss gives it away. This check takes real
windows from a FASTA and the same windows shuffled, and compares the model's per-base loss on both
(docs/models.md, "Checking a checkpoint on real sequence"):

- windows: `--windows N` windows of `--window W` bases, non-overlapping tiles of the regions (`-r`, else every
  contig in FASTA order) with at most --max-n-frac N, N of them evenly spaced over all such tiles;
- shuffled: each window's A/C/G/T bases permuted among their own positions (a mononucleotide shuffle: the
  base composition and the N positions stay, the order goes), with a fixed seed per window;
- loss (nats per base, the mean negative log-likelihood over A/C/G/T positions, with the log-softmax over the
  four bases as glrm's scores take it): causal models predict every base from the ones before it (positions
  1 .. W-1); masked models get MASK_FRACTION of the bases masked at once (the same positions in the real and
  the shuffled window, as in their training) and predict those.

A trained model scores the real windows clearly lower (a genome is not a shuffled bag of bases); a wrong id
mapping makes real and shuffled alike, or real worse. Some wrong mappings keep much of a genome's structure
(swapping A with G and C with T, or complementing every base, leaves repeats and strand-symmetric k-mer
statistics), so the check also reads the first ASSIGNMENT_WINDOWS real windows under each of the 24
assignments of the four bases to the vocabulary's four base ids: the vocabulary's own must fit best.

The verdict flags the model when the real loss is not at least MARGIN nats/base below the shuffled loss, or
when another assignment fits the real windows better by more than ASSIGNMENT_MARGIN. The data (one row per
window and the pooled figures) go to stdout; the verdict, with the best assignments, goes to stderr.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from glrm.defaults import DEFAULT_DEVICE, DEFAULT_MAX_N_FRAC, check_max_n_frac
from glrm.errors import InputError

DEFAULT_WINDOWS = 8
DEFAULT_CHECK_WINDOW = 1024    # or the model's trained window when shorter (PlantCaduceus: 512)
MASK_FRACTION = 0.15           # masked models: bases masked per window (BERT's and Caduceus' training rate)
MARGIN = 0.01                  # nats/base the real windows must beat the shuffled ones by
ASSIGNMENT_WINDOWS = 2         # real windows read under each of the 24 base assignments
ASSIGNMENT_MARGIN = 0.005      # nats/base another assignment must beat the vocabulary's by to flag it
IDENTITY = "ACGT"
READ_BLOCK = 1 << 22           # bases read from the FASTA at a time while looking for windows
UNIFORM = math.log(4)          # the loss of a model that knows nothing: 1.3863 nats/base


@dataclass(kw_only=True)
class CheckOptions:
    """The options of `glrm models check`."""

    model: str
    fasta: str
    regions: str | None = None
    windows: int = DEFAULT_WINDOWS
    window: int | None = None            # None: min(1024, the model's trained window)
    seed: int = 0
    max_n_frac: float = DEFAULT_MAX_N_FRAC
    device: str = DEFAULT_DEVICE
    strict: bool = False                 # exit status 1 when the check flags the model

    def validate(self) -> None:
        if self.windows < 1:
            raise InputError(f"--windows {self.windows}: give at least 1")
        if self.window is not None and self.window < 16:
            raise InputError(f"--window {self.window}: give at least 16 bases")
        check_max_n_frac(self.max_n_frac)


@dataclass
class WindowLoss:
    chrom: str
    start: int                           # 0-based
    end: int
    scored: int                          # bases scored (the same in the real and the shuffled window)
    real: float                          # mean NLL, nats/base
    shuffled: float


@dataclass
class CheckResult:
    model: str
    kind: str
    tokenizer: str
    window: int
    rows: list[WindowLoss] = field(default_factory=list)
    # the real loss (nats/base) on the first ASSIGNMENT_WINDOWS windows when base b is fed as the vocabulary's
    # id for assignment[b]: "ACGT" is the vocabulary's own, "CAGT" reads every A as C and every C as A
    assignments: dict[str, float] = field(default_factory=dict)

    @property
    def scored(self) -> int:
        return sum(r.scored for r in self.rows)

    def pooled(self, attr: str) -> float:
        """The mean NLL over every scored base of every window."""
        return sum(getattr(r, attr) * r.scored for r in self.rows) / max(1, self.scored)

    def best_assignments(self, n: int = 2) -> list[tuple[str, float]]:
        return sorted(self.assignments.items(), key=lambda kv: kv[1])[:n]

    @property
    def not_better_than_shuffled(self) -> bool:
        return not self.pooled("real") <= self.pooled("shuffled") - MARGIN

    @property
    def better_assignment(self) -> str | None:
        """Another assignment of the bases that fits the real windows better than the vocabulary's, if any."""
        if IDENTITY not in self.assignments:
            return None
        best, loss = self.best_assignments(1)[0]
        return best if best != IDENTITY and loss < self.assignments[IDENTITY] - ASSIGNMENT_MARGIN else None

    @property
    def flagged(self) -> bool:
        return self.not_better_than_shuffled or self.better_assignment is not None

    def table(self) -> str:
        """The TSV for stdout: one row per window, then `all` (pooled over the windows)."""
        lines = ["window\tchrom\tstart\tend\tscored\treal_nll\tshuffled_nll"]
        for i, r in enumerate(self.rows, 1):
            lines.append(f"{i}\t{r.chrom}\t{r.start}\t{r.end}\t{r.scored}\t{r.real:.4f}\t{r.shuffled:.4f}")
        lines.append(f"all\t.\t.\t.\t{self.scored}\t{self.pooled('real'):.4f}\t{self.pooled('shuffled'):.4f}")
        return "\n".join(lines) + "\n"

    def verdict(self) -> str:
        """The verdict for stderr: one line, and the flag's reason."""
        real, shuf = self.pooled("real"), self.pooled("shuffled")
        figures = (f"real {real:.4f} vs shuffled {shuf:.4f} nats/base (uniform {UNIFORM:.4f}), "
                   f"{self.scored} bases in {len(self.rows)} windows of {self.window}")
        best = ", ".join(f"{a} {loss:.4f}" for a, loss in self.best_assignments())
        assign = f"; best base assignments: {best} ({IDENTITY} = the vocabulary's)" if best else ""
        if not self.flagged:
            return (f"glrm: check: {self.model} reads real sequence better than shuffled by "
                    f"{shuf - real:.4f} nats/base ({figures}{assign}): its token ids look right")
        why = []
        if self.not_better_than_shuffled:
            why.append(f"does not read real sequence better than shuffled by at least {MARGIN} ({figures})")
        if self.better_assignment:
            why.append(f"reads real sequence better with the bases assigned as {self.better_assignment} than "
                       f"as the vocabulary has them{assign}")
        return (f"glrm: warning: check: {self.model} {'; and it '.join(why)}; its token ids may be wrong "
                f"(vocabulary: {self.tokenizer}), or it is untrained, or not trained on sequence like this")


# --- windows -----------------------------------------------------------------------------------------------

def candidate_tiles(fasta, spans, w: int, max_n_frac: float) -> Iterator[tuple[str, int]]:
    """(chrom, start) of every W-base tile of the spans with at most `max_n_frac` N, in order."""
    per_block = max(1, READ_BLOCK // w)
    for chrom, start, end in spans:
        size = fasta.length(chrom)
        end = size if end is None else min(end, size)
        s = start
        while s + w <= end:
            k = min(per_block, (end - s) // w)
            seq = fasta.fetch(chrom, s, s + k * w)
            is_n = np.frombuffer(seq.encode("ascii"), np.uint8).reshape(k, w) == ord("N")   # (k, W)
            for i in np.flatnonzero(is_n.sum(axis=1) <= max_n_frac * w):
                yield chrom, s + int(i) * w
            s += k * w


def pick_windows(fasta, spans, n: int, w: int, max_n_frac: float) -> list[tuple[str, int]]:
    """`n` tiles evenly spaced over all candidate tiles (all of them when there are fewer)."""
    tiles = list(candidate_tiles(fasta, spans, w, max_n_frac))
    if not tiles:
        raise InputError(f"{fasta.path}: no window of {w} bases with at most {max_n_frac:g} N in the "
                         "regions; give other regions (-r) or a smaller --window")
    if len(tiles) <= n:
        return tiles
    picks = sorted({int(round(x)) for x in np.linspace(0, len(tiles) - 1, n)})
    return [tiles[i] for i in picks]


def reassign(ids: np.ndarray, nucleotides, assignment: str) -> np.ndarray:
    """`ids` with base b (A, C, G, T) fed as the id of base assignment[b]: "ACGT" is `ids` itself."""
    out = ids.copy()
    for base, new in zip(IDENTITY, assignment, strict=True):
        out[ids == nucleotides[IDENTITY.index(base)]] = nucleotides[IDENTITY.index(new)]
    return out


def shuffle_bases(ids: np.ndarray, nucleotides, rng: np.random.Generator) -> np.ndarray:
    """`ids` with its A/C/G/T tokens permuted among their own positions (other tokens stay where they are)."""
    out = ids.copy()
    pos = np.flatnonzero(np.isin(ids, nucleotides))
    out[pos] = ids[rng.permutation(pos)]
    return out


# --- losses ------------------------------------------------------------------------------------------------

def window_nll(model, ids: np.ndarray, mask_pos: np.ndarray | None, device) -> tuple[float, int]:
    """(summed NLL, bases scored) of one window (W,): causal next-base prediction, or the masked positions."""
    import torch

    from glrm.scoring import scores as S

    vocab = model.vocab
    x = torch.from_numpy(ids).to(device)
    with torch.inference_mode():
        if mask_pos is None:
            logits = model(x[None]).logits[0]                                        # (W, V)
            lp = S.causal_token_logprobs(logits, x, vocab.nucleotides)[1:]           # (W-1,)
            scored = S.is_nucleotide(x[1:], vocab.nucleotides)
            return float(-lp[scored].double().sum()), int(scored.sum())
        masked = x.clone()
        pos = torch.from_numpy(mask_pos).to(device)
        masked[pos] = vocab.mask
        logits = model(masked[None]).logits[0]                                       # (W, V)
        lp = S.nucleotide_logprobs(logits[pos], vocab.nucleotides)               # (m, 4)
        return float(-S.gather_nucleotide(lp, x[pos], vocab.nucleotides).double().sum()), len(mask_pos)


def run_check(opts: CheckOptions) -> CheckResult:
    """Load the model, pick the windows, and compute their real and shuffled losses."""
    from glrm.io.fasta import Fasta
    from glrm.io.regions import parse_regions
    from glrm.models import load_model
    from glrm.pipeline.score_vcf import resolve_device

    opts.validate()
    device = resolve_device(opts.device)
    model = load_model(opts.model, device=device)
    info, vocab = model.info, model.vocab
    if info.kind == "masked" and vocab.mask is None:
        raise InputError(f"{opts.model}: a masked model, but its vocabulary has no [MASK] token "
                         f"({vocab.source}); the check needs one")
    w = opts.window or min(DEFAULT_CHECK_WINDOW, info.trained_window or DEFAULT_CHECK_WINDOW)
    if info.window_is_limit and w > info.trained_window:
        raise InputError(f"--window {w} is longer than this HyenaDNA checkpoint's trained length "
                         f"{info.trained_window}; use a smaller --window")
    result = CheckResult(model=opts.model, kind=info.kind, tokenizer=vocab.describe(), window=w)
    sums = dict.fromkeys(("".join(p) for p in itertools.permutations(IDENTITY)), 0.0)
    counted = 0
    with Fasta(opts.fasta) as fasta:
        spans = (parse_regions(opts.regions, fasta.contigs) if opts.regions
                 else [(c, 0, None) for c in fasta.contigs])
        for k, (chrom, start) in enumerate(pick_windows(fasta, spans, opts.windows, w, opts.max_n_frac)):
            rng = np.random.default_rng([opts.seed, k])
            real = vocab.encode_numpy(fasta.fetch(chrom, start, start + w))          # (W,)
            shuffled = shuffle_bases(real, vocab.nucleotides, rng)
            mask_pos = None
            if info.kind == "masked":
                bases = np.flatnonzero(np.isin(real, vocab.nucleotides))
                count = max(1, int(round(MASK_FRACTION * len(bases))))
                mask_pos = np.sort(rng.choice(bases, count, replace=False))
            nll_r, n = window_nll(model, real, mask_pos, device)
            nll_s, _ = window_nll(model, shuffled, mask_pos, device)
            if not n:
                continue
            result.rows.append(WindowLoss(chrom, start, start + w, n, nll_r / n, nll_s / n))
            if len(result.rows) <= ASSIGNMENT_WINDOWS:
                for a in sums:
                    sums[a] += nll_r if a == IDENTITY else window_nll(
                        model, reassign(real, vocab.nucleotides, a), mask_pos, device)[0]
                counted += n
    if counted:
        result.assignments = {a: total / counted for a, total in sums.items()}
    return result
