"""HyenaDNA alt passes that recompute only the suffix after the variant, from what the ref pass kept.

A small-variant alt window shares its first o tokens with its ref window, and HyenaDNA is causal, so every
layer's activations at positions < o are the ref pass's. For t >= o a block needs:

- position-wise work (norm1, in_proj, gates, out_proj, the MLP): the suffix only; the short causal conv
  (K taps) also reads the K-1 positions before o, which are the ref's layer input there (the "halo");
- the long convolution, which reads the whole prefix. It is linear, so with w the long-conv input
  (v * x1) and y its output (the causal convolution with k plus the skip term bias * w):

      y_alt[t] = y_ref[t] + sum_{o <= s <= t} k[t - s] d[s] + bias * d[t],   d = w_alt - w_ref,  t >= o

  an FFT convolution of the difference over the W - o suffix positions, with the filter's first W - o
  taps. HyenaFilter's taps k[t] do not depend on the length asked for (the positional table has
  max_seq_len rows and a length-L filter is its first L rows), so those are the whole pass's taps.

`ref_forward` runs ref passes and keeps, per layer, w and y (R, W, D) and the layer input at the halo
positions of the offsets asked for (`PrefixCache`); `suffix_forward` runs alt suffixes against it. Both
follow `HyenaDNA.forward` step for step (chunked position-wise work, channel-grouped FFTs), so the suffix
outputs equal the whole alt pass's up to float rounding. Only hyena_order 2 (every released checkpoint):
higher orders gate between their convolutions, so the difference would not stay linear.

The suffix convolution length is rounded up to a multiple of W/16 (at most W), so alt passes of one
window length share a few filter spectra (cached by HyenaFilter) instead of one per offset.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch

from glrm.models.hyena_filter import causal_fft_conv_
from glrm.models.hyenadna import HyenaBlock, HyenaDNA, HyenaOutput

CONV_LEN_STEPS = 16   # suffix convolution lengths are multiples of W / CONV_LEN_STEPS


@dataclass
class PrefixCache:
    """What alt suffixes need of R ref passes of W tokens, per layer l (lists of n_layer tensors)."""

    w: list[torch.Tensor]       # (R, W, D) long-conv input of layer l
    y: list[torch.Tensor]       # (R, W, D) long-conv output of layer l (skip term included)
    halo: list[torch.Tensor]    # (R, P, D) input of layer l at the P halo positions
    halo_row: torch.Tensor      # (W,) row in `halo` of each position; -1 where not kept
    length: int                 # W


def supports_suffix(model) -> bool:
    """Alt suffix passes are implemented for HyenaDNA with hyena_order 2 (all released checkpoints)."""
    return isinstance(model, HyenaDNA) and model.cfg.hyena_order == 2


def kept_bytes(model: HyenaDNA, refs: int, w: int, offsets: Iterable[int]) -> int:
    """Bytes `ref_forward` keeps for `refs` passes of `w` tokens and alt passes at `offsets`."""
    cfg = model.cfg
    halo = len(_halo_positions(offsets, cfg.short_filter_order, w))
    size = model.backbone.layers[0].mixer.in_proj.weight.element_size()
    return cfg.n_layer * refs * (2 * w + halo) * cfg.d_model * size


def conv_length(s: int, w: int) -> int:
    """The suffix convolution length for s suffix positions in windows of w: s rounded up to a multiple
    of ceil(w / CONV_LEN_STEPS), at most w."""
    q = -(-w // CONV_LEN_STEPS)
    return min(w, -(-s // q) * q)


def _halo_positions(offsets: Iterable[int], k: int, w: int) -> list[int]:
    return sorted({t for o in offsets for t in range(max(0, o - (k - 1)), min(o, w))})


@torch.no_grad()
def ref_forward(model: HyenaDNA, input_ids: torch.Tensor, offsets: Iterable[int],
                chunk_size: int | None = None, channel_group: int | None = None,
                ) -> tuple[HyenaOutput, PrefixCache]:
    """`model(input_ids (R, W), chunk_size)` plus the `PrefixCache` that alt suffixes starting at any of
    `offsets` need (the halo rows are kept for those offsets only)."""
    if not supports_suffix(model):
        raise ValueError("alt suffix passes need a HyenaDNA model with hyena_order 2")
    spans = model.check_input(input_ids, chunk_size)
    group = model.fft_channel_group if channel_group is None else channel_group
    W = input_ids.shape[1]
    pos = _halo_positions(offsets, model.cfg.short_filter_order, W)
    halo_row = torch.full((W,), -1, dtype=torch.long)                 # (W,)
    halo_row[pos] = torch.arange(len(pos))
    pos_t = torch.tensor(pos, dtype=torch.long, device=input_ids.device)  # (P,)
    h = model.embed(input_ids)                                        # (R, W, D)
    cache = PrefixCache([], [], [], halo_row.to(input_ids.device), W)
    work: dict = {}                                                   # buffers the layers share
    for layer in model.backbone.layers:
        cache.halo.append(h.index_select(1, pos_t))                   # (R, P, D)
        kept: list[torch.Tensor] = []
        layer.forward_(h, spans, group, keep=kept, work=work)
        cache.w.append(kept[0])
        cache.y.append(kept[1])
    hidden, logits = model.head(h, spans)
    return HyenaOutput(logits=logits, hidden_states=hidden), cache


@torch.no_grad()
def suffix_forward(model: HyenaDNA, cache: PrefixCache, alt_ids: torch.Tensor, parents: Sequence[int],
                   offsets: Sequence[int], chunk_size: int | None = None,
                   channel_group: int | None = None) -> HyenaOutput:
    """Alt passes from their ref passes: alt_ids (B, W), row b sharing its first offsets[b] tokens with ref
    pass parents[b] of `cache` (1 <= offsets[b] < W). Returns outputs for positions offsets[b] + i,
    logits (B, S, V) and hidden (B, S, D) with S = W - min(offsets): row b holds W - offsets[b] positions,
    and its rows past those are padding (left-aligned suffixes)."""
    W = cache.length
    B = alt_ids.shape[0]
    if alt_ids.dim() != 2 or alt_ids.shape[1] != W or len(parents) != B or len(offsets) != B:
        raise ValueError(f"alt_ids must be (B, {W}) with one parent and one offset per row")
    if not all(1 <= o < W for o in offsets):
        raise ValueError(f"offsets must lie in [1, {W}), got {min(offsets)}..{max(offsets)}")
    dev = alt_ids.device
    K = model.cfg.short_filter_order
    S = W - min(offsets)
    off = torch.tensor(list(offsets), dtype=torch.long, device=dev)       # (B,)
    par = torch.tensor(list(parents), dtype=torch.long, device=dev)[:, None]  # (B, 1)
    rows = off[:, None] + torch.arange(S, device=dev)                      # (B, S) positions in the window
    valid = rows < W                                                       # (B, S) real suffix positions
    rows = rows.clamp_(max=W - 1)                                          # padding reads the last position
    halo_pos = off[:, None] - (K - 1) + torch.arange(K - 1, device=dev)    # (B, K-1)
    halo_ok = halo_pos >= 0                                                # before the window: u = 0
    halo_idx = cache.halo_row[halo_pos.clamp(min=0)].clamp_(min=0)         # (B, K-1) rows of cache.halo
    if bool((cache.halo_row[halo_pos.clamp(min=0)][halo_ok] < 0).any()):
        raise ValueError("an alt offset was not among the offsets given to ref_forward")

    ids = torch.gather(alt_ids, 1, rows)                                   # (B, S)
    spans = model.check_input(ids, chunk_size)
    group = model.fft_channel_group if channel_group is None else channel_group
    h = model.embed(ids)                                                   # (B, S, D)
    for l, layer in enumerate(model.backbone.layers):
        h_ext = torch.cat([cache.halo[l][par, halo_idx].to(h.dtype), h], dim=1)   # (B, K-1+S, D)
        _suffix_block_(layer, h_ext, halo_ok, cache.w[l][par, rows], cache.y[l][par, rows], valid,
                       W, spans, group)
        h = h_ext[:, K - 1:]
    hidden, logits = model.head(h, spans)
    return HyenaOutput(logits=logits, hidden_states=hidden)


def _ext_short_conv(block: HyenaBlock, h_ext: torch.Tensor, a: int, b: int,
                    halo_ok: torch.Tensor) -> torch.Tensor:
    """`HyenaBlock._short_conv` for suffix positions [a, b) of h_ext (B, K-1+S, D), whose first K-1 rows
    are the halo (positions o-K+1 .. o-1; rows with halo_ok False lie before the window and read zero)."""
    mixer, K = block.mixer, block.cfg.short_filter_order
    cdt = mixer.in_proj.weight.dtype
    n = b - a
    u = mixer.in_proj(block.norm1(h_ext[:, a:b + K - 1].to(cdt)))       # (B, n + K-1, (order+1) D)
    if a < K - 1:                                                       # halo rows in this span
        u[:, :K - 1 - a] *= halo_ok[:, a:, None].to(u.dtype)
    wts = mixer.short_filter.weight[:, 0, :]                            # ((order+1) D, K)
    uc = torch.addcmul(mixer.short_filter.bias, u[:, K - 1:], wts[:, K - 1])  # (B, n, (order+1) D)
    for j in range(K - 1):                                              # out[i] += w[j] * u[i - (K-1-j)]
        uc.addcmul_(u[:, j:j + n], wts[:, j])
    return uc


def _suffix_block_(block: HyenaBlock, h_ext: torch.Tensor, halo_ok: torch.Tensor, w_ref: torch.Tensor,
                   y_ref: torch.Tensor, valid: torch.Tensor, window: int, spans: list[tuple[int, int]],
                   group: int | None) -> None:
    """In place: the suffix rows of h_ext (B, K-1+S, D) <- after this block (`HyenaBlock.forward_` for
    hyena_order 2, with the long convolution taken as the ref's plus that of the difference). w_ref, y_ref
    (B, S, D): the ref pass's long-conv input and output at the suffix positions; valid (B, S): real
    positions (the rest is padding)."""
    K = block.cfg.short_filter_order
    B, E, D = h_ext.shape
    S = E - (K - 1)
    mixer = block.mixer
    cdt = mixer.in_proj.weight.dtype
    fdt = torch.promote_types(mixer.filter_fn.bias.dtype, torch.float32)
    gate = torch.empty(B, S, D, dtype=cdt, device=h_ext.device)        # x0
    w = torch.empty(B, S, D, dtype=cdt, device=h_ext.device)           # long-conv input v * x1
    for a, b in spans:
        uc = _ext_short_conv(block, h_ext, a, b, halo_ok)              # (B, n, 3D)
        gate[:, a:b] = uc[..., :D]
        torch.mul(uc[..., 2 * D:], uc[..., D:2 * D], out=w[:, a:b])
        del uc
    n_conv = conv_length(S, window)
    d = torch.zeros(B, n_conv, D, dtype=fdt, device=h_ext.device)     # (B, n_conv, D) w_alt - w_ref
    torch.sub(w.to(fdt), w_ref.to(fdt), out=d[:, :S])
    d[:, :S].masked_fill_(~valid[..., None], 0)                         # padding rows add nothing
    causal_fft_conv_(d.permute(2, 0, 1), mixer.filter_fn.spectrum_fn(n_conv, fdt), mixer.filter_fn.bias, fdt,
                     group)
    w.copy_(d[:, :S].add_(y_ref.to(fdt)))                              # y_alt = y_ref + conv(d)
    del d
    for a, b in spans:
        y = mixer.out_proj(w[:, a:b].mul_(gate[:, a:b]))               # (B, n, D)
        hs = h_ext[:, K - 1 + a:K - 1 + b]
        hs += y.to(hs.dtype)
        hs += block.mlp(block.norm2(hs.to(cdt))).to(hs.dtype)
