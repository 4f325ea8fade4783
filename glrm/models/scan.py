"""Mamba-1 selective scan and causal depthwise conv, with exact carried-in state.

Everything here is channel-last: u, delta (Bt, L, E), B, C (Bt, L, N), A (E, N), state (Bt, E, N), where
E = d_inner and N = d_state. The recurrence (mamba_ssm's `selective_scan_ref`, written position by position):

    h_t = exp(delta_t * A) * h_{t-1} + delta_t * u_t * B_t        (per channel e and state n)
    y_t = sum_n C_t[n] h_t[e, n] + D[e] * u_t[e]

Pure-PyTorch path (`selective_scan`). A Python loop over every position is far too slow on CPU, and the
reference's (Bt, E, L, N) tensors are far too big, so the sequence is cut into segments of S positions
(S chosen so that one (Bt, S, E, N) tensor stays within a fixed element budget), and each segment into nb
blocks of T ~ sqrt(S) positions:

1. all blocks run the recurrence from a zero state *in parallel* (T vectorised steps over (Bt, nb, E, N));
2. the true state entering each block is passed along the blocks (nb cheap steps):
   start_{k+1} = W_end,k * start_k + local_end_k, where W_t = prod over the block up to t of exp(delta A)
   is accumulated during step 1;
3. the scan is linear in its initial state, so the true state is exactly h_t = local_t + W_t * start_k,
   and y_t = C_t . h_t.

Cost: one exp (as exp2, ~3x cheaper in torch on CPU) and about four multiply-adds per (position, channel,
state), in ~sqrt(S) Python steps per segment instead of S.

Every exponent is delta * A <= 0 and decays are products of factors <= 1: no overflow, no exp of a
positive number, no division. The segment's end state is the carried state for the next segment or the next
chunk, which is how `chunk_size` in the models gets exact results. Memory is bounded by the element budget,
whatever L is.

CPU kernel path (`glrm.models.cpu_kernels`): a small C kernel that runs the recurrence in one sweep, the state
of 16 channels held in registers, so each (position, channel, state) element costs one exp and three
multiply-adds and no memory traffic (the pure-PyTorch scan makes about seven passes over memory per element).
It can sweep right to left, so the reverse direction of Caduceus needs no flipped copies. Chosen per call by
`use_cpu_kernel(x, d_state)`: CPU tensor, float32, d_state <= 64, kernels built and loaded
(`cpu_kernels.available()`, which warns once and falls back to this file's scan when they cannot be built).
The pure-PyTorch scan stays the reference the tests hold the kernel to.

CUDA path (`selective_scan_cuda`): mamba_ssm's `selective_scan_fn(..., return_last_state=True)` for the
zero-initial-state scan, plus the same exact linear correction for a carried-in state. It is chosen in ONE
place, `use_kernels(x)`: tensor on CUDA, kernels importable, dtype float32/float16/bfloat16. On CUDA without
the kernels glrm warns once and uses the pure-PyTorch path.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os

import torch
import torch.nn.functional as F

import glrm.models.cpu_kernels as cpu_kernels

try:  # optional CUDA kernels (the `cuda` extra, README's Set-up); never needed for correctness
    from mamba_ssm.ops.selective_scan_interface import selective_scan_fn
except (ImportError, OSError):  # pragma: no cover - not installed, or built for another CUDA/torch
    selective_scan_fn = None
try:
    from causal_conv1d import causal_conv1d_fn
except (ImportError, OSError):  # pragma: no cover
    causal_conv1d_fn = None

log = logging.getLogger(__name__)

# (Bt * S * E * N) elements per segment in the pure-PyTorch scan: 2**20 float32 = 4 MiB per big temporary.
ELEMENT_BUDGET = 1 << 20
_KERNEL_DTYPES = (torch.float32, torch.float16, torch.bfloat16)
_LOG2E = 1.0 / math.log(2.0)
_warned = False


def kernels_available() -> bool:
    return selective_scan_fn is not None


def use_kernels(x: torch.Tensor) -> bool:
    """The one decision between the CUDA kernels and the pure-PyTorch path."""
    global _warned
    if x.is_cuda and selective_scan_fn is not None and x.dtype in _KERNEL_DTYPES:
        return True
    if x.is_cuda and selective_scan_fn is None and not _warned:
        _warned = True
        log.warning("mamba-ssm CUDA kernels not importable; using glrm's pure-PyTorch scan on the GPU "
                    "(slower; for the kernels, install the cuda extra from the glrm checkout: "
                    "pip install --no-build-isolation -e '.[cuda]')")
    return False


def use_cpu_kernel(x: torch.Tensor, d_state: int) -> bool:
    """The one decision between glrm's CPU kernels and the pure-PyTorch scan and conv (module docstring)."""
    return d_state <= cpu_kernels.NMAX and cpu_kernels.usable(x)


# --- causal depthwise convolution ---------------------------------------------------------------


