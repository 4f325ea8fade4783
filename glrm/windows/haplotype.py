"""Haplotype backgrounds: a target variant's ref/alt windows built from one phased haplotype instead of the
reference (docs/score-haplotypes.md, "Backgrounds, exactly").

A haplotype is the reference with the haplotype's own ALT alleles applied. Each background allele is applied
as one edit `G[c:d) -> q` in its trimmed form (`trim_edit`: no shared first or last base; an insertion has
c == d). `HapGenome` is that haplotype as a genome, in coordinates that equal the reference's around the
target (between the nearest upstream and the nearest downstream edit): the target keeps its reference
position, so score-vcf's small-variant rule (`glrm.windows.small.small_window`) applied to a `HapGenome`
gives the haplotype's windows, of exactly W bases, with the target at the same offset, and with no edits it
gives score-vcf's windows themselves, bit for bit.

Which alleles are applied (`walk`): going out from the target, upstream then downstream, every allele the
haplotype carries whose haplotype bases (or, for a deletion, whose junction) fall inside the span the windows
read, `[lo, hi)` in haplotype coordinates (`TargetSpan`). Nothing else is applied, so two haplotypes that
agree inside the windows get the same set of edits: the key under which score-haplotypes scores a background
once. A haplotype is not scored, with a status, when its alleles cannot be applied without guessing:

- MISSING_GT / UNPHASED / PLOIDY: a record in the span has no allele for this haplotype (missing, an unphased
  heterozygote, phase sets that differ, a haploid call's absent second haplotype, three or more alleles);
- OVERLAP: two applied alleles overlap, or one touches the target's protected span (`protected_span`: its REF
  as written, its left-aligned form, and the repeat an indel can slide through);
- SYMBOLIC_IN_WINDOW: a symbolic or breakend allele (no sequence to apply) in the span;
- BACKGROUND_REF_MISMATCH: the allele's REF differs from the FASTA;
- BACKGROUND_TOO_LONG: the haplotype's deletions would pull in reference beyond what the caller holds
  (`TargetSpan.bound_lo/bound_hi`: 2W on either side).

Pure: no file I/O, no torch; genomes are `glrm.windows.base.Genome`s.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

from glrm.variants import ABSENT, MISSING, NO_PHASE_SET, POLYPLOID, UNPHASED, HapStatus
from glrm.windows.base import Genome, Window

_CODE_STATUS = {MISSING: HapStatus.MISSING_GT, UNPHASED: HapStatus.UNPHASED, ABSENT: HapStatus.PLOIDY,
                POLYPLOID: HapStatus.PLOIDY}


@dataclass(frozen=True, slots=True)
class Edit:
    """One applied allele: the reference `G[c:d)` replaced by `q` (0-based; c == d inserts `q` before c)."""

    c: int
    d: int
    q: str

    @property
    def change(self) -> int:
        """Bases gained on the haplotype (negative for deletions)."""
        return len(self.q) - (self.d - self.c)


def trim_edit(start: int, ref: str, alt: str) -> Edit | None:
    """The edit of REF -> ALT at 0-based `start`, without the bases both share at the end, then at the start
    (no left-alignment: the haplotype is what it is); None when REF equals ALT."""
    if ref == alt:
        return None
    k = 0
    while k < min(len(ref), len(alt)) and ref[-1 - k] == alt[-1 - k]:
        k += 1
    ref, alt = ref[:len(ref) - k], alt[:len(alt) - k]
    p = 0
    while p < min(len(ref), len(alt)) and ref[p] == alt[p]:
        p += 1
    return Edit(start + p, start + len(ref), alt[p:])


# --- the target ---------------------------------------------------------------------------------------------

LOOKAHEAD = 256   # reference bases read at a time while an indel slides right through its repeat


def protected_span(genome: Genome, chrom: str, w: Window, written: tuple[int, int]) -> tuple[int, int, bool]:
    """(p0, p1, insertion): the reference span no background allele may touch for the target of OK window `w`
    (its left-aligned allele at [w.s, w.e)) written at `written` = (start, end) (0-based, its REF as in the
    VCF). It covers the REF as written, the left-aligned allele and, for an indel, the repeat it can slide
    right through (where a background allele would make the placement matter). `insertion`: the target is a
    pure insertion, whose insertion point p1 a background insertion must not share either."""
    o, n, m = w.offset, w.n, w.m
    r, a = w.ref[o:o + n], w.alt[o:o + m]
    end = w.e
    if n != m and (a.startswith(r) or r.startswith(a)):   # an anchored indel: slide it right
        moved = a[n:] if m > n else r[m:]                   # the inserted or deleted bases
        k = 0
        while True:
            chunk = genome.fetch(chrom, end + k, end + k + LOOKAHEAD)   # N past the contig's end
            j = 0
            while j < len(chunk) and chunk[j] != "N" and chunk[j] == moved[(k + j) % len(moved)]:
                j += 1
            k += j
            if j < len(chunk):
                break
        end += k
    return min(w.s, written[0]), max(end, written[1]), m > n and a.startswith(r)


@dataclass(frozen=True)
class TargetSpan:
    """What the walk needs of one target ALT: its protected span [p0, p1) (`protected_span`), the span its
    windows read in haplotype coordinates [lo, hi) (`read_span`), and the reference span the caller holds
    records for, [bound_lo, bound_hi)."""

    p0: int
    p1: int
    insertion: bool
    lo: int
    hi: int
    bound_lo: int
    bound_hi: int


def read_span(w: Window, width: int, mirror: bool) -> tuple[int, int]:
    """[lo, hi) in haplotype coordinates that the windows of target window `w` read: the ref window
    G[g0, g0+W), the alt window's tail to g0 + W + n - m, and with `mirror` (--rc mean on a model without the
    RC identity) the mirrored windows, shifted left by |n - m| (docs/definitions.md, "Both strands")."""
    g0, n, m = w.ref_start, w.n, w.m
    return g0 - (abs(n - m) if mirror else 0), g0 + width + max(0, n - m)


# --- the walk -----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Site:
    """One background record as the walk sees it: its REF span [start, end) (to INFO/END for symbolic
    alleles) and, per ALT (index 0 for allele 1), the Edit to apply, None (nothing to apply: '*', or ALT equal
    to REF) or a HapStatus (it cannot be applied). `at_target`: the target's own site (same CHROM, POS and
    REF): never applied, since the target's allele is set to REF and to ALT there."""

    start: int
    end: int
    alleles: tuple[Edit | HapStatus | None, ...]
    at_target: bool = False


