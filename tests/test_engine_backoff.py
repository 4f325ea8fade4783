"""The engines recover from a CUDA out-of-memory error: halve the batch (then the chunk), log it, retry, and
give the scores of a run that never ran out of memory (to float rounding, as for any batch size).

No GPU is needed: the model below is a real fixture model whose forward refuses batches (or chunks) above a
limit with torch.OutOfMemoryError, the error torch's CUDA allocator raises. Only the refusal is simulated; the
engines' back-off and scoring are the real code.
"""

from __future__ import annotations

import logging

import pytest
import torch
from helpers import fixture_model
from test_engine import KEYS, K, jobs_for
from test_sv_engine import same, wins

from glrm.scoring.engine import EngineConfig, SmallVariantEngine
from glrm.scoring.sv import SVEngine

pytestmark = pytest.mark.usefixtures("one_thread")


class RefusesLargeBatches(torch.nn.Module):
    """A fixture model that raises torch.OutOfMemoryError for more than `max_batch` windows per forward, or
    for chunks longer than `max_chunk` tokens (None = whole window)."""

    def __init__(self, name: str, max_batch: int, max_chunk: int | None = None):
        super().__init__()
        self.inner = fixture_model(name)
        self.max_batch, self.max_chunk = max_batch, max_chunk
        self.info = self.inner.info
        self.refused = 0

    def forward(self, ids, chunk_size=None):
        span = ids.shape[1] if chunk_size is None else min(chunk_size, ids.shape[1])
        if ids.shape[0] > self.max_batch or (self.max_chunk is not None and span > self.max_chunk):
            self.refused += 1
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (simulated)")
        return self.inner(ids, chunk_size=chunk_size)


@pytest.mark.parametrize("name", ["hyenadna-hf-tiny", "caduceus-ph-tiny"])
def test_small_variant_engine_halves_the_batch_and_gives_the_same_scores(name, caplog):
    jobs = jobs_for()
    want = SmallVariantEngine(fixture_model(name), EngineConfig(emb_flank=K, batch_size=8), "cpu").score(jobs)
    model = RefusesLargeBatches(name, max_batch=2)
    eng = SmallVariantEngine(model, EngineConfig(emb_flank=K, batch_size=8), "cpu")
    with caplog.at_level(logging.WARNING):
        got = eng.score(jobs)
    for g, w in zip(got, want, strict=True):
        for key in KEYS:
            want_value = None if w[key] is None else pytest.approx(w[key], rel=1e-5, abs=1e-5)
            assert g[key] == want_value, key
    assert model.refused == 2 and max(eng.batch_sizes) == 2           # 8 -> 4 -> 2, then kept
    assert "CUDA out of memory at batch 8, chunk none" in caplog.text
    assert "retrying with batch 4" in caplog.text
    before = model.refused
    eng.score(jobs)                                                    # the reduced batch stays
    assert model.refused == before


def test_sv_engine_halves_the_batch_and_gives_the_same_scores(caplog):
    ws = wins(13160727, 256)                                            # breakpoint mode, two windows
    want = SVEngine(fixture_model("caduceus-ph-tiny"), emb_flank=K, rc="mean", want_track=True,
                    batch_size=4).score_allele(ws)
    model = RefusesLargeBatches("caduceus-ph-tiny", max_batch=1)
    eng = SVEngine(model, emb_flank=K, rc="mean", want_track=True, batch_size=4)
    with caplog.at_level(logging.WARNING):
        got = eng.score_allele(ws)
    same(got, want)
    assert set(eng.batch_sizes) == {1}                                   # 4 -> 2 -> 1
    assert "retrying with batch 2" in caplog.text and "retrying with batch 1" in caplog.text


def test_out_of_memory_at_batch_one_and_the_smallest_chunk_is_a_clear_error():
    from glrm.resources import GpuMemoryError

    model = RefusesLargeBatches("hyenadna-hf-tiny", max_batch=0)         # refuses everything
    eng = SmallVariantEngine(model, EngineConfig(emb_flank=K, batch_size=2), "cpu")
    with pytest.raises(GpuMemoryError, match=r"out of GPU memory even at batch 1.*--window"):
        eng.score(jobs_for())


def oom_at_call(real, n: int):
    """`real`, except that its n-th call raises CUDA's out-of-memory error: an allocation refused while the
    outputs of a batch are reduced, not in the model's forward. The retried slice then needs the passes that
    earlier slices left held."""
    calls = []

    def wrapped(*args, **kwargs):
        calls.append(1)
        if len(calls) == n:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (simulated)")
        return real(*args, **kwargs)
    wrapped.calls = calls
    return wrapped


@pytest.mark.parametrize("reuse,batch", [(True, 4), (False, 3)])
@pytest.mark.parametrize("n", [1, 2])
def test_sv_engine_recovers_from_an_oom_while_reducing(reuse, batch, n, monkeypatch):
    import glrm.scoring.sv as sv

    ws = wins(48395962, 1024)                 # fits mode: windows of two lengths, alt sharing a prefix
    kw = dict(emb_flank=K, rc="mean", want_track=True, batch_size=batch, prefix_reuse=reuse)
    want = SVEngine(fixture_model("mamba-lm-tiny"), **kw).score_allele(ws)
    monkeypatch.setattr(sv, "reduce_strand", oom_at_call(sv.reduce_strand, n))
    eng = SVEngine(fixture_model("mamba-lm-tiny"), **kw)
    same(eng.score_allele(ws), want)          # a retried slice finds the passes of earlier slices still held
    assert len(sv.reduce_strand.calls) > n


@pytest.mark.parametrize("n", [1, 2, 3])
def test_whole_window_embedding_scores_recover_from_an_oom_while_reducing(n, monkeypatch):
    import glrm.scoring.engine as engine

    jobs, cfg = jobs_for(rc=True), dict(emb_flank=K, batch_size=3, scores=("gpn_cos", "gpn_euc"))
    want = SmallVariantEngine(fixture_model("caduceus-ph-tiny"), EngineConfig(**cfg), "cpu").score(jobs)
    monkeypatch.setattr(engine.S, "flat_distances", oom_at_call(engine.S.flat_distances, n))
    got = SmallVariantEngine(fixture_model("caduceus-ph-tiny"), EngineConfig(**cfg), "cpu").score(jobs)
    for g, w in zip(got, want, strict=True):
        for key in ("GLRM_GPN_COS", "GLRM_GPN_EUC"):
            assert g[key] == (None if w[key] is None else pytest.approx(w[key], rel=1e-5, abs=1e-6)), key
    assert sum(g["GLRM_GPN_COS"] is not None for g in got) >= 3     # SNVs and MNVs get values
