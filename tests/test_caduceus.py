"""Caduceus ph/ps (HF format): parity with the official outputs, the option matrix the public fixtures do not
cover (fused/unfused rcps, ew_multiply, untied reverse weights, LayerNorm, biases, residual_in_fp32),
reverse-complement equivariance and bidirectionality."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from glrm.errors import InputError
from glrm.models.base import read_state_dict
from glrm.models.caduceus import Caduceus, build_caduceus, caduceus_config
from glrm.models.mamba import cast_for_inference

FIXTURES = Path(__file__).parent / "fixtures"
CMAP = torch.tensor([0, 1, 2, 3, 4, 5, 6, 10, 9, 8, 7, 11, 12, 13, 14, 15])


def load(name, weights="model.safetensors"):
    d = FIXTURES / name
    return build_caduceus(json.loads((d / "config.json").read_text()), read_state_dict(d / weights), str(d))


def arrays(name, case):
    z = np.load(FIXTURES / name / f"{case}.npz")
    return {k: torch.from_numpy(z[k]) for k in z.files}


def revcomp(ids):
    return CMAP[ids.flip(-1)]


def tiny_config(**kw):
    cfg = json.loads((FIXTURES / "caduceus-ph-tiny" / "config.json").read_text())
    cfg.update(d_model=16, n_layer=2)
    cfg["ssm_cfg"] = dict(cfg["ssm_cfg"], d_state=4)
    for k, v in kw.items():
        if k == "bias":
            cfg["ssm_cfg"]["bias"] = v
        else:
            cfg[k] = v
    return cfg


def random_state(cfg, seed=0):
    """A state dict in the official format for `cfg`, with every tensor randomised (as in the fixtures)."""
    c, vocab, cmap = caduceus_config(cfg, "cfg")
    m = Caduceus(c, vocab, cmap)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in m.named_parameters():
            if name.endswith("A_log"):
                p.copy_(torch.log(torch.rand(p.shape, generator=g) * 8 + 0.5))
            elif name.endswith("dt_proj.bias"):
                p.copy_(torch.rand(p.shape, generator=g) * 4 - 4)
            elif "norm" in name:
                p.copy_((1.0 if name.endswith("weight") else 0.0) + 0.2 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(torch.randn(p.shape, generator=g) * (0.5 if p.dim() == 1 else p.shape[-1] ** -0.5))
    return m.state_dict()


def safetensors_like(state, cfg):
    """Drop the tied tensors, as save_pretrained's safetensors writer does."""
    drop = {"lm_head.lm_head.weight" if cfg["rcps"] else "lm_head.weight"}
    if cfg.get("bidirectional_weight_tie", True):
        drop |= {k for k in state if ".mamba_rev.in_proj." in k or ".mamba_rev.out_proj." in k}
    return {k: v.clone() for k, v in state.items() if k not in drop}


def random_caduceus(seed=0, **kw):
    """A randomised tiny Caduceus (`tiny_config(**kw)`) built from an official-format state dict."""
    cfg = tiny_config(**kw)
    return build_caduceus(cfg, safetensors_like(random_state(cfg, seed=seed), cfg), "random")


CASES = [(n, w, c) for n in ("caduceus-ph-tiny", "caduceus-ps-tiny")
         for w in ("model.safetensors", "pytorch_model.bin") for c in ("io", "io_refalt")]


