"""glrm's HyenaDNA against the official outputs in tests/fixtures, plus properties users rely on."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from glrm.errors import InputError
from glrm.models.base import read_state_dict
from glrm.models.hyena_filter import fft_len, next_fast_len
from glrm.models.hyenadna import HyenaDNA, HyenaDNAConfig, build_hyenadna

FIXTURES = Path(__file__).parent / "fixtures"
CHECKPOINTS = [
    ("hyenadna-hf-tiny", "model.safetensors", "hf"),
    ("hyenadna-hf-tiny", "pytorch_model.bin", "hf"),
    ("hyenadna-orig-tiny", "weights.ckpt", "orig"),
]
_CACHE: dict = {}


def load(name: str, weights: str, fmt: str) -> HyenaDNA:
    key = (name, weights)
    if key not in _CACHE:
        folder = FIXTURES / name
        config = json.loads((folder / "config.json").read_text())
        _CACHE[key] = build_hyenadna(config, read_state_dict(folder / weights), fmt, str(folder / weights))
    return _CACHE[key]


def small_model(seed: int = 0, **overrides) -> HyenaDNA:
    torch.manual_seed(seed)
    kw = dict(d_model=16, n_layer=2, d_inner=32, max_seq_len=300, emb_dim=5, filter_order=8,
              activation_freq=10)
    kw.update(overrides)
    model = HyenaDNA(HyenaDNAConfig(**kw))
    with torch.no_grad():  # make the skip bias and deltas matter like trained values do
        for layer in model.backbone.layers:
            layer.mixer.filter_fn.modulation.deltas.mul_(0.3)
    return model


def rel(x: torch.Tensor) -> float:
    return max(1.0, float(x.abs().max()))


def maxabs(a: torch.Tensor, b) -> float:
    return float(np.abs(a.detach().cpu().numpy().astype(np.float64) - np.asarray(b)).max())


# --- parity with the official implementation ------------------------------------------------------


@pytest.mark.parametrize("case", ["io", "io_refalt"])
@pytest.mark.parametrize("name,weights,fmt", CHECKPOINTS)
def test_float32_matches_official_float64(name, weights, fmt, case):
    model = load(name, weights, fmt)
    ref = np.load(FIXTURES / name / f"{case}.npz")
    out = model(torch.from_numpy(ref["input_ids"]), output_all_hidden=True)
    assert out.logits.dtype == torch.float32 and out.logits.shape == ref["logits_f64"].shape
    assert maxabs(out.logits, ref["logits_f64"]) < 3e-4
    assert maxabs(out.hidden_states, ref["last_hidden_state_f64"]) < 1e-4
    assert len(out.all_hidden_states) == model.cfg.n_layer + 2
    if "all_hidden_states_f32" in ref:
        assert maxabs(torch.stack(out.all_hidden_states), ref["all_hidden_states_f32"]) < 3e-4


@pytest.mark.parametrize("case", ["io", "io_refalt"])
@pytest.mark.parametrize("name,weights,fmt", CHECKPOINTS)
def test_float64_matches_official_float64(name, weights, fmt, case):
    folder = FIXTURES / name
    model = build_hyenadna(json.loads((folder / "config.json").read_text()),
                           read_state_dict(folder / weights), fmt, weights).double()
    ref = np.load(folder / f"{case}.npz")
    out = model(torch.from_numpy(ref["input_ids"]))
    assert out.logits.dtype == torch.float64
    assert maxabs(out.logits, ref["logits_f64"]) < 1e-10
    assert maxabs(out.hidden_states, ref["last_hidden_state_f64"]) < 1e-10


@pytest.mark.parametrize("name,weights,fmt", CHECKPOINTS)
def test_ref_alt_logits_agree_before_the_variant(name, weights, fmt):
    ref = np.load(FIXTURES / name / "io_refalt.npz")
    pos = int(ref["variant_token_position"])
    logits = load(name, weights, fmt)(torch.from_numpy(ref["input_ids"])).logits
    # float32 FFT rounding spreads across positions: relative 1e-6 of the largest logit
    assert float((logits[0, :pos] - logits[1, :pos]).abs().max()) < 1e-5 * rel(logits)
    assert float((logits[0, pos:] - logits[1, pos:]).abs().max()) > 1e-3


def test_model_attributes_and_head_padding():
    model = load("hyenadna-hf-tiny", "model.safetensors", "hf")
    assert (model.info.kind, model.info.family, model.info.max_length) == ("causal", "hyenadna", 1026)
    assert model.cfg.padded_vocab_size == 16 and model.lm_head.weight.shape == (16, 32)
    orig = load("hyenadna-orig-tiny", "weights.ckpt", "orig")
    assert torch.equal(orig.lm_head.weight, orig.backbone.embeddings.word_embeddings.weight)


# --- properties ----------------------------------------------------------------------------------


@pytest.mark.parametrize("t", [0, 1, 57, 198])
def test_causal_outputs_before_t_ignore_later_tokens(t):
    model = load("hyenadna-hf-tiny", "model.safetensors", "hf")
    g = torch.Generator().manual_seed(t)
    a = torch.randint(0, 12, (1, 200), generator=g)
    b = a.clone()
    b[0, t + 1:] = torch.randint(0, 12, (199 - t,), generator=g)
    oa, ob = model(a), model(b)
    assert float((oa.logits[:, :t + 1] - ob.logits[:, :t + 1]).abs().max()) < 1e-5 * rel(oa.logits)
    assert float((oa.hidden_states[:, :t + 1] - ob.hidden_states[:, :t + 1]).abs().max()) < 1e-5
    assert float((oa.logits[:, t + 1:] - ob.logits[:, t + 1:]).abs().max()) > 1e-3


def test_causal_exactly_in_float64():
    model = small_model().double()
    a = torch.randint(0, 12, (1, 300), generator=torch.Generator().manual_seed(3))
    b = a.clone()
    b[0, 150:] = (b[0, 150:] + 1) % 12
    oa, ob = model(a, chunk_size=41), model(b, chunk_size=41)
    assert float((oa.logits[:, :150] - ob.logits[:, :150]).abs().max()) < 1e-12


@pytest.mark.parametrize("chunk", [1, 7, 64, 257, 10_000])
def test_chunk_size_only_changes_rounding(chunk):
    model = load("hyenadna-orig-tiny", "weights.ckpt", "orig")
    ids = torch.from_numpy(np.load(FIXTURES / "hyenadna-orig-tiny" / "io.npz")["input_ids"])
    full = model(ids, output_all_hidden=True)
    part = model(ids, chunk_size=chunk, output_all_hidden=True)
    assert float((full.logits - part.logits).abs().max()) < 1e-5 * rel(full.logits)
    for x, y in zip(full.all_hidden_states, part.all_hidden_states, strict=True):
        assert float((x - y).abs().max()) < 1e-5 * rel(x)


@pytest.mark.parametrize("group", [1, 5, 32])
def test_fft_channel_group_only_changes_rounding(group):
    model = load("hyenadna-hf-tiny", "pytorch_model.bin", "hf")
    ids = torch.from_numpy(np.load(FIXTURES / "hyenadna-hf-tiny" / "io.npz")["input_ids"])
    full = model(ids).logits
    tol = 1e-5 * rel(full)
    assert float((full - model(ids, channel_group=group).logits).abs().max()) < tol
    assert float((full - model(ids, chunk_size=13, channel_group=group).logits).abs().max()) < tol


@pytest.mark.parametrize("group", [5, 8])
def test_filter_rows_made_for_several_groups_are_the_groups_own(group, monkeypatch):
    """Filter rows made in one pass for several FFT groups (then copied per group) are the rows each group
    would make alone: the same numbers."""
    import glrm.models.hyena_filter as hf

    model = load("hyenadna-hf-tiny", "pytorch_model.bin", "hf")
    ids = torch.from_numpy(np.load(FIXTURES / "hyenadna-hf-tiny" / "io.npz")["input_ids"])
    shared = model(ids, channel_group=group).logits
    monkeypatch.setattr(hf, "FILTER_ROWS_BYTES", 0)                 # every group makes its own rows
    assert torch.equal(model(ids, channel_group=group).logits, shared)


def test_eval_is_deterministic():
    model = load("hyenadna-hf-tiny", "model.safetensors", "hf")
    ids = torch.from_numpy(np.load(FIXTURES / "hyenadna-hf-tiny" / "io_refalt.npz")["input_ids"])
    assert torch.equal(model(ids).logits, model(ids).logits)
    assert not model.training


def test_cached_filter_spectra_follow_weight_changes():
    model = small_model()
    ids = torch.randint(0, 12, (1, 120), generator=torch.Generator().manual_seed(5))
    filters = [layer.mixer.filter_fn for layer in model.backbone.layers]
    first = model(ids).logits
    assert not any(f._spectra for f in filters)                # one forward keeps no spectra (as the HF port)
    assert torch.equal(model(ids).logits, first)               # asked again: now kept
    assert all(f._spectra for f in filters)
    assert torch.equal(model(ids).logits, first)               # served from the spectrum cache
    with torch.no_grad():
        model.backbone.layers[1].mixer.filter_fn.modulation.deltas.mul_(2.0)
    changed = model(ids).logits
    assert float((changed - first).abs().max()) > 1e-3
    for layer in model.backbone.layers:
        layer.mixer.filter_fn.clear_cache()
    assert torch.equal(model(ids).logits, changed)
    assert maxabs(model.double()(ids).logits, direct_forward(model, ids)) < 1e-10


def test_spectrum_cache_budget_holds_big_spectra_only_when_allowed(monkeypatch):
    """Spectra above the default per-layer budget (here: 1 KiB) are recomputed every call unless the model is
    told it may keep more (glrm's engines: SPECTRUM_CACHE_FRACTION of the free memory); kept or not, the
    outputs are the same numbers."""
    import glrm.models.hyena_filter as hf
    import glrm.models.hyenadna as hy
    from glrm.resources import size_model_caches

    monkeypatch.setattr(hf, "SPECTRUM_CACHE_BYTES", 1024)
    monkeypatch.setattr(hy, "SPECTRUM_CACHE_BYTES", 1024)
    model = small_model()
    filters = [layer.mixer.filter_fn for layer in model.backbone.layers]
    ids = torch.randint(0, 12, (1, 250), generator=torch.Generator().manual_seed(6))
    first = model(ids).logits
    model(ids)
    assert not any(f._spectra for f in filters)                 # 16 x 257 complex64 > 1 KiB: not kept
    monkeypatch.setattr("glrm.resources.free_memory_bytes", lambda device: 4 << 20)
    assert size_model_caches(model, torch.device("cpu")) == 1 << 20       # a quarter of 4 MiB
    assert all(f.cache_bytes == (1 << 20) // 2 for f in filters)          # shared by the 2 layers
    model(ids)
    assert all(f._spectra for f in filters)                     # asked before: kept now
    assert torch.equal(model(ids).logits, first)
    model.set_spectrum_cache(0)                                 # never below the default; drops what is over
    assert all(f.cache_bytes == 1024 and not f._spectra for f in filters)


def test_longer_than_trained_context_is_rejected():
    model = load("hyenadna-hf-tiny", "model.safetensors", "hf")
    model(torch.full((1, 1026), 7))
    with pytest.raises(InputError, match=r"maximum of 1026 tokens.*smaller --window"):
        model(torch.full((1, 1027), 7))


def test_bad_token_ids_are_rejected():
    model = small_model()
    with pytest.raises(ValueError, match=r"\[0, 16\)"):
        model(torch.tensor([[7, 16]]))


def test_fft_length_is_fast_and_long_enough():
    assert next_fast_len(16385) == 16464 and fft_len(16385) == 2 * 16464
    for L in (1, 2, 3, 257, 1000, 16385, 1_000_002):
        n = fft_len(L)
        assert n >= 2 * L and n % 2 == 0
        m = n
        for p in (2, 3, 5, 7):
            while m % p == 0:
                m //= p
        assert m == 1


# --- other shapes, against a direct (non-FFT) float64 evaluation ---------------------------------


def direct_forward(model: HyenaDNA, ids: torch.Tensor) -> torch.Tensor:
    """Logits by the architecture's definition, in float64, with the long conv as an explicit sum."""
    cfg = model.cfg
    P = {k: v.double() for k, v in model.state_dict().items()}
    D, L, K = cfg.d_model, ids.shape[1], cfg.short_filter_order
    ln, gelu = torch.nn.functional.layer_norm, torch.nn.functional.gelu
    h = P["backbone.embeddings.word_embeddings.weight"][ids]
    for i in range(cfg.n_layer):
        p = f"backbone.layers.{i}."
        f = p + "mixer.filter_fn."
        u = ln(h, (D,), P[p + "norm1.weight"], P[p + "norm1.bias"], cfg.block_norm_epsilon)
        u = u @ P[p + "mixer.in_proj.weight"].T + P[p + "mixer.in_proj.bias"]          # (B, L, W)
        wk = P[p + "mixer.short_filter.weight"][:, 0]                                # (W, K)
        uc = P[p + "mixer.short_filter.bias"].expand_as(u).clone()
        for t in range(L):
            for j in range(K):
                s = t - (K - 1) + j
                if s >= 0:
                    uc[:, t] += wk[:, j] * u[:, s]
        xs = list(uc.split(D, dim=-1))
        v = xs.pop()
        z = P[f + "pos_emb.z"][0, :L]
        for j in range(0, 2 * cfg.num_inner_mlps + 2, 2):
            z = torch.sin(P[f + f"implicit_filter.{j + 1}.freq"] *
                          (z @ P[f + f"implicit_filter.{j}.weight"].T + P[f + f"implicit_filter.{j}.bias"]))
        k = z @ P[f + f"implicit_filter.{2 * cfg.num_inner_mlps + 2}.weight"].T      # (L, (order-1) D)
        if cfg.modulate:
            k = k * (torch.exp(-P[f + "pos_emb.t"][0, :L] * P[f + "modulation.deltas"][0].abs()) + 0.05)
        bias = P[f + "bias"]
        for o, x in enumerate(reversed(xs[1:])):
            v = v * x
            ko, bo = k[:, o * D:(o + 1) * D], bias[o * D:(o + 1) * D]
            y = torch.zeros_like(v)
            for t in range(L):
                y[:, t] = (ko[:t + 1].flip(0) * v[:, :t + 1]).sum(1)
            v = y + v * bo
        y = (v * xs[0]) @ P[p + "mixer.out_proj.weight"].T + P[p + "mixer.out_proj.bias"]
        h = h + y
        m = ln(h, (D,), P[p + "norm2.weight"], P[p + "norm2.bias"], cfg.block_norm_epsilon)
        m = gelu(m @ P[p + "mlp.fc1.weight"].T + P[p + "mlp.fc1.bias"], approximate="tanh")
        h = h + m @ P[p + "mlp.fc2.weight"].T + P[p + "mlp.fc2.bias"]
    h = ln(h, (D,), P["backbone.ln_f.weight"], P["backbone.ln_f.bias"], cfg.final_norm_epsilon)
    return h @ P["lm_head.weight"].T


@pytest.mark.parametrize("overrides", [
    {},
    {"num_inner_mlps": 1, "d_model": 24, "emb_dim": 3},
    {"hyena_order": 3, "short_filter_order": 4},
    {"modulate": False, "num_inner_mlps": 0, "n_layer": 1, "pad_vocab_size_multiple": 1},
])
def test_other_shapes_match_direct_evaluation(overrides):
    model = small_model(**overrides)
    ids = torch.randint(0, 12, (2, 40), generator=torch.Generator().manual_seed(1))
    expected = direct_forward(model, ids)
    assert maxabs(model.double()(ids).logits, expected) < 1e-10
    assert maxabs(model.float()(ids, chunk_size=9, channel_group=5).logits, expected) < 1e-4


def test_bfloat16_keeps_filters_in_float32():
    model = load("hyenadna-hf-tiny", "model.safetensors", "hf")
    folder = FIXTURES / "hyenadna-hf-tiny"
    bf = build_hyenadna(json.loads((folder / "config.json").read_text()),
                        read_state_dict(folder / "model.safetensors"), "hf", "x", dtype=torch.bfloat16)
    filt = bf.backbone.layers[0].mixer.filter_fn
    assert filt.pos_emb.z.dtype == filt.implicit_filter[1].freq.dtype == torch.float32
    assert bf.backbone.layers[0].mixer.in_proj.weight.dtype == torch.bfloat16
    ids = torch.from_numpy(np.load(folder / "io.npz")["input_ids"])
    out, ref = bf(ids), model(ids)
    assert out.logits.dtype == torch.float32
    assert float((out.logits - ref.logits).abs().max()) < 0.05 * float(ref.logits.abs().max())
    # the generic casts a loader uses take the same route
    for cast in (lambda m: m.to(dtype=torch.bfloat16), lambda m: m.to("cpu", torch.bfloat16),
                 lambda m: m.bfloat16()):
        m = cast(small_model())
        assert m.backbone.layers[0].mixer.filter_fn.pos_emb.z.dtype == torch.float32
        assert m.backbone.layers[0].mlp.fc1.weight.dtype == torch.bfloat16
    assert small_model().to(torch.float64).lm_head.weight.dtype == torch.float64


# --- checkpoint key handling ---------------------------------------------------------------------


def test_state_dict_keys_are_upstreams():
    model = load("hyenadna-hf-tiny", "pytorch_model.bin", "hf")
    upstream = read_state_dict(FIXTURES / "hyenadna-hf-tiny" / "pytorch_model.bin")
    assert {"hyena." + k if k != "lm_head.weight" else k for k in model.state_dict()} == set(upstream)


def _hf_inputs():
    folder = FIXTURES / "hyenadna-hf-tiny"
    return json.loads((folder / "config.json").read_text()), read_state_dict(folder / "model.safetensors")


def test_missing_and_unexpected_keys_are_listed():
    config, state = _hf_inputs()
    del state["hyena.backbone.layers.1.mlp.fc2.bias"]
    state["hyena.backbone.extra"] = torch.zeros(1)
    with pytest.raises(InputError, match=r"missing keys \[backbone.layers.1.mlp.fc2.bias\].*"
                                         r"unexpected keys \[backbone.extra\]"):
        build_hyenadna(config, state, "hf", "ckpt")


def test_config_shape_mismatch_is_reported():
    config, state = _hf_inputs()
    with pytest.raises(InputError, match="shape mismatches"):
        build_hyenadna({**config, "d_inner": 64}, state, "hf", "ckpt")


def test_differing_sin_frequencies_are_rejected():
    config, state = _hf_inputs()
    state["hyena.backbone.layers.0.mixer.filter_fn.implicit_filter.3.freq"] = torch.zeros(1, 16)
    with pytest.raises(InputError, match="Sin"):
        build_hyenadna(config, state, "hf", "ckpt")


def test_orig_config_must_match_key_layout():
    folder = FIXTURES / "hyenadna-orig-tiny"
    config = json.loads((folder / "config.json").read_text())
    state = read_state_dict(folder / "weights.ckpt")
    with pytest.raises(InputError, match=r"missing keys.*mixer\.filter_fn.*unexpected keys.*mixer\.layer\."):
        build_hyenadna({**config, "checkpoint_mixer": False}, state, "orig", "ckpt")
    with pytest.raises(InputError, match="l_max"):
        build_hyenadna({**config, "layer": {"emb_dim": 5}}, state, "orig", "ckpt")
    with pytest.raises(ValueError, match="format"):
        build_hyenadna(config, state, "onnx", "ckpt")


def test_position_blocks_cut_on_the_cpu_only():
    """Cache-sized blocks pay on a CPU; on a GPU each block is a round of kernel launches (a 1M-token forward
    on an H200 took 6x as long cut into them), so there the spans stay whole."""
    from glrm.models.hyenadna import cache_blocks

    spans = [(0, 100_000), (100_000, 100_300)]
    cpu = cache_blocks(spans, 1024, torch.device("cpu"))
    assert len(cpu) > 2 and cpu[0][0] == 0 and cpu[-1][1] == 100_300
    assert all(b1 == a2 for (_, b1), (a2, _) in zip(cpu[:-1], cpu[1:], strict=True))   # contiguous
    assert cache_blocks(spans, 1024, torch.device("cuda")) == spans
