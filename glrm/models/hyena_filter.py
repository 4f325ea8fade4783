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
import torch.nn.functional as F
from torch import nn

MODULATION_SHIFT = 0.05  # upstream ExponentialModulation(shift=0.05)
# Complex intermediates per channel group stay below this (about 3 spectra of this size are live).
FFT_GROUP_BUDGET_BYTES = 64 * 2**20
# Filter spectra of up to this many bytes per layer are kept between calls (repeated window lengths).
SPECTRUM_CACHE_BYTES = 64 * 2**20


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
) -> torch.Tensor:
    """In place: x (B, L, C) <- causal_conv(x, k) + bias * x along L, one channel group at a time.

    spectrum_fn(c0, c1, n) returns the rfft of filter channels c0..c1 zero-padded to n, as
    (c1 - c0, n/2+1) in `fft_dtype`; producing it per group keeps the filter bounded too. bias is (C,).
    The FFTs run in `fft_dtype` (float32 or float64) whatever x's dtype is; results are cast back to
    x's dtype. Each group is copied channels-first into a zero-padded buffer: a contiguous last-axis
    transform is faster than a strided one with implicit padding.
    """
    B, L, C = x.shape
    n = fft_len(L)
    group = min(C, group or channel_group_size(B, C, n))
    group = -(-C // -(-C // group))                                     # equal groups: 64 + 64, not 127 + 1
    bias = bias.to(fft_dtype)
    cdt = torch.complex128 if fft_dtype == torch.float64 else torch.complex64
    # channels first and outermost, so a group's slice is one contiguous block (the FFTs write into it)
    buf = torch.empty(group, B, n, dtype=fft_dtype, device=x.device)      # padded input
    buf[..., L:].zero_()                                                   # the tail stays zero
    spec = torch.empty(group, B, n // 2 + 1, dtype=cdt, device=x.device)  # its spectrum
    out = torch.empty(group, B, n, dtype=fft_dtype, device=x.device)      # the circular convolution
    for c0 in range(0, C, group):
        c1 = min(C, c0 + group)
        g = c1 - c0
        xg, x_f, yg = buf[:g], spec[:g], out[:g]                           # (G, B, n), (G, B, n/2+1)
        xg[..., :L].copy_(x[:, :, c0:c1].permute(2, 0, 1))
        torch.fft.rfft(xg, out=x_f)
        x_f.mul_(spectrum_fn(c0, c1, n)[:, None])
        torch.fft.irfft(x_f, n=n, out=yg)
        y = yg[..., :L]                                                    # (G, B, L): the causal part
        y.addcmul_(xg[..., :L], bias[c0:c1, None, None])
        x[:, :, c0:c1].copy_(y.permute(1, 2, 0))
    return x


def padded_rfft(k: torch.Tensor, n: int) -> torch.Tensor:
    """rfft along L of k (L, G) zero-padded to n, as (G, n/2+1)."""
    L, G = k.shape
    kb = torch.empty(G, n, dtype=k.dtype, device=k.device)                 # (G, n)
    kb[:, L:].zero_()
    kb[:, :L] = k.T
    return torch.fft.rfft(kb)


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

    def _apply(self, fn, *args, **kwargs):
        self.clear_cache()   # .to(), .double(), .cuda() ... replace the weights
        return super()._apply(fn, *args, **kwargs)

    def clear_cache(self) -> None:
        self._spectra.clear()
        self._asked.clear()

    def spectrum_fn(self, L: int, dtype: torch.dtype, offset: int = 0):
        """fn(c0, c1, n) -> rfft(k[:, offset+c0 : offset+c1], n) as (c1 - c0, n/2+1), cached while small.

        A spectrum is kept from the second time it is asked for: a single forward (a one-off call, `glrm
        plan`'s measurement) then holds no spectra beyond its own layer's, as the official port, while a run
        of many windows of one length computes each spectrum twice and then reuses it. The cache is dropped
        whenever a filter weight changes (in-place updates bump tensor versions).
        """
        weights = (self.pos_emb.z, self.pos_emb.t, self.modulation.deltas,
                   *(p for p in self.implicit_filter.parameters()))
        token = tuple((id(w), w._version, w.dtype, w.device) for w in weights)
        if token != self._spectra_token:
            self.clear_cache()
            self._spectra_token = token
        feats: list = []

        def fn(c0: int, c1: int, n: int) -> torch.Tensor:
            key = (L, n, offset + c0, offset + c1, dtype, self.bias.device)
            hit = self._spectra.get(key)
            if hit is not None:
                return hit
            if not feats:
                feats.extend(self.features(L, dtype))
            k_f = padded_rfft(self.columns(*feats, offset + c0, offset + c1), n)   # (G, n/2+1)
            size = k_f.numel() * k_f.element_size()
            held = sum(v.numel() * v.element_size() for v in self._spectra.values())
            if held + size > SPECTRUM_CACHE_BYTES:
                self._spectra.clear()
            if size <= SPECTRUM_CACHE_BYTES and key in self._asked:
                self._spectra[key] = k_f
            self._asked.add(key)
            return k_f

        return fn

    def features(self, L: int, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """The MLP up to its last Linear, (L, filter_order), and t (L, 1); computed in `dtype`."""
        h = self.pos_emb.z[0, :L].to(dtype)                                       # (L, emb_dim)
        for layer in list(self.implicit_filter)[:-1]:
            if isinstance(layer, nn.Linear):
                h = F.linear(h, layer.weight.to(dtype), layer.bias.to(dtype))    # (L, filter_order)
            else:
                h = torch.sin(layer.freq.to(dtype) * h)
        return h, self.pos_emb.t[0, :L].to(dtype)                                 # (L, F), (L, 1)

    def columns(self, feats: torch.Tensor, t: torch.Tensor, c0: int, c1: int) -> torch.Tensor:
        """Filter channels k[:, c0:c1] as (L, c1 - c0) from `features` output."""
        w_out = self.implicit_filter[-1].weight[c0:c1].to(feats.dtype)           # (G, F)
        k = F.linear(feats, w_out)                                                # (L, G)
        if self.modulate:
            deltas = self.modulation.deltas[0, 0, c0:c1].to(feats.dtype)          # (G,)
            k = k * (torch.exp(-t * deltas.abs()) + MODULATION_SHIFT)
        return k                                                                  # (L, G)

    def filter(self, L: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """The whole filter k (L, C) (for inspection and tests; forward builds it per channel group)."""
        feats, t = self.features(L, dtype)
        return self.columns(feats, t, 0, self.bias.shape[0])
