"""tests/reference_models.py, the independent float64 forwards behind the fixtures glrm made itself
(plantcaduceus-tiny, mamba-hf-tiny), reproduces the official code's outputs on the official fixtures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from reference_models import caduceus, mamba_lm

FIX = Path(__file__).parent / "fixtures"


@pytest.mark.parametrize("name", ["caduceus-ph-tiny", "caduceus-ps-tiny"])
def test_caduceus_reference_matches_the_official_code(name):
    config = json.loads((FIX / name / "config.json").read_text())
    state = torch.load(FIX / name / "pytorch_model.bin", weights_only=True)
    case = np.load(FIX / name / "io.npz")
    logits, hidden = caduceus(state, config, torch.from_numpy(case["input_ids"]))
    np.testing.assert_allclose(logits.numpy(), case["logits_f64"], atol=1e-12, rtol=0)
    np.testing.assert_allclose(hidden.numpy(), case["last_hidden_state_f64"], atol=1e-12, rtol=0)


def test_caduceus_reference_reads_the_base_model_layout():
    config = json.loads((FIX / "caduceus-ps-tiny" / "config.json").read_text())
    state = torch.load(FIX / "caduceus-ps-tiny" / "pytorch_model.bin", weights_only=True)
    base = {k.removeprefix("caduceus."): v for k, v in state.items() if k.startswith("caduceus.")}
    ids = torch.from_numpy(np.load(FIX / "caduceus-ps-tiny" / "io.npz")["input_ids"])[:, :60]
    assert torch.equal(caduceus(base, config, ids)[0], caduceus(state, config, ids)[0])


def test_mamba_reference_matches_the_official_code():
    state = torch.load(FIX / "mamba-lm-tiny" / "pytorch_model.bin", weights_only=True)
    case = np.load(FIX / "mamba-lm-tiny" / "io.npz")
    logits, hidden = mamba_lm(state, torch.from_numpy(case["input_ids"]), n_layer=2, d_state=16, dt_rank=2)
    np.testing.assert_allclose(logits.numpy(), case["logits_f64"], atol=1e-12, rtol=0)
    np.testing.assert_allclose(hidden.numpy(), case["last_hidden_state_f64"], atol=1e-12, rtol=0)
