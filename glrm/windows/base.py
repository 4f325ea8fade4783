"""What every window builder shares (docs/windows.md; the rules in docs/definitions.md): the `Genome`
protocol, sequence normalisation, the `Window` and `FlankMap` types, the aligned-flank rule, and the notes of
the statuses every builder checks.

Pure: no file I/O, no torch. A genome is any object with `resolve(chrom) -> str | None`,
`length(chrom) -> int` and `fetch(chrom, start, end) -> str` (0-based, half-open, upper-case, `N` outside the
contig), such as `glrm.io.fasta.Fasta`. A non-OK window carries no sequences (`ref`/`alt` are None), empty
flank maps, and a one-line `note` (`fail`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from glrm.dna import normalize, revcomp  # noqa: F401  (re-exported)
from glrm.errors import InputError
from glrm.variants import Allele, Status

MIN_WINDOW = 8  # F = W // 8 must be at least one base


class Genome(Protocol):
    """What window builders need from a reference (`glrm.io.fasta.Fasta` is one)."""

    def resolve(self, chrom: str) -> str | None: ...
    def length(self, chrom: str) -> int: ...
    def fetch(self, chrom: str, start: int, end: int) -> str: ...


# --- sequences --------------------------------------------------------------------------------------

# normalize and revcomp: glrm.dna (re-exported here for the window builders)


# --- index maps -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FlankMap:
    """Aligned flank pairs: ref index `ref_start + i` holds the same reference base as alt index
    `alt_start + i`, at distance `dist_start + dist_step * i` from the edit, for i in [0, length).

    Every flank is one contiguous run, so it is stored as a run; `ref_idx`, `alt_idx` and `distance` give
    it as numpy int64 arrays, and `ref_slice`/`alt_slice` index a (L, ...) tensor directly. On the left
    flank the distance shrinks toward the edit (`dist_step` -1), on the right it grows (+1); it is >= 1.
    """

    ref_start: int = 0
    alt_start: int = 0
    length: int = 0
    dist_start: int = 1
    dist_step: int = 1

    def __len__(self) -> int:
        return self.length

    @property
    def ref_idx(self) -> np.ndarray:
        return np.arange(self.ref_start, self.ref_start + self.length, dtype=np.int64)

    @property
    def alt_idx(self) -> np.ndarray:
        return np.arange(self.alt_start, self.alt_start + self.length, dtype=np.int64)

    @property
    def distance(self) -> np.ndarray:
        return self.dist_start + self.dist_step * np.arange(self.length, dtype=np.int64)

    @property
    def ref_slice(self) -> slice:
        return slice(self.ref_start, self.ref_start + self.length)

    @property
    def alt_slice(self) -> slice:
        return slice(self.alt_start, self.alt_start + self.length)

    def within(self, k: int) -> FlankMap:
        """The pairs at distance <= k (the GLRM_SV_EMB neighbourhood)."""
        if self.dist_step < 0:   # left flank: the last pairs are the nearest
            drop = min(self.length, max(0, self.dist_start - k))
            return FlankMap(self.ref_start + drop, self.alt_start + drop, self.length - drop,
                            self.dist_start - drop, self.dist_step)
        keep = min(self.length, max(0, k - self.dist_start + 1))
        return FlankMap(self.ref_start, self.alt_start, keep, self.dist_start, self.dist_step)


EMPTY = FlankMap()


@dataclass(frozen=True, kw_only=True)
class Window:
    """One ref/alt window pair of one ALT allele.

    Coordinates are 0-based on the FASTA contig `chrom` (the resolved name). The edit replaces `G[s:e]`
    by `m` new bases; for a small variant that is REF (`n` = len(REF)) by ALT (`m` = len(ALT)), for an SV
    `n` = k and `m` = k'. The alt window is a slice of the alt haplotype H = G[:s] + q + G[e:] starting
    at H coordinate `alt_start` (H equals G left of s); for BND, own-contig bases sit at `g - alt_start`.
    Fields are keyword-only: `Window(status=Status.OK, ref=..., ...)`.
    """

    status: Status
    bp: int = 0                  # 0 small / fits-mode SV; 1 left breakpoint or BND; 2 right breakpoint
    ref: str | None = None       # exactly W bases; None unless OK
    alt: str | None = None
    chrom: str | None = None     # the FASTA's contig name (None when unknown)
    ref_start: int = 0           # genome coordinate of ref[0]
    alt_start: int = 0           # H coordinate of alt[0]
    offset: int = 0              # small: o; fits: s - ref_start; breakpoint/BND: W // 2 (the junction)
    s: int = 0
    e: int = 0
    n: int = 0
    m: int = 0
    left: FlankMap = field(default=EMPTY)
    right: FlankMap = field(default=EMPTY)
    note: str = ""               # why, for a non-OK status

    @property
    def ok(self) -> bool:
        return self.status is Status.OK


def fail(status: Status, note: str, bp: int = 0, chrom: str | None = None) -> Window:
    """A window that will not be scored, with the reason."""
    return Window(status=status, bp=bp, chrom=chrom, note=note)


def unknown_contig(allele: Allele, bp: int = 0) -> Window:
    """The UNKNOWN_CONTIG window of an allele whose CHROM the FASTA does not have."""
    return fail(Status.UNKNOWN_CONTIG, f"contig {allele.chrom} is not in the FASTA", bp)


def allele_status(windows: list[Window]) -> Status:
    """The allele's status: OK when every window is OK, else the first non-OK window's status."""
    for w in windows:
        if not w.ok:
            return w.status
    return Status.OK


def check_window(w: int) -> None:
    """Refuse window lengths the rules cannot use."""
    if w < MIN_WINDOW:
        raise InputError(f"window length {w} is too short; give --window {MIN_WINDOW} or more")


def flanks(r0: int, a0: int, wr: int, wa: int, s: int, e: int, kp: int,
           bounds: tuple[int, int] | None = None) -> tuple[FlankMap, FlankMap]:
    """Aligned flank pairs of ref = G[r0 : r0+wr] and alt = H[a0 : a0+wa], H = G[:s] + q + G[e:], k' = len(q).

    Left: genome positions g < s in both windows, ref index g - r0, alt index g - a0, distance s - g.
    Right: g >= e in both, ref index g - r0, alt index g - e + s + k' - a0, distance g - e + 1.
    `bounds` = (0, contig length) keeps reference bases only (drops the N padding past contig ends).
    """
    lo_b, hi_b = bounds if bounds is not None else (-(1 << 62), 1 << 62)
    lo = max(r0, a0, lo_b)
    hi = min(s, r0 + wr, a0 + wa, hi_b)
    left = FlankMap(lo - r0, lo - a0, hi - lo, s - lo, -1) if hi > lo else EMPTY
    shift = e - s - kp                      # H coordinate x = g - shift for g >= e
    lo = max(e, r0, a0 + shift, lo_b)
    hi = min(r0 + wr, a0 + shift + wa, hi_b)
    right = FlankMap(lo - r0, lo - shift - a0, hi - lo, lo - e + 1, 1) if hi > lo else EMPTY
    return left, right


def n_fraction(seq: str) -> float:
    return seq.count("N") / len(seq) if seq else 1.0


def n_content_note(ref: str, max_n_frac: float) -> str | None:
    """The N_CONTENT reason when the ref window is too N-rich, else None."""
    frac = n_fraction(ref)
    if frac > max_n_frac:
        return f"ref window is {frac:.1%} N (contig-end padding included), above --max-n-frac {max_n_frac:g}"
    return None


def past_end_note(genome: Genome, chrom: str, start: int, end: int, what: str,
                  telomere: bool = False) -> str | None:
    """The REF_MISMATCH reason when `what` (the REF, an SV event, a breakend or its mate) at [start, end)
    (0-based, half-open) reaches past the end of the FASTA contig, else None. Such a record exists only on
    another assembly (e.g. a VCF whose ##contig length differs from the FASTA's, accepted with
    --ignore-contig-length); its windows would be N padding. `telomere`: position N + 1 of a contig of N
    bases is allowed (VCF 4.2's telomere, for breakends)."""
    size = genome.length(chrom)
    if end <= size + (1 if telomere else 0):
        return None
    span = f"{chrom}:{start + 1}" + (f"-{end}" if end > start + 1 else "")
    where = "is past" if start >= size else "runs past"
    return (f"{what} at {span} {where} the end of {chrom} ({size:,} bp in the FASTA); is this VCF on another "
            "assembly?")


def ref_mismatch_note(genome: Genome, chrom: str, ref: str, start: int) -> str | None:
    """Compare the (normalised) REF with the FASTA at `start`; the REF_MISMATCH reason, or None."""
    past = past_end_note(genome, chrom, start, start + len(ref), "REF")
    if past:
        return past
    have = genome.fetch(chrom, start, start + len(ref))
    if have == ref:
        return None
    i = next(i for i, (a, b) in enumerate(zip(ref, have, strict=True)) if a != b)
    shown = have if len(have) <= 20 else have[:20] + "..."
    return (f"REF base {i + 1} is {ref[i]} but the FASTA has {have[i]} at {chrom}:{start + i + 1} "
            f"(FASTA REF {shown}); is this VCF on another assembly?")
