"""Benchmark (c): GPU forward times against the physical (HBM-bandwidth) limits of issue 7.

    python benchmarks/bench_gpu.py              # needs CUDA; prints why and exits 0 without it

Two forwards with random weights, one sequence each, timed with CUDA events after warm-up (median of
--repeat runs), fp32 and bf16 (`glrm.scoring.engine.cast_model`: FFTs, scans, states and norms stay float32):
- HyenaDNA-large-1m shape (d_model 256, 8 layers, d_inner 1024) at 1,000,000 tokens; limit ~35 ms;
- Caduceus-ph-131k shape (d_model 256, 16 layers) at 131,072 tokens; limit ~13 ms.
Prints ms per forward, the ratio to the limit (target: within 3x), peak GPU memory, and which scan path ran
(mamba-ssm kernels when installed, else the pure-PyTorch scan, which is far slower on a GPU).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

LIMITS_MS = {"hyenadna-large-1m": 35.0, "caduceus-ph-131k": 13.0}


def build(name: str):
    if name == "hyenadna-large-1m":
        from glrm.models.hyenadna import HyenaDNA, HyenaDNAConfig

        torch.manual_seed(0)
        cfg = HyenaDNAConfig(d_model=256, n_layer=8, d_inner=1024, max_seq_len=1_000_002, emb_dim=5,
                             filter_order=64, activation_freq=10)
        return HyenaDNA(cfg).eval(), 1_000_000
    from mamba_bench_common import random_caduceus

    return random_caduceus(256, 16).eval(), 131_072


def time_forward(model, length: int, repeat: int, chunk: int | None) -> tuple[float, float]:
    ids = torch.randint(7, 11, (1, length), device="cuda")  # (1, L)
    torch.cuda.reset_peak_memory_stats()
    with torch.inference_mode():
        for _ in range(2):
            model(ids, chunk_size=chunk)
        times = []
        for _ in range(repeat):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            model(ids, chunk_size=chunk)
            end.record()
            torch.cuda.synchronize()
            times.append(start.elapsed_time(end))
    return statistics.median(times), torch.cuda.max_memory_allocated() / 2**30


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--chunk-size", type=int, default=None)
    ap.add_argument("--models", default=",".join(LIMITS_MS), help="comma-separated subset of "
                    + ", ".join(LIMITS_MS))
    args = ap.parse_args()
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    if not names or any(n not in LIMITS_MS for n in names):
        ap.error(f"--models {args.models!r}: give a comma-separated subset of {','.join(LIMITS_MS)}")
    if not torch.cuda.is_available():
        print("bench_gpu: no CUDA device; run it on a GPU machine (figures in docs/performance.md)")
        return 0
    from glrm.models.scan import kernels_available
    from glrm.scoring.engine import cast_model

    print(f"# {torch.cuda.get_device_name()}, torch {torch.__version__}, mamba-ssm kernels: "
          f"{'yes' if kernels_available() else 'no (pure-PyTorch scan)'}")
    print(f"{'model':<20}{'precision':<10}{'ms':>10}{'limit ms':>10}{'x limit':>9}{'peak GiB':>10}")
    for name in names:
        limit = LIMITS_MS[name]
        for precision in ("fp32", "bf16"):
            model, length = build(name)
            model = cast_model(model.cuda(), precision)
            ms, gib = time_forward(model, length, args.repeat, args.chunk_size)
            print(f"{name:<20}{precision:<10}{ms:>10.1f}{limit:>10.1f}{ms / limit:>9.2f}{gib:>10.2f}")
            del model
            torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    sys.exit(main())
