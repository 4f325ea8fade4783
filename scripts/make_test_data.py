"""Rebuild tests/data/ from the real data in /work/shared/data (see tests/data/README.md).

The FASTA slices keep every contig at its full real length, so real VCF coordinates and ##contig lengths
stay valid: the real sequence (original case) is copied within FLANK bp of every variant position named by
the VCFs below (POS..POS+len(REF), INFO/END, BND mate positions on the same contig) and every other base
is 'N'. VCFs are copied byte for byte, except ecoli_sim_svs.fixed.vcf and ecoli_sim_svs.sites.vcf, which are
derived (see README).

Run from the repository root:  .venv/bin/python scripts/make_test_data.py [SHARED_DATA_DIR]
"""

from __future__ import annotations

import gzip
import re
import shutil
import sys
import tempfile
from pathlib import Path

import pysam

FLANK = 6000
ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "data"

# (source file under chr20_b37/, name in tests/data)
CHR20_VCFS = [
    ("normalize_01_IN.vcf.gz", "chr20_indels.vcf.gz"),
    ("gonl.chr20.release4.gtc.vcf.gz", "gonl_snvs.vcf.gz"),
    ("colo829_somatic_manta.chr20.vcf.gz", "colo829_manta.vcf.gz"),
    ("colo829_somatic_gridss.chr20.vcf.gz", "colo829_gridss.vcf.gz"),
    ("colo829_somatic_novobreak.chr20.vcf.gz", "colo829_novobreak.vcf.gz"),
]
BND_RE = re.compile(r"[\[\]]([^\[\]:]+):(\d+)[\[\]]")


def _open_text(path: Path):
    return gzip.open(path, "rt") if path.suffix == ".gz" else open(path)


def variant_spans(path: Path, contig: str) -> list[tuple[int, int]]:
    """0-based half-open spans on `contig` touched by the records of one VCF (POS+REF, END, BND mates)."""
    spans = []
    with _open_text(path) as fh:
        for line in fh:
            if line.startswith("#"):
                continue
            f = line.rstrip("\n").split("\t")
            if f[0] != contig:
                continue
            pos0 = int(f[1]) - 1
            spans.append((pos0, pos0 + max(1, len(f[3]))))
            info = dict(kv.split("=", 1) if "=" in kv else (kv, "") for kv in f[7].split(";"))
            if info.get("END", "").isdigit() and info.get("CHR2", contig) == contig:
                end = int(info["END"])
                spans.append((end - 1, end))
            for alt in f[4].split(","):
                m = BND_RE.search(alt)
                if m and m.group(1) == contig:
                    mate0 = int(m.group(2)) - 1
                    spans.append((mate0, mate0 + 1))
    return spans


def merge(spans: list[tuple[int, int]], flank: int, length: int) -> list[tuple[int, int]]:
    out: list[list[int]] = []
    for s, e in sorted((max(0, s - flank), min(length, e + flank)) for s, e in spans):
        if out and s <= out[-1][1]:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return [(s, e) for s, e in out]


def write_masked_fasta(src: Path, contig: str, keep: list[tuple[int, int]], dest: Path, width: int) -> int:
    """Write `contig` at full length with only `keep` spans real; BGZF-compress and index. Returns kept bp."""
    with pysam.FastaFile(str(src)) as fa:
        length = fa.get_reference_length(contig)
        seq = bytearray(b"N" * length)
        for s, e in keep:
            seq[s:e] = fa.fetch(contig, s, e).encode()
    with tempfile.TemporaryDirectory() as tmp:
        plain = Path(tmp) / "plain.fa"
        with open(plain, "wb") as fh:
            fh.write(f">{contig}\n".encode())
            for i in range(0, length, width):
                fh.write(seq[i : i + width] + b"\n")
        for suffix in ("", ".fai", ".gzi"):
            Path(str(dest) + suffix).unlink(missing_ok=True)
        pysam.tabix_compress(str(plain), str(dest), force=True)
    pysam.faidx(str(dest))  # writes .fai and .gzi
    return sum(e - s for s, e in keep)


def fix_ecoli_vcf(src: Path, dest: Path, length: int | None) -> None:
    """Drop the FORMAT/sample columns (the #CHROM line names no sample) and, when `length` is given, correct
    the ##contig length (None keeps SURVIVOR's simulated-genome length: `cut -f1-8`)."""
    with open(src) as fh, open(dest, "w") as out:
        for line in fh:
            if line.startswith("##contig="):
                if length is not None:
                    line = re.sub(r"length=\d+", f"length={length}", line)
            elif not line.startswith("##"):
                line = "\t".join(line.rstrip("\n").split("\t")[:8]) + "\n"
            out.write(line)


def main(shared: Path) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    chr20 = shared / "chr20_b37"
    spans = []
    for src, name in CHR20_VCFS:
        shutil.copyfile(chr20 / src, OUT / name)
        shutil.copyfile(chr20 / (src + ".tbi"), OUT / (name + ".tbi"))
        spans += variant_spans(chr20 / src, "20")
    with pysam.FastaFile(str(chr20 / "20.fa.gz")) as fa:
        length = fa.get_reference_length("20")
    keep = merge(spans, FLANK, length)
    kept = write_masked_fasta(chr20 / "20.fa.gz", "20", keep, OUT / "chr20_slice.fa.gz", 60)
    print(f"chr20_slice.fa.gz: {kept:,} of {length:,} bp real", file=sys.stderr)

    ecoli = shared / "ecoli"
    sim = ecoli / "simulated_svs" / "sim.vcf"
    shutil.copyfile(sim, OUT / "ecoli_sim_svs.vcf")
    contig = "K-12-MG1655"
    with pysam.FastaFile(str(ecoli / "MG1655-K12.fa.gz")) as fa:
        length = fa.get_reference_length(contig)
    fix_ecoli_vcf(sim, OUT / "ecoli_sim_svs.fixed.vcf", length)
    fix_ecoli_vcf(sim, OUT / "ecoli_sim_svs.sites.vcf", None)
    kept = write_masked_fasta(
        ecoli / "MG1655-K12.fa.gz", contig, merge(variant_spans(sim, contig), FLANK, length),
        OUT / "ecoli_slice.fa.gz", 70,
    )
    print(f"ecoli_slice.fa.gz: {kept:,} of {length:,} bp real", file=sys.stderr)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("/work/shared/data"))
