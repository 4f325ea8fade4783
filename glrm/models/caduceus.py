"""Caduceus (ph and ps) in glrm's own PyTorch: BiMamba mixer, RCPS wrappers, blocks, masked-LM head.

Checkpoint format: Hugging Face `CaduceusForMaskedLM` (`caduceus.backbone.*`, `lm_head.*`), built by
`build_caduceus`. Behaviour follows the official modeling_caduceus.py / modeling_rcps.py, quirks included:

* rcps with fused_add_norm=true: each block feeds the *second* channel half (the rc stream, stored flipped)
  through the add+norm of the forward stream and the flipped first half through the rc stream, so residual
  halves come out swapped; the final norm_f does not swap.
* rcps with fused_add_norm=false (RCPSAddNormWrapper): no swap; the rc half is flipped (length and channels),
  added, normed and flipped back. Both paths are exactly reverse-complement equivariant.
* rcps LM head: h[..., :D] @ W.T + flip_channels(h[..., D:]) @ W[complement_map].T.

Chunking (`chunk_size=N`): bidirectional layers cannot stream, so the model runs layer by layer; in a layer
the forward Mamba walks the sequence left to right and the reverse Mamba walks the flipped sequence (right to
left in the original order) in chunks of N, each carrying its exact conv and SSM state (see mamba.py). Memory
beyond the per-chunk temporaries is O(L * d_model) for the layer activations.

`info.max_length`: Caduceus config.json has no trained length; it is left 0 here and the loader fills it from
the registry or the checkpoint name (e.g. `caduceus-ph_seqlen-131k...` -> 131072).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from glrm.errors import InputError
from glrm.models.base import GenomicLM, ModelOutput, load_strict, scratch, with_defaults
from glrm.models.info import ModelInfo
from glrm.models.mamba import (
    MambaMixer,
    _wide,
    check_ids,
    make_norm,
    make_sink,
    pad_vocab,
    run_stack,
)
from glrm.models.scan import scan_threads

# Layer-wide buffers (in_proj output and the summed scan output, B * L * 3 * d_inner float32) a chunked
# Caduceus forward may hold to run the tied projections once for both directions (BiMamba._run_shared);
# above it, each direction runs its own projections chunk by chunk. Unchunked forwards always share.
SHARED_PROJ_BYTES = 1 << 30


class BiMamba(nn.Module):
    """Caduceus BiMambaWrapper: forward Mamba + Mamba on the flipped sequence, combined by add / multiply."""

    def __init__(self, d_model: int, ssm_cfg: dict, bidirectional: bool, strategy: str, weight_tie: bool):
        super().__init__()
        if bidirectional and strategy not in ("add", "ew_multiply"):
            raise ValueError(f"bidirectional_strategy {strategy!r}")
        self.bidirectional, self.strategy = bidirectional, strategy
        self.mamba_fwd = MambaMixer(d_model, **ssm_cfg)
        if bidirectional:
            self.mamba_rev = MambaMixer(d_model, **ssm_cfg)
            if weight_tie:  # the official code ties in/out projections (weight and bias)
                self.mamba_rev.in_proj = self.mamba_fwd.in_proj
                self.mamba_rev.out_proj = self.mamba_fwd.out_proj

    def run(self, src, shape, chunk_size, out, channels=slice(None), flip_c=False, flipped=False, work=None):
        """Forward Mamba sweeps left to right, reverse Mamba right to left (`flipped` swaps the two, for the
        rc stream); outputs are combined in place in out[..., channels]. `work`: the dict the layers of one
        forward share their layer-wide buffers through (glrm.models.base.scratch), or None."""
        if self.shares_projections(shape, chunk_size):
            return self._run_shared(src, shape, chunk_size, out, channels, flip_c, flipped, work)
        sink = make_sink(out, "set", channels, flip_c)
        self.mamba_fwd.run(src, shape, chunk_size, reverse=flipped, sink=sink)
        if self.bidirectional:
            mode = "add" if self.strategy == "add" else "mul"
            self.mamba_rev.run(src, shape, chunk_size, reverse=not flipped,
                               sink=make_sink(out, mode, channels, flip_c))

    def shares_projections(self, shape, chunk_size) -> bool:
        """Whether the layer runs the tied projections once for both directions (`_run_shared`): tied
        in/out projections, the "add" strategy, and either no chunking or layer-wide buffers
        (B * L * 3 * d_inner floats) within SHARED_PROJ_BYTES."""
        if not (self.bidirectional and self.strategy == "add"
                and self.mamba_rev.in_proj is self.mamba_fwd.in_proj
                and self.mamba_rev.out_proj is self.mamba_fwd.out_proj):
            return False
        bsz, L = shape
        if not chunk_size or chunk_size >= L:
            return True
        return bsz * L * 3 * self.mamba_fwd.d_inner * 4 <= SHARED_PROJ_BYTES

    def _run_shared(self, src, shape, chunk_size, out, channels, flip_c, flipped, work=None):
        """Both directions with one in_proj and one out_proj (exact, weight tie): in_proj is position-wise,
        so the reverse direction's in_proj(flip(x)) is flip(in_proj(x)), the same (B, L, 2E) tensor read
        right to left; and with the "add" strategy, out_proj(g y_f) + out_proj(g y_r) = out_proj(g (y_f +
        y_r)) + bias (g = silu(z), the same z for both directions). So: in_proj over the layer, forward
        sweep writing y_f, reverse sweep adding y_r and gating, out_proj once.

        The layer-wide xz and y come from `work` when given (the same two buffers for every layer and both
        rcps streams of one forward: above glibc's mmap threshold each fresh one costs a page fault per
        4 KiB). Nothing written to `out` aliases them, and every position of each is written before it is
        read."""
        fwd, rev = self.mamba_fwd, self.mamba_rev
        first, second = (rev, fwd) if flipped else (fwd, rev)  # first sweeps left to right
        bsz, L = shape
        e_in = fwd.d_inner
        # the layer-wide buffers make chunk spans moot here: every pass runs in cache-sized blocks
        blocks = fwd.sweep_blocks([(0, L)]) if L else []
        w_in, w_out, b_out = fwd.in_proj.weight, fwd.out_proj.weight, fwd.out_proj.bias
        cdt = _wide(out.dtype)
        xz, _ = scratch(work, "bimamba.xz", (bsz, L, 2 * e_in), cdt, out.device)  # (B, L, 2E)
        for s, e in blocks:
            _linear_into(xz[:, s:e], src(s, e).to(w_in.dtype), w_in, fwd.in_proj.bias)
        u, z = xz.split(e_in, dim=-1)  # (B, L, E) each
        y, _ = scratch(work, "bimamba.y", (bsz, L, e_in), cdt, out.device)  # (B, L, E)
        conv = ssm = None
        for s, e in blocks:
            conv, ssm = first.ssm_(u[:, s:e], conv, ssm, y[:, s:e])
        conv = ssm = None
        for s, e in reversed(blocks):
            conv, ssm = second.ssm_(u[:, s:e], conv, ssm, y[:, s:e], reverse=True, accumulate=True,
                                    gate=z[:, s:e])
        del xz, u, z
        sink = make_sink(out, "set", channels, flip_c)
        for s, e in blocks:
            o = fwd.out_proj(y[:, s:e].to(w_out.dtype))  # (B, l, D)
            if b_out is not None:
                o += b_out  # the bias of each direction's out_proj
            sink(s, e, o.to(out.dtype))

    def forward(self, x: torch.Tensor, chunk_size: int | None = None) -> torch.Tensor:
        out = torch.empty_like(x)  # (B, L, D)
        self.run(lambda s, e: x[:, s:e], x.shape[:2], chunk_size, out)
        return out


def _linear_into(dst, x, weight, bias):
    """dst (B, l, N) <- x @ weight.T + bias, written in place when dst is contiguous (no temporary)."""
    if dst.is_contiguous() and dst.dtype == x.dtype:
        torch.matmul(x, weight.t(), out=dst)
        if bias is not None:
            dst += bias
    else:
        dst.copy_(F.linear(x, weight, bias))


class RCPSMixer(nn.Module):
    """RCPSWrapper around BiMamba: first half as is, second half reverse-complemented through the same
    mixer and reverse-complemented back. (B, L, 2D) -> (B, L, 2D)."""

    def __init__(self, submodule: BiMamba):
        super().__init__()
        self.submodule = submodule

    def run(self, src, shape, chunk_size, out, work=None):
        d = out.shape[-1] // 2
        self.submodule.run(lambda s, e: src(s, e)[..., :d], shape, chunk_size, out, slice(0, d), work=work)
        # rc stream: the reverse complement of the second half, i.e. channel-flipped and swept right to left
        self.submodule.run(lambda s, e: src(s, e)[..., d:].flip(-1), shape, chunk_size, out, slice(d, None),
                           flip_c=True, flipped=True, work=work)


class RCPSNorm(nn.Module):
    """RCPSAddNormWrapper (unfused rcps path): holds the norm under `submodule`; see `rcps_normalize`."""

    def __init__(self, norm: nn.Module):
        super().__init__()
        self.submodule = norm


def rcps_normalize(norm: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The rcps add+norm output for residual chunk x (B, l, 2D): norm the first half, and the second half
    reverse-complemented, normed and reverse-complemented back (position-wise, so only channels flip)."""
    d = x.shape[-1] // 2
    return torch.cat([norm(x[..., :d]), norm(x[..., d:].flip(-1)).flip(-1)], dim=-1)


