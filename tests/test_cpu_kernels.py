"""glrm's CPU kernels (glrm.models.cpu_kernels) and the tied-projection Caduceus path, held to the
pure-PyTorch reference: the selective scan (both sweep directions, carried state, accumulate, fused softplus
and gate, odd channel counts, batch > 1), the conv + SiLU (carried state, chunks shorter than the kernel),
the models with the kernels on and off (fixture parity, chunked == unchunked, ph and ps, batch > 1, odd
lengths), the shared projections against each direction's own, and the fallback when the kernels cannot be
built."""

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import glrm.models.caduceus as cad_mod
from glrm.models import cpu_kernels
from glrm.models.base import read_state_dict
from glrm.models.caduceus import build_caduceus
from glrm.models.mamba import build_mamba_lm
from glrm.models.scan import causal_conv, selective_scan_ref

FIXTURES = Path(__file__).parent / "fixtures"
G = torch.Generator().manual_seed(3)

needs_kernels = pytest.mark.skipif(not cpu_kernels.available(), reason="the CPU kernels could not be built")


def scan_inputs(bt, L, e, n):
    u = torch.randn(bt, L, e, generator=G)
    dt = torch.randn(bt, L, e, generator=G) * 2 - 1  # dt_proj output: softplus(dt) is delta
    A = -torch.exp(torch.randn(e, n, generator=G) + 1)
    B = torch.randn(bt, L, n, generator=G)
    C = torch.randn(bt, L, n, generator=G)
    D = torch.randn(e, generator=G)
    h0 = torch.randn(bt, e, n, generator=G)
    z = torch.randn(bt, L, 2 * e, generator=G)[..., e:]  # a strided view, as the in_proj half is
    return u, dt, A, B, C, D, h0, z


def ref_scan(u, dt, A, B, C, D, h0, reverse=False):
    """The position-by-position reference in float64, swept right to left when `reverse`."""
    args = [t.double() for t in (u, F.softplus(dt.double()), A, B, C, D, h0)]
    if reverse:
        for i in (0, 1, 3, 4):
            args[i] = args[i].flip(1)
    y, h = selective_scan_ref(*args)
    return (y.flip(1) if reverse else y), h


@needs_kernels
@pytest.mark.parametrize("bt,L,e,n", [(1, 1, 16, 16), (2, 37, 40, 5), (1, 300, 33, 16), (3, 64, 7, 1)])
@pytest.mark.parametrize("reverse", [False, True])
def test_kernel_scan_matches_reference(bt, L, e, n, reverse):
    u, dt, A, B, C, D, h0, z = scan_inputs(bt, L, e, n)
    y_ref, h_ref = ref_scan(u, dt, A, B, C, D, h0, reverse)
    y, h = torch.empty(bt, L, e), h0.clone()
    cpu_kernels.scan(u, dt, A, B, C, D, h, y, reverse=reverse, softplus=True)
    torch.testing.assert_close(y.double(), y_ref, atol=2e-5, rtol=1e-5)
    torch.testing.assert_close(h.double(), h_ref, atol=2e-5, rtol=1e-5)
    # accumulate and gate: y = (y0 + scan) * silu(z)
    y0 = torch.randn(bt, L, e, generator=G)
    y2, h2 = y0.clone(), h0.clone()
    cpu_kernels.scan(u, dt, A, B, C, D, h2, y2, z=z, reverse=reverse, accumulate=True, softplus=True)
    want = (y0.double() + y_ref) * F.silu(z.double())
    torch.testing.assert_close(y2.double(), want, atol=2e-5, rtol=1e-5)
    # delta given directly (no softplus), no D
    y3, h3 = torch.empty(bt, L, e), h0.clone()
    cpu_kernels.scan(u, F.softplus(dt), A, B, C, None, h3, y3, reverse=reverse)
    torch.testing.assert_close(y3.double(), y_ref - u.double() * D.double(), atol=2e-5, rtol=1e-5)


