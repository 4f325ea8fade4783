"""HyenaDNA causal DNA language model in plain PyTorch, loadable from both official checkpoint formats.

Architecture (read top to bottom in `HyenaDNA.forward` and `HyenaBlock.forward_`)::

    h = word_embeddings(ids)                                              # (B, L, D)
    for each block:
        u = in_proj(LayerNorm1(h))                                        # (B, L, (order+1) D)
        x0, x1, v = split(short causal depthwise conv k=3 of u)           # each (B, L, D)
        k = ImplicitFilter(z[:L]) * (exp(-t[:L] |deltas|) + 0.05)         # (L, D) long filter
        h = h + out_proj(x0 * (causal_conv(v * x1, k) + bias * (v * x1)))
        h = h + fc2(gelu_tanh(fc1(LayerNorm2(h))))
    hidden = ln_f(h);  logits = hidden @ lm_head.T                        # (B, L, V)

(For hyena_order > 2 the gate/convolution step repeats with x_{order-1} .. x1, as upstream.)

Module and parameter names follow the HF port (`hyena.` prefix stripped), so `state_dict()` keys are
upstream's: `backbone.layers.{i}.mixer.filter_fn.implicit_filter.1.freq`, ... The shared Sin
activation is one module at every Sin position of `implicit_filter`, as upstream.

Memory and chunking. Position-wise work (LayerNorms, in_proj with its 3D expansion, the short conv,
the gates, out_proj, the MLP with its d_inner expansion, ln_f, the head) is exactly chunkable along the
sequence, so with `chunk_size` it runs over position chunks (the short conv recomputes its 2-position
halo), and only (B, L, D)-sized tensors live for the whole sequence: the residual stream, x0 and the
long-conv input. The long convolution needs the whole sequence of a channel, so it always runs by
channel groups (hyena_filter.py), building each group's filter spectrum on the fly (and caching it
while small, for repeated window lengths). `chunk_size` and the channel group size change results only
by float rounding. Without `chunk_size` the whole sequence is one chunk: fastest for short windows, but
the (B, L, 3D) and (B, L, d_inner) intermediates then exist in full.

Precision: float32 by default; `model.double()` gives a float64 run. `to_dtype(torch.bfloat16)` casts
the position-wise weights and activations to bfloat16 but keeps the filter generation, the FFTs and the
residual stream in float32.

Length: the positional embedding z has max_seq_len rows, so a longer input cannot be evaluated
faithfully; like the official code, glrm rejects it (InputError asking for a smaller --window).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

import glrm.models.cpu_kernels as cpu_kernels
from glrm.errors import InputError
from glrm.models.base import GenomicLM, ModelOutput, WeightsMismatch, load_strict, scratch, with_defaults
from glrm.models.hyena_filter import SPECTRUM_CACHE_BYTES, HyenaFilter, causal_fft_conv_
from glrm.models.info import ModelInfo

# --- configuration -------------------------------------------------------------------------------


@dataclass(frozen=True)
class HyenaDNAConfig:
    """Architecture of a HyenaDNA checkpoint (both formats map onto this)."""

    d_model: int
    n_layer: int
    d_inner: int
    max_seq_len: int                 # rows of the positional embedding = trained context in tokens
    vocab_size: int = 12             # before padding
    emb_dim: int = 3                 # positional features fed to the filter MLP (odd, >= 3)
    filter_order: int = 64           # width of the filter MLP
    hyena_order: int = 2
    short_filter_order: int = 3
    num_inner_mlps: int = 2
    activation_freq: float = 1.0     # initial Sin frequency (w); checkpoints store the trained freq
    modulate: bool = True
    pad_vocab_size_multiple: int = 8
    block_norm_epsilon: float = 1e-5
    final_norm_epsilon: float = 1e-5
    tie_word_embeddings: bool = False
    checkpoint_mixer: bool = False   # original release: keys carry `.mixer.layer.`
    checkpoint_mlp: bool = False     # original release: keys carry `.mlp.layer.`

    @property
    def padded_vocab_size(self) -> int:
        m = max(1, self.pad_vocab_size_multiple)
        return -(-self.vocab_size // m) * m

    def __post_init__(self):
        if self.emb_dim < 3 or self.emb_dim % 2 == 0:
            raise ValueError(f"emb_dim must be odd and >= 3 (time, cosine, sine), got {self.emb_dim}")
        if self.hyena_order < 2:
            raise ValueError(f"hyena_order must be >= 2, got {self.hyena_order}")

    @classmethod
    def from_hf(cls, config: dict, source: str = "config.json") -> HyenaDNAConfig:
        """From the HF port's config.json (`HyenaConfig`). Block norms use eps 1e-5 there, always."""
        _require(config, ("d_model", "n_layer"), source)
        config = with_defaults(config, HF_DEFAULTS, "HyenaConfig (HF port)", source)
        d_model = int(config["d_model"])
        return _make(cls, source,
                     d_model=d_model, n_layer=int(config["n_layer"]),
                     d_inner=int(config.get("d_inner") or 4 * d_model),
                     max_seq_len=int(config.get("max_seq_len", 1024)),
                     vocab_size=int(config.get("vocab_size", 12)),
                     emb_dim=int(config.get("emb_dim", 3)),
                     filter_order=int(config.get("filter_order", 64)),
                     hyena_order=int(config.get("hyena_order", 2)),
                     short_filter_order=int(config.get("short_filter_order", 3)),
                     num_inner_mlps=int(config.get("num_inner_mlps", 2)),
                     activation_freq=float(config.get("activation_freq", 1)),
                     pad_vocab_size_multiple=int(config.get("pad_vocab_size_multiple", 8)),
                     block_norm_epsilon=1e-5,
                     final_norm_epsilon=float(config.get("layer_norm_epsilon", 1e-5)),
                     # transformers' PretrainedConfig default is True; the released configs say false
                     tie_word_embeddings=bool(config.get("tie_word_embeddings", True)))

    @classmethod
    def from_orig(cls, config: dict, source: str = "config.json") -> HyenaDNAConfig:
        """From the original release's config.json (operator settings nested under `layer`)."""
        _require(config, ("d_model", "n_layer", "layer"), source)
        layer = config["layer"]
        if not isinstance(layer, dict):
            raise InputError(f"{source}: 'layer' must be an object with the Hyena operator settings")
        if layer.get("_name_", "hyena") != "hyena":
            raise InputError(f"{source}: layer._name_ is {layer.get('_name_')!r}; glrm implements only "
                             "'hyena' layers")
        if config.get("attn_layer_idx"):
            raise InputError(f"{source}: attn_layer_idx is set (hybrid attention layers); glrm implements "
                             "pure Hyena models only")
        _require(layer, ("l_max",), source, where="layer.")
        d_model = int(config["d_model"])
        eps = float(config.get("layer_norm_epsilon", 1e-5))
        return _make(cls, source,
                     d_model=d_model, n_layer=int(config["n_layer"]),
                     d_inner=int(config.get("d_inner") or 4 * d_model),
                     max_seq_len=int(layer["l_max"]),
                     vocab_size=int(config.get("vocab_size", 12)),
                     emb_dim=int(layer.get("emb_dim", 3)),
                     filter_order=int(layer.get("filter_order", 64)),
                     hyena_order=int(layer.get("order", 2)),
                     short_filter_order=3,  # the original operator ignores short_filter_order
                     num_inner_mlps=int(layer.get("num_inner_mlps", 2)),
                     activation_freq=float(layer.get("w", 1)),
                     modulate=bool(layer.get("modulate", True)),
                     pad_vocab_size_multiple=int(config.get("pad_vocab_size_multiple", 1)),
                     block_norm_epsilon=eps, final_norm_epsilon=eps,
                     tie_word_embeddings=True,
                     checkpoint_mixer=bool(config.get("checkpoint_mixer", False)),
                     checkpoint_mlp=bool(config.get("checkpoint_mlp", False)))


