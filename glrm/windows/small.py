"""Small-variant windows: score-vcf's rule for SNVs, MNVs, indels and every other spelled-out allele
(docs/definitions.md, "Small-variant windows"), its `--tile` tiles and its `--rc mean` mirror ("Both
strands").

Pure like `glrm.windows.base`, the only part of the package it uses: no file I/O, no torch.
"""

from __future__ import annotations

from glrm.defaults import DEFAULT_MAX_N_FRAC
from glrm.leftalign import left_align
from glrm.variants import Allele, Kind, Status
from glrm.windows.base import (
    Genome,
    Window,
    check_window,
    fail,
    flanks,
    n_content_note,
    normalize,
    ref_mismatch_note,
    revcomp,
    unknown_contig,
)

_NOT_SPELLED = {Kind.SV_SYMBOLIC: "a symbolic allele", Kind.BND: "a breakend allele"}


def tile_origin(s: int, w: int) -> int:
    """`--tile`: the start g0 of the tile that scores a variant starting at genome position s.

    Tiles are W long with stride W // 2 and start at k * (W // 2) - W // 4, so the central halves
    [k * (W // 2), (k + 1) * (W // 2)) cover the contig without gaps or overlaps; a variant goes to the tile
    whose central half holds s, and so sits at offset o = s - g0 in [W // 4, W // 4 + W // 2): at least W // 4
    bases from either tile edge (an allele is at most W // 4 long)."""
    half = w // 2
    return (s // half) * half - w // 4


def _ok_pair(chrom: str, w: int, g0: int, s: int, n: int, m: int, ref: str, alt: str) -> Window:
    """The OK window pair of the small-variant rule: ref = G[g0 : g0+W] and alt, both starting at g0, with the
    edit G[s : s+n] -> m bases at offset s - g0."""
    e = s + n
    left, right = flanks(g0, g0, w, w, s, e, m)
    return Window(status=Status.OK, ref=ref, alt=alt, chrom=chrom, ref_start=g0, alt_start=g0, offset=s - g0,
                  s=s, e=e, n=n, m=m, left=left, right=right)


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
        return unknown_contig(allele)
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
    return _ok_pair(chrom, w, g0, s, n, m, ref, alt)


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


def mirror_small_window(genome: Genome, allele: Allele, w: int, max_n_frac: float = DEFAULT_MAX_N_FRAC,
                        forward: Window | None = None) -> Window:
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
    return _ok_pair(chrom, w, g0, s, n, m, ref, alt)