@needs_kernels
@pytest.mark.parametrize("reverse", [False, True])
def test_kernel_scan_state_carry_composes(reverse):
    u, dt, A, B, C, D, h0, _ = scan_inputs(2, 257, 24, 16)
    whole, h_whole = torch.empty(2, 257, 24), h0.clone()
    cpu_kernels.scan(u, dt, A, B, C, D, h_whole, whole, reverse=reverse, softplus=True)
    spans = [(0, 7), (7, 8), (8, 100), (100, 257)]
    parts, h = torch.empty(2, 257, 24), h0.clone()
    for s, e in reversed(spans) if reverse else spans:
        cpu_kernels.scan(u[:, s:e], dt[:, s:e], A, B[:, s:e], C[:, s:e], D, h, parts[:, s:e], reverse=reverse,
                         softplus=True)
    torch.testing.assert_close(parts, whole, atol=0, rtol=0)
    torch.testing.assert_close(h, h_whole, atol=0, rtol=0)


@needs_kernels
@pytest.mark.parametrize("n", [4, 16])  # 16: the kernel's unrolled d_state
def test_kernel_scan_large_decays_and_extreme_dt(n):
    u, dt, A, B, C, D, h0, _ = scan_inputs(1, 300, 20, n)
    dt[0, :10] = torch.tensor([-200.0, -90.0, -87.0, -20.0, 0.0, 19.9, 20.0, 20.1, 50.0, 200.0])[:, None]
    y, h = torch.empty(1, 300, 20), h0.clone()
    cpu_kernels.scan(u, dt, A * 20, B, C, D, h, y, softplus=True)
    y_ref, h_ref = ref_scan(u, dt, A * 20, B, C, D, h0)
    assert torch.isfinite(y).all() and torch.isfinite(h).all()
    torch.testing.assert_close(y.double(), y_ref, atol=1e-4, rtol=1e-4)


@needs_kernels
def test_kernel_scan_threads_give_identical_results():
    u, dt, A, B, C, D, h0, z = scan_inputs(2, 100, 200, 16)
    outs = []
    n = torch.get_num_threads()
    try:
        for threads in (1, 3):
            torch.set_num_threads(threads)
            y, h = torch.empty(2, 100, 200), h0.clone()
            cpu_kernels.scan(u, dt, A, B, C, D, h, y, z=z, softplus=True)
            outs.append((y, h))
    finally:
        torch.set_num_threads(n)
    assert torch.equal(outs[0][0], outs[1][0]) and torch.equal(outs[0][1], outs[1][1])


@needs_kernels
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("e", [6, 16, 37])
def test_kernel_conv_silu_state_carry(reverse, e):
    x = torch.randn(2, 50, 2 * e, generator=G)[..., :e]  # strided, as the in_proj half is
    conv = torch.nn.Conv1d(e, e, 4, groups=e, padding=3)
    xs = x.flip(1) if reverse else x
    want = F.silu(conv(xs.transpose(1, 2))[..., :50].transpose(1, 2))  # official: left padding, first L
    want = want.flip(1) if reverse else want
    got = torch.empty(2, 50, e)
    state = None
    spans = [(0, 1), (1, 3), (3, 10), (10, 50)]
    from glrm.models.mamba import _conv_tail

    for s, t in reversed(spans) if reverse else spans:  # a reverse sweep meets (10, 50) first
        got[:, s:t] = cpu_kernels.conv_silu(x[:, s:t], conv.weight.detach(), conv.bias.detach(), state,
                                            reverse=reverse)
        state = _conv_tail(x[:, s:t], state, 4, reverse)
    torch.testing.assert_close(got, want.detach(), atol=1e-5, rtol=1e-5)
    ref_state = causal_conv(xs, conv.weight, conv.bias, None)[1]
    torch.testing.assert_close(state, ref_state.detach(), atol=0, rtol=0)


# --- models: kernels on vs off, shared vs unshared projections ------------------------------------------


