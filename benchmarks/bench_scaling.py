"""Forward time and peak memory against sequence length L for two published shapes (random weights).

Shapes (architectures of the released checkpoints, weights random):
    hyenadna  HyenaDNA-large-1m: d_model 256, n_layer 8, d_inner 1024, max_seq_len 1,000,002, emb_dim 5,
              filter_order 64; glrm's position-chunked forward (--hyena-chunk-size, default 65,536)
    caduceus  Caduceus-ph-131k (caduceus-ph_seqlen-131k_d_model-256_n_layer-16): d_model 256, n_layer 16,
              bidirectional, rcps False; chunked forward (--chunk-size, default 32,768)

Each (shape, L) runs in its own subprocess, so peak RSS (getrusage ru_maxrss of that process: model, input,
outputs and temporaries) is per length. One forward of one sequence of L tokens (batch 1, fp32, no grad).

    python benchmarks/bench_scaling.py                        # both shapes, 16k .. 1M (about 1 h on 2 cores)
    python benchmarks/bench_scaling.py --quick                # 16k and 64k, 2 layers (make bench)
    python benchmarks/bench_scaling.py --shapes caduceus --layers 4 --threads 1

Prints one line per (shape, L): wall seconds, tokens/s, process CPU seconds (all threads; with --threads 1 on
a busy machine it is steadier than wall time, which also counts waiting for a core), peak RSS MB; then per
shape the least-squares log-log slopes of wall time, CPU time and peak RSS against L over the points with
65,536 <= L <= 1,048,576. Figures only, no assertions.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

SHAPES = {
    "hyenadna": dict(title="HyenaDNA-large-1m", n_layer=8),
    "caduceus": dict(title="Caduceus-ph-131k", n_layer=16),
}
SLOPE_RANGE = (65536, 1048576)


def build(shape: str, n_layer: int):
    import torch

    if shape == "hyenadna":
        from glrm.models.hyenadna import HyenaDNA, HyenaDNAConfig

        torch.manual_seed(0)
        cfg = HyenaDNAConfig(d_model=256, n_layer=n_layer, d_inner=1024, max_seq_len=1_000_002, emb_dim=5,
                             filter_order=64, activation_freq=10)
        return HyenaDNA(cfg).eval()
    from mamba_bench_common import random_caduceus

    return random_caduceus(256, n_layer, rcps=False).eval()


def child(args) -> None:
    """One forward of one (shape, L) in this process; prints a JSON line."""
    import torch
    from mamba_bench_common import peak_rss_mb

    if args.threads:
        torch.set_num_threads(args.threads)
    model = build(args.shape, args.layers)
    L = args.length
    if L > 1_000_002 and args.shape == "hyenadna":
        L = 1_000_002  # the positional embedding has max_seq_len rows; the 1M point is the model's maximum
    ids = torch.randint(7, 11, (1, L), generator=torch.Generator().manual_seed(1))  # (1, L)
    chunk = args.hyena_chunk_size if args.shape == "hyenadna" else args.chunk_size
    with torch.no_grad():
        t, c = time.perf_counter(), time.process_time()
        out = model(ids, chunk_size=chunk)
        dt, cpu = time.perf_counter() - t, time.process_time() - c
    finite = bool(torch.isfinite(out.logits).all())
    print(json.dumps({"length": L, "seconds": dt, "cpu_seconds": cpu, "peak_rss_mb": peak_rss_mb(),
                      "chunk": chunk, "threads": torch.get_num_threads(), "finite": finite}))


def slope(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of log y against log x; None with fewer than two distinct x."""
    if len({x for x, _ in points}) < 2:
        return None
    xs = [math.log(x) for x, _ in points]
    ys = [math.log(y) for _, y in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)


def run_shape(shape: str, lengths: list[int], args) -> list[dict]:
    n_layer = args.layers or SHAPES[shape]["n_layer"]
    chunk = args.hyena_chunk_size if shape == "hyenadna" else args.chunk_size
    note = f"  (n_layer overridden by --layers; published {SHAPES[shape]['n_layer']})" if args.layers else ""
    print(f"== {SHAPES[shape]['title']} shape, random weights: d_model 256, n_layer {n_layer}{note}, "
          f"chunk_size {chunk}, threads {args.threads or 'torch default'}", flush=True)
    rows = []
    for L in lengths:
        cmd = [sys.executable, os.path.abspath(__file__), "--child", shape, "--length", str(L),
               "--layers", str(n_layer), "--chunk-size", str(args.chunk_size),
               "--hyena-chunk-size", str(args.hyena_chunk_size), "--threads", str(args.threads)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode:
            print(f"{shape} L={L}: the forward failed (exit {proc.returncode}): "
                  f"{(proc.stderr.strip().splitlines() or ['no message'])[-1]}", flush=True)
            continue
        r = json.loads(proc.stdout.splitlines()[-1])
        rows.append(r)
        print(f"{shape:9s} n_layer={n_layer:<2d} L={r['length']:>9,d}  {r['seconds']:9.2f} s  "
              f"{r['length'] / r['seconds']:9.0f} tok/s  (cpu {r['cpu_seconds']:9.2f} s)  "
              f"peak RSS {r['peak_rss_mb']:8.0f} MB"
              f"{'' if r['finite'] else '  NON-FINITE LOGITS'}", flush=True)
    lo, hi = SLOPE_RANGE
    sel = [r for r in rows if lo <= r["length"] <= hi]
    st = slope([(r["length"], r["seconds"]) for r in sel])
    sc = slope([(r["length"], r["cpu_seconds"]) for r in sel])
    sm = slope([(r["length"], r["peak_rss_mb"]) for r in sel])
    if st is None:
        print(f"{shape}: log-log slopes need two lengths in {lo:,d}..{hi:,d}; none printed", flush=True)
    else:
        pts = ", ".join(f"{r['length']:,d}" for r in sel)
        print(f"{shape}: log-log slope vs L over [{pts}]: time {st:.3f} (cpu time {sc:.3f}), "
              f"peak RSS {sm:.3f}", flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shapes", default="hyenadna,caduceus", help="comma list of: hyenadna, caduceus")
    ap.add_argument("--lengths", default="16384,65536,262144,1048576",
                    help="comma list of L (HyenaDNA-large-1m is capped at its max_seq_len 1,000,002)")
    ap.add_argument("--layers", type=int, default=0, help="override n_layer of every shape (0: published)")
    ap.add_argument("--chunk-size", type=int, default=32768, help="Caduceus chunk_size")
    ap.add_argument("--hyena-chunk-size", type=int, default=65536, help="HyenaDNA position chunk_size")
    ap.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch default)")
    ap.add_argument("--quick", action="store_true", help="16k and 64k only, 2 layers (for make bench)")
    ap.add_argument("--child", choices=sorted(SHAPES), help=argparse.SUPPRESS)
    ap.add_argument("--length", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        args.shape = args.child
        return child(args)
    if args.quick:
        args.lengths, args.layers = "16384,65536", args.layers or 2
    lengths = [int(x) for x in args.lengths.split(",")]
    shapes = [s.strip() for s in args.shapes.split(",") if s.strip()]
    bad = [s for s in shapes if s not in SHAPES]
    if bad:
        sys.exit(f"--shapes: unknown {bad}; choose from {sorted(SHAPES)}")
    import torch

    print(f"torch {torch.__version__}, cpu count {os.cpu_count()}, lengths {lengths}", flush=True)
    for s in shapes:
        run_shape(s, lengths, args)


if __name__ == "__main__":
    main()
