"""CPU timing of glrm's HyenaDNA forward pass with random weights (figures only; no assertions).

    .venv/bin/python benchmarks/bench_hyenadna.py              # 16k tokens, d_model 64, 2 layers
    .venv/bin/python benchmarks/bench_hyenadna.py --large      # + HyenaDNA-large-1m shape, 16k .. 1M tokens

Prints one line per run: L, seconds (best of --repeat), peak RSS of the process so far, and for the
--large sweep the log-log slope of time against L. For the small model it also times
`upstream_style_forward`: the same weights run through the op sequence of the official HF port
(Conv1d short filter on (B, 3D, L), whole filter, FFT length 2L, no chunking), written here from the
architecture description, as a same-machine baseline (the machine may be shared, so absolute times
vary from run to run; runs alternate to keep the comparison fair).
"""

from __future__ import annotations

import argparse
import math
import resource
import sys
import time

import torch

from glrm.models.hyenadna import HyenaDNA, HyenaDNAConfig


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux: KiB


def build(d_model: int, n_layer: int, d_inner: int, emb_dim: int, filter_order: int, max_seq_len: int):
    torch.manual_seed(0)
    cfg = HyenaDNAConfig(d_model=d_model, n_layer=n_layer, d_inner=d_inner, max_seq_len=max_seq_len,
                         emb_dim=emb_dim, filter_order=filter_order, activation_freq=10)
    return HyenaDNA(cfg).eval()


def upstream_filter(filt, L: int) -> torch.Tensor:
    """The implicit filter (L, D) computed as the HF port does: the whole MLP over z[:L], then the window."""
    z, t = filt.pos_emb.z[:, :L], filt.pos_emb.t[:, :L]                        # (1, L, emb), (1, L, 1)
    k = filt.implicit_filter(z)                                                # (1, L, D)
    deltas = filt.modulation.deltas
    return (k * (torch.exp(-t * deltas.abs()) + 0.05))[0]                      # (L, D)


@torch.no_grad()
def upstream_style_forward(model: HyenaDNA, ids: torch.Tensor) -> torch.Tensor:
    """Logits (B, L, V) computed the way the official HF port orders its operations (order-2 only)."""
    bb = model.backbone
    h = bb.embeddings.word_embeddings(ids)                                     # (B, L, D)
    L, D = ids.shape[1], h.shape[-1]
    for layer in bb.layers:
        mixer, filt = layer.mixer, layer.mixer.filter_fn
        u = mixer.in_proj(layer.norm1(h)).transpose(1, 2)                      # (B, 3D, L)
        uc = mixer.short_filter(u)[..., :L]                                    # (B, 3D, L)
        x0, x1, v = uc.split(D, dim=1)
        k = upstream_filter(filt, L).T                                         # (D, L)
        n = 2 * L
        k_f = torch.fft.rfft(k, n=n) / n
        v = v * x1
        y = torch.fft.irfft(torch.fft.rfft(v, n=n) * k_f, n=n, norm="forward")[..., :L]
        y = y + v * filt.bias[:, None]
        h = h + mixer.out_proj((y * x0).transpose(1, 2))
        mlp = layer.mlp
        h = h + mlp.fc2(torch.nn.functional.gelu(mlp.fc1(layer.norm2(h)), approximate="tanh"))
    return model.lm_head(bb.ln_f(h))


def time_forward(model, L: int, repeat: int, chunk_size: int | None) -> tuple[float, float]:
    """Best wall seconds and best process CPU seconds (all threads) of `repeat` forwards."""
    ids = torch.randint(7, 11, (1, L))  # (1, L)
    wall, cpu = math.inf, math.inf
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        model(ids, chunk_size=chunk_size)
        wall, cpu = min(wall, time.perf_counter() - t0), min(cpu, time.process_time() - c0)
    return wall, cpu


def time_pair(model, L: int, repeat: int) -> tuple[float, float, float]:
    """Best times of glrm's forward and the upstream-style forward, alternating; and their max |diff|."""
    ids = torch.randint(7, 11, (1, L))  # (1, L)
    ours, ref = math.inf, math.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        a = model(ids).logits
        t1 = time.perf_counter()
        b = upstream_style_forward(model, ids)
        t2 = time.perf_counter()
        ours, ref = min(ours, t1 - t0), min(ref, t2 - t1)
    return ours, ref, float((a - b).abs().max())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--large", action="store_true", help="also sweep a HyenaDNA-large-1m shape")
    ap.add_argument("--max-len", type=int, default=1_000_000)
    ap.add_argument("--chunk", type=int, default=65536, help="chunk_size for the large sweep")
    ap.add_argument("--threads", type=int, default=0,
                    help="torch threads (0: torch's default). On a shared machine 1 thread is steadier: "
                         "OpenMP threads that wait for a busy core slow every operation down")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}", file=sys.stderr)

    small = build(64, 2, 256, 5, 64, 16386)
    for L in (1024, 16384):
        t, t_ref, diff = time_pair(small, L, args.repeat)
        print(f"small d_model=64 n_layer=2  L={L:>8}  chunk=None   {t:8.3f} s  "
              f"peak_rss={peak_rss_gb():.2f} GB  (upstream-style ops {t_ref:.3f} s, "
              f"max|logit diff| {diff:.1e})")
    t, cpu = time_forward(small, 16384, args.repeat, 4096)
    print(f"small d_model=64 n_layer=2  L={16384:>8}  chunk=4096   {t:8.3f} s  cpu={cpu:.3f} s  "
          f"peak_rss={peak_rss_gb():.2f} GB")

    if args.large:
        large = build(256, 8, 1024, 5, 64, 1_000_002)
        points = []
        L = 16384
        while L <= args.max_len:
            t, cpu = time_forward(large, L, 1 if L > 100_000 else 2, args.chunk)
            points.append((L, t, cpu))
            print(f"large d_model=256 n_layer=8  L={L:>8}  chunk={args.chunk}  {t:8.3f} s  cpu={cpu:.1f} s  "
                  f"peak_rss={peak_rss_gb():.2f} GB", flush=True)
            L = L * 4 if L * 4 <= args.max_len or L == args.max_len else args.max_len
            if points and L == points[-1][0]:
                break
        if len(points) >= 2:
            (l0, t0, c0), (l1, t1, c1) = points[0], points[-1]
            ratio = math.log(l1 / l0)
            print(f"log-log slope vs L ({l0}..{l1}): wall {math.log(t1 / t0) / ratio:.3f}, "
                  f"cpu {math.log(c1 / c0) / ratio:.3f}")


if __name__ == "__main__":
    main()
