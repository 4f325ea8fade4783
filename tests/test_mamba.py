"""Mamba LM (mamba_ssm save_pretrained format): parity with the official outputs, causality, prefix-state
reuse, builder checks."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from glrm.errors import InputError
from glrm.models.base import read_state_dict
from glrm.models.mamba import MambaLM, build_mamba_lm, cast_for_inference

FIX = "mamba-lm-tiny"


def load(fixtures_dir):
    d = fixtures_dir / FIX
    cfg = json.loads((d / "config.json").read_text())
    return build_mamba_lm(cfg, read_state_dict(d / "pytorch_model.bin"), str(d))


@pytest.fixture(scope="module")
def model():
    return load(Path(__file__).parent / "fixtures")


def arrays(fixtures_dir, case):
    z = np.load(fixtures_dir / FIX / f"{case}.npz")
    return {k: torch.from_numpy(z[k]) for k in z.files}


@pytest.mark.parametrize("case", ["io", "io_refalt"])
def test_fp32_matches_official(model, fixtures_dir, case):
    a = arrays(fixtures_dir, case)
    with torch.no_grad():
        out = model(a["input_ids"])
    assert out.logits.dtype == torch.float32 and out.logits.shape == a["logits_f64"].shape
    torch.testing.assert_close(out.logits.double(), a["logits_f64"], atol=1e-4, rtol=0)
    torch.testing.assert_close(out.hidden_states.double(), a["last_hidden_state_f64"], atol=1e-5, rtol=0)
    if "all_hidden_states_f32" in a:
        with torch.no_grad():
            hs = model.hidden_states_list(a["input_ids"])
        assert len(hs) == a["all_hidden_states_f32"].shape[0]
        for got, want in zip(hs, a["all_hidden_states_f32"], strict=True):
            torch.testing.assert_close(got, want, atol=1e-5, rtol=0)


@pytest.mark.parametrize("case", ["io", "io_refalt"])
def test_fp64_matches_official(fixtures_dir, case):
    m = load(fixtures_dir).double()
    a = arrays(fixtures_dir, case)
    with torch.no_grad():
        out = m(a["input_ids"])
    torch.testing.assert_close(out.logits, a["logits_f64"], atol=1e-10, rtol=0)
    torch.testing.assert_close(out.hidden_states, a["last_hidden_state_f64"], atol=1e-10, rtol=0)


def test_causal_refalt_prefix_identical(model, fixtures_dir):
    a = arrays(fixtures_dir, "io_refalt")
    pos = int(a["variant_token_position"])
    with torch.no_grad():
        out = model(a["input_ids"])
    assert torch.equal(out.logits[0, :pos], out.logits[1, :pos])
    assert not torch.allclose(out.logits[0, pos:], out.logits[1, pos:])


def test_causal_random_suffix_change(model):
    g = torch.Generator().manual_seed(3)
    ids = torch.randint(7, 12, (1, 300), generator=g)
    alt = ids.clone()
    alt[0, 150:] = torch.randint(7, 12, (150,), generator=g)
    with torch.no_grad():
        a, b = model(ids, chunk_size=64), model(alt, chunk_size=64)
    torch.testing.assert_close(a.logits[:, :150], b.logits[:, :150], atol=0, rtol=0)


def test_prefix_state_reuse(model):
    g = torch.Generator().manual_seed(4)
    ids = torch.randint(0, 16, (2, 200), generator=g)
    with torch.no_grad():
        full = model(ids)
        first, st = model.forward_stateful(ids[:, :123], chunk_size=50)
        rest, st2 = model.forward_stateful(ids[:, 123:], st, chunk_size=17)
    torch.testing.assert_close(first.logits, full.logits[:, :123], atol=1e-5, rtol=0)
    torch.testing.assert_close(rest.hidden_states, full.hidden_states[:, 123:], atol=1e-5, rtol=0)
    assert len(st2) == 2 and st2[0].conv.shape == (2, 3, 64) and st2[0].ssm.shape == (2, 64, 16)


def test_eval_deterministic(model):
    ids = torch.randint(0, 16, (2, 100), generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        assert torch.equal(model(ids).logits, model(ids).logits)


def test_bfloat16_keeps_scan_in_fp32(fixtures_dir):
    m = cast_for_inference(load(fixtures_dir), torch.bfloat16)
    mixer = m.backbone.layers[0].mixer
    assert mixer.in_proj.weight.dtype == torch.bfloat16 and mixer.A_log.dtype == torch.float32
    ids = arrays(fixtures_dir, "io")["input_ids"]
    with torch.no_grad():
        out, st = m.forward_stateful(ids)
        ref = load(fixtures_dir)(ids)
    assert out.logits.dtype == torch.float32 and st[0].ssm.dtype == torch.float32
    assert (out.logits - ref.logits).abs().max() < 0.05 * ref.logits.abs().max()


def test_tied_head_filled_when_absent(fixtures_dir):
    d = fixtures_dir / FIX
    cfg = json.loads((d / "config.json").read_text())
    state = read_state_dict(d / "pytorch_model.bin")
    state.pop("lm_head.weight")
    m = build_mamba_lm(cfg, state, "x")
    assert m.lm_head.weight is m.backbone.embedding.weight


def test_newer_config_fields(fixtures_dir):
    d = fixtures_dir / FIX
    cfg = json.loads((d / "config.json").read_text())
    state = read_state_dict(d / "pytorch_model.bin")
    ok = dict(cfg, d_intermediate=0, attn_layer_idx=[], attn_cfg={})
    assert isinstance(build_mamba_lm(ok, state, "x"), MambaLM)
    with pytest.raises(InputError, match="d_intermediate"):
        build_mamba_lm(dict(cfg, d_intermediate=64), state, "x")
    with pytest.raises(InputError, match="attention"):
        build_mamba_lm(dict(cfg, attn_layer_idx=[1], attn_cfg={"num_heads": 2}), state, "x")


def test_wrong_weights_rejected(fixtures_dir):
    d = fixtures_dir / FIX
    cfg = json.loads((d / "config.json").read_text())
    state = read_state_dict(d / "pytorch_model.bin")
    with pytest.raises(InputError, match="missing keys"):
        build_mamba_lm(cfg, {k: v for k, v in state.items() if "x_proj" not in k}, "x")
    with pytest.raises(InputError, match="shape"):
        build_mamba_lm(dict(cfg, d_model=48), state, "x")


def test_bad_ids(model):
    with pytest.raises(InputError, match="token ids"):
        model(torch.tensor([[1, 2, 99]]))


def test_plain_to_bfloat16_still_scans_in_fp32(fixtures_dir):
    m = load(fixtures_dir).to(torch.bfloat16)
    ids = arrays(fixtures_dir, "io")["input_ids"]
    with torch.no_grad():
        out, st = m.forward_stateful(ids, chunk_size=100)
    assert st[0].ssm.dtype == st[0].conv.dtype == torch.float32 and out.logits.dtype == torch.float32
    ref = arrays(fixtures_dir, "io")["logits_f64"]
    assert (out.logits.double() - ref).abs().max() < 0.1 * ref.abs().max()


def test_rms_norm_one_pass_equals_the_formula(monkeypatch):
    """RMSNorm takes torch's one-pass rms_norm where it exists; it must give the formula's values."""
    import glrm.models.mamba as mamba_mod

    norm = mamba_mod.RMSNorm(64, eps=1e-5)
    with torch.no_grad():
        norm.weight.copy_(torch.randn(64, generator=torch.Generator().manual_seed(1)))
    x = torch.randn(2, 300, 64, generator=torch.Generator().manual_seed(2)) * 3
    with torch.no_grad():
        fused = norm(x)
        monkeypatch.setattr(mamba_mod, "_FUSED_RMS_NORM", False)
        formula = norm(x)
        xd = x.double()
        expected = xd * torch.rsqrt(xd.pow(2).mean(-1, keepdim=True) + 1e-5) * norm.weight.double()
    assert float((fused - formula).abs().max()) <= 1e-6
    assert float((fused.double() - expected).abs().max()) <= 1e-5
