"""Shared by bench_scan.py and bench_caduceus_1m.py: a random Caduceus in the official format, peak RSS."""

from __future__ import annotations

import resource

import torch

from glrm.models.caduceus import Caduceus, build_caduceus, caduceus_config

CMAP = {str(i): i for i in range(16)} | {"7": 10, "8": 9, "9": 8, "10": 7}


def random_caduceus(d_model: int, n_layer: int, rcps: bool = False, seed: int = 0) -> Caduceus:
    """Caduceus-ph/ps with official-style random weights (A = -(1..N) jittered, dt in [1e-3, 1e-1])."""
    cfg = dict(d_model=d_model, n_layer=n_layer, vocab_size=16, rcps=rcps, fused_add_norm=True, rms_norm=True,
               residual_in_fp32=False, bidirectional=True, bidirectional_strategy="add",
               bidirectional_weight_tie=True, complement_map=CMAP, pad_vocab_size_multiple=8,
               ssm_cfg=dict(d_state=16, d_conv=4, expand=2, dt_rank="auto", bias=False, conv_bias=True))
    c, vocab, cmap = caduceus_config(cfg, "bench")
    m = Caduceus(c, vocab, cmap)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in m.named_parameters():
            if name.endswith("A_log"):
                s4d = torch.log(torch.arange(1, p.shape[1] + 1).float()).expand_as(p)  # A = -(1..N)
                p.copy_(s4d + 0.1 * torch.randn(p.shape, generator=g))
            elif name.endswith("dt_proj.bias"):
                dt = torch.exp(torch.rand(p.shape, generator=g) * (torch.log(torch.tensor(0.1)) - torch.log(
                    torch.tensor(1e-3))) + torch.log(torch.tensor(1e-3)))
                p.copy_(dt + torch.log(-torch.expm1(-dt)))  # inverse softplus
            elif "norm" in name or name.endswith(".D"):
                p.fill_(1.0)
            else:
                p.copy_(torch.randn(p.shape, generator=g) * (0.5 if p.dim() == 1 else p.shape[-1] ** -0.5))
    return build_caduceus(cfg, m.state_dict(), "bench")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
