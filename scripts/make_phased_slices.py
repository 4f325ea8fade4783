"""Rebuild the phased test data of tests/data (see tests/data/README.md, "Phased cohorts"): two slices of real
phased VCFs, copied record for record, and for each a synthetic reference FASTA whose bases agree with every
REF allele of the slice (no GRCh37 chr21/chr22 FASTA is in the shared data).

- phased_chr22.vcf.gz: 1000 Genomes (phase 1, 5 samples, phased), 22:50,300,001-50,400,000, from
  VariantAnnotation's chr22.vcf.gz: the header and the records whose POS lies in the region, byte for byte.
- phased_chr21.vcf.gz: Eagle 2.4.1's phasing of 379 samples (bio-eagle's test data), 21:38,000,001-40,000,000,
  from bio-eagle's phased.vcf.gz, likewise.
- phased_chr22.fa.gz, phased_chr21.fa.gz: one contig each at GRCh37's full length (22: 51,304,566 bp; 21:
  48,099,611 bp, as the Eagle file's ##contig line), BGZF with .fai/.gzi. Random bases (numpy seed SEED)
  within FLANK bp of every record, each record's REF written over them, 'N' everywhere else.

Run from the repository root:  .venv/bin/python scripts/make_phased_slices.py [SHARED_DATA_DIR]
"""

from __future__ import annotations

import gzip
import sys
import tempfile
from pathlib import Path

import numpy as np
import pysam

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "data"
SEED = 16
FLANK = 1200
SLICES = [   # (source under snv_calls/, contig, 0-based start, end, contig length, name in tests/data)
    ("VariantAnnotation/chr22.vcf.gz", "22", 50_300_000, 50_400_000, 51_304_566, "phased_chr22"),
    ("bio-eagle/phased.vcf.gz", "21", 38_000_000, 40_000_000, 48_099_611, "phased_chr21"),
]


def slice_vcf(src: Path, contig: str, start: int, end: int, dest: Path) -> list[tuple[int, str]]:
    """Copy the header and the records with start < POS <= end (1-based POS) byte for byte; BGZF + tabix.
    Returns (0-based POS, REF) of each record."""
    kept, refs = [], []
    with gzip.open(src, "rt", newline="") as fh:
        for line in fh:
            if line.startswith("#"):
                kept.append(line)
                continue
            cols = line.split("\t", 5)
            if cols[0] == contig and start < int(cols[1]) <= end:
                kept.append(line)
                refs.append((int(cols[1]) - 1, cols[3]))
    with tempfile.TemporaryDirectory() as tmp:
        plain = Path(tmp) / "slice.vcf"
        plain.write_text("".join(kept))
        pysam.tabix_compress(str(plain), str(dest), force=True)
    pysam.tabix_index(str(dest), preset="vcf", force=True)
    return refs


def write_reference(contig: str, length: int, refs: list[tuple[int, str]], dest: Path, rng) -> int:
    """The synthetic FASTA: random bases within FLANK of each record, the records' REFs over them, N
    elsewhere. Returns the number of non-N bases. Two records that disagree on a base are an error."""
    seq = np.full(length, ord("N"), dtype=np.uint8)
    for pos, ref in refs:
        lo, hi = max(0, pos - FLANK), min(length, pos + len(ref) + FLANK)
        fill = seq[lo:hi] == ord("N")
        seq[lo:hi][fill] = rng.choice(np.frombuffer(b"ACGT", dtype=np.uint8), size=int(fill.sum()))
    owner = {}
    for pos, ref in refs:
        for i, base in enumerate(ref.upper().encode()):
            if owner.get(pos + i, base) != base:
                raise SystemExit(f"{contig}:{pos + i + 1}: two records disagree on the reference base")
            owner[pos + i] = base
            seq[pos + i] = base
    with tempfile.TemporaryDirectory() as tmp:
        plain = Path(tmp) / "ref.fa"
        with open(plain, "wb") as fh:
            fh.write(f">{contig}\n".encode())
            data = seq.tobytes()
            for i in range(0, length, 60):
                fh.write(data[i:i + 60] + b"\n")
        for suffix in ("", ".fai", ".gzi"):
            Path(str(dest) + suffix).unlink(missing_ok=True)
        pysam.tabix_compress(str(plain), str(dest), force=True)
    pysam.faidx(str(dest))
    return int((seq != ord("N")).sum())


def main(shared: Path) -> None:
    rng = np.random.default_rng(SEED)
    for src, contig, start, end, length, name in SLICES:
        refs = slice_vcf(shared / "snv_calls" / src, contig, start, end, OUT / f"{name}.vcf.gz")
        real = write_reference(contig, length, refs, OUT / f"{name}.fa.gz", rng)
        print(f"{name}: {len(refs):,} records; reference {real:,} of {length:,} bp synthetic, rest N",
              file=sys.stderr)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("/work/shared/data"))
