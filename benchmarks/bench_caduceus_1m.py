"""Chunked Caduceus forward at long lengths: time and peak RSS per length, and the log-log slope.

Each length runs in its own process (so peak RSS, from getrusage ru_maxrss, is per length) on a random
Caduceus-ph (default d_model 256, 4 layers) with `chunk_size` (default 32,768). Memory beyond the per-chunk
temporaries is two (B, L, d_model) float32 activations (hidden and residual streams) plus the outputs.

    python benchmarks/bench_caduceus_1m.py                       # 1,000,000 tokens only
    python benchmarks/bench_caduceus_1m.py --sweep                # 16k, 64k, 256k, 1M and the slope
    python benchmarks/bench_caduceus_1m.py --lengths 16384,131072 --d-model 128 --layers 2
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def child(args) -> None:
    from mamba_bench_common import peak_rss_mb, random_caduceus

    m = random_caduceus(args.d_model, args.layers, rcps=args.rcps)
    ids = torch.randint(7, 11, (1, args.length), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        t = time.perf_counter()
        out = m(ids, chunk_size=args.chunk_size)
        dt = time.perf_counter() - t
    assert torch.isfinite(out.logits).all()
    print(json.dumps({"length": args.length, "seconds": dt, "peak_rss_mb": peak_rss_mb()}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lengths", default="1000000")
    ap.add_argument("--sweep", action="store_true", help="lengths 16384,65536,262144,1000000")
    ap.add_argument("--d-model", type=int, default=256)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--rcps", action="store_true", help="Caduceus-ps instead of -ph")
    ap.add_argument("--chunk-size", type=int, default=32768)
    ap.add_argument("--length", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.length:
        return child(args)
    lengths = [16384, 65536, 262144, 1000000] if args.sweep else [int(x) for x in args.lengths.split(",")]
    print(f"Caduceus-{'ps' if args.rcps else 'ph'} d_model={args.d_model} n_layer={args.layers} "
          f"chunk_size={args.chunk_size} torch={torch.__version__}", flush=True)
    rows = []
    for L in lengths:
        cmd = [sys.executable, __file__, "--length", str(L), "--d-model", str(args.d_model),
               "--layers", str(args.layers), "--chunk-size", str(args.chunk_size)]
        cmd += ["--rcps"] if args.rcps else []
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode:
            sys.exit(f"L={L}: the forward failed:\n{proc.stderr[-2000:]}")
        r = json.loads(proc.stdout.splitlines()[-1])
        rows.append(r)
        print(f"L={L:>9,d}  {r['seconds']:9.1f} s  {L / r['seconds']:9.0f} tok/s  "
              f"peak RSS {r['peak_rss_mb']:7.0f} MB", flush=True)
    if len(rows) > 1:
        xs = [math.log(r["length"]) for r in rows]
        ys = [math.log(r["seconds"]) for r in rows]
        mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
        slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)
        print(f"log-log slope of time vs L: {slope:.2f}")


if __name__ == "__main__":
    main()