def load(name):
    d = FIXTURES / name
    cfg = json.loads((d / "config.json").read_text())
    if name.startswith("mamba"):
        return build_mamba_lm(cfg, read_state_dict(d / "pytorch_model.bin"), str(d))
    return build_caduceus(cfg, read_state_dict(d / "model.safetensors"), str(d))


MODELS = ["caduceus-ph-tiny", "caduceus-ps-tiny", "mamba-lm-tiny"]


@needs_kernels
@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("case", ["io", "io_refalt"])
def test_fixture_parity_with_and_without_kernels(name, case, monkeypatch):
    m = load(name)
    a = {k: torch.from_numpy(v) for k, v in np.load(FIXTURES / name / f"{case}.npz").items()}
    outs = []
    for env in ("1", "0"):
        monkeypatch.setenv("GLRM_CPU_KERNELS", env)
        with torch.no_grad():
            out = m(a["input_ids"])
            chunked = m(a["input_ids"], chunk_size=97)
        torch.testing.assert_close(out.logits.double(), a["logits_f64"], atol=1e-4, rtol=0)
        torch.testing.assert_close(out.hidden_states.double(), a["last_hidden_state_f64"], atol=1e-5, rtol=0)
        torch.testing.assert_close(chunked.logits, out.logits, atol=1e-5, rtol=0)
        outs.append(out.logits)
    torch.testing.assert_close(outs[0], outs[1], atol=2e-5, rtol=0)


def random_caduceus(**kw):
    from tests.test_caduceus import random_caduceus as make

    return make(seed=11, **kw)


SHARED_CONFIGS = [
    dict(),
    dict(rcps=True),
    dict(rcps=True, fused_add_norm=False, rms_norm=False, residual_in_fp32=True),
    dict(bias=True),  # out_proj bias: counted once per direction
]


@pytest.mark.parametrize("kw", SHARED_CONFIGS)
@pytest.mark.parametrize("kernels", ["0", "1"])
def test_shared_projections_equal_per_direction_projections(kw, kernels, monkeypatch):
    """The tied layer run with one in_proj/out_proj (BiMamba._run_shared) gives each direction's own
    projections' result: float64 (pure PyTorch) to 1e-11, float32 (kernels) to rounding; batch 2, odd L,
    chunked and not."""
    monkeypatch.setenv("GLRM_CPU_KERNELS", kernels)
    m = random_caduceus(**kw)
    if kernels == "0":
        m = m.double()
    ids = torch.randint(0, 16, (2, 151), generator=G)
    atol = 1e-11 if kernels == "0" else 2e-5
    bi = m.caduceus.backbone.layers[0].mixer
    bi = bi.submodule if kw.get("rcps") else bi
    assert bi.shares_projections((2, 151), None) and bi.shares_projections((2, 151), 40)
    with torch.no_grad():
        shared = {c: m(ids, chunk_size=c).logits for c in (None, 40)}
        monkeypatch.setattr(cad_mod, "SHARED_PROJ_BYTES", 0)
        assert not bi.shares_projections((2, 151), 40)
        per_dir = m(ids, chunk_size=40).logits
    torch.testing.assert_close(shared[None], per_dir, atol=atol, rtol=0)
    torch.testing.assert_close(shared[40], per_dir, atol=atol, rtol=0)


def test_shared_projections_only_when_tied_and_added():
    assert not random_caduceus(bidirectional_strategy="ew_multiply").caduceus.backbone.layers[0].mixer \
        .shares_projections((1, 100), None)
    assert not random_caduceus(bidirectional_weight_tie=False).caduceus.backbone.layers[0].mixer \
        .shares_projections((1, 100), None)


@needs_kernels
@pytest.mark.parametrize("kw", [dict(), dict(rcps=True), dict(bidirectional=False, fused_add_norm=False)])
def test_random_caduceus_kernels_match_reference_batch_and_odd_lengths(kw, monkeypatch):
    m = random_caduceus(**kw)
    ids = torch.randint(0, 16, (3, 203), generator=G)
    with torch.no_grad():
        monkeypatch.setenv("GLRM_CPU_KERNELS", "0")
        want = m.double()(ids).logits
        m = m.float()
        monkeypatch.setenv("GLRM_CPU_KERNELS", "1")
        for chunk in (None, 1, 50, 202):
            got = m(ids, chunk_size=chunk).logits
            torch.testing.assert_close(got.double(), want, atol=5e-5, rtol=0)


