"""The model contract (`model.info`, glrm.models.info.ModelInfo) and the one rule for a trained window.

HyenaDNA's max_seq_len counts two special tokens, so its trained window is max_seq_len - 2 bases, and no
longer window is scored; Caduceus and Mamba windows equal their trained length and may go past it
(docs/models.md, docs/score-vcf.md). Every place that decides a window reads `trained_window`: score-vcf
and plan (`model_window`), score-sv (`sv_window`), the SV engine; the registry builds its HyenaDNA lengths
from it.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import pytest
import torch
from helpers import fixture_model

from glrm.errors import InputError
from glrm.io.fasta import Fasta
from glrm.io.vcf import VcfReader
from glrm.models.caduceus import Caduceus, caduceus_config
from glrm.models.hyenadna import HyenaDNA, HyenaDNAConfig
from glrm.models.info import ModelInfo, trained_window, window_is_limit
from glrm.models.loading import inspect_checkpoint
from glrm.models.mamba import MambaLM
from glrm.models.registry import KNOWN_MODELS
from glrm.pipeline.score_sv import sv_window
from glrm.pipeline.score_vcf import model_window
from glrm.scoring.sv import SVEngine
from glrm.windows import allele_windows

HERE = Path(__file__).parent
FIX = HERE / "fixtures"
MODELS = ("hyenadna-hf-tiny", "hyenadna-orig-tiny", "mamba-lm-tiny", "caduceus-ph-tiny", "caduceus-ps-tiny")

pytestmark = pytest.mark.usefixtures("one_thread")


def test_the_rule():
    assert trained_window("hyenadna", 1026) == 1024 and window_is_limit("hyenadna")
    assert trained_window("caduceus", 131072) == 131072 and not window_is_limit("caduceus")
    assert trained_window("mamba", 1024) == 1024 and not window_is_limit("mamba")


def test_registry_lengths_follow_the_rule():
    for m in KNOWN_MODELS.values():
        family = m.name.split("-")[0]
        assert trained_window(family, m.max_length) == m.trained_length, m.name


@pytest.mark.parametrize("name", MODELS)
def test_every_window_decision_agrees(name):
    model, ckpt = fixture_model(name), inspect_checkpoint(FIX / name)
    w = model.info.trained_window
    assert w == model_window(ckpt, None) == sv_window(ckpt, None)[0]
    if model.info.family == "hyenadna":
        assert w == model.cfg.max_seq_len - 2 == 1024
    else:
        assert w == model.info.max_length


@functools.cache
def deletion_windows(w):
    """The windows of a chr20 Manta deletion at window length w (breakpoint mode: both w bases long)."""
    with VcfReader(str(HERE / "data" / "colo829_manta.vcf.gz")) as reader:
        allele = next(a for rec in reader for a in rec.alleles if a.pos == 48395962)
    out = allele_windows(Fasta(HERE / "data" / "chr20_slice.fa.gz"), allele, w, sv=True)
    assert all(x.ok for x in out) and max(max(len(x.ref), len(x.alt)) for x in out) == w
    return out


def test_sv_engine_stops_hyenadna_at_its_trained_window():
    """The SV engine used to let HyenaDNA windows run up to max_seq_len bases (1026 here) and named that the
    trained length; it now holds them to the trained window, as score-sv and score-vcf do."""
    eng = SVEngine(fixture_model("hyenadna-hf-tiny"), emb_flank=8)
    assert eng.score_allele(deletion_windows(1024)).emb is not None
    for w in (1025, 1026):
        with pytest.raises(InputError, match=f"--window {w} is longer than this HyenaDNA checkpoint's "
                                             "trained length 1024"):
            eng.score_allele(deletion_windows(w))
    caduceus = SVEngine(fixture_model("caduceus-ph-tiny"), emb_flank=8)   # trained on 1024: extrapolates
    assert caduceus.score_allele(deletion_windows(1026)).emb is not None


def test_models_built_in_code_carry_their_own_info():
    cfg = HyenaDNAConfig(d_model=8, n_layer=1, d_inner=16, max_seq_len=66, emb_dim=3, filter_order=8)
    hyena = HyenaDNA(cfg)
    assert hyena.info == ModelInfo(family="hyenadna", kind="causal", max_length=66,
                                   max_length_source="HyenaDNAConfig.max_seq_len", name="HyenaDNA")
    assert hyena.info.trained_window == 64
    ccfg, vocab, cmap = caduceus_config({"d_model": 8, "n_layer": 1, "vocab_size": 12, "rcps": True,
                                         "complement_map": {"7": 10, "8": 9, "9": 8, "10": 7}}, "cfg")
    ps = Caduceus(ccfg, vocab, cmap)
    assert (ps.info.family, ps.info.kind, ps.info.rc_equivariant, ps.info.max_length) == (
        "caduceus", "masked", True, 0)
    mamba = MambaLM(d_model=8, n_layer=1, vocab_size=16)
    assert (mamba.info.family, mamba.info.kind, mamba.info.name, mamba.info.sha256) == (
        "mamba", "causal", "MambaLM", "")


def test_loader_fills_the_info_once_and_it_is_frozen():
    model = fixture_model("caduceus-ps-tiny")
    info = model.info
    assert (info.family, info.kind, info.rc_equivariant) == ("caduceus", "masked", True)
    assert info.format == "caduceus"
    assert info.name == "caduceus-ps-tiny" and len(info.sha256) == 64 and info.stored_dtype == "float32"
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.kind = "causal"
    assert not hasattr(model, "kind") and not hasattr(model, "sha256")   # one place: model.info
    assert isinstance(model, torch.nn.Module)