def _conflict_left(new: Edit, left: tuple[int, int]) -> bool:
    """`new` (upstream, visited by decreasing end) overlaps the leftmost span applied so far."""
    c, d = left
    return new.d > c or (new.c == new.d == c == d)


def _conflict_right(new: Edit, right: tuple[int, int], insertion_point: int | None) -> bool:
    """`new` (downstream, visited by increasing start) overlaps the rightmost span applied so far, or inserts
    at the target's own insertion point."""
    c, d = right
    return new.c < d or (new.c == new.d == c == d) or (new.c == new.d == insertion_point)


def walk(sites: Sequence[Site], codes: Sequence[int], phase_sets: Sequence[int] | None, t: TargetSpan
         ) -> tuple[HapStatus | None, tuple[Edit, ...], tuple[Edit, ...]]:
    """(status or None when OK, upstream edits nearest first, downstream edits nearest first) of one
    haplotype for one target ALT. `codes[i]` is the haplotype's allele at `sites[i]` (0 REF, k >= 1 ALT k, or
    one of MISSING, UNPHASED, ABSENT, POLYPLOID); `phase_sets[i]` the sample's phase-set id there
    (NO_PHASE_SET where it constrains nothing), or None when no site has one. Only sites with a non-zero code
    or a phase set need to be given; the first problem met, at the target, then upstream and downstream
    going out from it, is the status."""
    up, down, here = [], [], []
    for i, site in enumerate(sites):
        code = codes[i]
        allele = site.alleles[code - 1] if code > 0 and not site.at_target else None
        if isinstance(allele, Edit):
            lo, hi = allele.c, allele.d
            (up if lo < t.p0 or lo == hi == t.p0 else down).append((lo, hi, i, allele))
        elif site.end <= t.p0 and not site.at_target:
            up.append((site.end, site.end, i, allele))      # not applied: only its reach matters
        elif site.start >= t.p1 and not site.at_target:
            down.append((site.start, site.start, i, allele))
        else:
            here.append(i)
    seen: set[int] = set()

    def problem(i: int, allele) -> HapStatus | None:
        code = codes[i]
        if code < 0:
            return _CODE_STATUS[code]
        if isinstance(allele, HapStatus):
            return allele
        if phase_sets is not None and phase_sets[i] != NO_PHASE_SET:
            seen.add(phase_sets[i])
            if len(seen) > 1:
                return HapStatus.UNPHASED
        return None

    for i in here:
        code = codes[i]
        allele = sites[i].alleles[code - 1] if code > 0 and not sites[i].at_target else None
        bad = problem(i, allele)
        if bad is not None:
            return bad, (), ()
    applied_up: list[Edit] = []
    delta, left = 0, (t.p0, t.p1)
    for _lo, hi, i, allele in sorted(up, key=lambda x: (x[1], x[0]), reverse=True):
        if hi + delta <= t.lo:
            break
        bad = problem(i, allele)
        if bad is not None:
            return bad, (), ()
        if isinstance(allele, Edit):
            if _conflict_left(allele, left):
                return HapStatus.OVERLAP, (), ()
            delta -= allele.change
            applied_up.append(allele)
            left = (allele.c, allele.d)
    if t.lo - delta < t.bound_lo:
        return HapStatus.BACKGROUND_TOO_LONG, (), ()
    applied_down: list[Edit] = []
    delta, right = 0, (t.p0, t.p1)
    insertion_point = t.p1 if t.insertion else None
    for lo, _hi, i, allele in sorted(down, key=lambda x: (x[0], x[1])):
        if lo + delta >= t.hi:
            break
        bad = problem(i, allele)
        if bad is not None:
            return bad, (), ()
        if isinstance(allele, Edit):
            if _conflict_right(allele, right, insertion_point):
                return HapStatus.OVERLAP, (), ()
            delta += allele.change
            applied_down.append(allele)
            right = (allele.c, allele.d)
    if t.hi - delta > t.bound_hi:
        return HapStatus.BACKGROUND_TOO_LONG, (), ()
    return None, tuple(applied_up), tuple(applied_down)


