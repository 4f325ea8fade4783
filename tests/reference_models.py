"""Independent float64 reference forwards of Caduceus (ph, ps) and the Mamba LM (mamba_ssm and transformers
key names), written for the fixtures of tests/fixtures/README.md ("Made by glrm") and their tests.

Nothing here imports glrm's models. The code follows the official modules' structure, not glrm's:
whole-sequence tensors, explicit flips (the reverse Mamba runs on the flipped sequence, the rc stream on
flipped channels and positions), and the selective scan as mamba_ssm's `selective_scan_ref`, one position at
a time. It reads the official key names from a plain state dict and computes everything in float64.

Checked against the outputs of the official code: `tests/test_reference_models.py` runs it on the
caduceus-ph-tiny, caduceus-ps-tiny and mamba-lm-tiny fixtures (made with the official implementations) and
compares with their `logits_f64`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _get(state: dict, key: str) -> torch.Tensor | None:
    t = state.get(key)
    return None if t is None else t.double()


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight


def norm(x: torch.Tensor, state: dict, prefix: str, eps: float) -> torch.Tensor:
    """RMSNorm, or LayerNorm when the state has a bias for it."""
    weight, bias = _get(state, prefix + "weight"), _get(state, prefix + "bias")
    if bias is None:
        return rms_norm(x, weight, eps)
    return F.layer_norm(x, x.shape[-1:], weight, bias, eps)


def add_norm(x, residual, state, prefix, eps):
    """mamba_ssm's fused add + norm with prenorm=True: (norm(x + residual), x + residual)."""
    residual = x if residual is None else x + residual
    return norm(residual, state, prefix, eps), residual


def mamba_mixer(state: dict, prefix: str, x: torch.Tensor, d_state: int, dt_rank: int,
                proj_prefix: str | None = None) -> torch.Tensor:
    """mamba_ssm `Mamba.forward` without the fused kernels: x (B, L, D) -> (B, L, D), float64.

    `proj_prefix`: where in_proj / out_proj live (Caduceus ties the reverse Mamba's to the forward one's)."""
    pp = proj_prefix or prefix
    bsz, length, _ = x.shape
    xz = F.linear(x, _get(state, pp + "in_proj.weight"), _get(state, pp + "in_proj.bias"))  # (B, L, 2E)
    xs, z = xz.chunk(2, dim=-1)
    conv_w = _get(state, prefix + "conv1d.weight")                                         # (E, 1, K)
    e, k = conv_w.shape[0], conv_w.shape[-1]
    u = F.conv1d(xs.transpose(1, 2), conv_w, _get(state, prefix + "conv1d.bias"), padding=k - 1, groups=e)
    u = F.silu(u[..., :length]).transpose(1, 2)                                             # (B, L, E)
    dbc = F.linear(u, _get(state, prefix + "x_proj.weight"))
    dt, b_mat, c_mat = torch.split(dbc, [dt_rank, d_state, d_state], dim=-1)
    dt_w, dt_b = _get(state, prefix + "dt_proj.weight"), _get(state, prefix + "dt_proj.bias")
    delta = F.softplus(F.linear(dt, dt_w, dt_b))
    a_mat = -torch.exp(_get(state, prefix + "A_log"))                                     # (E, N)
    h = x.new_zeros(bsz, e, d_state)
    ys = []
    for t in range(length):
        dlt = delta[:, t, :, None]                                                          # (B, E, 1)
        h = torch.exp(dlt * a_mat) * h + dlt * b_mat[:, t, None, :] * u[:, t, :, None]
        ys.append((h * c_mat[:, t, None, :]).sum(-1))                                       # (B, E)
    y = torch.stack(ys, dim=1) + u * _get(state, prefix + "D")
    y = y * F.silu(z)
    return F.linear(y, _get(state, pp + "out_proj.weight"), _get(state, pp + "out_proj.bias"))


