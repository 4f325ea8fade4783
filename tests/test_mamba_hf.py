"""Hugging Face transformers' MambaForCausalLM format (tests/fixtures/mamba-hf-tiny, written by
transformers' save_pretrained): loaded into glrm's Mamba LM, it matches transformers' own float32 outputs and
the independent float64 reference, chunked or not, and carries its state for prefix reuse."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from glrm.errors import InputError
from glrm.models import load_model
from glrm.models.loading import inspect_checkpoint
from glrm.models.mamba import MambaLM

FIX = Path(__file__).parent / "fixtures"
HF = FIX / "mamba-hf-tiny"

pytestmark = pytest.mark.usefixtures("one_thread")


def arrays():
    z = np.load(HF / "io.npz")
    return {k: torch.from_numpy(z[k]) for k in z.files}


@pytest.fixture(scope="module")
def model():
    return load_model(HF)


def copy(dest: Path) -> Path:
    shutil.copytree(HF, dest)
    return dest


def test_detected_as_the_hf_format_and_loaded_into_glrms_mamba(model):
    assert inspect_checkpoint(HF).format == "mamba-hf"
    assert isinstance(model, MambaLM)
    assert (model.info.family, model.info.kind, model.info.format) == ("mamba", "causal", "mamba-hf")
    assert model.residual_in_fp32 is True and model.backbone.embedding.num_embeddings == 12   # no padding
    assert model.lm_head.weight is model.backbone.embedding.weight                             # tied
    assert model.vocab.nucleotides == (7, 8, 9, 10) and "mamba-hf" in model.vocab.source


def test_fp64_matches_the_independent_reference():
    m, a = load_model(HF, dtype="fp64"), arrays()
    with torch.no_grad():
        out = m(a["input_ids"])
    torch.testing.assert_close(out.logits, a["logits_f64"], atol=1e-10, rtol=0)
    torch.testing.assert_close(out.hidden_states, a["last_hidden_state_f64"], atol=1e-10, rtol=0)


@pytest.mark.parametrize("chunk", [None, 128, 37])
def test_fp32_matches_transformers_chunked_or_not(model, chunk):
    a = arrays()
    with torch.no_grad():
        out = model(a["input_ids"], chunk_size=chunk)
    torch.testing.assert_close(out.logits, a["logits_f32"], atol=1e-4, rtol=0)
    torch.testing.assert_close(out.hidden_states, a["last_hidden_state_f32"], atol=1e-5, rtol=0)
    torch.testing.assert_close(out.logits.double(), a["logits_f64"], atol=1e-4, rtol=0)


def test_prefix_state_reuse_equals_one_pass(model):
    ids = arrays()["input_ids"][:1]
    with torch.no_grad():
        whole = model(ids).logits
        first, state = model.forward_stateful(ids[:, :250])
        rest, _ = model.forward_stateful(ids[:, 250:], state, chunk_size=64)
    torch.testing.assert_close(torch.cat([first.logits, rest.logits], 1), whole, atol=1e-4, rtol=0)


def test_against_transformers_itself_when_installed(model):
    transformers = pytest.importorskip("transformers")
    hf = transformers.MambaForCausalLM.from_pretrained(HF).eval()
    ids = torch.randint(7, 12, (2, 300), generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        want = hf(input_ids=ids, use_cache=False).logits
        got = model(ids, chunk_size=64).logits
    torch.testing.assert_close(got, want, atol=1e-4, rtol=0)


def test_missing_keys_take_transformers_defaults_with_one_warning(tmp_path, caplog, model):
    folder = copy(tmp_path / "old")
    config = json.loads((folder / "config.json").read_text())
    for key in ("residual_in_fp32", "state_size", "conv_kernel", "tie_word_embeddings"):
        del config[key]   # their values equal transformers' defaults, so the outputs stay the same
    (folder / "config.json").write_text(json.dumps(config))
    with caplog.at_level(logging.WARNING):
        m = load_model(folder)
    warned = [r.getMessage() for r in caplog.records if "lacks" in r.getMessage()]
    assert len(warned) == 1
    assert "state_size, conv_kernel, residual_in_fp32, tie_word_embeddings" in warned[0]
    assert "transformers MambaConfig" in warned[0] and "config.json" in warned[0]
    ids = arrays()["input_ids"][:, :50]
    with torch.no_grad():
        assert torch.equal(m(ids).logits, model(ids).logits)


def test_unsupported_activation_and_missing_sizes_are_input_errors(tmp_path):
    folder = copy(tmp_path / "gelu")
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "hidden_act": "gelu"}))
    with pytest.raises(InputError, match=r"hidden_act 'gelu' is not supported"):
        load_model(folder)
    del config["hidden_size"]
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(InputError, match=r"lacks hidden_size"):
        load_model(folder)


def test_weights_that_do_not_fit_are_listed(tmp_path):
    folder = copy(tmp_path / "keys")
    from safetensors.torch import load_file, save_file

    state = load_file(str(folder / "model.safetensors"))
    state["backbone.extra"] = torch.zeros(1)
    save_file(state, str(folder / "model.safetensors"))
    with pytest.raises(InputError, match=r"unexpected keys \[backbone.extra\]"):
        load_model(folder)
