"""Ref/alt windows as the models see them (docs/definitions.md, "Small-variant windows"), and the shared
window types.

Everything here is pure: no file I/O, no torch. It works against any "genome" object with
`resolve(chrom) -> str | None`, `length(chrom) -> int` and `fetch(chrom, start, end) -> str` (0-based,
half-open, upper-case, `N` outside the contig), such as `glrm.io.fasta.Fasta`.

A `Window` is one ref/alt pair plus the index maps the scores need: the offset of the variant, and the
aligned flank pairs (`FlankMap`: reference bases present in both windows, with their distance to the edit).
`glrm.svwindows` builds the structural-variant windows from the same pieces.

Status precedence, first match wins (every window builder here and in `svwindows` follows it):
UNKNOWN_CONTIG > UNSUPPORTED_ALLELE > REF_MISMATCH > TOO_LONG > N_CONTENT > OK.
A non-OK window carries no sequences (`ref`/`alt` are None), empty flank maps, and a one-line `note`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from glrm.defaults import DEFAULT_MAX_N_FRAC, DEFAULT_MAX_SV_LEN
from glrm.errors import InputError
from glrm.leftalign import left_align
from glrm.variants import Allele, Kind, Status

MIN_WINDOW = 8  # F = W // 8 must be at least one base


class Genome(Protocol):
    """What window builders need from a reference (`glrm.io.fasta.Fasta` is one)."""

    def resolve(self, chrom: str) -> str | None: ...
    def length(self, chrom: str) -> int: ...
    def fetch(self, chrom: str, start: int, end: int) -> str: ...


# --- sequences --------------------------------------------------------------------------------------

def _table(pairs: dict[str, str]) -> dict[int, str]:
    """A str.translate table over all 8-bit characters: `pairs` as given, anything else -> N."""
    table = {i: "N" for i in range(256)}
    for src, dst in pairs.items():
        table[ord(src)] = dst
    return table


_NORM = _table({**{b: b for b in "ACGTN"}, **{b.lower(): b for b in "ACGTN"}})
_RC = _table({"A": "T", "C": "G", "G": "C", "T": "A", "a": "T", "c": "G", "g": "C", "t": "A"})


def normalize(seq: str) -> str:
    """Upper-case, with every code other than A, C, G, T read as N (docs/definitions.md, "Notation")."""
    return seq.translate(_NORM)


def revcomp(seq: str) -> str:
    """Reverse complement: A<->T, C<->G; N and any other code give N. Output is upper-case."""
    return seq.translate(_RC)[::-1]


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


@dataclass(frozen=True)
class Window:
    """One ref/alt window pair of one ALT allele.

    Coordinates are 0-based on the FASTA contig `chrom` (the resolved name). The edit replaces `G[s:e]`
    by `m` new bases; for a small variant that is REF (`n` = len(REF)) by ALT (`m` = len(ALT)), for an SV
    `n` = k and `m` = k'. The alt window is a slice of the alt haplotype H = G[:s] + q + G[e:] starting
    at H coordinate `alt_start` (H equals G left of s); for BND, own-contig bases sit at `g - alt_start`.
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


# --- small variants ---------------------------------------------------------------------------------

_NOT_SPELLED = {Kind.SV_SYMBOLIC: "a symbolic allele", Kind.BND: "a breakend allele"}


