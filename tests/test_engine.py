"""SmallVariantEngine against brute force: every score recomputed the slow, obvious way.

For each fixture model and real chr20 windows (SNV, MNV, insertion, deletion, a multi-ALT site) plus
contig-end windows of an in-memory genome, the test runs full ref and alt forwards one at a time, takes the
log-softmax over A/C/G/T by hand, and writes the spec's sums as plain Python loops over positions (masked
passes built by hand). The engine's values must match within rel/abs 1e-5, whatever the batch size, chunk
size, thread count or job order.
"""

from __future__ import annotations

import functools
import math
import random
from pathlib import Path

import pytest
import torch
from helpers import MemGenome, fixture_model

from glrm.errors import InputError
from glrm.io.fasta import Fasta
from glrm.models import load_model
from glrm.models.tokenizer import MASK, encode
from glrm.resources import auto_batch_size, free_memory_bytes
from glrm.scoring.engine import EngineConfig, Job, SmallVariantEngine
from glrm.variants import Allele, Status, classify
from glrm.windows import Window, mirror_small_window, revcomp, small_window

HERE = Path(__file__).parent
FIX = HERE / "fixtures"
MODELS = ("hyenadna-hf-tiny", "mamba-lm-tiny", "caduceus-ph-tiny", "caduceus-ps-tiny")
W = 96
K = 10
KEYS = ("GLRM_LLR", "GLRM_CLLR", "GLRM_MLR", "GLRM_EMB")


# one intra-op thread for tiny models (conftest.py); the independence test switches to two on purpose
pytestmark = pytest.mark.usefixtures("one_thread")


model = fixture_model


@functools.cache
def fasta():
    return Fasta(HERE / "data" / "chr20_slice.fa.gz")


_rng = random.Random(11)
MEM = MemGenome({"c1": "".join(_rng.choice("ACGT") for _ in range(300))})


def allele(pos, ref, alt, chrom="20"):
    kind, bnd, reason = classify(ref, alt)
    return Allele(chrom=chrom, pos=pos, id=".", ref=ref, alt=alt, alt_index=0, kind=kind, bnd=bnd,
                  reason=reason)


def real_alleles():
    """Real chr20 records (tests/data) and a few made on real sequence (MNV, extra ALTs at a real site)."""
    fa = fasta()
    mnv_ref = fa.fetch("20", 60572, 60574)                      # 'TT' at 20:60573
    return [
        allele(61098, "C", "T"),                               # gonl_snvs rs6078030
        allele(60573, mnv_ref, "GA"),                          # MNV on real sequence
        allele(421808, "A", "ACCA"),                           # chr20_indels insertion
        allele(1600125, "GAA", "G"),                           # chr20_indels deletion
        allele(60309, "G", "T"),                               # gonl_snvs; with the two below, one site
        allele(60309, "G", "A"),
        allele(60309, "G", "GCA"),
    ]


def mem_alleles():
    """Alleles whose windows reach past the contig ends (N padding)."""
    s = MEM.seqs["c1"]
    alt1 = "A" if s[2] != "A" else "C"
    return [allele(3, s[2], alt1, "c1"),                        # third base: 45 N on the left
            allele(299, s[298:300], s[298], "c1"),              # deletion of the last base
            allele(300, s[299], s[299] + "GT", "c1")]           # insertion after the last base


def jobs_for(w=W, rc=False, max_n_frac=0.05):
    out = []
    for genome, alleles, frac in ((fasta(), real_alleles(), max_n_frac), (MEM, mem_alleles(), 0.6)):
        for a in alleles:
            win = small_window(genome, a, w, frac)
            assert win.ok, win.note
            out.append(Job(win, mirror_small_window(genome, a, w, frac) if rc else None))
    return out


# --- brute force -----------------------------------------------------------------------------------

def forward(m, seq, mask=None):
    """One full forward of one window: logits and hidden states as nested Python lists of floats."""
    ids = encode(seq)
    if mask is not None:
        for t in range(mask[0], mask[1]):
            ids[t] = MASK
    with torch.no_grad():
        out = m(ids[None])
    return out.logits[0].double().tolist(), out.hidden_states[0].double().tolist()