class CaduceusBlock(nn.Module):
    def __init__(self, d_model, ssm_cfg, cfg):
        super().__init__()
        self.rcps, self.fused = cfg["rcps"], cfg["fused_add_norm"]
        self.residual_in_fp32 = cfg["residual_in_fp32"]
        mixer = BiMamba(d_model, ssm_cfg, cfg["bidirectional"], cfg["bidirectional_strategy"],
                        cfg["bidirectional_weight_tie"])
        self.mixer = RCPSMixer(mixer) if self.rcps else mixer
        norm = make_norm(d_model, cfg["rms_norm"], cfg["norm_epsilon"])
        self.norm = RCPSNorm(norm) if self.rcps and not self.fused else norm

    def normalize(self, x):
        if not self.rcps:
            return self.norm(x)
        return rcps_normalize(self.norm if self.fused else self.norm.submodule, x)


class RCPSEmbedding(nn.Module):
    def __init__(self, vocab: int, d_model: int, complement_map: torch.Tensor):
        super().__init__()
        self.embedding = nn.Embedding(vocab, d_model)
        self.register_buffer("complement_map", complement_map.clone())

    def forward(self, ids):
        # official: cat(emb(ids), rc(emb(revcomp(ids)))); the two length flips cancel position by position
        comp = self.embedding(self.complement_map[ids]).flip(-1)  # (B, L, D)
        return torch.cat([self.embedding(ids), comp], dim=-1)  # (B, L, 2D)


