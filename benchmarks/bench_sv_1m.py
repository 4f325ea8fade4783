"""One structural variant scored end to end through glrm's SV path at a 1 Mbp window: wall time and peak RSS.

The windows are built by `glrm.windows.allele_windows(..., sv=True)` on a synthetic genome (seeded random
bases; the real FASTA slices in tests/data are N-masked away from their variants) and scored by
`glrm.scoring.sv.SVEngine` (ref and alt windows, chunked Caduceus/Mamba forwards, all four scores and the
track). Peak RSS is the process's ru_maxrss, model loading included.

    python benchmarks/bench_sv_1m.py                                  # tiny Caduceus-ph fixture, 20 kb <INV>
    python benchmarks/bench_sv_1m.py --random-caduceus 128,4          # a medium random Caduceus-ph
    python benchmarks/bench_sv_1m.py --model PATH --chunk-size auto --sv DEL --sv-len 300000 --rc mean
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))


class RandomGenome:
    """One contig `syn` of seeded random A/C/G/T, N outside it."""

    def __init__(self, length: int, seed: int = 5):
        rng = np.random.default_rng(seed)
        self.seq = np.frombuffer(b"ACGT", dtype=np.uint8)[rng.integers(0, 4, length)].tobytes().decode()

    def resolve(self, chrom):
        return chrom if chrom == "syn" else None

    def length(self, chrom):
        return len(self.seq)

    def fetch(self, chrom, start, end):
        size = len(self.seq)
        lo, hi = min(max(start, 0), size), max(min(end, size), 0)
        return ("N" * max(0, min(end, 0) - start) + (self.seq[lo:hi] if hi > lo else "")
                + "N" * max(0, end - max(start, size)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(ROOT / "tests" / "fixtures" / "caduceus-ph-tiny"),
                    help="checkpoint folder (default: the tiny Caduceus-ph fixture)")
    ap.add_argument("--random-caduceus", metavar="D_MODEL,N_LAYER",
                    help="use a random Caduceus-ph of this size instead of --model")
    ap.add_argument("--window", type=int, default=1_000_000)
    ap.add_argument("--chunk-size", default="65536", help="a number or auto")
    ap.add_argument("--sv", default="INV", choices=["INV", "DEL", "DUP"])
    ap.add_argument("--sv-len", type=int, default=20_000)
    ap.add_argument("--rc", default="none", choices=["none", "mean"])
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from glrm.models import load_model
    from glrm.scoring.sv import SVEngine
    from glrm.variants import make_alleles
    from glrm.windows import allele_windows

    t0 = time.perf_counter()
    if args.random_caduceus:
        from mamba_bench_common import random_caduceus

        d_model, n_layer = (int(x) for x in args.random_caduceus.split(","))
        model = random_caduceus(d_model, n_layer)
        name = f"random caduceus-ph d_model={d_model} n_layer={n_layer}"
    else:
        model, name = load_model(args.model), Path(args.model).name
    t_load = time.perf_counter() - t0

    genome = RandomGenome(2 * args.window + 2 * args.sv_len + 200_000)
    pos = len(genome.seq) // 2 - args.sv_len // 2
    allele = make_alleles("syn", pos, ".", "N", [f"<{args.sv}>"],
                          {"END": str(pos + args.sv_len), "SVTYPE": args.sv})[0]
    chunk = args.chunk_size if args.chunk_size == "auto" else int(args.chunk_size)
    t1 = time.perf_counter()
    windows = allele_windows(genome, allele, args.window, sv=True)
    if not all(w.ok for w in windows):
        sys.exit(f"windows not OK: {[w.note for w in windows]}")
    engine = SVEngine(model, rc=args.rc, chunk_size=chunk, want_track=True)
    res = engine.score_allele(windows)
    seconds = time.perf_counter() - t1
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({
        "model": name, "window": args.window, "sv": f"<{args.sv}> {args.sv_len} bp",
        "windows": [w.bp for w in windows], "rc": args.rc, "chunk_size": engine.chunk_sizes,
        "passes": engine.passes_run, "batches": engine.batch_sizes, "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(), "load_seconds": round(t_load, 2), "score_seconds": round(seconds, 2),
        "peak_rss_mb": round(peak_mb), "GLRM_SV_EMB": res.emb, "GLRM_SV_LLR": res.llr,
        "GLRM_SV_REACH": res.reach, "GLRM_SV_BP": res.bp, "track_points": len(res.track[0]),
        "torch": torch.__version__,
    }, indent=1))


if __name__ == "__main__":
    main()
