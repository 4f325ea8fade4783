"""The CUDA kernel path: mamba_ssm's selective_scan_fn plus glrm's exact carried-state correction.

CPU tests check the pieces that need no GPU (the correction, the layout handling of the wrapper against a
stand-in with the kernel's documented contract, the one dispatch decision and its warn-once fallback).
`gpu`-marked tests compare the real kernels with the pure-PyTorch path; they skip without CUDA.
"""

import json
import logging
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import glrm.models.scan as scan_mod
from glrm.models.base import read_state_dict
from glrm.models.caduceus import build_caduceus
from glrm.models.mamba import build_mamba_lm, cast_for_inference
from glrm.models.scan import selective_scan, selective_scan_cuda, state_correction

FIXTURES = Path(__file__).parent / "fixtures"


def inputs(bt=2, L=300, e=8, n=4, dtype=torch.float64, device="cpu", seed=0):
    g = torch.Generator().manual_seed(seed)

    def r(*s):
        return torch.randn(*s, generator=g, dtype=dtype).to(device)

    u, delta = r(bt, L, e), F.softplus(r(bt, L, e) - 1)
    A = -torch.exp(r(e, n))
    return u, delta, A, r(bt, L, n), r(bt, L, n), r(e), r(bt, e, n)


def kernel_contract(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False,
                    return_last_state=False):
    """Stand-in with selective_scan_fn's documented contract: u, delta (b, d, l); B, C (b, n, l)."""
    y, last = selective_scan(u.transpose(1, 2), delta.transpose(1, 2), A, B.transpose(1, 2),
                             C.transpose(1, 2), D)
    y = y.transpose(1, 2)
    return (y, last) if return_last_state else y


def test_state_correction_is_exact():
    u, delta, A, B, C, D, h0 = inputs()
    y0, h_zero = selective_scan(u, delta, A, B, C, D)
    dy, decayed = state_correction(C, A, delta, h0, budget=500)
    y, h = selective_scan(u, delta, A, B, C, D, h0)
    torch.testing.assert_close(y0 + dy, y, atol=1e-12, rtol=0)
    torch.testing.assert_close(h_zero + decayed, h, atol=1e-12, rtol=0)


@pytest.mark.parametrize("with_h0", [False, True])
def test_kernel_wrapper_layout_and_correction(monkeypatch, with_h0):
    monkeypatch.setattr(scan_mod, "selective_scan_fn", kernel_contract)
    u, delta, A, B, C, D, h0 = inputs(dtype=torch.float32)
    h0 = h0 if with_h0 else None
    y, h = selective_scan_cuda(u, delta, A, B, C, D, h0)
    y_ref, h_ref = selective_scan(u, delta, A, B, C, D, h0)
    torch.testing.assert_close(y, y_ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(h, h_ref, atol=1e-5, rtol=1e-5)


def test_dispatch_decision_and_warn_once(monkeypatch, caplog):
    cuda32 = SimpleNamespace(is_cuda=True, dtype=torch.float32)
    cuda64 = SimpleNamespace(is_cuda=True, dtype=torch.float64)
    monkeypatch.setattr(scan_mod, "selective_scan_fn", kernel_contract)
    assert scan_mod.use_kernels(cuda32) and not scan_mod.use_kernels(cuda64)
    assert not scan_mod.use_kernels(torch.zeros(1))  # CPU tensors never take the kernel path
    monkeypatch.setattr(scan_mod, "selective_scan_fn", None)
    monkeypatch.setattr(scan_mod, "_warned", False)
    with caplog.at_level(logging.WARNING, logger="glrm.models.scan"):
        assert not scan_mod.use_kernels(cuda32)
        assert not scan_mod.use_kernels(cuda32)
    assert sum("pure-PyTorch" in r.getMessage() for r in caplog.records) == 1


# --- on the GPU ---------------------------------------------------------------------------------


def _kernels():
    if not scan_mod.kernels_available():
        pytest.skip("mamba-ssm CUDA kernels not installed")


@pytest.mark.gpu
@pytest.mark.parametrize("with_h0", [False, True])
def test_gpu_kernel_scan_matches_torch_scan(with_h0):
    _kernels()
    u, delta, A, B, C, D, h0 = inputs(L=1000, e=64, n=16, dtype=torch.float32, device="cuda")
    h0 = h0 if with_h0 else None
    y_k, h_k = scan_mod.scan(u, delta, A, B, C, D, h0)
    y_t, h_t = selective_scan(u, delta, A, B, C, D, h0)
    torch.testing.assert_close(y_k, y_t, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(h_k, h_t, atol=1e-4, rtol=1e-4)


def _load(name):
    d = FIXTURES / name
    cfg = json.loads((d / "config.json").read_text())
    if name.startswith("mamba"):
        return build_mamba_lm(cfg, read_state_dict(d / "pytorch_model.bin"), str(d))
    return build_caduceus(cfg, read_state_dict(d / "model.safetensors"), str(d))


@pytest.mark.gpu
@pytest.mark.parametrize("name", ["caduceus-ph-tiny", "caduceus-ps-tiny", "mamba-lm-tiny"])
def test_gpu_models_match_official_and_chunking(name):
    _kernels()
    m = _load(name).cuda()
    z = np.load(FIXTURES / name / "io_refalt.npz")
    ids = torch.from_numpy(z["input_ids"]).cuda()
    with torch.no_grad():
        out = m(ids)
        chunked = m(ids, chunk_size=97)
    want = torch.from_numpy(z["logits_f64"])
    torch.testing.assert_close(out.logits.double().cpu(), want, atol=1e-4, rtol=0)
    torch.testing.assert_close(chunked.logits, out.logits, atol=1e-4, rtol=0)


@pytest.mark.gpu
def test_gpu_bfloat16_keeps_states_fp32():
    _kernels()
    m = cast_for_inference(_load("mamba-lm-tiny").cuda(), torch.bfloat16)
    ids = torch.from_numpy(np.load(FIXTURES / "mamba-lm-tiny" / "io.npz")["input_ids"]).cuda()
    with torch.no_grad():
        out, state = m.forward_stateful(ids, chunk_size=64)
    assert state[0].ssm.dtype == torch.float32 and state[0].conv.dtype == torch.float32
    assert torch.isfinite(out.logits).all()
