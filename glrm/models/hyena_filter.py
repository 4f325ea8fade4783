"""HyenaDNA's implicit long filter and its exact causal FFT convolution, in bounded memory.

The filter (`HyenaFilter`, upstream's `filter_fn`) is k = MLP(z[:L]) * (exp(-t[:L] |deltas|) + 0.05),
an MLP with Sin activations over a positional embedding z, windowed by an exponential decay.

The Hyena long filter is an ordinary causal convolution over the first L positions:

    y[c, t] = sum_{s <= t} k[c, t - s] * x[c, s] + bias[c] * x[c, t]

Zero-padding both signals to any length n >= 2L - 1 and multiplying their real FFTs gives exactly
this linear convolution (no wrap-around), up to float rounding. The official code uses n = 2L; glrm
uses the smallest even 7-smooth n >= 2L (a product of 2, 3, 5, 7), because 2L itself can have a
large prime factor that makes the FFT slow (for L = 16385, 2L = 2 * 5 * 29 * 113).

Memory: the complex spectra are B * G * (n/2 + 1) * 8 bytes for a group of G channels. Channels are
independent, so the convolution runs over channel groups sized to stay within a byte budget, and
writes each group's result back in place into the input buffer.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

import glrm.models.cpu_kernels as cpu_kernels
from glrm.models.base import scratch

MODULATION_SHIFT = 0.05  # upstream ExponentialModulation(shift=0.05)
# Complex intermediates per channel group stay below this (about 3 spectra of this size are live).
FFT_GROUP_BUDGET_BYTES = 64 * 2**20
# Filter spectra of up to this many bytes per layer are kept between calls (repeated window lengths) unless
# told otherwise (HyenaFilter.cache_bytes; glrm's engines allow more where memory allows:
# glrm.resources.size_model_caches).
SPECTRUM_CACHE_BYTES = 64 * 2**20
# The filter is generated in blocks of positions of about this many floats (they stay in the L2 cache).
FILTER_BLOCK_FLOATS = 1 << 16
# Filter rows are made for up to this many bytes of channels at a time (one pass over the MLP features
# serves them all; an FFT group of 8 channels at 1M tokens would read the 256 MB of features 16 times).
FILTER_ROWS_BYTES = 128 * 2**20


def next_fast_len(n: int) -> int:
    """Smallest 7-smooth integer (2^a 3^b 5^c 7^d) >= n."""
    if n <= 1:
        return 1
    best = None
    p7 = 1
    while p7 < 2 * n:
        p5 = p7
        while p5 < 2 * n:
            p3 = p5
            while p3 < 2 * n:
                # smallest power of two that lifts p3 to >= n
                p2 = p3
                while p2 < n:
                    p2 *= 2
                if best is None or p2 < best:
                    best = p2
                p3 *= 3
            p5 *= 5
        p7 *= 7
    return best


def fft_len(L: int) -> int:
    """FFT length for an exact causal convolution of length L: even, 7-smooth, >= 2L."""
    return 2 * next_fast_len(L)


def channel_group_size(batch: int, channels: int, n_fft: int, budget: int = FFT_GROUP_BUDGET_BYTES) -> int:
    """How many channels to transform at once so one complex spectrum stays within `budget` bytes."""
    per_channel = batch * (n_fft // 2 + 1) * 8  # complex64
    return max(1, min(channels, budget // max(per_channel, 1)))


def causal_fft_conv_(
    x: torch.Tensor,
    spectrum_fn: Callable[[int, int, int], torch.Tensor],
    bias: torch.Tensor,
    fft_dtype: torch.dtype,
    group: int | None = None,
    work: dict | None = None,
) -> torch.Tensor:
    """In place: x (C, B, L) <- causal_conv(x, k) + bias * x along L, one channel group at a time.

    x is channels first: HyenaDNA's forward keeps its long-conv input that way, so a group's rows are
    contiguous and copying them into the zero-padded FFT buffer is a plain copy. Any strided view works
    (a (B, L, C) tensor's `.permute(2, 0, 1)`), at the price of a transposing copy per group.
    spectrum_fn(c0, c1, n) returns the rfft of filter channels c0..c1 zero-padded to n, as
    (c1 - c0, n/2+1) in `fft_dtype` (valid until its next call); producing it per group keeps the filter
    bounded too. bias is (C,). The FFTs run in `fft_dtype` (float32 or float64) whatever x's dtype is;
    results are cast back to x's dtype. `work`: see `scratch`.
    """
    C, B, L = x.shape
    n = fft_len(L)
    group = min(C, group or channel_group_size(B, C, n))
    group = -(-C // -(-C // group))                                     # equal groups: 64 + 64, not 127 + 1
    bias = bias.to(fft_dtype)
    # channels first and outermost, so a group's slice is one contiguous block. The FFTs allocate their
    # outputs: torch's `out=` for them computes into a fresh tensor and copies it over (no saving).
    buf, new = scratch(work, f"fft.{L}", (group, B, n), fft_dtype, x.device)  # padded input
    if new:
        buf[..., L:].zero_()                                               # the tail stays zero
    for c0 in range(0, C, group):
        c1 = min(C, c0 + group)
        xg = buf[: c1 - c0]                                                # (G, B, n)
        xg[..., :L].copy_(x[c0:c1])
        x_f = torch.fft.rfft(xg)                                           # (G, B, n/2+1)
        x_f.mul_(spectrum_fn(c0, c1, n)[:, None])
        y = torch.fft.irfft(x_f, n=n)[..., :L]                             # (G, B, L): the causal part
        del x_f
        if x.dtype == fft_dtype:
            torch.addcmul(y, xg[..., :L], bias[c0:c1, None, None], out=x[c0:c1])
        else:
            x[c0:c1].copy_(y.addcmul_(xg[..., :L], bias[c0:c1, None, None]))
    return x


# --- implicit long filter ------------------------------------------------------------------------


class PositionalEmbedding(nn.Module):
    """z (1, L_max, emb_dim) = [t, cos, -sin of complex exponentials]; t (1, L_max, 1) = linspace(0, 1).

    The values computed here are upstream's initial ones; checkpoints overwrite them (both can be
    trained or perturbed, so they are always read from the file).
    """

    def __init__(self, emb_dim: int, seq_len: int):
        super().__init__()
        t = torch.linspace(0, 1, seq_len)[None, :, None]                         # (1, L, 1)
        bands = (emb_dim - 1) // 2
        w = 2 * math.pi * torch.linspace(0, seq_len - 1, seq_len)[None, :, None] / seq_len
        f = torch.linspace(1e-4, bands - 1, bands)[None, None]                    # (1, 1, bands)
        z = torch.exp(-1j * f * w)                                                # (1, L, bands)
        self.register_buffer("z", torch.cat([t, z.real, z.imag], dim=-1))        # (1, L, emb_dim)
        self.register_buffer("t", t)


class Sin(nn.Module):
    """sin(freq * x) with a learned per-feature frequency freq (1, order)."""

    def __init__(self, dim: int, w: float):
        super().__init__()
        self.freq = nn.Parameter(w * torch.ones(1, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sin(self.freq * x)


class ExponentialModulation(nn.Module):
    """Window exp(-t |deltas|) + shift applied to the implicit filter; deltas (1, 1, D)."""

    def __init__(self, d_model: int, fast_decay_pct: float = 0.3, slow_decay_pct: float = 1.5,
                 target: float = 1e-2):
        super().__init__()
        max_decay = math.log(target) / fast_decay_pct
        min_decay = math.log(target) / slow_decay_pct
        self.register_buffer("deltas", torch.linspace(min_decay, max_decay, d_model)[None, None])


class HyenaFilter(nn.Module):
    """Implicit long filter k (L, C) = MLP(z[:L]) * window(t[:L]), plus the skip `bias` (C,)."""

    def __init__(self, channels: int, cfg):
        super().__init__()
        self.modulate = cfg.modulate
        self.bias = nn.Parameter(torch.randn(channels))
        self.pos_emb = PositionalEmbedding(cfg.emb_dim, cfg.max_seq_len)
        act = Sin(cfg.filter_order, cfg.activation_freq)  # one module, shared by every Sin position
        layers: list[nn.Module] = [nn.Linear(cfg.emb_dim, cfg.filter_order), act]
        for _ in range(cfg.num_inner_mlps):
            layers += [nn.Linear(cfg.filter_order, cfg.filter_order), act]
        layers.append(nn.Linear(cfg.filter_order, channels, bias=False))
        self.implicit_filter = nn.Sequential(*layers)
        self.modulation = ExponentialModulation(channels)
        self._spectra: dict[tuple, torch.Tensor] = {}   # (L, n, c0, c1, dtype, device) -> rfft of k
        self._asked: set[tuple] = set()                  # keys asked for once: kept when asked again
        self._spectra_token: tuple = ()
        self.cache_bytes = SPECTRUM_CACHE_BYTES          # spectra kept between calls, at most

    def _apply(self, fn, *args, **kwargs):
        self.clear_cache()   # .to(), .double(), .cuda() ... replace the weights
        return super()._apply(fn, *args, **kwargs)

    def clear_cache(self) -> None:
        self._spectra.clear()
        self._asked.clear()

    def held_bytes(self) -> int:
        """Bytes of the spectra kept now."""
        return sum(v.numel() * v.element_size() for v in self._spectra.values())

    def set_cache_bytes(self, n: int) -> None:
        """Keep at most `n` bytes of spectra between calls; drops what is kept when it is over that."""
        self.cache_bytes = n
        if self.held_bytes() > n:
            self.clear_cache()

    def spectrum_fn(self, L: int, dtype: torch.dtype, offset: int = 0, work: dict | None = None):
        """fn(c0, c1, n) -> rfft(k[:, offset+c0 : offset+c1], n) as (c1 - c0, n/2+1), cached within
        `cache_bytes`.

        A spectrum is kept from the second time it is asked for: a single forward (a one-off call, `glrm
        plan`'s measurement) then holds no spectra beyond its own layer's, as the official port, while a run
        of many windows of one length computes each spectrum twice and then reuses it. The cache is dropped
        whenever a filter weight changes (in-place updates bump tensor versions). `work`: see `scratch`.
        """
        weights = (self.pos_emb.z, self.pos_emb.t, self.modulation.deltas,
                   *(p for p in self.implicit_filter.parameters()))
        token = tuple((id(w), w._version, w.dtype, w.device) for w in weights)
        if token != self._spectra_token:
            self.clear_cache()
            self._spectra_token = token
        made: dict[str, torch.Tensor] = {}   # features, t, and the padded filter buffer every group reuses

        def fn(c0: int, c1: int, n: int) -> torch.Tensor:
            key = (L, n, offset + c0, offset + c1, dtype, self.bias.device)
            hit = self._spectra.get(key)
            if hit is not None:
                return hit
            if not made:
                feats, _ = scratch(work, "filter.features", (self.implicit_filter[-1].weight.shape[1], L),
                                   dtype, self.bias.device)
                made["feats"], made["t"] = self.features(L, dtype, out=feats)
            g = c1 - c0
            kb = made.get("kb")
            if kb is None or kb.shape[0] < g:
                kb, new = scratch(work, f"filter.{L}.{g}", (g, n), dtype, self.bias.device)   # (G, n)
                if new:
                    kb[:, L:].zero_()                              # the zero padding, written once
                made["kb"] = kb
            self._group_rows(made, work, offset, c0, c1, kb[:g, :L])
            k_f = torch.fft.rfft(kb[:g])                           # (G, n/2+1)
            size = k_f.numel() * k_f.element_size()
            if self.held_bytes() + size > self.cache_bytes:
                self._spectra.clear()
            if size <= self.cache_bytes and key in self._asked:
                self._spectra[key] = k_f
            self._asked.add(key)
            return k_f

        return fn

    def _group_rows(self, made: dict, work: dict | None, offset: int, c0: int, c1: int,
                    dst: torch.Tensor) -> None:
        """dst (G, L) <- filter channels offset+c0 .. offset+c1. Rows are made for several groups at once
        (up to FILTER_ROWS_BYTES, kept in `made` for the groups that follow) and copied out."""
        g, L = dst.shape
        feats, t = made["feats"], made["t"]
        r0, rows = made.get("r0", -1), made.get("rows")
        if rows is not None and r0 <= c0 and c1 <= r0 + rows.shape[0]:
            dst.copy_(rows[c0 - r0:c1 - r0])
            return
        s = max(g, FILTER_ROWS_BYTES // (dst.element_size() * L) // g * g)
        s = min(s, self.bias.shape[0] - offset - c0)
        if s <= g:                                                 # one group a pass: straight into dst
            self.columns_into(dst, feats, t, offset + c0, offset + c1)
            return
        rows, _ = scratch(work, f"filter.rows.{L}.{s}", (s, L), dst.dtype, dst.device)   # (S, L)
        self.columns_into(rows, feats, t, offset + c0, offset + c0 + s)
        made["rows"], made["r0"] = rows, c0
        dst.copy_(rows[:g])

    @torch.no_grad()
    def features(self, L: int, dtype: torch.dtype, out: torch.Tensor | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        """The MLP up to its last Linear, channels first (filter_order, L), and t (L, 1); computed in `dtype`
        in blocks of positions that stay in cache (columns are independent: the values of one whole pass),
        into `out` when given."""
        z = self.pos_emb.z[0, :L].to(dtype)                                       # (L, emb_dim)
        mlp = list(self.implicit_filter)[:-1]
        params = [(m.weight.to(dtype), m.bias.to(dtype)[:, None]) if isinstance(m, nn.Linear)
                  else m.freq.to(dtype).T for m in mlp]                           # (F, 1) frequencies
        width = mlp[-2].weight.shape[0]
        if out is None:
            out = torch.empty(width, L, dtype=dtype, device=z.device)             # (F, L)
        step = max(256, FILTER_BLOCK_FLOATS // width)
        for a in range(0, L, step):
            h = z[a:a + step].T                                                   # (emb_dim, P)
            for p in params:
                if isinstance(p, tuple):
                    h = torch.addmm(p[1], p[0], h)                                # (F, P)
                else:
                    h = h.mul_(p).sin_()                                          # sin(freq * h)
            out[:, a:a + step] = h
        return out, self.pos_emb.t[0, :L].to(dtype)                               # (F, L), (L, 1)

    @torch.no_grad()
    def columns_into(self, dst: torch.Tensor, feats: torch.Tensor, t: torch.Tensor, c0: int, c1: int) -> None:
        """dst (c1 - c0, L), channels first (rows may be strided, as in an FFT buffer) <- filter channels
        k[:, c0:c1] from `features` output, in blocks of positions (no transposing copy, no temporaries
        the size of the filter); on the CPU in float32 by glrm's C kernel (glrm.models.cpu_kernels)."""
        G, L = dst.shape
        w_out = self.implicit_filter[-1].weight[c0:c1].to(feats.dtype)            # (G, F)
        decay = -self.modulation.deltas[0, 0, c0:c1].to(feats.dtype).abs()        # (G,)
        if cpu_kernels.usable(feats):
            cpu_kernels.hyena_filter(feats, w_out, decay if self.modulate else None, t[:, 0],
                                     MODULATION_SHIFT, dst)
            return
        step = max(256, FILTER_BLOCK_FLOATS // G)
        mod = torch.empty(G, min(step, L), dtype=feats.dtype, device=feats.device)  # (G, P) window scratch
        for a in range(0, L, step):
            b = min(L, a + step)
            blk = dst[:, a:b]                                                     # (G, P)
            torch.mm(w_out, feats[:, a:b], out=blk)
            if self.modulate:
                m = torch.mul(decay[:, None], t[a:b, 0], out=mod[:, : b - a])     # -|delta| t
                blk.mul_(m.exp_().add_(MODULATION_SHIFT))                         # * (exp(...) + 0.05)

    @torch.no_grad()
    def filter(self, L: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """The whole filter k (L, C) (for inspection and tests; forward builds it per channel group)."""
        feats, t = self.features(L, dtype)
        k = torch.empty(self.bias.shape[0], L, dtype=dtype, device=feats.device)  # (C, L)
        self.columns_into(k, feats, t, 0, k.shape[0])
        return k.T