def causal_conv(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, state: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Depthwise causal conv over x (Bt, l, E) continuing from `state` (Bt, K-1, E) (None = zeros).

    weight (E, 1, K) as stored by nn.Conv1d. Returns (y (Bt, l, E) before the activation, new state =
    the last K-1 conv inputs).
    """
    bt, l, e = x.shape
    k = weight.shape[-1]
    if state is None:
        state = x.new_zeros(bt, k - 1, e)  # (Bt, K-1, E)
    inp = torch.cat([state.to(x.dtype), x], dim=1)  # (Bt, K-1+l, E)
    w = weight.reshape(e, k).t().to(x.dtype)  # (K, E)
    y = inp[:, 0:l] * w[0]  # (Bt, l, E)
    for j in range(1, k):
        y.addcmul_(inp[:, j:j + l], w[j])
    if bias is not None:
        y += bias.to(x.dtype)
    return y, inp[:, inp.shape[1] - (k - 1):].clone()


def causal_conv_silu(x, weight, bias, state):
    """SiLU(causal_conv(...)); uses causal-conv1d on CUDA when there is no carried-in state."""
    if state is None and causal_conv1d_fn is not None and use_kernels(x):
        k = weight.shape[-1]
        xt = x.transpose(1, 2).contiguous()  # (Bt, E, l)
        y = causal_conv1d_fn(xt, weight.reshape(weight.shape[0], k).contiguous(), bias, activation="silu")
        pad = x.new_zeros(x.shape[0], max(0, k - 1 - x.shape[1]), x.shape[2])
        new_state = torch.cat([pad, x], dim=1)[:, -(k - 1):].clone() if k > 1 else x[:, :0].clone()
        return y.transpose(1, 2), new_state
    y, new_state = causal_conv(x, weight, bias, state)
    return F.silu(y), new_state


# --- pure-PyTorch chunked scan ------------------------------------------------------------------


# Intra-op threads inside Mamba/Caduceus forwards (None: use torch's setting, which `--threads` controls).
# The scan is many small sequential steps (~10^4-10^5 elements each), so extra threads help little, and on an
# oversubscribed machine (other processes holding the cores) they can make it several times slower. By default
# glrm keeps torch's setting (measured on the idle 2-core box: tiny Caduceus-ph, 8 x 4096 tokens, 246 ms on 2
# threads vs 489 ms on 1; d_model 256, 64k tokens, 18.1 s vs 20.7 s). On a crowded node, pin it with the
# environment variable GLRM_MAMBA_THREADS (a number; "torch" = the default).
_env_threads = os.environ.get("GLRM_MAMBA_THREADS", "torch").strip().lower()
THREADS: int | None = (max(1, int(_env_threads)) if _env_threads.isascii() and _env_threads.isdigit()
                       else None)


@contextlib.contextmanager
def scan_threads():
    """Run a model forward with THREADS intra-op threads, restoring torch's setting afterwards."""
    n = torch.get_num_threads()
    if THREADS is None or n == THREADS:
        yield
        return
    torch.set_num_threads(THREADS)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def selective_scan(
    u: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor | None = None,
    h0: torch.Tensor | None = None,
    budget: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact selective scan; returns (y (Bt, L, E), last state (Bt, E, N)). See the module docstring."""
    budget = budget or ELEMENT_BUDGET
    bt, L, e = u.shape
    n = A.shape[1]
    if h0 is None:
        h = u.new_zeros(bt, e, n)  # (Bt, E, N)
    else:
        h = h0.to(u.dtype)
    y = u.new_empty(bt, L, e)  # (Bt, L, E)
    seg = max(1, budget // max(1, bt * e * n))
    for s in range(0, L, seg):
        sl = slice(s, min(L, s + seg))
        y[:, sl], h = _scan_segment(u[:, sl], delta[:, sl], A, B[:, sl], C[:, sl], h)
    if D is not None:
        y.addcmul_(u, D.to(u.dtype))
    return y, h


def _scan_segment(u, delta, A, B, C, h0):
    """One segment: parallel local scans over blocks, state passing, exact correction. y without D."""
    bt, S, e = u.shape
    n = A.shape[1]
    T = max(1, math.isqrt(S))
    nb = -(-S // T)
    pad = nb * T - S
    du = delta * u  # (Bt, S, E)
    if pad:  # delta = 0 and u = 0 leave the state untouched: padding changes nothing
        delta = F.pad(delta, (0, 0, 0, pad))
        du = F.pad(du, (0, 0, 0, pad))
        B = F.pad(B, (0, 0, 0, pad))
        C = F.pad(C, (0, 0, 0, pad))
    dl = delta.reshape(bt, nb, T, e)  # (Bt, nb, T, E)
    du = du.reshape(bt, nb, T, e)
    Bb = B.reshape(bt, nb, T, n)  # (Bt, nb, T, N)
    Cb = C.reshape(bt, nb, T, n)
    A = A.to(u.dtype)

    # 1. local scans of all blocks at once, from zero states; H keeps every local state of the segment.
    #    dA turns, in the same sweep, into the cumulative in-block decay W_t = prod_{r<=t} exp(delta_r A)
    #    (one exp per element; the product only shrinks, so it underflows gracefully to 0).
    H = du[..., None] * Bb[:, :, :, None, :]  # (Bt, nb, T, E, N): delta u B, S * E * N elements (the budget)
    # exp(delta A) as exp2(delta A log2(e)): same accuracy, and torch's CPU exp2 is ~3x faster than exp
    dA = torch.mul(dl[..., None], A * _LOG2E, out=u.new_empty(H.shape)).exp2_()  # (Bt, nb, T, E, N)
    Hs, dAs = H.unbind(2), dA.unbind(2)  # views per in-block offset (cheaper than indexing in the loop)
    for t in range(1, T):
        Hs[t].addcmul_(Hs[t - 1], dAs[t])
        dAs[t].mul_(dAs[t - 1])
    W = dA

    # 2. pass the true state along the blocks: start_{k+1} = W_end,k * start_k + local_end_k
    starts = u.new_empty(bt, nb, e, n)  # (Bt, nb, E, N), true state entering each block
    st, h_end, w_end = starts.unbind(1), Hs[-1].unbind(1), dAs[-1].unbind(1)
    cur = h0
    for k in range(nb):
        st[k].copy_(cur)
        cur = torch.addcmul(h_end[k], w_end[k], cur)

    # 3. true states = local + W_t * block start (exact: the scan is linear in its initial state); y = C . h
    h_true = torch.addcmul(H, W, starts[:, :, None], out=W)  # (Bt, nb, T, E, N)
    y = torch.einsum("bkten,bktn->bkte", h_true, Cb)  # (Bt, nb, T, E)
    return y.reshape(bt, nb * T, e)[:, :S], cur


def state_correction(C, A, delta, h0, budget: int | None = None):
    """Exact contribution of an initial state h0 (Bt, E, N) to a zero-state scan.

    Returns (dy (Bt, L, E), decayed h0 at the end (Bt, E, N)): dy_t = sum_n C_t[n] exp(A cumsum(delta)_t) h0.
    Cumulative sums are taken per segment (the decayed state is carried), keeping them short and precise.
    """
    bt, L, e = delta.shape
    seg = max(1, (budget or ELEMENT_BUDGET) // max(1, bt * e * A.shape[1]))
    dy = delta.new_empty(bt, L, e)  # (Bt, L, E)
    cur = h0.to(delta.dtype)
    A = A.to(delta.dtype)
    for s in range(0, L, seg):
        sl = slice(s, min(L, s + seg))
        cd = torch.cumsum(delta[:, sl], dim=1)  # (Bt, l, E)
        w = torch.exp(cd[..., None] * A) * cur[:, None]  # (Bt, l, E, N)
        dy[:, sl] = torch.matmul(w, C[:, sl, :, None].to(delta.dtype)).squeeze(-1)
        cur = w[:, -1]
    return dy, cur


# --- CUDA kernel path ---------------------------------------------------------------------------


def selective_scan_cuda(u, delta, A, B, C, D=None, h0=None):
    """mamba_ssm kernel scan with the exact carried-in-state correction; same contract as `selective_scan`."""
    y, last = selective_scan_fn(
        u.transpose(1, 2).contiguous(), delta.transpose(1, 2).contiguous(), A.float(),
        B.transpose(1, 2).contiguous(), C.transpose(1, 2).contiguous(),
        None if D is None else D.float(), return_last_state=True,
    )
    y = y.transpose(1, 2).to(u.dtype)  # (Bt, L, E)
    last = last.float()
    if h0 is not None:
        dy, decayed = state_correction(C.float(), A.float(), delta.float(), h0.float())
        y = y + dy.to(y.dtype)
        last = last + decayed
    return y, last


def scan(u, delta, A, B, C, D=None, h0=None):
    """Dispatch: CUDA kernels when `use_kernels(u)`, else the pure-PyTorch scan."""
    if use_kernels(u):
        return selective_scan_cuda(u, delta, A, B, C, D, h0)
    return selective_scan(u, delta, A, B, C, D, h0)


def selective_scan_ref(u, delta, A, B, C, D=None, h0=None):
    """Position-by-position reference recurrence (slow; for tests only). Same contract as `selective_scan`."""
    bt, L, e = u.shape
    h = u.new_zeros(bt, e, A.shape[1]) if h0 is None else h0.to(u.dtype)
    ys = []
    for t in range(L):
        h = torch.exp(delta[:, t, :, None] * A) * h + (delta[:, t] * u[:, t])[..., None] * B[:, t, None, :]
        ys.append((h * C[:, t, None, :]).sum(-1))
    y = torch.stack(ys, dim=1) if ys else u.new_zeros(bt, 0, e)
    if D is not None:
        y = y + u * D
    return y, h