# The HF port's HyenaConfig defaults for the keys glrm reads (a warning names those a config.json lacks);
# tie_word_embeddings is transformers' PretrainedConfig default. d_model and n_layer shape the weights:
# required.
HF_DEFAULTS = dict(vocab_size=12, d_inner=None, max_seq_len=1024, emb_dim=3, filter_order=64, hyena_order=2,
                   short_filter_order=3, num_inner_mlps=2, activation_freq=1, pad_vocab_size_multiple=8,
                   layer_norm_epsilon=1e-5, tie_word_embeddings=True)


def _require(config: dict, keys: tuple[str, ...], source: str, where: str = "") -> None:
    missing = [k for k in keys if k not in config]
    if missing:
        raise InputError(f"{source}: config.json lacks {', '.join(where + k for k in missing)}; "
                         "use the config.json that came with the checkpoint")


def _make(cls, source: str, **kwargs) -> HyenaDNAConfig:
    try:
        return cls(**kwargs)
    except ValueError as exc:
        raise InputError(f"{source}: {exc}") from None


@dataclass
class HyenaOutput(ModelOutput):
    # embedding output, residual stream after each block, ln_f output (n_layer + 2); on request only
    all_hidden_states: tuple[torch.Tensor, ...] | None = None


# --- blocks --------------------------------------------------------------------------------------