class Embeddings(nn.Module):
    def __init__(self, vocab, d_model, rcps, complement_map):
        super().__init__()
        self.word_embeddings = (RCPSEmbedding(vocab, d_model, complement_map) if rcps
                                else nn.Embedding(vocab, d_model))


class Backbone(nn.Module):
    def __init__(self, cfg, vocab, complement_map):
        super().__init__()
        d = cfg["d_model"]
        self.embeddings = Embeddings(vocab, d, cfg["rcps"], complement_map)
        self.layers = nn.ModuleList(CaduceusBlock(d, cfg["ssm_cfg"], cfg) for _ in range(cfg["n_layer"]))
        norm_f = make_norm(d, cfg["rms_norm"], cfg["norm_epsilon"])
        self.norm_f = RCPSNorm(norm_f) if cfg["rcps"] and not cfg["fused_add_norm"] else norm_f


class RCPSLMHead(nn.Module):
    def __init__(self, d_model, vocab, complement_map):
        super().__init__()
        self.lm_head = nn.Linear(d_model, vocab, bias=False)
        self.register_buffer("complement_map", complement_map.clone())

    def forward(self, h):
        d = h.shape[-1] // 2
        w = self.lm_head.weight
        return F.linear(h[..., :d], w) + F.linear(h[..., d:].flip(-1), w[self.complement_map])