def acgt_logprob(row, base):
    """log p(base) from one logits row, softmax over the four nucleotide columns (ids 7-10) only."""
    if base not in "ACGT":
        return 0.0
    vals = [row[7 + i] for i in range(4)]
    top = max(vals)
    lse = top + math.log(sum(math.exp(v - top) for v in vals))
    return row[7 + "ACGT".index(base)] - lse


def causal_l(logits, seq):
    return [0.0] + [acgt_logprob(logits[t - 1], seq[t]) for t in range(1, len(seq))]


def causal_h(logits, seq):
    """H[t]: entropy (nats) of the A/C/G/T prediction for position t (logits row t-1, softmax over the four
    nucleotide columns only); 0 at t = 0 and where seq[t] is not A/C/G/T."""
    out = [0.0]
    for t in range(1, len(seq)):
        h = 0.0
        if seq[t] in "ACGT":
            for b in "ACGT":
                lp = acgt_logprob(logits[t - 1], b)
                h -= math.exp(lp) * lp
        out.append(h)
    return out


def mean_hidden(h, a, b, ps):
    rows = h[a:b]
    if ps:
        d = len(rows[0]) // 2
        rows = [[(r[c] + r[2 * d - 1 - c]) / 2 for c in range(d)] for r in rows]
    return [sum(r[c] for r in rows) / len(rows) for c in range(len(rows[0]))]


def cos_dist(u, v):
    dot = sum(x * y for x, y in zip(u, v, strict=True))
    return 1 - dot / (math.sqrt(sum(x * x for x in u)) * math.sqrt(sum(y * y for y in v)))


def brute(m, ref, alt, o, n, m_len, k, o_alt=None):
    """Every score of one ref/alt window pair, from full forwards and plain loops (spec formulas)."""
    o_alt = o if o_alt is None else o_alt
    w = len(ref)
    r, a = ref[o:o + n], alt[o_alt:o_alt + m_len]
    lg_ref, h_ref = forward(m, ref)
    lg_alt, h_alt = forward(m, alt)
    if m.info.kind == "causal":
        lr, la = causal_l(lg_ref, ref), causal_l(lg_alt, alt)
        hr, ha = causal_h(lg_ref, ref), causal_h(lg_alt, alt)
        big_m = w - o - max(n, m_len)
        tail = sum(la[o + m_len + j] - lr[o + n + j] for j in range(big_m))
        llr = sum(la[o + i] for i in range(m_len)) - sum(lr[o + i] for i in range(n)) + tail
        cllr = (sum(la[o + i] + ha[o + i] for i in range(m_len))
                - sum(lr[o + i] + hr[o + i] for i in range(n)) + tail)
        mlr = None
        if n == m_len:
            mlr = sum(acgt_logprob(lg_ref[o + i - 1], a[i]) - acgt_logprob(lg_ref[o + i - 1], r[i])
                      for i in range(n))
    else:
        llr = cllr = mlr = None
        if n == m_len:
            lg_mask, _ = forward(m, ref, (o, o + n))
            mlr = sum(acgt_logprob(lg_mask[o + i], a[i]) - acgt_logprob(lg_mask[o + i], r[i])
                      for i in range(n))
    u = mean_hidden(h_ref, max(0, o - k), min(w, o + n + k), m.info.rc_equivariant)
    v = mean_hidden(h_alt, max(0, o_alt - k), min(w, o_alt + m_len + k), m.info.rc_equivariant)
    return {"GLRM_LLR": llr, "GLRM_CLLR": cllr, "GLRM_MLR": mlr, "GLRM_EMB": cos_dist(u, v)}


def brute_window(m, win: Window, k=K):
    return brute(m, win.ref, win.alt, win.offset, win.n, win.m, k)