@needs_kernels
def test_mamba_prefix_state_with_kernels():
    m = load("mamba-lm-tiny")
    ids = torch.randint(7, 11, (2, 301), generator=G)
    with torch.no_grad():
        whole = m(ids).logits
        out1, st = m.forward_stateful(ids[:, :123])
        out2, _ = m.forward_stateful(ids[:, 123:], st, chunk_size=50)
    torch.testing.assert_close(torch.cat([out1.logits, out2.logits], 1), whole, atol=1e-5, rtol=0)


def test_failed_build_falls_back_with_one_warning(monkeypatch, caplog, tmp_path):
    """No compiler: one warning, the pure-PyTorch scan, the same results."""
    m = load("caduceus-ph-tiny")
    ids = torch.from_numpy(np.load(FIXTURES / "caduceus-ph-tiny" / "io.npz")["input_ids"])
    with torch.no_grad():
        monkeypatch.setenv("GLRM_CPU_KERNELS", "0")
        want = m(ids).logits
        monkeypatch.setenv("GLRM_CPU_KERNELS", "1")
        monkeypatch.setenv("GLRM_KERNEL_CACHE", str(tmp_path / "cache"))
        monkeypatch.setenv("CC", "/nonexistent/cc")
        monkeypatch.setattr(cpu_kernels, "_compiler", lambda: None)
        monkeypatch.setattr(cpu_kernels, "_lib", None)
        monkeypatch.setattr(cpu_kernels, "_tried", False)
        with caplog.at_level(logging.WARNING, logger="glrm.models.cpu_kernels"):
            got = m(ids).logits
            again = m(ids).logits
    assert not cpu_kernels.available()
    warnings = [r for r in caplog.records if "pure-PyTorch" in r.getMessage()]
    assert len(warnings) == 1
    torch.testing.assert_close(got, want, atol=0, rtol=0)
    torch.testing.assert_close(again, want, atol=0, rtol=0)


