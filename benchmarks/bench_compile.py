"""Eager against torch.compile for glrm's forwards on CPU (random weights; figures only, no assertions).

Models: HyenaDNA d_model 64, 2 layers (d_inner 256, max_seq_len 16,386) and Caduceus-ph d_model 128, 2 layers,
one sequence of --length tokens (default 16,384), fp32, the default (unchunked) forward.
Each (model, torch.compile mode) runs in its own process (fresh compile caches in memory; inductor's on-disk
cache may still be warm from an earlier run) with --timeout seconds. It prints the first compiled call's time
(tracing and building), the steady-state eager and compiled times (best of --repeat alternating calls after
--warmup calls of each), eager time / compiled time (> 1: compiled is faster) and max |logit diff|. A compile
that fails or times out prints one line; the other figures are still printed.

    python benchmarks/bench_compile.py
    python benchmarks/bench_compile.py --threads 1 --repeat 5 --modes default
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


def hyenadna_small():
    from glrm.models.hyenadna import HyenaDNA, HyenaDNAConfig

    torch.manual_seed(0)
    cfg = HyenaDNAConfig(d_model=64, n_layer=2, d_inner=256, max_seq_len=16386, emb_dim=5, filter_order=64,
                         activation_freq=10)
    return HyenaDNA(cfg).eval()


def caduceus_small():
    from mamba_bench_common import random_caduceus

    return random_caduceus(128, 2, rcps=False).eval()


BUILDERS = {"hyenadna": ("HyenaDNA d64 2 layers", hyenadna_small),
            "caduceus": ("Caduceus-ph d128 2 layers", caduceus_small)}


def child(args) -> None:
    """Eager and compiled forwards of one (model, mode) in this process; prints a JSON line."""
    import warnings

    warnings.filterwarnings("ignore")
    if args.threads:
        torch.set_num_threads(args.threads)
    model = BUILDERS[args.child][1]()
    ids = torch.randint(7, 11, (1, args.length), generator=torch.Generator().manual_seed(1))  # (1, L)
    compiled = torch.compile(model, mode=args.mode)
    with torch.no_grad():
        t0 = time.perf_counter()
        compiled(ids)
        compile_s = time.perf_counter() - t0
        for _ in range(args.warmup):
            model(ids), compiled(ids)
        eager_t = comp_t = math.inf
        for _ in range(args.repeat):  # alternate, so both see the same machine load
            t0 = time.perf_counter()
            eager = model(ids).logits
            t1 = time.perf_counter()
            comp = compiled(ids).logits
            t2 = time.perf_counter()
            eager_t, comp_t = min(eager_t, t1 - t0), min(comp_t, t2 - t1)
    print(json.dumps({"compile_s": compile_s, "eager_s": eager_t, "compiled_s": comp_t,
                      "diff": float((eager - comp).abs().max())}))


def one_line(stderr: str) -> str:
    lines = [x.strip() for x in stderr.splitlines() if x.strip() and not x.startswith((" ", "W1", "I1"))]
    text = lines[-1] if lines else "no message"
    return text[:300] + (" ..." if len(text) > 300 else "")


def run(key: str, mode: str, args) -> None:
    name = BUILDERS[key][0]
    cmd = [sys.executable, os.path.abspath(__file__), "--child", key, "--mode", mode,
           "--length", str(args.length), "--repeat", str(args.repeat), "--warmup", str(args.warmup),
           "--threads", str(args.threads)]
    head = f"{name:26s} L={args.length}  compile({mode})"
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
    except subprocess.TimeoutExpired:
        print(f"{head}: not finished within --timeout {args.timeout} s (compile, warm-up and "
              f"{args.repeat} timed calls); no figures", flush=True)
        return
    if proc.returncode:
        print(f"{head} failed (exit {proc.returncode}): {one_line(proc.stderr)}", flush=True)
        return
    r = json.loads(proc.stdout.splitlines()[-1])
    print(f"{head:52s} first call {r['compile_s']:6.1f} s | steady: eager {r['eager_s']:7.3f} s, "
          f"compiled {r['compiled_s']:7.3f} s, eager/compiled {r['eager_s'] / r['compiled_s']:.2f}x | "
          f"max|logit diff| {r['diff']:.1e}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--length", type=int, default=16384)
    ap.add_argument("--repeat", type=int, default=5, help="timed calls of each; the best is printed")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--modes", default="default,reduce-overhead", help="comma list of torch.compile modes")
    ap.add_argument("--models", default="hyenadna,caduceus")
    ap.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch default)")
    ap.add_argument("--timeout", type=int, default=300, help="seconds allowed per (model, mode) process")
    ap.add_argument("--child", choices=sorted(BUILDERS), help=argparse.SUPPRESS)
    ap.add_argument("--mode", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args)
    print(f"torch {torch.__version__}, threads {args.threads or 'torch default'}, cpu count {os.cpu_count()}",
          flush=True)
    for key in args.models.split(","):
        for mode in (m for m in args.modes.split(",") if m):
            run(key, mode, args)


if __name__ == "__main__":
    main()
