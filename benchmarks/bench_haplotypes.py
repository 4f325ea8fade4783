"""Benchmark (issue 16): `glrm score-haplotypes` with deduplicated backgrounds against scoring every haplotype
naively (`--no-dedup`: one job per haplotype and no pass shared), on the phased slices of tests/data, with the
demo model (examples/demo/model, HyenaDNA d_model 64, 2 layers, W 1,024) on CPU. Figures only, no assertions.

For each slice: the dedup run over the first --records records (haplotype windows, distinct backgrounds, the
dedup ratio = haplotype windows / distinct backgrounds, model passes, haplotypes/s), then dedup and naive on
the same first records, as many as hold about --naive haplotype windows (the naive run is slow: one ref and
one alt pass per haplotype), and the speed ratio. Wall times are end to end (library call: VCF in, annotated
VCF out), the model load (about a second) included.

    .venv/bin/python benchmarks/bench_haplotypes.py            # both slices (~2 min idle, 1 thread)
    .venv/bin/python benchmarks/bench_haplotypes.py --quick    # fewer records (~1 min)
"""

from __future__ import annotations

import argparse
import gzip
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
SLICES = {   # name: (VCF, FASTA, label)
    "chr21": (DATA / "phased_chr21.vcf.gz", DATA / "phased_chr21.fa.gz",
              "Eagle-phased chr21 slice (379 samples = 758 haplotypes, genotyping-array SNPs)"),
    "chr22": (DATA / "phased_chr22.vcf.gz", DATA / "phased_chr22.fa.gz",
              "1000 Genomes chr22 slice (5 samples = 10 haplotypes, every SNV and indel)"),
}


def positions(vcf: Path) -> list[tuple[str, int]]:
    with gzip.open(vcf, "rt") as fh:
        return [(x.split("\t", 2)[0], int(x.split("\t", 2)[1])) for x in fh if not x.startswith("#")]


def run(vcf: Path, fasta: Path, model: str, out: Path, threads: int, region: str | None, dedup: bool):
    from glrm.pipeline.options import ScoreHaplotypesOptions
    from glrm.pipeline.score_haplotypes import score_haplotypes

    opts = ScoreHaplotypesOptions(model, input=str(vcf), fasta=str(fasta), output=str(out), device="cpu",
                                  threads=threads, quiet=True, no_version=True, regions=region, dedup=dedup)
    t0, c0 = time.perf_counter(), time.process_time()
    s = score_haplotypes(opts)
    return s, time.perf_counter() - t0, time.process_time() - c0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(ROOT / "examples" / "demo" / "model"))
    ap.add_argument("--slices", default="chr21,chr22", help="comma-separated: chr21, chr22")
    ap.add_argument("--records", type=int, default=300, help="dedup run on the first N records (0: all)")
    ap.add_argument("--naive", type=int, default=1500,
                    help="haplotype windows for the dedup-vs-naive comparison (whole records)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1: CPU time ~ wall time on an "
                    "idle core, and the figures least disturbed by other load)")
    ap.add_argument("--quick", action="store_true", help="--records 60 --naive 300")
    args = ap.parse_args()
    if args.quick:
        args.records, args.naive = 60, 300
    import torch

    print(f"glrm score-haplotypes, model {Path(args.model).name}, CPU, {args.threads} threads, "
          f"torch {torch.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.slices.split(","):
            vcf, fasta, label = SLICES[name]
            pos = positions(vcf)
            n = len(pos) if args.records <= 0 else min(args.records, len(pos))
            region = None if n == len(pos) else f"{pos[0][0]}:{pos[0][1]}-{pos[n - 1][1]}"
            print(f"\n{label}: {vcf.name}")
            s, sec, cpu = run(vcf, fasta, args.model, Path(tmp) / "all.vcf", args.threads, region, True)
            print(f"  dedup, {s.records:,} records: {s.haplotypes:,} haplotype windows from {s.unique:,} "
                  f"distinct backgrounds (dedup ratio {s.haplotypes / max(1, s.unique):,.1f}), "
                  f"{s.jobs:,} backgrounds scored, {s.passes:,} model passes, {sec:.1f} s wall "
                  f"({cpu:.1f} s CPU): {s.haplotypes / sec:,.1f} haplotypes/s")
            k = min(len(pos), max(1, args.naive // (2 * s.samples)))
            region = f"{pos[0][0]}:{pos[0][1]}-{pos[k - 1][1]}"
            d, dsec, dcpu = run(vcf, fasta, args.model, Path(tmp) / "d.vcf", args.threads, region, True)
            v, vsec, vcpu = run(vcf, fasta, args.model, Path(tmp) / "n.vcf", args.threads, region, False)
            print(f"  first {d.records} records, dedup: {d.haplotypes:,} haplotype windows, {d.jobs:,} "
                  f"backgrounds, {d.passes:,} passes, {dsec:.1f} s wall ({dcpu:.1f} s CPU): "
                  f"{d.haplotypes / dsec:,.1f} haplotypes/s")
            print(f"  first {v.records} records, naive: {v.haplotypes:,} haplotype windows, {v.jobs:,} jobs, "
                  f"{v.passes:,} passes, {vsec:.1f} s wall ({vcpu:.1f} s CPU): {v.haplotypes / vsec:,.1f} "
                  f"haplotypes/s; dedup {vsec / dsec:,.1f}x faster (CPU {vcpu / dcpu:,.1f}x)")


if __name__ == "__main__":
    main()