def distinct_passes(kind, windows):
    """How many different passes the windows need (all scores requested), counted by hand."""
    passes = set()
    for w in windows:
        passes |= {(w.ref, None), (w.alt, None)}
        if kind == "masked" and w.n == w.m:
            passes.add((w.ref, (w.offset, w.offset + w.n)))
    return len(passes)


def mean2(x, y):
    return {key: None if x[key] is None else (x[key] + y[key]) / 2 for key in KEYS}


def assert_scores(got, want):
    for key in KEYS:
        if want[key] is None:
            assert got[key] is None, key
        else:
            assert got[key] == pytest.approx(want[key], rel=1e-5, abs=1e-5), key


# --- brute-force comparisons --------------------------------------------------------------------

@pytest.mark.parametrize("name", MODELS)
def test_engine_matches_brute_force(name):
    m = model(name)
    jobs = jobs_for()
    eng = SmallVariantEngine(m, EngineConfig(emb_flank=K, batch_size=4), "cpu")
    got = eng.score(jobs)
    for job, g in zip(jobs, got, strict=True):
        assert_scores(g, brute_window(m, job.window))
    # what is (un)defined: LLR and CLLR causal only, MLR for equal-length alleles only, EMB always; the
    # default scores' keys and no others
    for job, g in zip(jobs, got, strict=True):
        assert set(g) == set(KEYS)
        assert (g["GLRM_LLR"] is None) == (g["GLRM_CLLR"] is None) == (m.info.kind == "masked")
        if m.info.kind == "causal" and job.window.n == job.window.m == 1:
            assert g["GLRM_CLLR"] == pytest.approx(g["GLRM_LLR"], rel=1e-6, abs=1e-6)   # SNV: CLLR == LLR
        assert (g["GLRM_MLR"] is None) == (job.window.n != job.window.m)
        assert g["GLRM_EMB"] is not None and g["GLRM_EMB"] >= 0


@pytest.mark.parametrize("name", ("hyenadna-hf-tiny", "mamba-lm-tiny", "caduceus-ph-tiny"))
def test_rc_mean_runs_mirrored_windows(name):
    m = model(name)
    jobs = jobs_for(rc=True)
    eng = SmallVariantEngine(m, EngineConfig(rc="mean", emb_flank=K), "cpu")
    got = eng.score(jobs)
    for job, g in zip(jobs, got, strict=True):
        assert_scores(g, mean2(brute_window(m, job.window), brute_window(m, job.rc_window)))
    windows = [j.window for j in jobs] + [j.rc_window for j in jobs]
    assert eng.passes_run == distinct_passes(m.info.kind, windows)
    assert eng.passes_deduped == sum(3 if m.info.kind == "masked" and w.n == w.m else 2 for w in windows) \
        - eng.passes_run


def test_rc_mean_equivariant_needs_no_second_pass():
    m = model("caduceus-ps-tiny")
    jobs = jobs_for(rc=True)
    plain = SmallVariantEngine(m, EngineConfig(emb_flank=K), "cpu")
    plain.score(jobs)
    eng = SmallVariantEngine(m, EngineConfig(rc="mean", emb_flank=K), "cpu")
    got = eng.score(jobs)
    assert eng.passes_run == plain.passes_run
    for job, g in zip(jobs, got, strict=True):
        win = job.window
        o, n, mm = win.offset, win.n, win.m
        rc_ref, rc_alt = revcomp(win.ref), revcomp(win.alt)
        if n == mm:   # SNV/MNV: revcomp of the forward windows is exactly the spec's mirrored pair
            assert (job.rc_window.ref, job.rc_window.alt) == (rc_ref, rc_alt)
        want_rc = brute(m, rc_ref, rc_alt, W - o - n, n, mm, K, o_alt=W - o - mm)
        assert_scores(g, mean2(brute_window(m, win), want_rc))


