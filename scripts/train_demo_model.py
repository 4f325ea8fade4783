"""Train the demo's small HyenaDNA on the demo's real chr20 sequence and save it in the official HF layout.

The model is tiny and briefly trained (300 steps: 12 min on 2 CPU cores shared with other jobs): its scores
carry signal (it beats the 2-bit uniform baseline on held-out sequence), not biology. Everything is seeded,
so a rerun on the same machine gives the same checkpoint (float rounding may differ between CPU types).

Data: the real spans of examples/demo/chr20_demo.fa.gz (examples/demo/regions.bed; everything else is N).
Every 8th region is held out for evaluation; training draws random crops of `--length` bases from the others
(a region shorter than a crop is never drawn, so no crop is N-only; the rare N inside real sequence is never a
target). Loss: next-token cross-entropy over the four bases only (log-softmax over A, C, G, T renormalised,
as glrm scores), in nats per base; the uniform baseline is log 4 = 1.386.

Training needs gradients, which glrm's inference forward (no_grad, in-place, chunked) does not keep, so
`train_logits` below runs the same architecture with plain differentiable ops on the same modules; after
export, the held-out loss is recomputed with the saved checkpoint loaded by glrm.models.load_model and must
agree.

Run from the repository root:  .venv/bin/python scripts/train_demo_model.py [--steps N] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pysam
import torch
import torch.nn.functional as F

from glrm.models import load_model
from glrm.models.export import save_hyenadna_hf
from glrm.models.hyenadna import HyenaDNA, HyenaDNAConfig
from glrm.models.tokenizer import A, N, encode_numpy

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "examples" / "demo"
HOLD_OUT_EVERY = 8
UNIFORM = math.log(4)


def read_regions(fasta: Path, bed: Path) -> list[np.ndarray]:
    """Token ids (L,) of every real span listed in `bed`."""
    out = []
    with pysam.FastaFile(str(fasta)) as fa:
        for line in bed.read_text().splitlines():
            chrom, s, e = line.split("\t")[:3]
            out.append(encode_numpy(fa.fetch(chrom, int(s), int(e))))
    return out


def train_logits(model: HyenaDNA, ids: torch.Tensor) -> torch.Tensor:
    """Differentiable forward of `model` (same weights and maths as HyenaDNA.forward): (B, L) -> (B, L, V)."""
    cfg = model.cfg
    B, L = ids.shape
    D, order = cfg.d_model, cfg.hyena_order
    n = 2 * L                                                          # zero-padded FFT: linear convolution
    h = model.backbone.embeddings.word_embeddings(ids)                 # (B, L, D)
    for block in model.backbone.layers:
        mixer = block.mixer
        u = mixer.in_proj(block.norm1(h))                              # (B, L, (order+1) D)
        K = cfg.short_filter_order                                     # causal depthwise conv, K taps:
        u_pad = F.pad(u, (0, 0, K - 1, 0))                             # out[t] = b + sum_j w[j] u[t-K+1+j]
        wts = mixer.short_filter.weight[:, 0, :]                       # ((order+1) D, K)
        u = mixer.short_filter.bias + sum(u_pad[:, j:j + L] * wts[:, j] for j in range(K))
        x = u.split(D, dim=-1)                                         # x0 .. x_{order-1}, v
        k = mixer.filter_fn.filter(L)                                  # (L, (order-1) D)
        bias = mixer.filter_fn.bias.view(order - 1, D)
        w = x[-1] * x[order - 1]                                       # (B, L, D)
        for o in range(order - 1):
            k_f = torch.fft.rfft(k[:, o * D:(o + 1) * D], n=n, dim=0)  # (n/2+1, D)
            w = torch.fft.irfft(torch.fft.rfft(w, n=n, dim=1) * k_f, n=n, dim=1)[:, :L] + w * bias[o]
            if o < order - 2:
                w = w * x[order - 2 - o]
        h = h + mixer.out_proj(w * x[0])
        h = h + block.mlp(block.norm2(h))
    return model.lm_head(model.backbone.ln_f(h))                       # (B, L, V)


def next_base_nll(logits: torch.Tensor, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sum of -log p(x[t] | x[:t]) (ACGT-renormalised) over t >= 1 where x[t] is a base; and their count."""
    lp = torch.log_softmax(logits[:, :-1, A:A + 4].float(), dim=-1)    # (B, L-1, 4)
    target = ids[:, 1:]                                                # (B, L-1)
    ok = target != N
    picked = lp.gather(-1, (target.clamp(A, A + 3) - A).unsqueeze(-1)).squeeze(-1)  # (B, L-1)
    return -(picked * ok).sum(), ok.sum()