def test_build_failure_is_reported_not_raised(monkeypatch, tmp_path):
    bad = tmp_path / "bad.c"
    bad.write_text("this is not C\n")
    monkeypatch.setattr(cpu_kernels, "SOURCE", bad)
    monkeypatch.setenv("GLRM_KERNEL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(cpu_kernels, "_lib", None)
    monkeypatch.setattr(cpu_kernels, "_tried", False)
    if cpu_kernels._compiler() is None:
        pytest.skip("no C compiler")
    with pytest.raises(RuntimeError):
        cpu_kernels.build()
    assert cpu_kernels.available() is False
    assert not list((tmp_path / "cache").glob("*.so"))


# --- HyenaDNA's position-wise kernels (GELU, short conv fused with the gates) ---------------------------


@needs_kernels
@pytest.mark.parametrize("n", [16 * 37, 16 * 37 + 5])
def test_gelu_kernel_matches_torch(n):
    x = torch.randn(n, generator=G) * 4
    x[:12] = torch.tensor([0.0, 1e-30, -1e-30, 88.0, -88.0, 1e4, -1e4, 3.0, -3.0, -10.0, 10.0, -30.0])
    want = F.gelu(x.double(), approximate="tanh")
    got = cpu_kernels.gelu_tanh_(x.clone())
    torch.testing.assert_close(got.double(), want, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(F.gelu(x, approximate="tanh").double(), want, atol=1e-6, rtol=1e-6)


HYENA_FIXTURES = [("hyenadna-hf-tiny", "pytorch_model.bin", "hf"),
                  ("hyenadna-orig-tiny", "weights.ckpt", "orig")]


@needs_kernels
@pytest.mark.parametrize("name,weights,fmt", HYENA_FIXTURES)
def test_hyenadna_fixture_parity_with_and_without_kernels(name, weights, fmt, monkeypatch):
    from glrm.models.hyenadna import build_hyenadna

    d = FIXTURES / name
    m = build_hyenadna(json.loads((d / "config.json").read_text()), read_state_dict(d / weights), fmt, str(d))
    assert m.cfg.d_model % 16 == 0       # so the fused kernel path runs
    a = {k: torch.from_numpy(v) for k, v in np.load(d / "io_refalt.npz").items()}
    outs = []
    for env in ("1", "0"):
        monkeypatch.setenv("GLRM_CPU_KERNELS", env)
        out = m(a["input_ids"])
        chunked = m(a["input_ids"], chunk_size=97)
        torch.testing.assert_close(out.logits.double(), a["logits_f64"], atol=3e-4, rtol=0)
        torch.testing.assert_close(chunked.logits, out.logits, atol=1e-5, rtol=0)
        outs.append(out.hidden_states)
    torch.testing.assert_close(outs[0], outs[1], atol=1e-5, rtol=0)


@needs_kernels
@pytest.mark.parametrize("order", [2, 3])
def test_hyenadna_kernels_match_torch_ops_batch_odd_length_and_blocks(order, monkeypatch):
    """The fused conv + gates writes the channel-first long-conv input of every block (odd length, a batch
    of 2, blocks of 256 positions cutting the 3-tap halo, hyena_order 3's extra gate) as the PyTorch ops do:
    both within float32 rounding of a float64 forward, the kernels no further from it than the ops."""
    import copy

    import glrm.models.hyenadna as hy

    torch.manual_seed(5)
    m = hy.HyenaDNA(hy.HyenaDNAConfig(d_model=32, n_layer=2, d_inner=64, max_seq_len=1200, emb_dim=5,
                                      filter_order=8, hyena_order=order)).eval()
    ids = torch.randint(7, 11, (2, 1001), generator=G)
    monkeypatch.setattr(hy, "BLOCK_FLOATS", 256 * 4 * 32)   # blocks of 256 positions
    got = {}
    for env in ("1", "0"):
        monkeypatch.setenv("GLRM_CPU_KERNELS", env)
        got[env] = m(ids, output_all_hidden=True)
    ref = copy.deepcopy(m).double()(ids, output_all_hidden=True)
    for i, want in enumerate(ref.all_hidden_states):
        err = {env: float((got[env].all_hidden_states[i].double() - want).abs().max()) for env in got}
        assert err["1"] < 1e-4 and err["1"] <= 2 * err["0"] + 1e-6, (i, err)
    torch.testing.assert_close(got["1"].logits, got["0"].logits, atol=5e-5, rtol=1e-5)


@needs_kernels
@pytest.mark.parametrize("modulate", [True, False])
def test_hyena_filter_kernel_matches_torch_ops(modulate, monkeypatch):
    """The implicit filter (the MLP's last Linear and the exponential window, channels first) from the C
    kernel against the PyTorch ops and a float64 filter: 37 channels (blocks of 8 and a remainder), a length
    that is not a multiple of the 16-position tiles."""
    import glrm.models.hyenadna as hy

    torch.manual_seed(7)
    m = hy.HyenaDNA(hy.HyenaDNAConfig(d_model=37, n_layer=1, d_inner=64, max_seq_len=5000, emb_dim=5,
                                      filter_order=24, activation_freq=10, modulate=modulate)).eval()
    f = m.backbone.layers[0].mixer.filter_fn
    want = f.filter(3001, torch.float64)                                  # (L, C)
    got = {}
    for env in ("1", "0"):
        monkeypatch.setenv("GLRM_CPU_KERNELS", env)
        got[env] = f.filter(3001)
    err = {env: float((got[env].double() - want).abs().max()) for env in got}
    assert err["1"] <= 1.5 * err["0"] + 1e-7 and err["0"] < 1e-4, err
