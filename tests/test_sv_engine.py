"""SVEngine behaviour beyond the formulas (those are in test_sv_scores.py): results independent of chunk size
and batch size, pass planning (RC-equivariant single pass, identical ref/alt run once), the breakpoint
choice, the track, `glrm.resources.auto_chunk_size`'s formula and bounds, and the errors users see."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest
from helpers import fixture_model

from glrm import resources
from glrm.errors import InputError
from glrm.io.fasta import Fasta
from glrm.io.vcf import VcfReader
from glrm.models import load_model
from glrm.resources import auto_chunk_size
from glrm.scoring.sv import SVEngine, reach
from glrm.windows import allele_windows

HERE = Path(__file__).parent
FIX = HERE / "fixtures"
MODELS = ("hyenadna-hf-tiny", "mamba-lm-tiny", "caduceus-ph-tiny", "caduceus-ps-tiny")
K = 40


# one intra-op thread for the tiny models (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("one_thread")


model = fixture_model


@functools.cache
def chr20():
    return Fasta(HERE / "data" / "chr20_slice.fa.gz")


@functools.cache
def manta(pos):
    with VcfReader(str(HERE / "data" / "colo829_manta.vcf.gz")) as reader:
        return next(a for rec in reader for a in rec.alleles if a.pos == pos)


def wins(pos, w):
    out = allele_windows(chr20(), manta(pos), w, sv=True)
    assert all(x.ok for x in out)
    return out


def same(a, b, rel=1e-5):
    assert a.bp == b.bp and a.reach == b.reach
    assert a.emb == pytest.approx(b.emb, rel=rel, abs=1e-10)
    # the SV LLR sums float32 log-probabilities over up to ~1,000 positions: chunked and unchunked float32
    # runs of mamba-lm-tiny land within 4e-5 of the float64 value (-4.23576), on either side: allow 1e-4
    assert a.llr == pytest.approx(b.llr, rel=rel, abs=1e-4)
    if a.track is not None:
        assert np.array_equal(a.track[0], b.track[0])
        assert a.track[1] == pytest.approx(b.track[1], rel=rel, abs=1e-6)


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("rc", ["none", "mean"])
def test_chunk_size_does_not_change_scores(name, rc):
    ws = wins(48395962, 1024)                        # fits mode, both flanks
    ref = SVEngine(model(name), emb_flank=K, rc=rc, want_track=True).score_allele(ws)
    for chunk in (1, 37, 256, 5000, "auto"):
        eng = SVEngine(model(name), emb_flank=K, rc=rc, want_track=True, chunk_size=chunk)
        same(eng.score_allele(ws), ref)
        assert eng.chunk_sizes[0] == (1024 if chunk == "auto" else chunk)


@pytest.mark.parametrize("name", MODELS)
def test_batch_size_does_not_change_scores(name):
    ws = wins(13160727, 256)                         # breakpoint mode, two windows
    ref = SVEngine(model(name), emb_flank=K, rc="mean", want_track=True, batch_size=1)
    want = ref.score_allele(ws)
    assert set(ref.batch_sizes) == {1}
    for bs in (2, 3, 8, None):
        eng = SVEngine(model(name), emb_flank=K, rc="mean", want_track=True, batch_size=bs)
        same(eng.score_allele(ws), want)
        assert eng.passes_run == ref.passes_run
    # auto runs one window per pass on CPU (batching is slower there: benchmarks/bench_batch.py)
    assert set(eng.batch_sizes) == {1}


def test_passes_planned():
    ws = wins(13160727, 256)
    for name, rc, per_window in [("caduceus-ph-tiny", "none", 2), ("caduceus-ph-tiny", "mean", 4),
                                 ("caduceus-ps-tiny", "mean", 2), ("mamba-lm-tiny", "mean", 4)]:
        eng = SVEngine(model(name), emb_flank=K, rc=rc)
        eng.score_allele(ws)
        assert eng.passes_run == per_window * len(ws), (name, rc)


@pytest.mark.parametrize("name", ["hyenadna-hf-tiny", "caduceus-ph-tiny"])
def test_reported_breakpoint_is_the_larger_emb(name):
    ws = wins(13160727, 256)
    eng = SVEngine(model(name), emb_flank=K, want_track=True)
    each = [eng.score_allele([w]) for w in ws]
    assert [r.bp for r in each] == [1, 2]
    got = eng.score_allele(ws)
    best = each[0] if each[0].emb >= each[1].emb else each[1]
    same(got, best)
    assert each[0].emb != each[1].emb


def test_track_is_in_genome_coordinates():
    ws = wins(48395962, 1024)
    w = ws[0]
    got = SVEngine(model("caduceus-ph-tiny"), emb_flank=K, want_track=True).score_allele(ws)
    pos, d = got.track
    expect = np.concatenate([w.ref_start + w.left.ref_idx, w.ref_start + w.right.ref_idx])
    assert np.array_equal(pos, expect) and np.all(np.diff(pos) > 0)
    assert pos[0] >= w.ref_start and pos[-1] < w.ref_start + 1024
    assert not (pos >= w.s).__and__(pos < w.e).any()         # nothing inside the deleted span
    assert d.dtype == np.float64 and len(d) == len(pos) and d.max() > 0
    assert SVEngine(model("caduceus-ph-tiny"), emb_flank=K).score_allele(ws).track is None


def test_reach_function():
    dist = np.array([5, 4, 3, 2, 1, 1, 2, 3])
    # d >= 0.2 at distances 3 (left) and 2 (right)
    assert reach(np.array([0.0, 0.05, 0.2, 1.0, 2.0, 1.5, 0.3, 0.1]), dist) == 3
    assert reach(np.zeros(8), dist) == 0
    assert reach(np.zeros(0), np.zeros(0, dtype=np.int64)) == 0
    assert reach(np.full(8, 1e-6), dist, ref_norm=1.0) == 0          # within float32 rounding of the norm
    assert reach(np.full(8, 1e-3), dist, ref_norm=1.0) == 5


def test_auto_chunk_size_formula(monkeypatch):
    m = model("caduceus-ph-tiny")                     # H = 32, V = 16
    cases = {1 << 40: resources.AUTO_CHUNK_MAX, 1 << 20: resources.AUTO_CHUNK_MIN}
    for free, want in cases.items():
        monkeypatch.setattr(resources, "free_memory_bytes", lambda device, f=free: f)
        assert auto_chunk_size(m, 1_000_000, "cpu") == want
        assert auto_chunk_size(m, 1000, "cpu") == 1000            # never more than the window
    free = 2 << 30
    monkeypatch.setattr(resources, "free_memory_bytes", lambda device: free)
    spare = 0.5 * free - 1_000_000 * (16 + 4 * 32) * 4
    assert auto_chunk_size(m, 1_000_000, "cpu") == int(spare // (32 * 32 * 4)) // 1024 * 1024
    assert resources.AUTO_CHUNK_MIN < auto_chunk_size(m, 1_000_000, "cpu") < resources.AUTO_CHUNK_MAX


@pytest.mark.parametrize("name", ["hyenadna-hf-tiny", "mamba-lm-tiny"])
def test_causal_models_see_a_t_p_breakend_only_on_the_reverse_strand(name):
    """In t[p[ and t]p] this contig's side (the only one aligned) precedes the junction: a left-to-right model
    reads it without the junction, so --rc none gives exactly 0 (docs/scores.md), and --rc mean, whose
    reverse strand reads the junction first, gives a change."""
    with VcfReader(str(HERE / "data" / "colo829_gridss.vcf.gz")) as reader:
        a = next(a for rec in reader for a in rec.alleles if rec.id == "gridss273fb_7674o")
    assert a.bnd.form == "t[p["
    ws = allele_windows(chr20(), a, 512, sv=True)
    none = SVEngine(model(name), emb_flank=K, rc="none", want_track=True).score_allele(ws)
    assert none.emb == 0 and none.llr == 0 and none.reach == 0 and not np.any(none.track[1])
    mean = SVEngine(model(name), emb_flank=K, rc="mean").score_allele(ws)
    assert mean.emb > 0 and mean.llr != 0 and mean.reach > 0


def test_errors():
    m = model("hyenadna-hf-tiny")
    for kwargs in ({"rc": "both"}, {"precision": "fp16"}, {"emb_flank": -1}, {"chunk_size": 0},
                   {"chunk_size": "big"}, {"batch_size": 0}):
        with pytest.raises(InputError):
            SVEngine(m, **kwargs)
    eng = SVEngine(m)
    with pytest.raises(InputError, match="trained length 1024"):     # max_seq_len 1026 - 2 (test_model_info)
        eng.score_allele(wins(48395962, 2048))
    bad = allele_windows(chr20(), manta(26109782), 256, sv=True)       # mate contig 17 is not in the FASTA
    with pytest.raises(ValueError, match="OK windows only"):
        eng.score_allele(bad)
    with pytest.raises(ValueError):
        eng.score_allele([])


def test_bf16_runs_close_to_fp32():
    fresh = load_model(FIX / "mamba-lm-tiny")          # cast in place: not the cached fp32 model
    ws = wins(48395962, 1024)
    got = SVEngine(fresh, emb_flank=K, precision="bf16").score_allele(ws)
    want = SVEngine(model("mamba-lm-tiny"), emb_flank=K).score_allele(ws)
    assert got.llr == pytest.approx(want.llr, rel=0.05, abs=0.5)
    assert np.isfinite(got.emb) and got.bp == want.bp