class _Holder(nn.Module):
    def __init__(self, backbone):
        super().__init__()
        self.backbone = backbone


class Caduceus(GenomicLM):
    """CaduceusForMaskedLM: masked LM (logits at t are for token t); H = 2*d_model with rcps."""

    def __init__(self, cfg: dict, vocab: int, complement_map: torch.Tensor):
        super().__init__(ModelInfo(family="caduceus", kind="masked", rc_equivariant=bool(cfg["rcps"]),
                                   name=type(self).__name__))
        self.cfg = cfg
        self.rcps = bool(cfg["rcps"])
        self.caduceus = _Holder(Backbone(cfg, vocab, complement_map))
        emb = self.caduceus.backbone.embeddings.word_embeddings
        if cfg["rcps"]:
            self.lm_head = RCPSLMHead(cfg["d_model"], vocab, complement_map)
            self.lm_head.lm_head.weight = emb.embedding.weight
        else:
            self.lm_head = nn.Linear(cfg["d_model"], vocab, bias=False)
            self.lm_head.weight = emb.weight

    def forward(self, input_ids: torch.Tensor, chunk_size: int | None = None) -> ModelOutput:
        h, _ = self._run(input_ids, chunk_size, collect=False)
        w = self.caduceus.backbone.embeddings.word_embeddings
        logits = self.lm_head(h.to((w.embedding if self.rcps else w).weight.dtype))
        return ModelOutput(logits=logits.to(_wide(h.dtype)), hidden_states=h)

    def hidden_states_list(self, input_ids, chunk_size=None) -> list[torch.Tensor]:
        """Official output_hidden_states: the tensor entering each layer (embedding output, then each
        layer's mixer output), plus the final-norm output when fused_add_norm is true."""
        return self._run(input_ids, chunk_size, collect=True)[1]

    def _run(self, input_ids, chunk_size, collect):
        bb = self.caduceus.backbone
        emb = bb.embeddings.word_embeddings
        check_ids(input_ids, (emb.embedding if self.rcps else emb).num_embeddings)
        h = emb(input_ids)  # (B, L, H)
        layers, cfg = bb.layers, self.cfg
        work: dict = {}  # layer-wide buffers the layers of this forward share (BiMamba._run_shared)

        def mix(i, src, out):
            layers[i].mixer.run(src, h.shape[:2], chunk_size, out, work=work)
            if i == len(layers) - 1:
                work.clear()  # the final norm and the head need none of it: free it before they allocate

        def normalize(i, x):
            if i < len(layers):
                return layers[i].normalize(x)
            if not self.rcps:
                return bb.norm_f(x)
            return rcps_normalize(bb.norm_f if cfg["fused_add_norm"] else bb.norm_f.submodule, x)

        # the official fused rcps block swaps the residual halves; the final norm_f does not
        swap = self.rcps and cfg["fused_add_norm"]
        with scan_threads():
            h, hidden = run_stack(h, len(layers), mix, normalize, swap=swap, chunk_size=chunk_size,
                                  residual_in_fp32=cfg["residual_in_fp32"], collect=collect)
        if collect and cfg["fused_add_norm"]:
            hidden.append(h)
        return h, hidden


# The official CaduceusConfig's defaults, for the keys a config.json may lack (a warning names them).
# d_model, n_layer and vocab_size have defaults there too (2560, 64, 50277) but shape every weight: glrm
# requires them.
DEFAULTS = dict(rcps=False, fused_add_norm=True, residual_in_fp32=True, rms_norm=True, norm_epsilon=1e-5,
                bidirectional=True, bidirectional_strategy="add", bidirectional_weight_tie=True,
                pad_vocab_size_multiple=8, complement_map=None, ssm_cfg=None)


