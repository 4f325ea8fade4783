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