class HyenaOperator(nn.Module):
    """in_proj -> short causal conv -> gates and long convolutions -> out_proj (forward: HyenaBlock)."""

    def __init__(self, cfg: HyenaDNAConfig):
        super().__init__()
        D, order = cfg.d_model, cfg.hyena_order
        width = D * (order + 1)
        self.in_proj = nn.Linear(D, width)
        self.out_proj = nn.Linear(D, D)
        self.short_filter = nn.Conv1d(width, width, cfg.short_filter_order,
                                      padding=cfg.short_filter_order - 1, groups=width)
        self.filter_fn = HyenaFilter(D * (order - 1), cfg)


class Mlp(nn.Module):
    def __init__(self, d_model: int, d_inner: int):
        super().__init__()
        self.fc1 = nn.Linear(d_model, d_inner)
        self.fc2 = nn.Linear(d_inner, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.fc1(x)                                               # (B, n, d_inner)
        if use_cpu_kernels(y) and y.is_contiguous():
            return self.fc2(cpu_kernels.gelu_tanh_(y))
        return self.fc2(F.gelu(y, approximate="tanh"))


class HyenaBlock(nn.Module):
    def __init__(self, cfg: HyenaDNAConfig):
        super().__init__()
        self.cfg = cfg
        self.norm1 = nn.LayerNorm(cfg.d_model, eps=cfg.block_norm_epsilon)
        self.mixer = HyenaOperator(cfg)
        self.norm2 = nn.LayerNorm(cfg.d_model, eps=cfg.block_norm_epsilon)
        self.mlp = Mlp(cfg.d_model, cfg.d_inner)

    def _short_conv(self, h: torch.Tensor, a: int, b: int) -> torch.Tensor:
        """norm1 -> in_proj -> causal depthwise conv for positions [a, b) -> (B, b - a, (order+1) D).

        The conv (upstream: Conv1d, padding K-1, first L outputs) is out[t] = bias + sum_j w[j] u[t-(K-1)+j],
        with u = 0 before the sequence start; the K-1 positions before `a` are recomputed (halo).
        """
        mixer, K = self.mixer, self.cfg.short_filter_order
        cdt = mixer.in_proj.weight.dtype
        lo = max(0, a - (K - 1))
        u = mixer.in_proj(self.norm1(h[:, lo:b].to(cdt)))             # (B, b - lo, W): positions lo..b-1
        off, n = a - lo, b - a
        wts = mixer.short_filter.weight[:, 0, :]                      # (W, K)
        uc = torch.addcmul(mixer.short_filter.bias, u[:, off:], wts[:, K - 1])  # (B, n, W)
        for j in range(K - 1):
            lag = K - 1 - j                                           # out[i] += w[j] * u[i - lag]
            start = max(0, lag - off)                                 # earlier rows read zero padding
            if start < n:
                uc[:, start:].addcmul_(u[:, off + start - lag: off + n - lag], wts[:, j])
        return uc

    def forward_(self, h: torch.Tensor, spans: list[tuple[int, int]], group: int | None,
                 keep: list[torch.Tensor] | None = None, work: dict | None = None) -> None:
        """In place: h (B, L, D) <- h after this block (mixer and MLP residual updates).

        keep (hyena_order 2 only): a list that receives the long convolution's input and output, two
        (B, L, D) tensors (what an alt suffix needs of a ref pass, glrm.models.hyena_suffix).
        work: a dict the layers of one forward share, to reuse their whole-sequence buffers
        (glrm.models.base.scratch).
        """
        B, L, D = h.shape
        order = self.cfg.hyena_order
        if keep is not None and order != 2:
            raise ValueError(f"keep needs hyena_order 2, this model has {order}")
        mixer = self.mixer
        cdt = mixer.in_proj.weight.dtype
        fdt = torch.promote_types(mixer.filter_fn.bias.dtype, torch.float32)
        gates, _ = scratch(work, "gates", (B, L, (order - 1) * D), cdt, h.device)   # x0 .. x_{order-2}
        # the long-conv input, channels first: the FFTs read each channel's row (no transposing copies);
        # kept for an alt suffix (keep) it is the output, so then it is this layer's own
        w, _ = scratch(work if keep is None else None, "w", (D, B, L), cdt, h.device)  # (D, B, L)
        w_rows = w.permute(1, 2, 0)                                              # (B, L, D) view of it
        blocks = cache_blocks(spans, B * max((order + 1) * D, self.cfg.d_inner), h.device)
        fused = use_cpu_kernels(w, D, self.cfg.short_filter_order)
        for a, b in blocks:
            if fused:   # the conv and both gate writes in one C pass over the in_proj output
                lo = max(0, a - (self.cfg.short_filter_order - 1))
                u = mixer.in_proj(self.norm1(h[:, lo:b]))             # (B, b - lo, (order+1) D)
                cpu_kernels.hyena_short_conv(u, a - lo, mixer.short_filter.weight, mixer.short_filter.bias,
                                             gates[:, a:b], w[:, :, a:b])
                continue
            uc = self._short_conv(h, a, b)                            # (B, n, (order+1) D)
            gates[:, a:b] = uc[..., : (order - 1) * D]
            torch.mul(uc[..., -D:], uc[..., (order - 1) * D: order * D], out=w_rows[:, a:b])  # v * x_last
            del uc
        bias = mixer.filter_fn.bias.view(order - 1, D)                # (order-1, D)
        if keep is not None:
            keep.append(w.clone().permute(1, 2, 0))                   # (B, L, D) long-conv input
        for o in range(order - 1):                                    # o-th conv: filter channels o*D..
            spectrum = mixer.filter_fn.spectrum_fn(L, fdt, offset=o * D, work=work)
            causal_fft_conv_(w, spectrum, bias[o], fdt, group, work)
            if o < order - 2:                                         # next gate: x_{order-2-o}
                i = order - 2 - o
                w_rows.mul_(gates[..., i * D:(i + 1) * D])
        if keep is not None:
            keep.append(w_rows)                                       # (B, L, D) long-conv output, kept
        for a, b in blocks:
            # x0 * y in channel-first order (w's rows read contiguously), fed to out_proj transposed
            gated = torch.empty(B, D, b - a, dtype=cdt, device=h.device)                    # (B, D, n)
            torch.mul(w[:, :, a:b].transpose(0, 1), gates[:, a:b, :D].transpose(1, 2), out=gated)
            for i in range(B):
                y = F.linear(gated[i].T, mixer.out_proj.weight, mixer.out_proj.bias)   # (n, D)
                h[i, a:b] += y.to(h.dtype)
            h[:, a:b] += self.mlp(self.norm2(h[:, a:b].to(cdt))).to(h.dtype)


# Position-wise work (in_proj and the short conv, the gates, out_proj, the MLP) runs in blocks of positions
# whose widest intermediate ((B, P, max(3D, d_inner)) floats) stays about this size: it then lives in the L2
# cache and in reused heap memory. Whole-sequence intermediates cost a page fault per 4 KiB on every forward
# (fresh large allocations are mmapped) and make every elementwise pass (tanh-GELU, the short conv)
# memory-bound: at 64k tokens, d_model 256, the MLP ran 1.4x faster in blocks of 512 than whole (one thread).
BLOCK_FLOATS = 1 << 19
BLOCK_MIN, BLOCK_MAX = 256, 8192


def use_cpu_kernels(x: torch.Tensor, d_model: int = 16, kernel: int = 3) -> bool:
    """The one decision between glrm's C kernels (glrm.models.cpu_kernels: the GELU, and the short conv
    fused with the gates; the filter kernel needs only `cpu_kernels.usable`) and the PyTorch ops for
    HyenaDNA's position-wise work: d_model a multiple of 16 up to cpu_kernels.HYENA_MAX_D, a short filter
    of at most 16 taps, and `cpu_kernels.usable(x)` (a float32 CPU tensor, kernels built; it warns once when
    they cannot be; GLRM_CPU_KERNELS=0 turns them off). The results agree to float rounding
    (tests/test_cpu_kernels.py)."""
    return d_model % 16 == 0 and d_model <= cpu_kernels.HYENA_MAX_D and kernel <= 16 and cpu_kernels.usable(x)


def cache_blocks(spans: list[tuple[int, int]], width: int, device: torch.device) -> list[tuple[int, int]]:
    """On the CPU, the [a, b) spans cut into blocks of about BLOCK_FLOATS / width positions (position-wise
    work only: the results do not depend on the cut, up to float rounding in the matrix products). On a GPU
    the spans as they are: there a block is a round of kernel launches, and a 1M-token forward cut into
    blocks of 512 spent 130x the bandwidth limit in launches (docs/performance.md, "GPU")."""
    if device.type != "cpu":
        return list(spans)
    p = max(BLOCK_MIN, min(BLOCK_MAX, BLOCK_FLOATS // max(width, 1)))
    return [(s, min(b, s + p)) for a, b in spans for s in range(a, b, p)]


class Embeddings(nn.Module):
    def __init__(self, vocab: int, d_model: int):
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab, d_model)


class Backbone(nn.Module):
    def __init__(self, cfg: HyenaDNAConfig):
        super().__init__()
        self.embeddings = Embeddings(cfg.padded_vocab_size, cfg.d_model)
        self.layers = nn.ModuleList(HyenaBlock(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.d_model, eps=cfg.final_norm_epsilon)


# --- the model -----------------------------------------------------------------------------------


class HyenaDNA(GenomicLM):
    """HyenaDNA LM head model. forward(input_ids (B, L), chunk_size=None) -> HyenaOutput."""

    def __init__(self, cfg: HyenaDNAConfig):
        super().__init__(ModelInfo(family="hyenadna", kind="causal", max_length=cfg.max_seq_len,
                                   max_length_source="HyenaDNAConfig.max_seq_len", name=type(self).__name__))
        self.cfg = cfg
        self.backbone = Backbone(cfg)
        self.lm_head = nn.Linear(cfg.d_model, cfg.padded_vocab_size, bias=False)
        self.fft_channel_group: int | None = None  # None: sized by hyena_filter.FFT_GROUP_BUDGET_BYTES
        self.eval()

    def set_spectrum_cache(self, total_bytes: int) -> None:
        """Let the layers keep filter spectra between calls in up to `total_bytes` together (never less than
        hyena_filter.SPECTRUM_CACHE_BYTES each): repeated windows of one length then skip the filter MLP and
        its FFTs from their third forward on (at 1M tokens, d128: a spectrum set is 1 GB per layer, and a
        warm forward 19% faster)."""
        filters = [layer.mixer.filter_fn for layer in self.backbone.layers]
        for f in filters:
            f.set_cache_bytes(max(SPECTRUM_CACHE_BYTES, int(total_bytes) // len(filters)))

    def to_dtype(self, dtype: torch.dtype) -> HyenaDNA:
        """Cast weights to `dtype`; for 16-bit types the implicit filters stay float32 (FFT precision)."""
        filter_dtype = torch.float32 if dtype in (torch.bfloat16, torch.float16) else dtype
        for name, module in self.named_modules():
            dt = filter_dtype if ".filter_fn" in name else dtype
            for key, p in module._parameters.items():
                if p is not None and p.is_floating_point():
                    module._parameters[key] = nn.Parameter(p.data.to(dt), requires_grad=p.requires_grad)
            for key, buf in module._buffers.items():
                if buf is not None and buf.is_floating_point():
                    module._buffers[key] = buf.to(dt)
            if isinstance(module, HyenaFilter):
                module.clear_cache()
        return self

    def to(self, *args, **kwargs):
        """nn.Module.to, except that a 16-bit dtype goes through `to_dtype` (filters stay float32)."""
        device, dtype, non_blocking, _ = torch._C._nn._parse_to(*args, **kwargs)
        if dtype in (torch.bfloat16, torch.float16):
            if device is not None:
                super().to(device=device, non_blocking=non_blocking)
            return self.to_dtype(dtype)
        return super().to(*args, **kwargs)

    def bfloat16(self):
        return self.to_dtype(torch.bfloat16)

    def half(self):
        return self.to_dtype(torch.float16)

    @torch.no_grad()
    def forward(self, input_ids: torch.Tensor, chunk_size: int | None = None, *,
                output_all_hidden: bool = False, channel_group: int | None = None) -> HyenaOutput:
        spans = self.check_input(input_ids, chunk_size)
        group = self.fft_channel_group if channel_group is None else channel_group
        h = self.embed(input_ids)                                  # (B, L, D)
        saved = [h.clone()] if output_all_hidden else None
        work: dict = {}                                            # buffers the layers share
        for layer in self.backbone.layers:
            layer.forward_(h, spans, group, work=work)
            if saved is not None:
                saved.append(h.clone())
        hidden, logits = self.head(h, spans)
        if saved is not None:
            saved.append(hidden)
        return HyenaOutput(logits=logits, hidden_states=hidden,
                           all_hidden_states=tuple(saved) if saved is not None else None)

    # the pieces of `forward`, shared with the alt-suffix passes of glrm.models.hyena_suffix

    def check_input(self, input_ids: torch.Tensor, chunk_size: int | None) -> list[tuple[int, int]]:
        """Validate input_ids (B, L) and chunk_size; the [a, b) position spans position-wise work runs by."""
        if input_ids.dim() != 2:
            raise ValueError(f"input_ids must be (batch, length), got shape {tuple(input_ids.shape)}")
        L = input_ids.shape[1]
        # the positional table's rows bound the tokens (special ones included); the window rule,
        # max_seq_len - 2 bases, is glrm.models.info.trained_window
        if L > self.cfg.max_seq_len:
            raise InputError(
                f"input of {L} tokens is longer than this HyenaDNA model's maximum of {self.cfg.max_seq_len} "
                f"tokens (its positional embedding has {self.cfg.max_seq_len} rows); use a smaller --window"
            )
        if L == 0:
            raise ValueError("input_ids has length 0")
        V = self.cfg.padded_vocab_size
        if int(input_ids.min()) < 0 or int(input_ids.max()) >= V:
            lo, hi = int(input_ids.min()), int(input_ids.max())
            raise ValueError(f"token ids must lie in [0, {V}); got {lo}..{hi}")
        if chunk_size is not None and chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        step = L if chunk_size is None else chunk_size
        return [(a, min(L, a + step)) for a in range(0, L, step)]

    def embed(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Token embeddings (B, L, D) in the residual stream's dtype (float32, or float64 after .double())."""
        emb = self.backbone.embeddings.word_embeddings.weight
        return F.embedding(input_ids, emb).to(torch.promote_types(emb.dtype, torch.float32))

    def head(self, h: torch.Tensor, spans: list[tuple[int, int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """ln_f and the LM head over the residual stream h (B, L, D), which it overwrites with the ln_f output
        (the stream is done with; a second whole-sequence buffer would be fresh memory): hidden (that is, h)
        (B, L, D), logits (B, L, V)."""
        B, L, _ = h.shape
        ln_f = self.backbone.ln_f
        logits = torch.empty(B, L, self.cfg.padded_vocab_size, dtype=h.dtype, device=h.device)  # (B, L, V)
        for a, b in spans:
            hn = ln_f(h[:, a:b].to(ln_f.weight.dtype))
            logits[:, a:b] = self.lm_head(hn.to(self.lm_head.weight.dtype))
            h[:, a:b] = hn
        return h, logits


# --- building from checkpoints -------------------------------------------------------------------


def _sin_positions(cfg: HyenaDNAConfig) -> list[int]:
    return [1 + 2 * i for i in range(cfg.num_inner_mlps + 1)]


def _fill_shared_sin(state: dict[str, torch.Tensor], cfg: HyenaDNAConfig, source: str) -> None:
    """Every Sin position shares one freq tensor: fill the ones a safetensors file leaves out."""
    for i in range(cfg.n_layer):
        prefix = f"backbone.layers.{i}.mixer.filter_fn.implicit_filter."
        present = [state[f"{prefix}{p}.freq"] for p in _sin_positions(cfg) if f"{prefix}{p}.freq" in state]
        if not present:
            continue  # load_strict reports the missing keys
        for other in present[1:]:
            if other.shape != present[0].shape or not torch.equal(other, present[0]):
                raise WeightsMismatch(f"{source}: layer {i} has different Sin frequencies at different "
                                      "positions of implicit_filter; HyenaDNA shares one Sin module, so this "
                                      "is not a HyenaDNA checkpoint (or it was edited or damaged)")
        for p in _sin_positions(cfg):
            state.setdefault(f"{prefix}{p}.freq", present[0])


def hyenadna_state_to_glrm(state: dict[str, torch.Tensor], cfg: HyenaDNAConfig, fmt: str,
                           source: str) -> dict[str, torch.Tensor]:
    """Rename checkpoint keys to `HyenaDNA.state_dict()` names and fill the tied/shared tensors."""
    out: dict[str, torch.Tensor] = {}
    if fmt == "hf":
        for k, v in state.items():
            out[k[len("hyena."):] if k.startswith("hyena.") else k] = v
    elif fmt == "orig":
        for k, v in state.items():
            k = k[len("model."):] if k.startswith("model.") else k
            if cfg.checkpoint_mixer:
                k = k.replace(".mixer.layer.", ".mixer.")
            if cfg.checkpoint_mlp:
                k = k.replace(".mlp.layer.", ".mlp.")
            out[k] = v
    else:
        raise ValueError(f"unknown HyenaDNA checkpoint format {fmt!r}; expected 'hf' or 'orig'")
    emb = "backbone.embeddings.word_embeddings.weight"
    if "lm_head.weight" not in out and emb in out and (fmt == "orig" or cfg.tie_word_embeddings):
        out["lm_head.weight"] = out[emb]  # tied head (written once by safetensors)
    _fill_shared_sin(out, cfg, source)
    return out


def build_hyenadna(config: dict, state: dict[str, torch.Tensor], fmt: str, source: str,
                   *, dtype: torch.dtype = torch.float32) -> HyenaDNA:
    """Build a HyenaDNA model from a checkpoint's config.json dict and its state dict.

    fmt "hf": HF port (`hyena.backbone.*`, `lm_head.weight`); "orig": original release Lightning
    state_dict (`model.backbone.*`, optional `.mixer.layer.`/`.mlp.layer.`, `model.lm_head.weight`).
    Every weight must be present with the right shape (glrm.models.base.load_strict).
    """
    if fmt == "hf":
        cfg = HyenaDNAConfig.from_hf(config, source)
    elif fmt == "orig":
        cfg = HyenaDNAConfig.from_orig(config, source)
    else:
        raise ValueError(f"unknown HyenaDNA checkpoint format {fmt!r}; expected 'hf' or 'orig'")
    model = HyenaDNA(cfg)
    load_strict(model, hyenadna_state_to_glrm(state, cfg, fmt, source), source)
    if dtype != torch.float32:
        model.to_dtype(dtype)
    return model.eval()


__all__ = ["HyenaDNA", "HyenaDNAConfig", "HyenaOutput", "build_hyenadna", "hyenadna_state_to_glrm"]