def _ssm(config_ssm: dict, d_model: int) -> tuple[int, int]:
    d_state = int(config_ssm.get("d_state", 16))
    rank = config_ssm.get("dt_rank", "auto")
    return d_state, -(-d_model // 16) if rank == "auto" else int(rank)


def rc(x: torch.Tensor) -> torch.Tensor:
    """The official `rc`: flip positions and channels."""
    return torch.flip(x, dims=[-2, -1])


def caduceus(state: dict, config: dict, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """CaduceusForMaskedLM: ids (B, L) -> (logits (B, L, V), last hidden state (B, L, H)), float64.

    Keys with the `caduceus.` prefix or without it (a base `Caduceus` checkpoint); the LM head is tied to the
    embeddings. Fused add+norm only (every released checkpoint)."""
    if not config.get("fused_add_norm", True):
        raise NotImplementedError("the reference implements fused_add_norm=true only")
    pre = "caduceus.backbone." if any(k.startswith("caduceus.") for k in state) else "backbone."
    d_model, n_layer = int(config["d_model"]), int(config["n_layer"])
    eps = float(config.get("norm_epsilon", 1e-5))
    rcps = bool(config.get("rcps", False))
    d_state, dt_rank = _ssm(config.get("ssm_cfg") or {}, d_model)
    tie = config.get("bidirectional_weight_tie", True)
    emb_key = pre + "embeddings.word_embeddings." + ("embedding.weight" if rcps else "weight")
    w_emb = _get(state, emb_key)
    cmap = torch.arange(w_emb.shape[0])
    for key, value in (config.get("complement_map") or {}).items():
        cmap[int(key)] = int(value)
    if rcps:
        fwd = w_emb[ids]
        h = torch.cat([fwd, rc(w_emb[cmap[ids].flip(-1)])], dim=-1)   # embed(ids), rc(embed(revcomp(ids)))
    else:
        h = w_emb[ids]

    def bimamba(x, mp):
        out = mamba_mixer(state, mp + "mamba_fwd.", x, d_state, dt_rank)
        if config.get("bidirectional", True):
            rev = mamba_mixer(state, mp + "mamba_rev.", x.flip(1), d_state, dt_rank,
                              proj_prefix=mp + "mamba_fwd." if tie else None).flip(1)
            out = out + rev if config.get("bidirectional_strategy", "add") == "add" else out * rev
        return out

    residual = None
    for i in range(n_layer):
        lp = f"{pre}layers.{i}."
        if rcps:   # the official fused rcps block: the second half feeds the forward add+norm (halves swap)
            half = h.shape[-1] // 2
            h_f, r_f = add_norm(h[..., half:], None if residual is None else residual[..., half:], state,
                                lp + "norm.", eps)
            h_r, r_r = add_norm(rc(h[..., :half]), None if residual is None else rc(residual[..., :half]),
                                state, lp + "norm.", eps)
            h, residual = torch.cat([h_f, rc(h_r)], -1), torch.cat([r_f, rc(r_r)], -1)
            mp = lp + "mixer.submodule."
            h = torch.cat([bimamba(h[..., :half], mp), rc(bimamba(rc(h[..., half:]), mp))], dim=-1)
        else:
            h, residual = add_norm(h, residual, state, lp + "norm.", eps)
            h = bimamba(h, lp + "mixer.")
    if rcps:   # the final norm does not swap
        half = h.shape[-1] // 2
        x = h + residual
        h = torch.cat([norm(x[..., :half], state, pre + "norm_f.", eps),
                       rc(norm(rc(x[..., half:]), state, pre + "norm_f.", eps))], dim=-1)
        logits = F.linear(h[..., :half], w_emb) + F.linear(h[..., half:].flip(-1), w_emb[cmap])
    else:
        h = norm(h + residual, state, pre + "norm_f.", eps)
        logits = F.linear(h, w_emb)
    return logits, h


def mamba_lm(state: dict, ids: torch.Tensor, *, n_layer: int, d_state: int, dt_rank: int,
             eps: float = 1e-5) -> tuple[torch.Tensor, torch.Tensor]:
    """mamba_ssm MambaLMHeadModel or transformers MambaForCausalLM (both key layouts): ids (B, L) ->
    (logits (B, L, V), last hidden state (B, L, D)), float64; the head is tied when the state has none."""
    hf = "backbone.embeddings.weight" in state   # transformers' name; mamba_ssm's is backbone.embedding
    emb_key = "backbone.embeddings.weight" if hf else "backbone.embedding.weight"
    w_emb = _get(state, emb_key)
    h, residual = w_emb[ids], None
    for i in range(n_layer):
        lp = f"backbone.layers.{i}."
        h, residual = add_norm(h, residual, state, lp + "norm.", eps)
        h = mamba_mixer(state, lp + "mixer.", h, d_state, dt_rank)
    h = norm(h + residual, state, "backbone.norm_f.", eps)
    head = _get(state, "lm_head.weight")
    return F.linear(h, w_emb if head is None else head), h
