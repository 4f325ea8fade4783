"""Chunked execution is exact: the selective scan and the causal conv carry their state across chunks, and
every model gives the unchunked result for any chunk size, without ever building per-position
(L, d_inner, d_state) tensors or a whole-sequence in_proj output."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

import glrm.models.caduceus as cad_mod
import glrm.models.scan as scan_mod
from glrm.models.base import read_state_dict
from glrm.models.caduceus import build_caduceus
from glrm.models.mamba import build_mamba_lm
from glrm.models.scan import causal_conv, selective_scan, selective_scan_ref

FIXTURES = Path(__file__).parent / "fixtures"
G = torch.Generator().manual_seed(0)


def scan_inputs(bt, L, e, n, dtype=torch.float64, big_delta=False):
    u = torch.randn(bt, L, e, generator=G, dtype=dtype)
    delta = F.softplus(torch.randn(bt, L, e, generator=G, dtype=dtype) + (2 if big_delta else -1))
    A = -torch.exp(torch.randn(e, n, generator=G, dtype=dtype) + 1)
    B = torch.randn(bt, L, n, generator=G, dtype=dtype)
    C = torch.randn(bt, L, n, generator=G, dtype=dtype)
    D = torch.randn(e, generator=G, dtype=dtype)
    h0 = torch.randn(bt, e, n, generator=G, dtype=dtype)
    return u, delta, A, B, C, D, h0


@pytest.mark.parametrize("L,budget", [(1, None), (2, None), (97, None), (97, 64), (500, 1000), (1000, 300)])
@pytest.mark.parametrize("with_h0", [False, True])
def test_scan_matches_position_by_position_reference(L, budget, with_h0):
    u, delta, A, B, C, D, h0 = scan_inputs(2, L, 5, 3, big_delta=L == 97)
    h0 = h0 if with_h0 else None
    y, h = selective_scan(u, delta, A, B, C, D, h0, budget=budget)
    y_ref, h_ref = selective_scan_ref(u, delta, A, B, C, D, h0)
    torch.testing.assert_close(y, y_ref, atol=1e-12, rtol=0)
    torch.testing.assert_close(h, h_ref, atol=1e-12, rtol=0)


def test_scan_large_decays_stay_finite():
    u, delta, A, B, C, D, _ = scan_inputs(1, 300, 4, 4, dtype=torch.float32)
    y, h = selective_scan(u, delta * 50, A * 20, B, C, D)
    y_ref, h_ref = selective_scan_ref(u, delta * 50, A * 20, B, C, D)
    assert torch.isfinite(y).all() and torch.isfinite(h).all()
    torch.testing.assert_close(y, y_ref, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("cuts", [[1], [7, 8, 100], [250]])
def test_scan_state_carry_composes(cuts):
    u, delta, A, B, C, D, _ = scan_inputs(2, 257, 6, 4)
    whole, h_whole = selective_scan(u, delta, A, B, C, D)
    parts, h, prev = [], None, 0
    for c in cuts + [257]:
        y, h = selective_scan(u[:, prev:c], delta[:, prev:c], A, B[:, prev:c], C[:, prev:c], D, h)
        parts.append(y)
        prev = c
    torch.testing.assert_close(torch.cat(parts, 1), whole, atol=1e-12, rtol=0)
    torch.testing.assert_close(h, h_whole, atol=1e-12, rtol=0)


def test_causal_conv_state_carry_matches_official_padding():
    x = torch.randn(2, 50, 6, generator=G, dtype=torch.float64)
    conv = torch.nn.Conv1d(6, 6, 4, groups=6, padding=3).double()
    want = conv(x.transpose(1, 2))[..., :50].transpose(1, 2)  # the official conv: left padding, first L kept
    got, state = [], None
    for s, e in [(0, 1), (1, 3), (3, 10), (10, 50)]:
        y, state = causal_conv(x[:, s:e], conv.weight, conv.bias, state)
        got.append(y)
    torch.testing.assert_close(torch.cat(got, 1), want, atol=1e-12, rtol=0)
    torch.testing.assert_close(state, x[:, -3:], atol=0, rtol=0)


def load(name):
    d = FIXTURES / name
    cfg = json.loads((d / "config.json").read_text())
    if name.startswith("mamba"):
        return build_mamba_lm(cfg, read_state_dict(d / "pytorch_model.bin"), str(d))
    return build_caduceus(cfg, read_state_dict(d / "model.safetensors"), str(d))


MODELS = ["caduceus-ph-tiny", "caduceus-ps-tiny", "mamba-lm-tiny"]


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("case,chunk", [("io", 1), ("io", 7), ("io_refalt", 97), ("io_refalt", 5000)])
def test_fixture_models_chunked_equal_unchunked(name, case, chunk):
    m = load(name)
    ids = torch.from_numpy(np.load(FIXTURES / name / f"{case}.npz")["input_ids"])
    with torch.no_grad():
        a, b = m(ids), m(ids, chunk_size=chunk)
    torch.testing.assert_close(b.hidden_states, a.hidden_states, atol=1e-5, rtol=0)
    scale = max(1.0, a.logits.abs().max().item())
    torch.testing.assert_close(b.logits, a.logits, atol=1e-5 * scale, rtol=0)


@pytest.mark.parametrize("name", MODELS)
def test_fixture_models_chunked_float64_exact(name):
    m = load(name).double()
    ids = torch.from_numpy(np.load(FIXTURES / name / "io.npz")["input_ids"])
    with torch.no_grad():
        a = m(ids)
        for chunk in (13, 256):
            torch.testing.assert_close(m(ids, chunk_size=chunk).logits, a.logits, atol=1e-11, rtol=0)


def random_caduceus(**kw):
    from tests.test_caduceus import random_caduceus as make

    return make(seed=7, **kw)


CONFIGS = [
    dict(),
    dict(rcps=True),
    dict(rcps=True, fused_add_norm=False, rms_norm=False, residual_in_fp32=True),
    dict(bidirectional_strategy="ew_multiply", bidirectional_weight_tie=False, bias=True),
    dict(bias=True),
    dict(bidirectional=False, fused_add_norm=False),
]


@pytest.mark.parametrize("kw", CONFIGS)
def test_random_configs_chunked_exact(kw):
    m = random_caduceus(**kw).double()
    ids = torch.randint(0, 16, (2, 150), generator=G)
    with torch.no_grad():
        a = m(ids)
        for chunk in (1, 7, 97, 1000):
            torch.testing.assert_close(m(ids, chunk_size=chunk).logits, a.logits, atol=1e-11, rtol=0)


class LargestTensor(TorchDispatchMode):
    """Records the largest tensor any aten op produces."""

    def __init__(self):
        super().__init__()
        self.largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else [out]:
            if isinstance(t, torch.Tensor):
                self.largest = max(self.largest, t.numel())
        return out


def largest_tensor_chunked(monkeypatch, kernels: str, L: int) -> int:
    """Elements of the largest tensor a random rcps Caduceus (d_model 16 -> H 32, d_inner 32, d_state 4)
    makes in a forward of L tokens with chunk_size 128, after checking it gives the unchunked logits."""
    monkeypatch.setattr(scan_mod, "ELEMENT_BUDGET", 2048)
    monkeypatch.setenv("GLRM_CPU_KERNELS", kernels)
    m = random_caduceus(rcps=True)
    ids = torch.randint(7, 11, (1, L), generator=G)
    with torch.no_grad():
        want = m(ids)
        watch = LargestTensor()
        with watch:
            got = m(ids, chunk_size=128)
    torch.testing.assert_close(got.logits, want.logits, atol=1e-4, rtol=0)
    return watch.largest


@pytest.mark.parametrize("kernels", ["0", "1"])
def test_chunked_memory_bound(monkeypatch, kernels):
    """With chunk_size, nothing bigger than a (B, L, 2*d_model) activation is ever built (when the tied
    projections are not shared: caduceus.SHARED_PROJ_BYTES 0)."""
    monkeypatch.setattr(cad_mod, "SHARED_PROJ_BYTES", 0)
    L = 3000
    largest = largest_tensor_chunked(monkeypatch, kernels, L)
    assert largest <= L * 32  # the hidden/residual streams; in_proj for all L would be L * 64
    assert largest < L * 32 * 4  # a (L, d_inner, d_state) tensor would be L * 128


@pytest.mark.parametrize("kernels", ["0", "1"])
def test_chunked_shared_projections_memory_bound(monkeypatch, kernels):
    """Sharing the tied projections holds the layer's in_proj output and summed scan output, (B, L, 3 *
    d_inner), and nothing bigger; never per-position (L, d_inner, d_state) tensors."""
    L = 3000
    largest = largest_tensor_chunked(monkeypatch, kernels, L)
    assert largest <= L * 64  # the in_proj output (L, 2 * d_inner)
    assert largest < L * 32 * 4  # a (L, d_inner, d_state) tensor would be L * 128
