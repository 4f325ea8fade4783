"""Left-align and trim a spelled-out allele against the reference, as `bcftools norm -f` does
(docs/definitions.md, "One haplotype, one form").

A VCF may write the same haplotype in several ways: an indel anywhere along the repeat it falls in
(`CAC -> C` at the first base or `ACA -> A` at the second of `CACACA` both leave `CACA`), with extra shared
bases (`GAAT -> GT` for `GAA -> G` plus a trailing `T`), or an SNV padded into an MNV (`CAT -> CGT` for
`A -> G` one base on). glrm scores the allele in one canonical form, so every way of writing it gets the same
windows and the same scores; the VCF record itself is written back as it came.

The rule (Tan, Abecasis and Kang 2015, the one vt and bcftools use), on REF `r` and ALT `a` at 0-based `s`:
1. while both end in the same base, drop it from both; when that empties either, put the reference base
   before `s` in front of both and move `s` one base left (not past the contig start);
2. then, while both have two or more bases and start with the same base, drop it and move `s` one right.

The result is left-aligned and parsimonious: an indel keeps exactly one shared anchor base before the
inserted or deleted bases, an SNV or MNV keeps no shared base at either end. Pure: no file I/O, no torch.
"""

from __future__ import annotations

from typing import Protocol

LOOKBACK = 256   # reference bases fetched at a time while an indel moves left through a repeat


class _Fetch(Protocol):
    def fetch(self, chrom: str, start: int, end: int) -> str: ...


def left_align(genome: _Fetch, chrom: str, s: int, ref: str, alt: str) -> tuple[int, str, str]:
    """(s, ref, alt) of the allele REF `ref` -> ALT `alt` at 0-based `s`, left-aligned and trimmed.

    `ref` and `alt` are upper-case sequences (`glrm.windows.normalize`), and `ref` is the reference at `s`
    (the caller checks it). Equal alleles, and alleles that would have to move past the contig start, are
    returned as far as the rule could take them.
    """
    if ref == alt or not ref or not alt:
        return s, ref, alt
    buf, buf_start = "", s          # reference bases [buf_start, s) read so far, for the left extension
    while ref[-1] == alt[-1]:
        if len(ref) == 1 or len(alt) == 1:
            if s == 0:              # the allele starts the contig: no base to extend with
                break
            if buf_start >= s:      # read the next stretch to the left
                lo = max(0, s - LOOKBACK)
                buf, buf_start = genome.fetch(chrom, lo, s), lo
            base = buf[s - 1 - buf_start]
            buf = buf[:s - 1 - buf_start]
            ref, alt, s = base + ref[:-1], base + alt[:-1], s - 1
        else:
            ref, alt = ref[:-1], alt[:-1]
    while len(ref) >= 2 and len(alt) >= 2 and ref[0] == alt[0]:
        ref, alt, s = ref[1:], alt[1:], s + 1
    return s, ref, alt
