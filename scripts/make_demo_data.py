"""Rebuild the demo data in examples/demo/ from the real data in /work/shared/data (examples/demo/README.md).

The demo reference is GRCh37 chromosome 20 at its full real length (contig "20", so the VCF's coordinates and
##contig line stay real) with the real sequence kept within FLANK bp of every demo variant and 'N' elsewhere,
BGZF-compressed with .fai/.gzi. The demo VCF holds every real small variant on chr20 in the shared data:
vt's 194 indels and GoNL's 7 SNVs, records copied byte for byte and sorted by position; the header is vt's,
plus the FILTER/INFO definitions the GoNL records use that vt's header lacks.

Run from the repository root:  .venv/bin/python scripts/make_demo_data.py [SHARED_DATA_DIR]
"""

from __future__ import annotations

import gzip
import re
import sys
import tempfile
from pathlib import Path

import pysam

# scripts/ is on sys.path when this file runs as a script: reuse the test-data slicing helpers.
from make_test_data import merge, variant_spans, write_masked_fasta

# Real sequence kept on each side of a variant. The demo model's window is 1024 bp (offset 512), and a
# deletion's alt window reaches len(REF) further right, so 1,100 bp keeps every demo window N-free.
FLANK = 1100
CONTIG = "20"
ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "examples" / "demo"
SOURCES = ("normalize_01_IN.vcf.gz", "gonl.chr20.release4.gtc.vcf.gz")  # under chr20_b37/
ID_RE = re.compile(r"^##(INFO|FILTER|FORMAT)=<ID=([^,>]+)")


def _header_and_records(path: Path) -> tuple[list[str], list[str]]:
    header, records = [], []
    with gzip.open(path, "rt") as fh:
        for line in fh:
            (header if line.startswith("#") else records).append(line)
    return header, records


def merged_vcf(paths: list[Path], dest: Path) -> int:
    """Write the union of sites-only VCFs to `dest` (bgzipped + .tbi). Returns the number of records.

    The first file's header is kept whole; later files add only the ##INFO/##FILTER/##FORMAT definitions whose
    IDs are new. Records are copied unchanged, ordered by (POS, input order).
    """
    header, records = _header_and_records(paths[0])
    defined = {m.groups() for line in header if (m := ID_RE.match(line))}
    for path in paths[1:]:
        more_header, more_records = _header_and_records(path)
        extra = [line for line in more_header
                 if (m := ID_RE.match(line)) and m.groups() not in defined]
        defined |= {ID_RE.match(line).groups() for line in extra}
        header = header[:-1] + extra + header[-1:]  # before the #CHROM line
        records += more_records
    records.sort(key=lambda r: int(r.split("\t", 2)[1]))  # stable: input order within a position
    with tempfile.TemporaryDirectory() as tmp:
        plain = Path(tmp) / "demo.vcf"
        plain.write_text("".join(header + records))
        for suffix in ("", ".tbi"):
            Path(str(dest) + suffix).unlink(missing_ok=True)
        pysam.tabix_compress(str(plain), str(dest), force=True)
    pysam.tabix_index(str(dest), preset="vcf", force=True)
    return len(records)


def main(shared: Path) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    chr20 = shared / "chr20_b37"
    sources = [chr20 / name for name in SOURCES]
    n = merged_vcf(sources, OUT / "demo.vcf.gz")
    spans = [span for src in sources for span in variant_spans(src, CONTIG)]
    with pysam.FastaFile(str(chr20 / "20.fa.gz")) as fa:
        length = fa.get_reference_length(CONTIG)
    keep = merge(spans, FLANK, length)
    kept = write_masked_fasta(chr20 / "20.fa.gz", CONTIG, keep, OUT / "chr20_demo.fa.gz", 60)
    with open(OUT / "regions.bed", "w") as fh:
        fh.write("".join(f"{CONTIG}\t{s}\t{e}\n" for s, e in keep))
    print(f"demo.vcf.gz: {n} records; chr20_demo.fa.gz: {kept:,} of {length:,} bp real in {len(keep)} "
          "regions (regions.bed)", file=sys.stderr)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("/work/shared/data"))