def caduceus_config(config: dict, source: str) -> tuple[dict, int, torch.Tensor]:
    """Normalised config, padded vocab size and complement map (identity beyond the given entries)."""
    for k in ("d_model", "n_layer", "vocab_size"):
        if k not in config:
            raise InputError(f"{source}: config.json lacks {k!r}; is it a Caduceus config.json?")
    full = with_defaults(config, DEFAULTS, "CaduceusConfig", source)
    cfg = {k: full[k] for k in DEFAULTS}
    for k in ("d_model", "n_layer", "vocab_size"):
        cfg[k] = int(config[k])
    cfg["ssm_cfg"] = dict(cfg["ssm_cfg"] or {})
    if cfg["bidirectional"] and (cfg["bidirectional_strategy"] or "add") not in ("add", "ew_multiply"):
        raise InputError(f"{source}: bidirectional_strategy {cfg['bidirectional_strategy']!r} is not one of "
                         "'add', 'ew_multiply' (the only ones the official code implements)")
    cfg["bidirectional_strategy"] = cfg["bidirectional_strategy"] or "add"
    vocab = pad_vocab(cfg["vocab_size"], int(cfg["pad_vocab_size_multiple"] or 0))
    cmap = list(range(vocab))
    for k, v in (cfg["complement_map"] or {}).items():
        if int(k) < vocab:
            cmap[int(k)] = int(v)
    if cfg["rcps"] and not cfg["complement_map"]:
        raise InputError(f"{source}: rcps is true but config.json has no complement_map")
    return cfg, vocab, torch.tensor(cmap, dtype=torch.long)


def build_caduceus(config: dict, state: dict[str, torch.Tensor], source: str) -> Caduceus:
    """A Caduceus from HF config.json and state dict; fills the tied tensors safetensors leaves out.

    Keys are CaduceusForMaskedLM's (`caduceus.backbone.*`, `lm_head.*`) or, for a checkpoint saved from the
    base model, `backbone.*` alone (the head is tied to the embeddings either way)."""
    cfg, vocab, cmap = caduceus_config(config, source)
    model = Caduceus(cfg, vocab, cmap)
    state = dict(state)
    if not any(k.startswith("caduceus.") for k in state) and any(k.startswith("backbone.") for k in state):
        # saved from the base model `Caduceus` (config.json architectures ["Caduceus"], as PlantCaduceus):
        # transformers puts the base_model_prefix "caduceus." in front when CaduceusForMaskedLM loads it
        state = {"caduceus." + k: v for k, v in state.items()}
    if cfg["rcps"]:  # int64 buffers the official modules build from config.json's complement_map
        own = model.state_dict()
        for key in ("caduceus.backbone.embeddings.word_embeddings.complement_map", "lm_head.complement_map"):
            state.setdefault(key, own[key])
    pre = "caduceus.backbone."
    emb_key = pre + ("embeddings.word_embeddings.embedding.weight" if cfg["rcps"]
                     else "embeddings.word_embeddings.weight")
    head_key = "lm_head.lm_head.weight" if cfg["rcps"] else "lm_head.weight"
    if head_key not in state and emb_key in state:
        state[head_key] = state[emb_key]
    if cfg["bidirectional"] and cfg["bidirectional_weight_tie"]:
        mix = "mixer.submodule." if cfg["rcps"] else "mixer."
        for i in range(cfg["n_layer"]):
            for name in ("in_proj.weight", "in_proj.bias", "out_proj.weight", "out_proj.bias"):
                fwd = f"{pre}layers.{i}.{mix}mamba_fwd.{name}"
                if fwd in state:  # tied: the reverse projections are the forward ones
                    state[f"{pre}layers.{i}.{mix}mamba_rev.{name}"] = state[fwd]
    load_strict(model, state, source)
    model.eval()
    return model