def test_strand_symmetric_hidden_states_make_ps_emb_strand_invariant():
    """Caduceus-ps: scoring revcomp(ref)/revcomp(alt) directly (a second model pass) gives the forward
    EMB and MLR, because the strand-symmetric combination undoes the RC channel layout; the raw 2D-channel
    means would not."""
    m = model("caduceus-ps-tiny")
    win = small_window(fasta(), allele(61098, "C", "T"), W)
    o = win.offset
    rc_win = Window(status=Status.OK, ref=revcomp(win.ref), alt=revcomp(win.alt), chrom="20",
                    offset=W - o - 1, n=1, m=1)
    eng = SmallVariantEngine(m, EngineConfig(emb_flank=K), "cpu")
    fwd, rc = eng.score([Job(win), Job(rc_win)])
    assert eng.passes_run == 6
    assert rc["GLRM_EMB"] == pytest.approx(fwd["GLRM_EMB"], rel=1e-5)
    assert rc["GLRM_MLR"] == pytest.approx(fwd["GLRM_MLR"], rel=1e-5)
    _, h_ref = forward(m, win.ref)
    _, h_alt = forward(m, win.alt)
    _, hr_ref = forward(m, rc_win.ref)
    _, hr_alt = forward(m, rc_win.alt)
    raw = cos_dist(mean_hidden(h_ref, o - K, o + 1 + K, False), mean_hidden(h_alt, o - K, o + 1 + K, False))
    o2 = W - o - 1
    raw_rc = cos_dist(mean_hidden(hr_ref, o2 - K, o2 + 1 + K, False),
                      mean_hidden(hr_alt, o2 - K, o2 + 1 + K, False))
    sym = cos_dist(mean_hidden(h_ref, o - K, o + 1 + K, True), mean_hidden(h_alt, o - K, o + 1 + K, True))
    assert sym == pytest.approx(fwd["GLRM_EMB"], rel=1e-5)
    assert raw != pytest.approx(sym, rel=1e-3) or raw_rc != pytest.approx(sym, rel=1e-3)


# --- independence of batching, chunking, threads, order -------------------------------------------

@pytest.mark.parametrize("name", MODELS)
def test_independent_of_batch_chunk_threads_order(name):
    m = model(name)
    jobs = jobs_for(rc=True)
    base = SmallVariantEngine(m, EngineConfig(rc="mean", emb_flank=K, batch_size=1), "cpu").score(jobs)
    for bs, chunk, nthreads in ((3, None, 1), (7, 16, 1), (None, 37, 1), (2, 5, 1), (64, None, 2)):
        torch.set_num_threads(nthreads)   # the autouse fixture restores the thread count
        cfg = EngineConfig(rc="mean", emb_flank=K, batch_size=bs, chunk_size=chunk)
        got = SmallVariantEngine(m, cfg, "cpu").score(jobs)
        for g, b in zip(got, base, strict=True):
            assert_scores(g, b)
    order = list(range(len(jobs)))
    random.Random(3).shuffle(order)
    got = SmallVariantEngine(m, EngineConfig(rc="mean", emb_flank=K, batch_size=5), "cpu").score(
        [jobs[i] for i in order])
    for g, i in zip(got, order, strict=True):
        assert_scores(g, base[i])


# --- pass planning --------------------------------------------------------------------------------

def test_dedup_shares_ref_passes():
    fa = fasta()
    site = [allele(60309, "G", alt) for alt in ("T", "A", "C")]
    jobs = [Job(small_window(fa, a, W)) for a in site]
    causal = SmallVariantEngine(model("mamba-lm-tiny"), EngineConfig(emb_flank=K), "cpu")
    got = causal.score(jobs)
    assert (causal.passes_run, causal.passes_deduped) == (4, 2)    # one ref pass + three alt passes
    masked = SmallVariantEngine(model("caduceus-ph-tiny"), EngineConfig(emb_flank=K), "cpu")
    masked.score(jobs)
    assert (masked.passes_run, masked.passes_deduped) == (5, 4)    # masked ref + unmasked ref + 3 alts
    # the very same job twice: nothing new runs, and both get the same values
    again = SmallVariantEngine(model("mamba-lm-tiny"), EngineConfig(emb_flank=K), "cpu")
    twice = again.score([jobs[0], jobs[0]])
    assert again.passes_run == 2 and twice[0] == twice[1]
    assert_scores(twice[0], got[0])


