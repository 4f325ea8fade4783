"""Mamba-1 in glrm's own PyTorch: the mixer (shared with Caduceus), the pre-norm block, and the Mamba LM.

Checkpoint formats, both built by `build_mamba_lm` into the same MambaLM:
- mamba_ssm `MambaLMHeadModel.save_pretrained` (`backbone.*`, `lm_head.weight` tied to
  `backbone.embedding.weight`; config.json is a mamba_ssm MambaConfig);
- Hugging Face transformers `MambaForCausalLM` (config.json `model_type` "mamba": hidden_size,
  num_hidden_layers, state_size, ...; keys as mamba_ssm's except `backbone.embeddings.weight`). Its mixer,
  norms and residual stream compute what mamba_ssm's do (transformers' slow path is a pure-PyTorch copy of
  `selective_scan_ref`), so it is a mapping of names, not a second model: `hf_mamba_config` and `HF_KEYS`.

Chunking (`chunk_size=N`): the model runs layer by layer; each mixer walks its input in chunks of N positions,
and everything position-wise (in_proj, conv, x_proj, dt_proj, gate, out_proj) is done per chunk, so the
2*d_inner in_proj output and the (d_inner, d_state) scan temporaries exist for one chunk only. Between chunks
the mixer carries its exact state: the conv state (the last d_conv-1 conv inputs) and the SSM state
(B, d_inner, d_state). Only (B, L, d_model) layer activations (hidden and residual streams) span the sequence.
The same carried state is exposed for causal prefix reuse: `MambaLM.forward_stateful(ids, state)` continues a
sequence from a `MambaState` returned by an earlier call.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

import glrm.models.cpu_kernels as cpu_kernels
from glrm.errors import InputError
from glrm.models.base import GenomicLM, ModelOutput, load_strict, with_defaults
from glrm.models.info import ModelInfo
from glrm.models.scan import causal_conv_silu, scan, scan_threads, use_cpu_kernel


def _wide(dtype: torch.dtype) -> torch.dtype:
    """float32, or float64 when the model runs in float64 (the official code's float32 islands)."""
    return torch.promote_types(dtype, torch.float32)


# --- norms --------------------------------------------------------------------------------------


_FUSED_RMS_NORM = hasattr(F, "rms_norm")


class RMSNorm(nn.Module):
    def __init__(self, d: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xf = x.to(_wide(x.dtype))
        w = self.weight.to(xf.dtype)
        if _FUSED_RMS_NORM:   # torch >= 2.4: one pass, the same values (bit for bit in float32 here)
            return F.rms_norm(xf, (xf.shape[-1],), w, self.eps).to(x.dtype)
        y = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps) * w
        return y.to(x.dtype)


class LayerNorm(nn.Module):
    def __init__(self, d: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))
        self.bias = nn.Parameter(torch.zeros(d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xf = x.to(_wide(x.dtype))
        y = F.layer_norm(xf, xf.shape[-1:], self.weight.to(xf.dtype), self.bias.to(xf.dtype), self.eps)
        return y.to(x.dtype)


def make_norm(d: int, rms_norm: bool, eps: float) -> nn.Module:
    return RMSNorm(d, eps) if rms_norm else LayerNorm(d, eps)


def run_stack(h, n_layer, mix, normalize, *, swap=False, residual_in_fp32=False, chunk_size=None,
              collect=False):
    """Mamba's pre-norm residual stack, position-wise work done chunk by chunk and in place.

    Per layer: residual R = h + R (R = h at the first layer; halves swapped when `swap`, the official rcps
    fused block), then `mix(i, src, out)` runs layer i's mixer reading normalised chunks `src(s, e)` =
    normalize(i, R[:, s:e]) and writing (B, L, H) into `out`; finally normalize(n_layer, R + h). Fused and
    unfused official add+norm compute the same values. Only h/out and R span the sequence: no normalised copy
    is stored, and the previous hidden tensor is reused as the next output buffer.

    Returns (final normalised hidden (B, L, H), list of the tensors entering each layer when `collect`).
    """
    bsz, L, H = h.shape
    step = chunk_size if chunk_size and chunk_size < L else max(L, 1)
    spans = [(s, min(L, s + step)) for s in range(0, L, step)]
    half = H // 2
    hidden, R, dtype = [], None, h.dtype
    for i in range(n_layer):
        if collect:
            hidden.append(h.clone())
        if R is None:
            R = h.to(_wide(h.dtype)) if residual_in_fp32 else h  # may alias h
            out = torch.empty_like(h)  # (B, L, H)
        else:
            for s, e in spans:
                R[:, s:e] += h[:, s:e]
            out = h if not collect else torch.empty_like(h)
        if swap:
            for s, e in spans:
                tmp = R[:, s:e, :half].clone()
                R[:, s:e, :half] = R[:, s:e, half:]
                R[:, s:e, half:] = tmp
        mix(i, lambda s, e, i=i, R=R: normalize(i, R[:, s:e]).to(dtype), out)
        h = out
    final = h if not collect or R is None else torch.empty_like(h)
    for s, e in spans:
        x = h[:, s:e] if R is None else R[:, s:e] + h[:, s:e]
        final[:, s:e] = normalize(n_layer, x).to(h.dtype)
    return final, hidden


def make_sink(out, mode="set", channels=slice(None), flip_c=False):
    """Where a mixer writes chunk outputs: out[:, s:e, channels] = / += / *= y (channel-flipped first)."""

    def sink(s, e, y):
        if flip_c:
            y = y.flip(-1)
        o = out[:, s:e, channels]
        if mode == "set":
            o.copy_(y)
        elif mode == "add":
            o.add_(y)
        else:
            o.mul_(y)

    return sink


# --- mixer --------------------------------------------------------------------------------------


# Positions per block of a kernel sweep: SWEEP_BLOCK_FLOATS / (2 d_inner) (512 for d_inner 512), at least
# SWEEP_BLOCK_MIN. Measured on the 2-core box (one thread, Caduceus d_model 256, 32k tokens): see
# docs/performance.md.
SWEEP_BLOCK_FLOATS = 1 << 19
SWEEP_BLOCK_MIN = 128


@dataclass
class MixerState:
    conv: torch.Tensor  # (B, d_conv-1, d_inner): the last conv inputs
    ssm: torch.Tensor   # (B, d_inner, d_state)


class MambaMixer(nn.Module):
    """mamba_ssm `Mamba` (v1): in_proj, causal depthwise conv + SiLU, selective scan, gate, out_proj."""

    def __init__(self, d_model: int, d_state: int = 16, d_conv: int = 4, expand: int = 2,
                 dt_rank: int | str = "auto", conv_bias: bool = True, bias: bool = False, **_ignored):
        super().__init__()
        self.d_model, self.d_state, self.d_conv = d_model, d_state, d_conv
        self.d_inner = int(expand * d_model)
        self.dt_rank = math.ceil(d_model / 16) if dt_rank == "auto" else int(dt_rank)
        e = self.d_inner
        self.in_proj = nn.Linear(d_model, 2 * e, bias=bias)
        self.conv1d = nn.Conv1d(e, e, d_conv, groups=e, padding=d_conv - 1, bias=conv_bias)
        self.x_proj = nn.Linear(e, self.dt_rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(self.dt_rank, e, bias=True)
        self.A_log = nn.Parameter(torch.zeros(e, d_state))
        self.D = nn.Parameter(torch.ones(e))
        self.out_proj = nn.Linear(e, d_model, bias=bias)

    def run(self, src, shape, chunk_size=None, state=None, reverse=False, sink=None) -> MixerState:
        """Stream the sequence through the mixer in chunks, carrying the exact conv and SSM state.

        src(s, e) -> (B, e-s, d_model) input chunk; sink(s, e, y) takes the (B, e-s, d_model) output.
        `reverse` sweeps right to left (the mixer sees the flipped sequence). Returns the final state.
        """
        bsz, L = shape
        step = chunk_size if chunk_size and chunk_size < L else max(L, 1)
        spans = self.sweep_blocks([(s, min(L, s + step)) for s in range(0, L, step)])
        conv_state = None if state is None else state.conv
        ssm_state = None if state is None else state.ssm
        for s, e in reversed(spans) if reverse else spans:
            y, conv_state, ssm_state = self._chunk(src(s, e), conv_state, ssm_state, reverse)
            sink(s, e, y)
        dt = _wide(self.out_proj.weight.dtype)
        dev = self.A_log.device
        if conv_state is None:
            conv_state = torch.zeros(bsz, self.d_conv - 1, self.d_inner, dtype=dt, device=dev)
        if ssm_state is None:
            ssm_state = torch.zeros(bsz, self.d_inner, self.d_state, dtype=dt, device=dev)
        return MixerState(conv_state, ssm_state)

    def sweep_blocks(self, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """With the CPU kernels, the chunks cut into cache-sized blocks (SWEEP_BLOCK_FLOATS per block's
        widest intermediate): the carried state makes any cut exact, and the kernel scan is sequential, so its
        results do not depend on the cut; small blocks keep in_proj's output, the conv and the scan inputs in
        the L2 cache and in reused heap memory (whole-chunk temporaries cost a page fault per 4 KiB on every
        call). The pure-PyTorch scan keeps the chunks (it is faster on long segments)."""
        w = self.in_proj.weight
        if not (w.device.type == "cpu" and _wide(w.dtype) == torch.float32
                and self.d_state <= cpu_kernels.NMAX and cpu_kernels.available()):
            return spans
        p = max(SWEEP_BLOCK_MIN, SWEEP_BLOCK_FLOATS // (2 * self.d_inner))
        return [(s, min(b, s + p)) for a, b in spans for s in range(a, b, p)]

    def forward(self, x: torch.Tensor, chunk_size: int | None = None, state: MixerState | None = None,
                reverse: bool = False) -> tuple[torch.Tensor, MixerState]:
        """x (B, L, d_model) -> (out (B, L, d_model), state after the last position swept)."""
        out = x.new_empty(x.shape[0], x.shape[1], self.out_proj.out_features)  # (B, L, D)
        st = self.run(lambda s, e: x[:, s:e], x.shape[:2], chunk_size, state, reverse, make_sink(out))
        return out, st

    def _chunk(self, x, conv_state, ssm_state, reverse=False):
        """One chunk x (B, l, d_model), swept left to right (right to left when `reverse`, as if x were
        flipped); returns (out (B, l, d_model) in x's position order, conv state, SSM state)."""
        cdt = _wide(x.dtype)  # scan, conv and states stay at least float32
        xz = self.in_proj(x.to(self.in_proj.weight.dtype)).to(cdt)  # (B, l, 2E)
        u, z = xz.split(self.d_inner, dim=-1)  # (B, l, E) each
        y = u.new_empty(u.shape)  # (B, l, E)
        conv_state, ssm_state = self.ssm_(u, conv_state, ssm_state, y, reverse, gate=z)
        return self.out_proj(y.to(self.out_proj.weight.dtype)).to(x.dtype), conv_state, ssm_state

    def ssm_(self, u, conv_state, ssm_state, y, reverse=False, accumulate=False, gate=None):
        """The mixer between in_proj and the gate for one chunk: causal conv + SiLU, x_proj, dt_proj,
        softplus, selective scan with D. u (B, l, E) is the in_proj half, in position order; the sweep runs
        left to right, or right to left when `reverse` (the mixer then sees the flipped sequence). Writes
        the scan output (B, l, E), in position order, into y: y = ((y if `accumulate`) + scan) * silu(gate)
        (no gate: not gated); returns the conv and SSM states after the chunk, in sweep order (what `run`
        carries to the next chunk). The CPU kernels fuse softplus, D, the accumulation and the gate."""
        A = -torch.exp(self.A_log.to(u.dtype))  # (E, N)
        if use_cpu_kernel(u, self.d_state):  # no flipped copies: the kernels sweep either way
            k = self.d_conv
            uc = cpu_kernels.conv_silu(u, self.conv1d.weight.float(), None if self.conv1d.bias is None
                                       else self.conv1d.bias.float(), conv_state, reverse=reverse)
            new_conv = _conv_tail(u, conv_state, k, reverse)
            dt, Bm, Cm = self._dbc(uc, softplus=False)
            h = (u.new_zeros(u.shape[0], self.d_inner, self.d_state) if ssm_state is None
                 else ssm_state.to(u.dtype).clone(memory_format=torch.contiguous_format))
            cpu_kernels.scan(uc, dt, A, Bm, Cm, self.D.to(u.dtype), h, y, z=gate, reverse=reverse,
                             accumulate=accumulate, softplus=True)
            return new_conv, h
        us = u.flip(1) if reverse else u
        uc, conv_state = causal_conv_silu(us, self.conv1d.weight, self.conv1d.bias, conv_state)
        delta, Bm, Cm = self._dbc(uc)
        ys, ssm_state = scan(uc, delta, A, Bm, Cm, self.D.to(u.dtype), ssm_state)  # (B, l, E)
        if reverse:
            ys = ys.flip(1)
        if accumulate:
            y.add_(ys)
        else:
            y.copy_(ys)
        if gate is not None:
            y.mul_(F.silu(gate))
        return conv_state, ssm_state

    def _dbc(self, uc, softplus=True):
        """x_proj and dt_proj of the conv output uc (B, l, E): delta (B, l, E) (after softplus unless
        `softplus` is False), B, C (B, l, N)."""
        cdt = uc.dtype
        dbc = self.x_proj(uc.to(self.x_proj.weight.dtype)).to(cdt)  # (B, l, R + 2N)
        dt, Bm, Cm = dbc.split([self.dt_rank, self.d_state, self.d_state], dim=-1)
        delta = self.dt_proj(dt.to(self.dt_proj.weight.dtype)).to(cdt)  # (B, l, E)
        return (F.softplus(delta) if softplus else delta), Bm, Cm


def _conv_tail(u, state, k, reverse):
    """The conv state after chunk u (B, l, E): its last k-1 inputs in sweep order, preceded by the old
    `state` (B, k-1, E) when the chunk is shorter (None: zeros); as causal_conv returns it."""
    b, l, e = u.shape
    if k <= 1:
        return u.new_zeros(b, 0, e)
    if l >= k - 1:
        tail = u[:, l - (k - 1):] if not reverse else u[:, : k - 1].flip(1)
        return tail.clone(memory_format=torch.contiguous_format)
    prev = u.new_zeros(b, k - 1, e) if state is None else state.to(u.dtype)
    return torch.cat([prev, u.flip(1) if reverse else u], dim=1)[:, -(k - 1):].clone()


# --- Mamba LM -----------------------------------------------------------------------------------


class MambaBlock(nn.Module):
    def __init__(self, d_model: int, ssm_cfg: dict, rms_norm: bool, eps: float):
        super().__init__()
        self.mixer = MambaMixer(d_model, **ssm_cfg)
        self.norm = make_norm(d_model, rms_norm, eps)


class MambaBackbone(nn.Module):
    def __init__(self, d_model, n_layer, vocab, ssm_cfg, rms_norm, eps):
        super().__init__()
        self.embedding = nn.Embedding(vocab, d_model)
        self.layers = nn.ModuleList(MambaBlock(d_model, ssm_cfg, rms_norm, eps) for _ in range(n_layer))
        self.norm_f = make_norm(d_model, rms_norm, eps)


MambaState = list  # list[MixerState], one per layer


class MambaLM(GenomicLM):
    """mamba_ssm MambaLMHeadModel: causal LM (logits at t predict token t+1).

    info.max_length stays 0: MambaConfig records no trained length; the loader fills it in (registry, folder
    name, else the default).
    """

    def __init__(self, d_model: int, n_layer: int, vocab_size: int, ssm_cfg: dict | None = None,
                 rms_norm: bool = True, residual_in_fp32: bool = False, fused_add_norm: bool = True,
                 tie_embeddings: bool = True, norm_epsilon: float = 1e-5):
        super().__init__(ModelInfo(family="mamba", kind="causal", name=type(self).__name__))
        self.residual_in_fp32 = residual_in_fp32
        self.fused_add_norm = fused_add_norm
        self.backbone = MambaBackbone(d_model, n_layer, vocab_size, ssm_cfg or {}, rms_norm, norm_epsilon)
        self.lm_head = nn.Linear(d_model, vocab_size, bias=False)
        if tie_embeddings:
            self.lm_head.weight = self.backbone.embedding.weight

    def forward(self, input_ids: torch.Tensor, chunk_size: int | None = None) -> ModelOutput:
        return self.forward_stateful(input_ids, None, chunk_size)[0]

    def forward_stateful(self, input_ids: torch.Tensor, state: MambaState | None = None,
                         chunk_size: int | None = None) -> tuple[ModelOutput, MambaState]:
        """Run `input_ids` as the continuation of the sequence whose carried state is `state` (None = start).

        Returns the outputs for these positions and the state after the last one (per layer conv + SSM
        state), so a causal prefix can be run once and reused: forward_stateful(prefix) then
        forward_stateful(suffix, state) equals forward(prefix + suffix) on the suffix positions.
        """
        h, _, new_state = self._run(input_ids, chunk_size, state, collect=False)
        return ModelOutput(logits=self.logits(h), hidden_states=h), new_state

    def hidden_states_list(self, input_ids, chunk_size=None) -> list[torch.Tensor]:
        """The official output_hidden_states convention: the tensor entering each layer (embedding output,
        then each layer's mixer output), plus the final-norm output when fused_add_norm is set."""
        return self._run(input_ids, chunk_size, None, collect=True)[1]

    def logits(self, h: torch.Tensor) -> torch.Tensor:
        w = self.lm_head.weight
        return F.linear(h.to(w.dtype), w).to(_wide(h.dtype))  # (B, L, V)

    def _run(self, input_ids, chunk_size, state, collect):
        check_ids(input_ids, self.backbone.embedding.num_embeddings)
        layers = self.backbone.layers
        h = self.backbone.embedding(input_ids)  # (B, L, D)
        new_state = []

        def mix(i, src, out):
            st = None if state is None else state[i]
            new_state.append(layers[i].mixer.run(src, h.shape[:2], chunk_size, st, sink=make_sink(out)))

        def normalize(i, x):
            return (layers[i].norm if i < len(layers) else self.backbone.norm_f)(x)

        with scan_threads():
            h, hidden = run_stack(h, len(layers), mix, normalize, residual_in_fp32=self.residual_in_fp32,
                                  chunk_size=chunk_size, collect=collect)
        if collect and self.fused_add_norm:
            hidden.append(h)
        return h, hidden, new_state


def check_ids(input_ids: torch.Tensor, vocab: int) -> None:
    if input_ids.dim() != 2 or input_ids.dtype != torch.long:
        raise InputError(f"input_ids must be a (B, L) int64 tensor, got {tuple(input_ids.shape)} "
                         f"{input_ids.dtype}; tokenize with glrm.models.tokenizer")
    if input_ids.numel() and (int(input_ids.min()) < 0 or int(input_ids.max()) >= vocab):
        raise InputError(f"token ids must lie in [0, {vocab}); got min {int(input_ids.min())} max "
                         f"{int(input_ids.max())}; tokenize with glrm.models.tokenizer")


def cast_for_inference(model: nn.Module, dtype: torch.dtype) -> nn.Module:
    """The bfloat16 / float16 option (a plain `model.to(dtype)` also works, and still computes scan, conv
    and states in float32, but rounds A_log, D, conv and norm weights to `dtype` first).

    Put the matmul weights (projections, embeddings, heads) in `dtype` (e.g. torch.bfloat16) while the
    scan parameters (A_log, D), the conv and the norms stay float32; scan, conv state and SSM state are
    computed in float32 whatever `dtype` is."""
    for m in model.modules():
        if isinstance(m, MambaMixer):
            for lin in (m.in_proj, m.x_proj, m.dt_proj, m.out_proj):
                lin.to(dtype)
        elif isinstance(m, nn.Embedding):
            m.to(dtype)
    for name in ("lm_head",):
        head = getattr(model, name, None)
        if head is not None:
            head.to(dtype)
    return model


def pad_vocab(vocab: int, multiple: int) -> int:
    return vocab if not multiple or vocab % multiple == 0 else vocab + multiple - vocab % multiple


# mamba_ssm MambaConfig's defaults for keys a config.json may lack (a warning names them). d_intermediate,
# attn_layer_idx and attn_cfg arrived with mamba_ssm 2 and mean "none" when absent (older writers): no
# warning.
MAMBA_SSM_DEFAULTS = dict(ssm_cfg={}, rms_norm=True, residual_in_fp32=True, fused_add_norm=True,
                          pad_vocab_size_multiple=8, tie_embeddings=True)
# transformers MambaConfig's defaults (hidden_size, num_hidden_layers and vocab_size shape the weights:
# required). The HF model embeds exactly vocab_size rows (no padding multiple).
HF_MAMBA_DEFAULTS = dict(state_size=16, expand=2, conv_kernel=4, use_bias=False, use_conv_bias=True,
                         hidden_act="silu", layer_norm_epsilon=1e-5, residual_in_fp32=True,
                         time_step_rank="auto", tie_word_embeddings=True)
HF_KEYS = {"backbone.embeddings.weight": "backbone.embedding.weight"}   # HF name -> mamba_ssm name


def hf_mamba_config(config: dict, source: str) -> dict:
    """A transformers MambaConfig (model_type "mamba") as the mamba_ssm MambaConfig `build_mamba_lm` reads."""
    missing = [k for k in ("hidden_size", "num_hidden_layers", "vocab_size") if k not in config]
    if missing:
        raise InputError(f"{source}: config.json lacks {', '.join(missing)}; is it a transformers "
                         "MambaConfig?")
    full = with_defaults(config, HF_MAMBA_DEFAULTS, "transformers MambaConfig", source)
    if full["hidden_act"] != "silu":
        raise InputError(f"{source}: hidden_act {full['hidden_act']!r} is not supported; glrm's Mamba mixer "
                         "uses SiLU (the value every released Mamba config has)")
    return dict(
        d_model=full["hidden_size"], n_layer=full["num_hidden_layers"], vocab_size=full["vocab_size"],
        pad_vocab_size_multiple=0, rms_norm=True, fused_add_norm=True,
        norm_epsilon=full["layer_norm_epsilon"], residual_in_fp32=full["residual_in_fp32"],
        tie_embeddings=full["tie_word_embeddings"],
        ssm_cfg=dict(d_state=full["state_size"], d_conv=full["conv_kernel"], expand=full["expand"],
                     dt_rank=full["time_step_rank"], conv_bias=full["use_conv_bias"], bias=full["use_bias"]))


def build_mamba_lm(config: dict, state: dict[str, torch.Tensor], source: str,
                   fmt: str = "mamba_ssm") -> MambaLM:
    """A MambaLM from `config.json` and a state dict: fmt "mamba_ssm" (MambaConfig.__dict__ and a mamba_ssm
    save_pretrained state dict) or "hf" (transformers MambaForCausalLM's config.json and weights)."""
    if fmt == "hf":
        config = hf_mamba_config(config, source)
        state = {HF_KEYS.get(k, k): v for k, v in state.items()}
    elif fmt == "mamba_ssm":
        config = with_defaults(config, MAMBA_SSM_DEFAULTS, "mamba_ssm MambaConfig", source)
    else:
        raise ValueError(f"unknown Mamba checkpoint format {fmt!r}; expected 'mamba_ssm' or 'hf'")
    if int(config.get("d_intermediate", 0) or 0) != 0:
        raise InputError(f"{source}: d_intermediate={config['d_intermediate']} (MLP layers, Mamba-2 style) "
                         "is not supported; glrm runs pure Mamba-1 stacks (d_intermediate 0)")
    if config.get("attn_layer_idx") or config.get("attn_cfg"):
        raise InputError(f"{source}: attention layers (attn_layer_idx/attn_cfg) are not supported; glrm runs "
                         "pure Mamba-1 stacks")
    ssm_cfg = dict(config.get("ssm_cfg") or {})
    if ssm_cfg.get("layer", "Mamba1") != "Mamba1":
        raise InputError(f"{source}: ssm_cfg.layer={ssm_cfg['layer']} is not supported; only Mamba1")
    try:
        vocab = pad_vocab(int(config["vocab_size"]), int(config.get("pad_vocab_size_multiple", 8)))
        tie = bool(config.get("tie_embeddings", True))
        model = MambaLM(
            d_model=int(config["d_model"]), n_layer=int(config["n_layer"]), vocab_size=vocab,
            ssm_cfg=ssm_cfg, rms_norm=bool(config.get("rms_norm", True)),
            residual_in_fp32=bool(config.get("residual_in_fp32", True)),
            fused_add_norm=bool(config.get("fused_add_norm", True)), tie_embeddings=tie,
            norm_epsilon=float(config.get("norm_epsilon", 1e-5)),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"{source}: config.json is not a MambaConfig ({type(exc).__name__}: {exc}); "
                         "expected d_model, n_layer, vocab_size, ssm_cfg") from None
    state = dict(state)
    if tie and "lm_head.weight" not in state and "backbone.embedding.weight" in state:
        state["lm_head.weight"] = state["backbone.embedding.weight"]
    load_strict(model, state, source)
    model.eval()
    return model
