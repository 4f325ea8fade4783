"""This machine's arithmetic floor on one thread, and each model forward as a ratio to it (figures only).

    .venv/bin/python benchmarks/bench_floor.py            # Caduceus d256 n4 at 131k, HyenaDNA d128 n2 at 1M,
                                                          # HyenaDNA d256 n8 at 16k cold and warm
    .venv/bin/python benchmarks/bench_floor.py --quick    # Caduceus at 32k, HyenaDNA d128 n2 at 131k, 16k
    .venv/bin/python benchmarks/bench_floor.py --reference  # also the reference op orders (below)

1. The floor, on one thread, best of several runs, with torch on this machine:
   GEMM GFLOP/s (4096 x 1024 @ 1024 x 1024, written in place), real FFT GFLOP/s (rfft of 64 x 2^17, counted as
   2.5 n log2 n per transform), exp throughput (torch.exp2 over 64k floats in cache; the scan kernel's exp is
   of this kind) and memory bandwidth (copy of 256 MiB into a preallocated buffer, read + write bytes).
2. Each model's floor = GEMM flops / GEMM rate + FFT flops / FFT rate + exps / exp rate + bytes / bandwidth
   (the parts do not overlap on one core in this model; a lower bound for an implementation that does each
   piece of work at the measured peak rate and touches each layer-wide tensor the fewest times):
   - Caduceus (per layer and position, d_inner E, d_state N, dt_rank R, tied projections shared by the two
     directions): GEMM 2*D*2E + 2*E*D + 2 * (2*E*(R+2N) + 2*R*E); scan 2*E*N exps (one exp(delta A) per
     state element and direction); bytes 4 * (4D + 6E + 4E) (residual and output streams; in_proj output
     written once and read by each direction; the summed scan output written, updated, read).
   - HyenaDNA (per layer, order 2, n = glrm's FFT length): GEMM per position 2*D*3D + 2*D*D + 4*D*d_inner,
     plus the filter MLP when cold; FFTs per channel: rfft + irfft of the input, + rfft of the filter when
     cold (the filter spectra are kept from the second call of a length while they fit); d_inner tanh per
     position (as exps); bytes 4 * (8D) per position + 16 * D * n / L (padded FFT input and output).
3. Times are process CPU seconds (one thread: the work, without the waits for a core that a shared machine
   adds to wall time). Each forward runs in its own process: "cold" is the first call (filters, spectra,
   allocations), "warm" a later call at the same length (the third: HyenaDNA keeps its filter spectra
   from the second). Random weights, batch 1, float32, no grad,
   `torch.set_num_threads(1)`, glibc told to keep freed memory for reuse as the glrm command does
   (glrm.resources.keep_freed_memory; both implementations).
   --reference also times, where they exist in benchmarks/, the official op orders on the same weights:
   HyenaDNA: bench_hyenadna.upstream_style_forward (the HF port's order of operations); Caduceus: glrm's model
   with mamba_ssm's selective_scan_ref algorithm (bench_scan.baseline_scan) and each direction's own
   projections (slow: only sensible at --quick lengths).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def clock() -> float:
    """Process CPU seconds: on one thread the work itself, steadier than wall time on a shared machine."""
    return time.process_time()


def best(fn, repeat=5):
    t = math.inf
    for _ in range(repeat):
        t0 = clock()
        fn()
        t = min(t, clock() - t0)
    return t


def measure_floor() -> dict:
    import torch

    torch.set_num_threads(1)
    a, b = torch.randn(4096, 1024), torch.randn(1024, 1024)
    c = torch.empty(4096, 1024)
    gemm = 2 * 4096 * 1024 * 1024 / best(lambda: torch.matmul(a, b, out=c))
    n = 1 << 17
    x = torch.randn(64, n)
    xf = torch.empty(64, n // 2 + 1, dtype=torch.complex64)
    fft = 64 * 2.5 * n * math.log2(n) / best(lambda: torch.fft.rfft(x, out=xf))
    e = -torch.rand(1 << 16)
    eo = torch.empty_like(e)
    exp = 200 * e.numel() / best(lambda: [torch.exp2(e, out=eo) for _ in range(200)])
    big = torch.ones(1 << 26)
    dst = torch.empty_like(big)
    bw = 2 * big.numel() * 4 / best(lambda: dst.copy_(big), 3)
    return {"gemm_flops": gemm, "fft_flops": fft, "exp_per_s": exp, "bytes_per_s": bw}


def fft_len(L):
    from glrm.models.hyena_filter import fft_len as f

    return f(L)


def caduceus_floor(fl, L, d, layers, d_state=16, expand=2):
    E, N, R = expand * d, d_state, math.ceil(d / 16)
    gemm = L * layers * (2 * d * 2 * E + 2 * E * d + 2 * (2 * E * (R + 2 * N) + 2 * R * E))
    exps = L * layers * 2 * E * N
    nbytes = L * layers * 4 * (4 * d + 6 * E + 4 * E)
    return gemm / fl["gemm_flops"] + exps / fl["exp_per_s"] + nbytes / fl["bytes_per_s"]


def hyenadna_floor(fl, L, d, layers, cold, filter_order=64, emb=5):
    d_inner = 4 * d
    n = fft_len(L)
    gemm = L * layers * (2 * d * 3 * d + 2 * d * d + 4 * d * d_inner)
    if cold:
        gemm += L * layers * 2 * (emb * filter_order + 2 * filter_order * filter_order + filter_order * d)
    ffts = layers * d * (3 if cold else 2) * 2.5 * n * math.log2(n)
    exps = L * layers * d_inner
    nbytes = layers * (4 * 8 * d * L + 16 * d * n)
    return (gemm / fl["gemm_flops"] + ffts / fl["fft_flops"] + exps / fl["exp_per_s"]
            + nbytes / fl["bytes_per_s"])


def child(args) -> None:
    from glrm.resources import keep_freed_memory

    keep_freed_memory()   # as the glrm command does (glrm.cli.main), for both implementations
    import torch

    torch.set_num_threads(1)
    ids = torch.randint(7, 11, (1, args.length), generator=torch.Generator().manual_seed(1))
    if args.model == "caduceus":
        from mamba_bench_common import random_caduceus

        m = random_caduceus(args.d_model, args.layers)
        if args.impl == "reference":
            import bench_scan

            import glrm.models.caduceus as cad
            import glrm.models.mamba as mamba

            os.environ["GLRM_CPU_KERNELS"] = "0"
            cad.BiMamba.shares_projections = lambda self, shape, chunk: False  # each direction its own
            mamba.scan = bench_scan.baseline_scan

            def fwd():
                return m(ids, chunk_size=args.chunk or None)
        else:
            def fwd():
                return m(ids, chunk_size=args.chunk or None)
    else:
        from glrm.models.hyenadna import HyenaDNA, HyenaDNAConfig

        torch.manual_seed(0)
        m = HyenaDNA(HyenaDNAConfig(d_model=args.d_model, n_layer=args.layers, d_inner=4 * args.d_model,
                                    max_seq_len=max(args.length + 2, 1_000_002), emb_dim=5, filter_order=64,
                                    activation_freq=10)).eval()
        if args.impl == "reference":
            from bench_hyenadna import upstream_style_forward

            def fwd():
                return upstream_style_forward(m, ids)
        else:
            def fwd():
                return m(ids, chunk_size=args.chunk or None)
    with torch.no_grad():
        t0 = clock()
        fwd()
        cold = clock() - t0
        warm = None
        if args.warm:
            fwd()   # HyenaDNA keeps its filter spectra from the second call of a length: warm is the third
            t0 = clock()
            fwd()
            warm = clock() - t0
    import resource

    print(json.dumps({"cold": cold, "warm": warm,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def run_child(model, impl, length, d_model, layers, chunk, warm):
    cmd = [sys.executable, __file__, "--child", model, "--impl", impl, "--length", str(length), "--d-model",
           str(d_model), "--layers", str(layers), "--chunk", str(chunk)] + (["--warm"] if warm else [])
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="Caduceus at 32k, HyenaDNA d128 n2 at 131k")
    ap.add_argument("--reference", action="store_true", help="also time the official op orders")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--impl", default="glrm", help=argparse.SUPPRESS)
    ap.add_argument("--length", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--d-model", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--layers", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--chunk", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--warm", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        args.model = args.child
        return child(args)

    import torch

    fl = measure_floor()
    print(f"torch {torch.__version__}, one thread, CPU seconds. Floor: "
          f"GEMM {fl['gemm_flops'] / 1e9:.0f} GFLOP/s, "
          f"rfft {fl['fft_flops'] / 1e9:.1f} GFLOP/s, exp2 {fl['exp_per_s'] / 1e9:.2f} G/s, "
          f"copy {fl['bytes_per_s'] / 1e9:.1f} GB/s", flush=True)
    cad_L = 32768 if args.quick else 131072
    hy_L = 131072 if args.quick else 1_000_002
    runs = [
        ("Caduceus d256 n4", "caduceus", cad_L, 256, 4, 32768, False,
         lambda cold: caduceus_floor(fl, cad_L, 256, 4)),
        ("HyenaDNA d128 n2", "hyenadna", hy_L, 128, 2, 65536, False,
         lambda cold: hyenadna_floor(fl, hy_L, 128, 2, cold)),
        ("HyenaDNA d256 n8", "hyenadna", 16384, 256, 8, 0, True,
         lambda cold: hyenadna_floor(fl, 16384, 256, 8, cold)),
    ]
    for title, model, L, d, layers, chunk, warm, floor in runs:
        impls = ["glrm"] + (["reference"] if args.reference and (model == "hyenadna" or L <= 32768) else [])
        for impl in impls:
            r = run_child(model, impl, L, d, layers, chunk if impl == "glrm" else 0, warm)
            f_cold = floor(True)
            line = (f"{title:17s} L={L:>9,} {impl:9s} cold {r['cold']:8.2f} s = {r['cold'] / f_cold:5.2f}x "
                    f"floor ({f_cold:.2f} s)")
            if r["warm"] is not None:
                f_warm = floor(False)
                line += f"   warm {r['warm']:8.2f} s = {r['warm'] / f_warm:5.2f}x floor ({f_warm:.2f} s)"
            print(line + f"   peak RSS {r['peak_rss_mb']:.0f} MB", flush=True)


if __name__ == "__main__":
    main()