def test_only_requested_passes_run():
    fa = fasta()
    snv, dele = allele(61098, "C", "T"), allele(1600125, "GAA", "G")
    jobs = [Job(small_window(fa, snv, W)), Job(small_window(fa, dele, W))]
    causal = SmallVariantEngine(model("hyenadna-hf-tiny"), EngineConfig(scores=("mlr",)), "cpu")
    got = causal.score(jobs)
    assert causal.passes_run == 1                                  # the SNV's ref pass; no MLR for the DEL
    assert list(got[0]) == ["GLRM_MLR"] and got[0]["GLRM_MLR"] is not None   # only the requested keys
    assert got[1] == {"GLRM_MLR": None}
    masked = SmallVariantEngine(model("caduceus-ph-tiny"), EngineConfig(scores=("emb",), emb_flank=K), "cpu")
    got = masked.score(jobs)
    assert masked.passes_run == 4                                  # unmasked ref + alt, no masked pass
    assert all(list(g) == ["GLRM_EMB"] and g["GLRM_EMB"] is not None for g in got)


def test_emb_flank_clipped_to_window():
    """A flank K far beyond a small window averages the whole window (indices clipped to [0, W))."""
    w = 64
    jobs = jobs_for(w=w)[:4]
    for name in ("hyenadna-hf-tiny", "caduceus-ps-tiny"):
        m = model(name)
        big = SmallVariantEngine(m, EngineConfig(emb_flank=5000), "cpu").score(jobs)
        whole = SmallVariantEngine(m, EngineConfig(emb_flank=w), "cpu").score(jobs)
        small = SmallVariantEngine(m, EngineConfig(emb_flank=3), "cpu").score(jobs)
        for job, b, wh, s in zip(jobs, big, whole, small, strict=True):
            win = job.window
            _, h_ref = forward(m, win.ref)
            _, h_alt = forward(m, win.alt)
            ps = m.info.rc_equivariant
            want = cos_dist(mean_hidden(h_ref, 0, w, ps), mean_hidden(h_alt, 0, w, ps))
            assert b["GLRM_EMB"] == pytest.approx(want, rel=1e-5, abs=1e-7)
            assert wh["GLRM_EMB"] == pytest.approx(want, rel=1e-5, abs=1e-7)
            assert s["GLRM_EMB"] == pytest.approx(brute(m, win.ref, win.alt, win.offset, win.n, win.m, 3)[
                "GLRM_EMB"], rel=1e-5, abs=1e-7)
            assert s["GLRM_EMB"] != pytest.approx(want, rel=1e-3)


def test_n_in_alleles_scores_zero():
    """An ALT base N contributes 0 on the alt side: MLR is then minus the REF base's log-probability."""
    fa = fasta()
    win = small_window(fa, allele(61098, "C", "N"), W)
    for name in ("mamba-lm-tiny", "caduceus-ph-tiny"):
        m = model(name)
        got = SmallVariantEngine(m, EngineConfig(emb_flank=K), "cpu").score([Job(win)])[0]
        want = brute_window(m, win)
        assert_scores(got, want)
        o = win.offset
        lg, _ = forward(m, win.ref, None if m.info.kind == "causal" else (o, o + 1))
        row = lg[o - 1] if m.info.kind == "causal" else lg[o]
        assert got["GLRM_MLR"] == pytest.approx(-acgt_logprob(row, "C"), rel=1e-5)


# --- configuration and memory ----------------------------------------------------------------------

def test_config_errors_are_input_errors():
    for kw in ({"scores": ("llr", "cadd")}, {"rc": "both"}, {"precision": "fp16"}, {"batch_size": 0},
               {"chunk_size": 0}, {"emb_flank": -1}, {"scores": ()}):
        with pytest.raises(InputError):
            EngineConfig(**kw)


