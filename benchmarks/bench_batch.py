"""CPU time per window against the batch size: why glrm's automatic CPU batch is small (figures only).

    .venv/bin/python benchmarks/bench_batch.py                 # HyenaDNA d64 L2 and a Mamba LM d64 L2, random
    .venv/bin/python benchmarks/bench_batch.py --threads 1

One forward of B random windows of W tokens, best of --repeat after a warm-up, milliseconds per window. The
rule in glrm.resources.auto_batch (CPU: one window per forward) comes from these figures.
"""

from __future__ import annotations

import argparse
import time

import torch

from glrm.models.hyenadna import HyenaDNA, HyenaDNAConfig
from glrm.models.mamba import MambaLM


def models():
    torch.manual_seed(0)
    cfg = HyenaDNAConfig(d_model=64, n_layer=2, d_inner=256, max_seq_len=16386, emb_dim=5, filter_order=64,
                         activation_freq=10)
    yield "HyenaDNA d64 L2", HyenaDNA(cfg).eval()
    yield "Mamba LM d64 L2", MambaLM(64, 2, 16, {"d_state": 16, "d_conv": 4, "expand": 2}).eval()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--windows", default="1024,4096,16384")
    ap.add_argument("--batches", default="1,4,16,64")
    ap.add_argument("--max-tokens", type=int, default=262144, help="skip B * W above this")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    ws = [int(x) for x in args.windows.split(",")]
    bs = [int(x) for x in args.batches.split(",")]
    print(f"# ms per window, best of {args.repeat}; torch {torch.__version__}, "
          f"threads {torch.get_num_threads()}")
    print(f"{'model':<18}{'W':>7}" + "".join(f"{'B=' + str(b):>10}" for b in bs))
    for name, model in models():
        for w in ws:
            cells = []
            for b in bs:
                if b * w > args.max_tokens:
                    cells.append(f"{'-':>10}")
                    continue
                ids = torch.randint(7, 11, (b, w))  # (B, W)
                with torch.inference_mode():
                    model(ids)   # warm-up at this shape
                    best = float("inf")
                    for _ in range(args.repeat):
                        t = time.perf_counter()
                        model(ids)
                        best = min(best, time.perf_counter() - t)
                cells.append(f"{best / b * 1000:>10.1f}")
            print(f"{name:<18}{w:>7}" + "".join(cells))


if __name__ == "__main__":
    main()
