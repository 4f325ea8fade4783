"""Issue 17's additions on a GPU (marked gpu: skipped without CUDA): PlantCaduceus' and Hugging Face Mamba's
formats on CUDA match their references, and the small-variant engine on CUDA scores a checkpoint whose token
ids are permuted exactly as the original (every id the engine makes or reads is the model's own, on the GPU
too). No pysam needed: the windows come from a genome held in memory."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import MemGenome
from test_vocabulary import permuted

from glrm.models import load_model
from glrm.scoring.engine import EngineConfig, Job, SmallVariantEngine
from glrm.variants import Allele, classify
from glrm.windows import mirror_small_window, small_window

FIX = Path(__file__).parent / "fixtures"
pytestmark = pytest.mark.gpu


def arrays(name):
    z = np.load(FIX / name / "io.npz")
    return {k: torch.from_numpy(z[k]) for k in z.files}


@pytest.mark.parametrize("chunk", [None, 100])
def test_plantcaduceus_on_cuda_matches_the_reference(chunk):
    m, a = load_model(FIX / "plantcaduceus-tiny", device="cuda"), arrays("plantcaduceus-tiny")
    with torch.no_grad():
        out = m(a["input_ids"].cuda(), chunk_size=chunk)
    torch.testing.assert_close(out.logits.double().cpu(), a["logits_f64"], atol=1e-4, rtol=0)
    torch.testing.assert_close(out.hidden_states.double().cpu(), a["last_hidden_state_f64"], atol=1e-5,
                               rtol=0)


@pytest.mark.parametrize("chunk", [None, 128])
def test_mamba_hf_on_cuda_matches_transformers(chunk):
    m, a = load_model(FIX / "mamba-hf-tiny", device="cuda"), arrays("mamba-hf-tiny")
    with torch.no_grad():
        out = m(a["input_ids"].cuda(), chunk_size=chunk)
    torch.testing.assert_close(out.logits.cpu(), a["logits_f32"], atol=1e-4, rtol=0)


def _jobs(w=64):
    rng = random.Random(7)
    genome = MemGenome({"c1": "".join(rng.choice("ACGT") for _ in range(400))})
    seq = genome.seqs["c1"]
    alleles = []
    for pos in (120, 200, 290):
        ref = seq[pos - 1]
        for alt in ("ACGT".replace(ref, "")[:2]):
            kind, bnd, reason = classify(ref, alt)
            alleles.append(Allele(chrom="c1", pos=pos, id=".", ref=ref, alt=alt, alt_index=0, kind=kind,
                                  bnd=bnd, reason=reason))
    kind, bnd, reason = classify(seq[249], seq[249] + "GA")
    alleles.append(Allele(chrom="c1", pos=250, id=".", ref=seq[249], alt=seq[249] + "GA", alt_index=0,
                          kind=kind, bnd=bnd, reason=reason))
    return [Job(small_window(genome, a, w), mirror_small_window(genome, a, w)) for a in alleles]


@pytest.mark.parametrize("name, scores", [
    ("hyenadna-hf-tiny", ("llr", "cllr", "mlr", "emb", "evo2")),
    ("caduceus-ps-tiny", ("mlr", "emb", "gpn_llr")),
])
def test_a_permuted_vocabulary_scores_as_the_original_on_cuda(tmp_path, name, scores):
    jobs = _jobs()
    results = []
    for folder in (FIX / name, permuted(name, tmp_path / name)):
        engine = SmallVariantEngine(load_model(folder, device="cuda"), EngineConfig(scores=scores, rc="mean"),
                                    "cuda")
        results.append(engine.score(jobs))
    for a, b in zip(*results, strict=True):
        assert a.keys() == b.keys()
        for key in a:
            assert (a[key] is None) == (b[key] is None)
            if a[key] is not None:
                assert b[key] == pytest.approx(a[key], rel=1e-5, abs=1e-5), key


def test_plantcaduceus_scores_on_cuda_as_on_the_cpu():
    jobs = _jobs(96)
    out = []
    for device in ("cpu", "cuda"):
        engine = SmallVariantEngine(load_model(FIX / "plantcaduceus-tiny", device=device),
                                    EngineConfig(scores=("mlr", "emb", "gpn_llr"), rc="mean"), device)
        out.append(engine.score(jobs))
    for a, b in zip(*out, strict=True):
        for key in a:
            if a[key] is not None:
                assert b[key] == pytest.approx(a[key], rel=1e-4, abs=1e-4), key
