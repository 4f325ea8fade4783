"""The CPU selective-scan kernel alone (glrm.models.cpu_kernels.scan), as Caduceus calls it.

Mirrors a Caduceus layer with the tied projections (glrm.models.caduceus._run_shared): u and z are the
halves of one (1, L, 2E) in_proj output, B and C strided slices of the (1, L, R + 2N) x_proj output, delta
the dt_proj output (softplus in the kernel); the forward sweep writes y (no gate), the reverse sweep
accumulates into y and gates by silu(z). Both sweep in blocks of --block positions with the state carried
(mamba's sweep_blocks). Prints ns per (position, channel, state) element for each direction, best of
--repeat (process CPU time); pin it to one core (taskset).

    taskset -c 1 python benchmarks/bench_scan_kernel.py [--length 32768] [--channels 512] [--d-state 16]
                                                        [--block 512] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from glrm.models import cpu_kernels


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--length", type=int, default=32768)
    ap.add_argument("--channels", type=int, default=512)
    ap.add_argument("--d-state", type=int, default=16)
    ap.add_argument("--rank", type=int, default=16)
    ap.add_argument("--block", type=int, default=512)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if not cpu_kernels.available():
        raise SystemExit("the CPU kernels could not be built")
    g = torch.Generator().manual_seed(0)
    L, e, n, r = args.length, args.channels, args.d_state, args.rank
    xz = torch.randn(1, L, 2 * e, generator=g)
    u, z = xz.split(e, dim=-1)
    dbc = torch.randn(1, L, r + 2 * n, generator=g)
    _, B, C = dbc.split([r, n, n], dim=-1)
    dt = torch.randn(1, L, e, generator=g) - 2.0
    A = -torch.exp(torch.randn(e, n, generator=g) * 0.5)
    D = torch.randn(e, generator=g)
    y = torch.empty(1, L, e)
    blocks = [(s, min(L, s + args.block)) for s in range(0, L, args.block)]

    def sweep(reverse: bool) -> float:
        h = torch.zeros(1, e, n)
        t0 = time.process_time()
        for s, t in (reversed(blocks) if reverse else blocks):
            cpu_kernels.scan(u[:, s:t], dt[:, s:t], A, B[:, s:t], C[:, s:t], D, h, y[:, s:t],
                             z=z[:, s:t] if reverse else None, reverse=reverse, accumulate=reverse,
                             softplus=True)
        return time.process_time() - t0

    best = {"forward": float("inf"), "reverse": float("inf")}
    for _ in range(args.repeat):
        best["reverse"] = min(best["reverse"], sweep(True))
        best["forward"] = min(best["forward"], sweep(False))
    elems = L * e * n
    print(json.dumps({k + "_ns_per_element": round(v / elems * 1e9, 4) for k, v in best.items()}
                     | {"length": L, "channels": e, "d_state": n, "block": args.block}))


if __name__ == "__main__":
    main()
