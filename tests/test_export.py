"""glrm.models.export: HyenaDNA saved in the HF layout loads back identically; files match the fixture."""

import json
import pathlib

import pytest
import torch
from safetensors import safe_open

from glrm.errors import OutputError
from glrm.models import load_model
from glrm.models.export import save_caduceus_hf, save_hyenadna_hf
from glrm.models.hyenadna import HyenaDNA, HyenaDNAConfig
from glrm.models.loading import inspect_checkpoint

FIXTURES = pathlib.Path(__file__).parent / "fixtures"

HF_TINY = FIXTURES / "hyenadna-hf-tiny"


def _keys(path):
    with safe_open(str(path), "pt") as f:
        return set(f.keys()), f.metadata()


def _random_model(seed: int, **overrides) -> HyenaDNA:
    torch.manual_seed(seed)
    cfg = HyenaDNAConfig(**{"d_model": 24, "n_layer": 3, "d_inner": 40, "max_seq_len": 130, "emb_dim": 5,
                            "filter_order": 12, "activation_freq": 10, **overrides})
    model = HyenaDNA(cfg)
    with torch.no_grad():  # move every weight off its init, so a dropped or swapped tensor shows
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
        if cfg.tie_word_embeddings:  # a tied model's head is its embedding matrix
            model.lm_head.weight.copy_(model.backbone.embeddings.word_embeddings.weight)
    return model


def test_fixture_round_trip_reproduces_the_official_files(tmp_path):
    model = load_model(HF_TINY)
    out = save_hyenadna_hf(model, tmp_path / "ckpt")
    # config.json byte for byte as the HF port's save_pretrained wrote it
    assert (out / "config.json").read_bytes() == (HF_TINY / "config.json").read_bytes()
    ours, meta = _keys(out / "model.safetensors")
    theirs, their_meta = _keys(HF_TINY / "model.safetensors")
    assert ours == theirs and meta == their_meta
    assert "hyena.backbone.layers.0.mixer.filter_fn.implicit_filter.1.freq" in ours
    assert not any(k.endswith((".3.freq", ".5.freq")) for k in ours)  # the shared Sin is stored once
    with safe_open(str(out / "model.safetensors"), "pt") as a, \
            safe_open(str(HF_TINY / "model.safetensors"), "pt") as b:
        for k in theirs:
            assert torch.equal(a.get_tensor(k), b.get_tensor(k)), k


@pytest.mark.parametrize("overrides", [{}, {"hyena_order": 3, "tie_word_embeddings": True, "emb_dim": 3}])
def test_random_model_round_trip_gives_identical_outputs(tmp_path, overrides):
    model = _random_model(7, **overrides)
    folder = save_hyenadna_hf(model, tmp_path / "m")
    assert inspect_checkpoint(folder).format == "hyenadna-hf"
    config = json.loads((folder / "config.json").read_text())
    assert set(config) == set(json.loads((HF_TINY / "config.json").read_text()))
    assert config["model_type"] == "hyenadna" and config["max_seq_len"] == 130
    assert config["tie_word_embeddings"] == model.cfg.tie_word_embeddings
    keys, _ = _keys(folder / "model.safetensors")
    assert ("lm_head.weight" in keys) == (not model.cfg.tie_word_embeddings)
    assert all(k == "lm_head.weight" or k.startswith("hyena.backbone.") for k in keys)

    loaded = load_model(folder)
    assert loaded.cfg == model.cfg
    ids = torch.randint(7, 12, (2, 130), generator=torch.Generator().manual_seed(1))  # (B, L)
    a, b = model(ids), loaded(ids)
    assert torch.equal(a.logits, b.logits)
    assert torch.equal(a.hidden_states, b.hidden_states)


def test_refuses_to_overwrite_without_asking(tmp_path):
    model = _random_model(3)
    save_hyenadna_hf(model, tmp_path / "m")
    with pytest.raises(OutputError, match="already holds"):
        save_hyenadna_hf(model, tmp_path / "m")
    other = _random_model(4)
    save_hyenadna_hf(other, tmp_path / "m", overwrite=True)
    ids = torch.randint(7, 11, (1, 50))  # (B, L)
    assert torch.equal(load_model(tmp_path / "m")(ids).logits, other(ids).logits)


def test_refuses_what_the_hf_format_cannot_express(tmp_path):
    with pytest.raises(OutputError, match="modulation"):
        save_hyenadna_hf(_random_model(5, modulate=False), tmp_path / "m")
    untied = _random_model(6, tie_word_embeddings=True)
    with torch.no_grad():
        untied.lm_head.weight.add_(1.0)  # says tied, is not: saving it once would change the model
    with pytest.raises(OutputError, match="tie_word_embeddings"):
        save_hyenadna_hf(untied, tmp_path / "m")
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("name", ["caduceus-ph-tiny", "caduceus-ps-tiny"])
def test_caduceus_fixture_round_trip_reproduces_the_official_files(tmp_path, name):
    src = FIXTURES / name
    model = load_model(src)
    out = save_caduceus_hf(model, tmp_path / "ckpt")
    assert (out / "config.json").read_bytes() == (src / "config.json").read_bytes()
    ours, meta = _keys(out / "model.safetensors")
    theirs, their_meta = _keys(src / "model.safetensors")
    assert ours == theirs and meta == their_meta  # tied head and mamba_rev projections stored once
    with safe_open(str(out / "model.safetensors"), "pt") as a, \
            safe_open(str(src / "model.safetensors"), "pt") as b:
        for k in theirs:
            assert torch.equal(a.get_tensor(k), b.get_tensor(k)), k
    loaded = load_model(out)
    assert loaded.info.format == "caduceus" and loaded.info.rc_equivariant == model.info.rc_equivariant
    ids = torch.randint(7, 12, (2, 64), generator=torch.Generator().manual_seed(2))  # (B, L)
    assert torch.equal(loaded(ids).logits, model(ids).logits)