def test_engine_refuses_non_ok_windows_and_missing_rc():
    m = model("mamba-lm-tiny")
    bad = small_window(fasta(), allele(61098, "G", "T"), W)
    assert bad.status is Status.REF_MISMATCH
    with pytest.raises(ValueError, match="OK windows"):
        SmallVariantEngine(m, EngineConfig(), "cpu").score([Job(bad)])
    good = small_window(fasta(), allele(61098, "C", "T"), W)
    with pytest.raises(ValueError, match="rc_window"):
        SmallVariantEngine(m, EngineConfig(rc="mean"), "cpu").score([Job(good)])


def test_auto_batch_size_formula():
    # W * (V + 16 H) * 4 bytes per pass; half of the free memory
    per_pass = 131072 * (16 + 16 * 512) * 4
    assert auto_batch_size(131072, 512, 16, 40 << 30) == (20 << 30) // per_pass == 4
    assert auto_batch_size(131072, 512, 16, 1 << 20) == 1
    assert auto_batch_size(1024, 32, 16, 64 << 30) == 64
    free = free_memory_bytes(torch.device("cpu"))
    assert free > 0
    eng = SmallVariantEngine(model("caduceus-ps-tiny"), EngineConfig(), "cpu")
    assert (eng.hidden, eng.vocab) == (64, 16)
    assert 1 <= eng.batch_size_for(W) <= 64


def test_bf16_tracks_fp32():
    m32 = load_model(FIX / "mamba-lm-tiny")
    m16 = load_model(FIX / "mamba-lm-tiny")
    jobs = jobs_for()[:4]
    a = SmallVariantEngine(m32, EngineConfig(emb_flank=K), "cpu").score(jobs)
    b = SmallVariantEngine(m16, EngineConfig(emb_flank=K, precision="bf16"), "cpu").score(jobs)
    assert m16.lm_head.weight.dtype == torch.bfloat16
    for x, y in zip(a, b, strict=True):
        assert y["GLRM_LLR"] == pytest.approx(x["GLRM_LLR"], rel=0.1, abs=0.5)
        assert y["GLRM_CLLR"] == pytest.approx(x["GLRM_CLLR"], rel=0.1, abs=0.5)
        assert y["GLRM_MLR"] is None or y["GLRM_MLR"] == pytest.approx(x["GLRM_MLR"], rel=0.1, abs=0.5)


@pytest.mark.gpu
@pytest.mark.parametrize("name", MODELS)
def test_cuda_matches_cpu(name):
    jobs = jobs_for(rc=True)
    cpu = SmallVariantEngine(model(name), EngineConfig(rc="mean", emb_flank=K), "cpu").score(jobs)
    cuda_model = load_model(FIX / name, device="cuda")
    got = SmallVariantEngine(cuda_model, EngineConfig(rc="mean", emb_flank=K), "cuda").score(jobs)
    for g, c in zip(got, cpu, strict=True):
        for key in KEYS:
            assert (g[key] is None) == (c[key] is None)
            if c[key] is not None:
                assert g[key] == pytest.approx(c[key], rel=1e-4, abs=1e-4), key


def test_engines_let_hyenadna_keep_spectra_in_a_share_of_free_memory(monkeypatch):
    """score-vcf's and score-sv's engines size HyenaDNA's filter-spectrum cache from the free memory
    (resources.SPECTRUM_CACHE_FRACTION of it, shared by the layers), so repeated window lengths reuse them."""
    from glrm.models import load_model as load
    from glrm.resources import SPECTRUM_CACHE_FRACTION
    from glrm.scoring.sv import SVEngine

    free = 64 << 30
    monkeypatch.setattr("glrm.resources.free_memory_bytes", lambda device: free)
    for make in (lambda m: SmallVariantEngine(m, EngineConfig(), "cpu"), lambda m: SVEngine(m)):
        m = load(FIX / "hyenadna-hf-tiny")          # a fresh copy: the engine changes the model's cache size
        filters = [layer.mixer.filter_fn for layer in m.backbone.layers]
        assert all(f.cache_bytes < free // 8 for f in filters)
        make(m)
        assert all(f.cache_bytes == int(SPECTRUM_CACHE_FRACTION * free) // len(filters) for f in filters)