@pytest.mark.parametrize("name,weights,case", CASES)
def test_fp32_matches_official(name, weights, case):
    m, a = load(name, weights), arrays(name, case)
    with torch.no_grad():
        out = m(a["input_ids"])
    assert out.logits.dtype == torch.float32
    torch.testing.assert_close(out.logits.double(), a["logits_f64"], atol=1e-4, rtol=0)
    torch.testing.assert_close(out.hidden_states.double(), a["last_hidden_state_f64"], atol=1e-5, rtol=0)
    if "all_hidden_states_f32" in a:
        with torch.no_grad():
            hs = m.hidden_states_list(a["input_ids"])
        assert len(hs) == a["all_hidden_states_f32"].shape[0]
        for got, want in zip(hs, a["all_hidden_states_f32"], strict=True):
            torch.testing.assert_close(got, want, atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", ["caduceus-ph-tiny", "caduceus-ps-tiny"])
@pytest.mark.parametrize("case", ["io", "io_refalt"])
def test_fp64_matches_official(name, case):
    m, a = load(name).double(), arrays(name, case)
    with torch.no_grad():
        out = m(a["input_ids"])
    torch.testing.assert_close(out.logits, a["logits_f64"], atol=1e-10, rtol=0)
    torch.testing.assert_close(out.hidden_states, a["last_hidden_state_f64"], atol=1e-10, rtol=0)


def test_model_attributes():
    ph, ps = load("caduceus-ph-tiny"), load("caduceus-ps-tiny")
    info = ph.info
    assert (info.kind, info.family, info.rc_equivariant, info.max_length) == ("masked", "caduceus", False, 0)
    assert ps.info.rc_equivariant is True
    ids = arrays("caduceus-ps-tiny", "io")["input_ids"]
    with torch.no_grad():
        assert ps(ids).hidden_states.shape == (2, 257, 64)


def _assert_rc_equivariant(m, ids, atol):
    with torch.no_grad():
        a, b = m(ids), m(revcomp(ids))
    # logits of the reverse complement = flipped logits with the vocabulary complemented
    torch.testing.assert_close(b.logits, a.logits.flip(1)[..., CMAP], atol=atol, rtol=0)
    torch.testing.assert_close(b.hidden_states, a.hidden_states.flip(1, 2), atol=atol, rtol=0)


def test_ps_fixture_rc_equivariant():
    _assert_rc_equivariant(load("caduceus-ps-tiny").double(), arrays("caduceus-ps-tiny", "io")["input_ids"],
                           1e-10)


RCPS_VARIANTS = [
    dict(rcps=True, fused_add_norm=False),
    dict(rcps=True, fused_add_norm=False, rms_norm=False, residual_in_fp32=True),
    dict(rcps=True, bidirectional_strategy="ew_multiply", bidirectional_weight_tie=False),
    dict(rcps=True, fused_add_norm=False, bias=True, bidirectional_weight_tie=False),
]


@pytest.mark.parametrize("kw", RCPS_VARIANTS)
def test_rcps_variants_rc_equivariant(kw):
    cfg = tiny_config(**kw)
    m = build_caduceus(cfg, safetensors_like(random_state(cfg), cfg), "cfg").double()
    ids = torch.randint(7, 12, (2, 40), generator=torch.Generator().manual_seed(1))
    _assert_rc_equivariant(m, ids, 1e-10)


def test_rcps_fused_and_unfused_differ():
    """Same weights, the two official paths give different outputs (the fused block swaps halves)."""
    fused = tiny_config(rcps=True, fused_add_norm=True)
    state = random_state(fused)
    unfused = tiny_config(rcps=True, fused_add_norm=False)
    renamed = {k.replace(".norm.weight", ".norm.submodule.weight").replace("norm_f.weight",
                                                                           "norm_f.submodule.weight"): v
               for k, v in state.items()}
    a = build_caduceus(fused, state, "f")
    b = build_caduceus(unfused, renamed, "u")
    ids = torch.randint(7, 12, (1, 30), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        assert (a(ids).logits - b(ids).logits).abs().max() > 1e-3


def test_format_keys():
    cfg = tiny_config(rcps=True, fused_add_norm=False, rms_norm=False, bias=True)
    keys = set(random_state(cfg))
    pre = "caduceus.backbone."
    assert {pre + "layers.0.norm.submodule.weight", pre + "layers.0.norm.submodule.bias",
            pre + "norm_f.submodule.weight", pre + "norm_f.submodule.bias",
            pre + "embeddings.word_embeddings.embedding.weight",
            pre + "embeddings.word_embeddings.complement_map",
            pre + "layers.1.mixer.submodule.mamba_fwd.in_proj.bias",
            pre + "layers.1.mixer.submodule.mamba_rev.out_proj.bias",
            "lm_head.complement_map", "lm_head.lm_head.weight"} <= keys
    ph = set(random_state(tiny_config()))
    assert {pre + "embeddings.word_embeddings.weight", pre + "layers.0.mixer.mamba_rev.A_log",
            pre + "norm_f.weight", "lm_head.weight"} <= ph
    assert not any(k.endswith(".bias") and "norm" in k for k in ph)


def test_weight_tie_off_loads_separate_reverse_weights():
    cfg = tiny_config(bidirectional_weight_tie=False)
    state = random_state(cfg)
    m = build_caduceus(cfg, safetensors_like(state, cfg), "u")
    mix = m.caduceus.backbone.layers[0].mixer
    assert mix.mamba_rev.in_proj is not mix.mamba_fwd.in_proj
    rev_key = "caduceus.backbone.layers.0.mixer.mamba_rev.in_proj.weight"
    assert torch.equal(mix.mamba_rev.in_proj.weight, state[rev_key])
    assert not torch.equal(mix.mamba_rev.in_proj.weight, mix.mamba_fwd.in_proj.weight)
    missing = {k: v for k, v in state.items() if "mamba_rev.out_proj" not in k}
    with pytest.raises(InputError, match="mamba_rev.out_proj"):
        build_caduceus(cfg, missing, "u")
    tied = tiny_config()
    t = build_caduceus(tied, safetensors_like(random_state(tied), tied), "t")
    tmix = t.caduceus.backbone.layers[0].mixer
    assert tmix.mamba_rev.in_proj.weight is tmix.mamba_fwd.in_proj.weight


def test_ew_multiply_is_product_of_directions():
    cfg = tiny_config(bidirectional_strategy="ew_multiply")
    m = build_caduceus(cfg, safetensors_like(random_state(cfg), cfg), "e").double()
    bi = m.caduceus.backbone.layers[1].mixer
    x = torch.randn(2, 25, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        fwd, _ = bi.mamba_fwd(x)
        rev, _ = bi.mamba_rev(x.flip(1))
        torch.testing.assert_close(bi(x), fwd * rev.flip(1), atol=1e-12, rtol=0)
        bi.strategy = "add"
        torch.testing.assert_close(bi(x), fwd + rev.flip(1), atol=1e-12, rtol=0)


def test_bad_strategy_and_missing_cmap():
    with pytest.raises(InputError, match="bidirectional_strategy"):
        caduceus_config(tiny_config(bidirectional_strategy="concat"), "c")
    with pytest.raises(InputError, match="complement_map"):
        caduceus_config(tiny_config(rcps=True, complement_map=None), "c")


@pytest.mark.parametrize("name", ["caduceus-ph-tiny", "caduceus-ps-tiny"])
def test_bidirectional(name):
    m = load(name)
    ids = torch.randint(7, 12, (1, 120), generator=torch.Generator().manual_seed(6))
    alt = ids.clone()
    alt[0, 100] = 7 if int(ids[0, 100]) != 7 else 8
    with torch.no_grad():
        a, b = m(ids), m(alt)
    assert (a.logits[0, :90] - b.logits[0, :90]).abs().max() > 1e-6  # before the change
    assert (a.logits[0, 101:] - b.logits[0, 101:]).abs().max() > 1e-6  # after it


def test_refalt_changes_both_sides():
    a = arrays("caduceus-ph-tiny", "io_refalt")
    pos = int(a["variant_token_position"])
    with torch.no_grad():
        out = load("caduceus-ph-tiny")(a["input_ids"])
    d = (out.logits[0] - out.logits[1]).abs().amax(-1)
    assert d[:pos].max() > 0 and d[pos + 1:].max() > 0


def test_eval_deterministic():
    m = load("caduceus-ps-tiny")
    ids = arrays("caduceus-ps-tiny", "io")["input_ids"]
    with torch.no_grad():
        assert torch.equal(m(ids).logits, m(ids).logits)


def test_bfloat16_ps_close_and_equivariant():
    m = cast_for_inference(load("caduceus-ps-tiny"), torch.bfloat16)
    a = arrays("caduceus-ps-tiny", "io")
    with torch.no_grad():
        out = m(a["input_ids"])
        rc_out = m(revcomp(a["input_ids"]))
    assert out.logits.dtype == torch.float32
    scale = a["logits_f64"].abs().max()
    assert (out.logits.double() - a["logits_f64"]).abs().max() < 0.05 * scale
    assert (rc_out.logits - out.logits.flip(1)[..., CMAP]).abs().max() < 0.05 * scale


@pytest.mark.parametrize("rcps", [False, True])
@pytest.mark.parametrize("kernels", ["0", "1"])
def test_layers_reuse_buffers_exactly(rcps, kernels, monkeypatch):
    """The layers of one forward share their layer-wide in_proj and scan buffers (glrm.models.base.scratch
    through BiMamba._run_shared). Every layer's output equals, bit for bit, a forward where each layer takes
    fresh buffers, and a forward where each reused buffer is filled with NaN before it is handed out (so no
    layer reads what the previous one left, and no output aliases a buffer the next layer overwrites);
    twice in a row the same. Chunked and not, batch 2, 4 layers, rcps streams sharing the buffers too."""
    import glrm.models.caduceus as cad_mod
    from glrm.models.base import scratch

    monkeypatch.setenv("GLRM_CPU_KERNELS", kernels)
    cfg = tiny_config(rcps=rcps, n_layer=4, fused_add_norm=True)
    m = build_caduceus(cfg, random_state(cfg, seed=5), "cfg")
    ids = torch.randint(3, 11, (2, 61), generator=torch.Generator().manual_seed(2))

    def run():
        with torch.no_grad():
            return {c: (m(ids, chunk_size=c).logits, m.hidden_states_list(ids, chunk_size=c))
                    for c in (None, 9)}

    reused = []

    def poisoned(work, *args):
        t, new = scratch(work, *args)
        if not new:
            reused.append(args[0])
            t.fill_(float("nan"))
        return t, new

    first, second = run(), run()
    monkeypatch.setattr(cad_mod, "scratch", poisoned)
    nan_filled = run()
    assert len(reused) >= 2 * 3 * 2 * 2   # xz and y, 3 later layers, 2 forwards, 2 chunk sizes at least
    monkeypatch.setattr(cad_mod, "scratch", lambda work, *args: scratch(None, *args))
    fresh = run()
    for other in (second, nan_filled, fresh):
        for c, (logits, hidden) in first.items():
            assert torch.equal(logits, other[c][0])
            assert len(hidden) == len(other[c][1]) == 5
            assert all(torch.equal(a, b) for a, b in zip(hidden, other[c][1], strict=True))
