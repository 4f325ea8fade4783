"""glrm's chunked selective scan vs a straightforward copy of mamba_ssm's `selective_scan_ref`.

Runs a random Caduceus-ph (default d_model 128, 2 layers) forward on L tokens (default 16,384) twice, each
in its own process so peak RSS is per implementation: once with glrm's scan (the CPU kernel where it builds,
tied projections shared), once with the baseline scan and each direction's own projections
(which, like the official pure-PyTorch fallback, materialises (B, d_inner, L, d_state) deltaA / deltaB_u and
loops over L in Python). Prints both times, peak RSS, the speed ratio and the max |logit| difference.

    python benchmarks/bench_scan.py [--length 16384] [--d-model 128] [--layers 2] [--chunk-size 4096]
                                    [--repeat 3]

Times are the best of --repeat runs (the CI box is shared; the minimum is the least disturbed figure).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def baseline_scan(u, delta, A, B, C, D=None, h0=None):
    """The official reference algorithm, channel-last in and out (glrm's scan contract)."""
    u, delta = u.transpose(1, 2), delta.transpose(1, 2)  # (Bt, E, L)
    B, C = B.transpose(1, 2), C.transpose(1, 2)  # (Bt, N, L)
    bt, e, L = u.shape
    x = u.new_zeros(bt, e, A.shape[1]) if h0 is None else h0
    delta_a = torch.exp(torch.einsum("bdl,dn->bdln", delta, A))  # (Bt, E, L, N)
    delta_b_u = torch.einsum("bdl,bnl,bdl->bdln", delta, B, u)  # (Bt, E, L, N)
    ys = []
    for i in range(L):
        x = delta_a[:, :, i] * x + delta_b_u[:, :, i]
        ys.append(torch.einsum("bdn,bn->bd", x, C[:, :, i]))
    y = torch.stack(ys, dim=2)  # (Bt, E, L)
    if D is not None:
        y = y + u * D[:, None]
    return y.transpose(1, 2), x


def child(args) -> None:
    from mamba_bench_common import peak_rss_mb, random_caduceus

    import glrm.models.mamba as mamba

    if args.impl == "baseline":  # the official algorithm: reference scan, each direction its own projections
        import glrm.models.caduceus as cad

        os.environ["GLRM_CPU_KERNELS"] = "0"
        cad.BiMamba.shares_projections = lambda self, shape, chunk: False
        mamba.scan = baseline_scan
    m = random_caduceus(args.d_model, args.layers)
    ids = torch.randint(7, 11, (1, args.length), generator=torch.Generator().manual_seed(1))
    times = []
    with torch.no_grad():
        m(ids[:, :256])  # warm-up
        for _ in range(args.repeat):
            t = time.perf_counter()
            out = m(ids, chunk_size=args.chunk_size or None)
            times.append(time.perf_counter() - t)
    dt = min(times)
    np.save(args.save, out.logits.numpy())
    print(json.dumps({"impl": args.impl, "seconds": dt, "peak_rss_mb": peak_rss_mb()}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--length", type=int, default=16384)
    ap.add_argument("--d-model", type=int, default=128)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--chunk-size", type=int, default=4096, help="glrm chunk size (0: unchunked)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--impl", choices=["glrm", "baseline"], help=argparse.SUPPRESS)
    ap.add_argument("--save", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.impl:
        return child(args)
    res = {}
    with tempfile.TemporaryDirectory() as tmp:
        for impl in ("glrm", "baseline"):
            cmd = [sys.executable, __file__, "--impl", impl, "--save", f"{tmp}/{impl}.npy",
                   "--length", str(args.length), "--d-model", str(args.d_model), "--layers", str(args.layers),
                   "--repeat", str(args.repeat),
                   "--chunk-size", str(args.chunk_size if impl == "glrm" else 0)]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            res[impl] = json.loads(out.strip().splitlines()[-1])
            print(f"{impl:8s}: {res[impl]['seconds']:8.2f} s   peak RSS {res[impl]['peak_rss_mb']:7.0f} MB",
                  flush=True)
        diff = np.abs(np.load(f"{tmp}/glrm.npy") - np.load(f"{tmp}/baseline.npy")).max()
    print(f"L={args.length} d_model={args.d_model} n_layer={args.layers} glrm chunk_size={args.chunk_size} "
          f"best of {args.repeat}")
    ratio = res["baseline"]["seconds"] / res["glrm"]["seconds"]
    print(f"speed-up glrm vs selective_scan_ref baseline: {ratio:.1f}x   max |logit diff| {diff:.2e}")


if __name__ == "__main__":
    main()
