"""Helpers shared by several test files: an in-memory genome and cached fixture models."""

from __future__ import annotations

import functools
from pathlib import Path

from glrm.windows import normalize

FIXTURES = Path(__file__).parent / "fixtures"


class MemGenome:
    """A genome held in memory, with the FASTA reader's fetch semantics (N outside the contig)."""

    def __init__(self, contigs: dict[str, str]):
        self.seqs = {k: normalize(v) for k, v in contigs.items()}

    def resolve(self, chrom):
        if chrom in self.seqs:
            return chrom
        alt = chrom[3:] if chrom.startswith("chr") else "chr" + chrom
        return alt if alt in self.seqs else None

    def length(self, chrom):
        return len(self.seqs[chrom])

    def fetch(self, chrom, start, end):
        seq = self.seqs[chrom]
        left = "N" * max(0, min(end, 0) - start)
        right = "N" * max(0, end - max(start, len(seq)))
        return left + seq[max(start, 0):max(min(end, len(seq)), 0)] + right


@functools.cache
def fixture_model(name: str):
    """A model from tests/fixtures, loaded once per test session (models are read-only in eval mode)."""
    from glrm.models import load_model

    return load_model(FIXTURES / name)


def canonical_allele(genome, chrom: str, pos0: int, ref: str, alt: str, margin: int = 2000):
    """The left-aligned, parsimonious form (pos0, ref, alt) of an allele, found the slow, obvious way (not
    through glrm.leftalign): spell out the reference and the alt haplotype over a margin around the allele,
    strip the longest common suffix, then the longest common prefix of what is left, and read the one
    differing block off; an indel keeps the reference base before it as its anchor. `margin` must exceed
    the repeat the allele can move through."""
    lo, hi = pos0 - margin, pos0 + len(ref) + margin
    r_hap = genome.fetch(chrom, lo, hi)
    a_hap = genome.fetch(chrom, lo, pos0) + alt + genome.fetch(chrom, pos0 + len(ref), hi)
    if r_hap == a_hap:
        return pos0, ref, alt
    q = 0
    while q < min(len(r_hap), len(a_hap)) and r_hap[-1 - q] == a_hap[-1 - q]:
        q += 1
    r_core, a_core = r_hap[:len(r_hap) - q], a_hap[:len(a_hap) - q]
    p = 0
    while p < min(len(r_core), len(a_core)) and r_core[p] == a_core[p]:
        p += 1
    assert 0 < p, "margin too small for this allele's repeat"
    r, a = r_core[p:], a_core[p:]
    if not r or not a:          # an indel: keep the reference base before it
        return lo + p - 1, r_core[p - 1] + r, a_core[p - 1] + a
    return lo + p, r, a