# --- the haplotype as a genome ------------------------------------------------------------------------------

class HapGenome:
    """The haplotype `genome` + `upstream` + `downstream` edits (each nearest the target first), as a genome
    (`glrm.windows.base.Genome`) in haplotype coordinates: position x between the nearest upstream and the
    nearest downstream edit reads the reference at x; each upstream edit shifts everything left of it by
    -change, each downstream edit everything right of it by +change. Outside the contig: N, as the reference.
    `length` is the haplotype coordinate of the contig's end, so `RevCompGenome` mirrors it as any genome."""

    def __init__(self, genome: Genome, chrom: str, upstream: Sequence[Edit] = (),
                 downstream: Sequence[Edit] = ()):
        self.genome, self.chrom = genome, chrom
        # pieces in haplotype order: (h0, h1, delta, q): reference at x - delta, or the bases q when q is set
        inf = 1 << 62
        left: list[tuple[int, int, int, str | None]] = []
        delta, h_hi = 0, inf
        for e in upstream:                         # nearest first: build right to left
            left.append((e.d + delta, h_hi, delta, None))
            delta_before = delta - e.change
            left.append((e.c + delta_before, e.d + delta, 0, e.q))
            delta, h_hi = delta_before, e.c + delta_before
        left.append((-inf, h_hi, delta, None))
        pieces = left[::-1]
        delta, h_lo = 0, pieces[-1][0]
        pieces.pop()                               # the centre piece is rebuilt with its right end
        for e in downstream:                       # nearest first: left to right
            pieces.append((h_lo, e.c + delta, delta, None))
            pieces.append((e.c + delta, e.c + delta + len(e.q), 0, e.q))
            h_lo, delta = e.c + delta + len(e.q), delta + e.change
        pieces.append((h_lo, inf, delta, None))
        self._pieces = [p for p in pieces if p[1] > p[0]]
        self._starts = [p[0] for p in self._pieces]
        self._end_shift = delta                    # the contig's end moves by the downstream changes

    def resolve(self, chrom: str) -> str | None:
        return self.genome.resolve(chrom)

    def length(self, chrom: str) -> int:
        return self.genome.length(chrom) + self._end_shift

    def fetch(self, chrom: str, start: int, end: int) -> str:
        if end < start:
            raise ValueError(f"fetch: end {end} < start {start}")
        out = []
        k = max(0, bisect.bisect_right(self._starts, start) - 1)
        while k < len(self._pieces) and self._pieces[k][0] < end:
            h0, h1, delta, q = self._pieces[k]
            a, b = max(start, h0), min(end, h1)
            if a < b:
                out.append(q[a - h0:b - h0] if q is not None else self.genome.fetch(chrom, a - delta,
                                                                                     b - delta))
            k += 1
        return "".join(out)


class SpanGenome:
    """A genome that holds one span of one contig in memory (fetched once) and reads everything else from
    `genome`: the many haplotype windows of one target read the same reference span."""

    def __init__(self, genome: Genome, chrom: str, start: int, end: int):
        self.genome, self.chrom, self.start = genome, chrom, start
        self.seq = genome.fetch(chrom, start, end)

    def resolve(self, chrom: str) -> str | None:
        return self.genome.resolve(chrom)

    def length(self, chrom: str) -> int:
        return self.genome.length(chrom)

    def fetch(self, chrom: str, start: int, end: int) -> str:
        if chrom == self.chrom and self.start <= start <= end <= self.start + len(self.seq):
            return self.seq[start - self.start:end - self.start]
        return self.genome.fetch(chrom, start, end)