def tile_origin(s: int, w: int) -> int:
    """`--tile`: the start g0 of the tile that scores a variant starting at genome position s.

    Tiles are W long with stride W // 2 and start at k * (W // 2) - W // 4, so the central halves
    [k * (W // 2), (k + 1) * (W // 2)) cover the contig without gaps or overlaps; a variant goes to the tile
    whose central half holds s, and so sits at offset o = s - g0 in [W // 4, W // 4 + W // 2): at least W // 4
    bases from either tile edge (an allele is at most W // 4 long)."""
    half = w // 2
    return (s // half) * half - w // 4


def small_window(genome: Genome, allele: Allele, w: int, max_n_frac: float = DEFAULT_MAX_N_FRAC,
                 tiled: bool = False) -> Window:
    """The small-variant window pair (docs/definitions.md, "Small-variant windows"); score-vcf's rule for
    every spelled-out allele, whatever its length, applied to its left-aligned, trimmed form
    (glrm.leftalign; the REF is checked against the FASTA as written first).

    `tiled` (`--tile`): the window is the variant's tile (`tile_origin`) instead of being centred on it:
    o = s - g0 rather than W // 2; everything else (alt = G[g0:s] + ALT + G[e : e + W - o - m], statuses,
    the N check on the ref window) follows the same rule, so every variant of a tile shares one ref window."""
    check_window(w)
    chrom = genome.resolve(allele.chrom)
    if chrom is None:
        return fail(Status.UNKNOWN_CONTIG, f"contig {allele.chrom} is not in the FASTA")
    if allele.kind in _NOT_SPELLED:
        return fail(Status.UNSUPPORTED_ALLELE,
                    f"{allele.alt} is {_NOT_SPELLED[allele.kind]}; score it with score-sv "
                    "(glrm windows --sv)", chrom=chrom)
    if allele.kind is Kind.UNSUPPORTED or allele.ref in ("", "."):
        return fail(Status.UNSUPPORTED_ALLELE,
                    allele.reason or f"ALT {allele.alt} with REF {allele.ref} has no sequence to score",
                    chrom=chrom)
    r, a = normalize(allele.ref), normalize(allele.alt)
    note = ref_mismatch_note(genome, chrom, r, allele.pos - 1)
    if note:
        return fail(Status.REF_MISMATCH, note, chrom=chrom)
    s, r, a = left_align(genome, chrom, allele.pos - 1, r, a)   # one haplotype, one form
    n, m = len(r), len(a)
    e = s + n
    if max(n, m) > w // 4:
        return fail(Status.TOO_LONG, f"allele length {max(n, m)} (left-aligned and trimmed) is above W//4 = "
                    f"{w // 4} for window {w}; use a longer --window or score it with score-sv", chrom=chrom)
    g0 = tile_origin(s, w) if tiled else s - w // 2
    o = s - g0
    ref = genome.fetch(chrom, g0, g0 + w)
    note = n_content_note(ref, max_n_frac)
    if note:
        return fail(Status.N_CONTENT, note, chrom=chrom)
    alt = genome.fetch(chrom, g0, s) + a + genome.fetch(chrom, e, e + (w - o - m))
    left, right = flanks(g0, g0, w, w, s, e, m)
    return Window(Status.OK, 0, ref, alt, chrom, g0, g0, o, s, e, n, m, left, right)


class RevCompGenome:
    """The reverse-complement strand of a genome, as a genome: contig position x' reads the complement of
    x = length - 1 - x' (N outside the contig, as before)."""

    def __init__(self, genome: Genome):
        self.genome = genome

    def resolve(self, chrom: str) -> str | None:
        return self.genome.resolve(chrom)

    def length(self, chrom: str) -> int:
        return self.genome.length(chrom)

    def fetch(self, chrom: str, start: int, end: int) -> str:
        size = self.genome.length(chrom)
        return revcomp(self.genome.fetch(chrom, size - end, size - start))


def mirror_small_window(genome: Genome, allele: Allele, w: int,
                        max_n_frac: float = DEFAULT_MAX_N_FRAC, forward: Window | None = None) -> Window:
    """The mirrored window pair of `--rc mean` (docs/definitions.md, "Both strands"): on the
    reverse-complemented contig, REF' = revcomp(REF) and ALT' = revcomp(ALT) (of the left-aligned, trimmed
    allele) sit at offset o' = W - o - max(n, m), o being the forward offset; the windows follow the
    small-variant rule from there (ref' = G'[g0' : g0'+W],
    alt' = G'[g0' : s'] + ALT' + G'[e' : e' + W - o' - m]).

    In forward terms ref' = revcomp(G[g0 + n - max(n,m) : ...+W]) and alt' = revcomp(G[g0 + m - max(n,m) : s]
    + ALT + G[e : e + M]): for SNVs, MNVs and deletions ref' = revcomp(ref), for SNVs, MNVs and insertions
    alt' = revcomp(alt), and the other window of an indel is shifted by |n - m| so that both strands see the
    same M aligned downstream pairs.

    A non-OK forward window is returned as it is (same status). The mirrored ref window gets its own N check
    (status N_CONTENT). Coordinates of the returned window (`ref_start`, `s`, `e`, flank maps) are on the
    reverse-complemented contig: x' = length - 1 - x. `forward`: the allele's `small_window` with the same
    arguments when the caller has it already (saves building it again).
    """
    fwd = forward if forward is not None else small_window(genome, allele, w, max_n_frac)
    if not fwd.ok:
        return fwd
    chrom, n, m = fwd.chrom, fwd.n, fwd.m
    rc = RevCompGenome(genome)
    s = genome.length(chrom) - fwd.e
    e = s + n
    o = w - fwd.offset - max(n, m)
    g0 = s - o
    ref = rc.fetch(chrom, g0, g0 + w)
    note = n_content_note(ref, max_n_frac)
    if note:
        return fail(Status.N_CONTENT, "reverse-complement (--rc mean) " + note, chrom=chrom)
    a = fwd.alt[fwd.offset:fwd.offset + m]          # the forward ALT as scored (left-aligned, trimmed)
    alt = rc.fetch(chrom, g0, s) + revcomp(a) + rc.fetch(chrom, e, e + (w - o - m))
    left, right = flanks(g0, g0, w, w, s, e, m)
    return Window(Status.OK, 0, ref, alt, chrom, g0, g0, o, s, e, n, m, left, right)


def allele_windows(genome: Genome, allele: Allele, w: int, sv: bool,
                   max_n_frac: float = DEFAULT_MAX_N_FRAC, max_sv_len: int = DEFAULT_MAX_SV_LEN
                   ) -> list[Window]:
    """The windows of one ALT allele: score-vcf's small-variant rules, or, with `sv`, score-sv's SV rules (one
    window, or two in breakpoint mode; docs/definitions.md)."""
    if not sv:
        return [small_window(genome, allele, w, max_n_frac)]
    from glrm.svwindows import sv_windows

    return sv_windows(genome, allele, w, max_n_frac, max_sv_len)