def eval_windows(regions: list[np.ndarray], length: int) -> torch.Tensor:
    """Non-overlapping `length`-base windows tiling each region (a tail that does not fit is left out)."""
    rows = [r[i:i + length] for r in regions for i in range(0, len(r) - length + 1, length)]
    return torch.from_numpy(np.stack(rows))                            # (n, length)


def evaluate(forward, windows: torch.Tensor, batch: int = 32) -> float:
    total, count = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(windows), batch):
            ids = windows[i:i + batch]
            nll, k = next_base_nll(forward(ids), ids)
            total, count = total + float(nll), count + int(k)
    return total / count


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=DEMO / "model")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--length", type=int, default=1024, help="training crop length (bases)")
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--d-model", type=int, default=64)
    p.add_argument("--n-layer", type=int, default=2)
    p.add_argument("--seed", type=int, default=20)
    a = p.parse_args()

    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    regions = read_regions(DEMO / "chr20_demo.fa.gz", DEMO / "regions.bed")
    held = [r for i, r in enumerate(regions) if i % HOLD_OUT_EVERY == HOLD_OUT_EVERY - 1]
    train = [r for i, r in enumerate(regions)
             if i % HOLD_OUT_EVERY != HOLD_OUT_EVERY - 1 and len(r) >= a.length]
    weights = np.array([len(r) - a.length + 1 for r in train], dtype=float)
    weights /= weights.sum()
    windows = eval_windows(held, a.length)

    # The trained context is the crop length: HyenaDNA's default window is max_seq_len - 2 = a.length.
    cfg = HyenaDNAConfig(d_model=a.d_model, n_layer=a.n_layer, d_inner=4 * a.d_model,
                         max_seq_len=a.length + 2, emb_dim=5, filter_order=64, activation_freq=10)
    model = HyenaDNA(cfg).train()
    for prm in model.parameters():
        prm.requires_grad_(True)
    n_params = sum(prm.numel() for prm in model.parameters())
    print(f"data: {sum(map(len, train)):,} bp in {len(train)} training regions, {sum(map(len, held)):,} bp "
          f"in {len(held)} held-out regions ({len(windows)} windows of {a.length}); model: {n_params:,} "
          f"parameters", file=sys.stderr)
    init_loss = evaluate(lambda ids: train_logits(model, ids), windows)

    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=a.lr, total_steps=a.steps, pct_start=0.1)
    t0, recent = time.perf_counter(), []
    for step in range(1, a.steps + 1):
        picks = rng.choice(len(train), size=a.batch, p=weights)
        rows = []
        for j in picks:
            start = int(rng.integers(0, len(train[j]) - a.length + 1))
            rows.append(train[j][start:start + a.length])
        ids = torch.from_numpy(np.stack(rows))                         # (B, L)
        nll, k = next_base_nll(train_logits(model, ids), ids)
        loss = nll / k
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        recent.append(float(loss.detach()))
        if step % 50 == 0 or step == a.steps:
            print(f"step {step}/{a.steps}  train loss {np.mean(recent):.4f} nats/base  "
                  f"({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
            recent = []
    train_seconds = time.perf_counter() - t0

    model.eval()
    held_loss = evaluate(lambda ids: train_logits(model, ids), windows)
    if a.out.exists():
        shutil.rmtree(a.out)
    save_hyenadna_hf(model, a.out)
    loaded = load_model(a.out)
    glrm_loss = evaluate(lambda ids: loaded(ids).logits, windows)
    if abs(glrm_loss - held_loss) > 1e-4:
        raise SystemExit(f"the saved checkpoint scores {glrm_loss:.6f} through glrm but {held_loss:.6f} in "
                         "training: train_logits and HyenaDNA.forward disagree")
    summary = {
        "held_out_loss_nats_per_base": round(glrm_loss, 4),
        "initial_held_out_loss": round(init_loss, 4),
        "uniform_baseline": round(UNIFORM, 4),
        "held_out_bits_per_base": round(glrm_loss / math.log(2), 4),
        "held_out_bases": int(sum((w[1:] != N).sum() for w in windows.numpy())),
        "train_seconds": round(train_seconds, 1),
        "steps": a.steps, "batch": a.batch, "length": a.length, "lr": a.lr, "seed": a.seed,
        "parameters": n_params, "format": loaded.info.format,
        "weights_bytes": (a.out / "model.safetensors").stat().st_size,
    }
    print(f"held-out loss {glrm_loss:.4f} nats/base (untrained {init_loss:.4f}; uniform baseline "
          f"log 4 = {UNIFORM:.4f}); checkpoint {a.out} ({loaded.info.format}, "
          f"{summary['weights_bytes']:,} bytes)", file=sys.stderr)
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
