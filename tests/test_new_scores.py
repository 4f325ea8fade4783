"""The new small-variant scores (GLRM_CLLR and the published recipes GLRM_EVO2, GLRM_GPN_LLR, GLRM_GPN_COS,
GLRM_GPN_EUC) against brute force, and what they mean.

Brute force: for every fixture model, real chr20 SNVs (GoNL), an MNV on real sequence and real indels
(vt's normalisation set, some not left-aligned), the windows are rebuilt by hand from the canonical allele
(`helpers.canonical_allele`, not glrm.leftalign), the reverse strand by hand from a reverse-complemented
genome, each window runs one full forward, and each score is written as plain Python loops over the
positions with the log-softmax taken by hand (docs/definitions.md):
- CLLR  = sum_{i<m}(l_alt+H_alt)[o+i] - sum_{i<n}(l_ref+H_ref)[o+i] + sum_{j<M}(l_alt[o+m+j] - l_ref[o+n+j])
- EVO2  = mean_{t=1..W-1} log_softmax_full(logits_alt[t-1])[x_alt[t]] - the same for ref
- GPN_LLR = logit[ALT] - logit[REF] at the masked variant, mean of the window and its reverse complement
- GPN_COS / GPN_EUC = 1 - cos / ||x - y + 1e-6|| of the whole windows' last hidden states, flattened, mean of
  the two strands.
Scores that are not defined must be None ('.').

Meaning (issue 12: "scores must mean what they say"):
- on the 194 real demo indels, through the CLI: GLRM_LLR ranks by length change, GLRM_CLLR does not;
- on insertions sampled from the demo model itself, CLLR's allele part is centred at 0 whatever the length,
  while LLR's falls by about the model's entropy per inserted base;
- the BED main score column of a causal model is GLRM_CLLR.
"""

from __future__ import annotations

import functools
import gzip
import math
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import MemGenome, canonical_allele, fixture_model

from glrm.cli.main import main
from glrm.io.fasta import Fasta
from glrm.models import load_model
from glrm.models.tokenizer import MASK, encode
from glrm.scoring.engine import EngineConfig, Job, SmallVariantEngine
from glrm.variants import Allele, Status, classify
from glrm.windows import Window, mirror_small_window, small_window

HERE = Path(__file__).parent
ROOT = HERE.parent
DATA = HERE / "data"
DEMO = ROOT / "examples" / "demo"
MODELS = ("hyenadna-hf-tiny", "mamba-lm-tiny", "caduceus-ph-tiny", "caduceus-ps-tiny")
W = 96
NEW = ("cllr", "evo2", "gpn_llr", "gpn_cos", "gpn_euc")
SCORES = ("llr", *NEW)
KEYS = {"llr": "GLRM_LLR", "cllr": "GLRM_CLLR", "evo2": "GLRM_EVO2", "gpn_llr": "GLRM_GPN_LLR",
        "gpn_cos": "GLRM_GPN_COS", "gpn_euc": "GLRM_GPN_EUC"}
# (rel, abs) per key: LLR/CLLR sum ~W/2 float32 log-probabilities of a few nats each (the engine's rounding
# reaches ~1e-5 there, as in test_engine.py); EVO2 is a mean (errors ~1e-7, values >= 5e-4 here); the GPN
# recipes' errors are ~1e-7 relative (GPN_COS values ~1e-2, errors ~1e-9)
TOL = {"GLRM_LLR": (1e-5, 2e-5), "GLRM_CLLR": (1e-5, 2e-5), "GLRM_EVO2": (1e-5, 1e-6),
       "GLRM_GPN_LLR": (1e-5, 1e-6), "GLRM_GPN_COS": (1e-5, 1e-8), "GLRM_GPN_EUC": (1e-5, 1e-6)}

# one intra-op thread for the tiny models (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("one_thread")


# --- the variants -----------------------------------------------------------------------------------

@functools.cache
def fasta():
    return Fasta(DATA / "chr20_slice.fa.gz")


def allele(pos1, ref, alt, chrom="20"):
    kind, bnd, reason = classify(ref, alt)
    return Allele(chrom=chrom, pos=pos1, id=".", ref=ref, alt=alt, alt_index=0, kind=kind, bnd=bnd,
                  reason=reason)


_rng = random.Random(11)
MEM = MemGenome({"c1": "".join(_rng.choice("ACGT") for _ in range(300))})


def mem_variants():
    """Alleles whose windows reach past the contig ends (N padding: l = H = 0 there, EVO2 reads the N)."""
    s = MEM.seqs["c1"]
    return [(3, s[2], "A" if s[2] != "A" else "C"),          # third base: 45 N on the left at W = 96
            (299, s[298:300], s[298]),                        # deletion of the last base
            (300, s[299], s[299] + "GT")]                     # insertion after the last base


def vcf_records(path):
    with gzip.open(path, "rt") as fh:
        return [line.split("\t")[:5] for line in fh if not line.startswith("#")]


@functools.cache
def variants():
    """(pos1, ref, alt) of the test variants: the GoNL SNVs, an MNV on real sequence, and indels from
    chr20_indels.vcf.gz (the first three, and the first three that are not left-aligned)."""
    fa = fasta()
    snvs = [(int(c[1]), c[3], c[4]) for c in vcf_records(DATA / "gonl_snvs.vcf.gz")]
    indels = [(int(c[1]), c[3], c[4]) for c in vcf_records(DATA / "chr20_indels.vcf.gz")]
    moved = [v for v in indels if canonical_allele(fa, "20", v[0] - 1, v[1], v[2]) != (v[0] - 1, v[1], v[2])]
    assert len(snvs) == 7 and len(moved) >= 3
    mnv = (60573, fa.fetch("20", 60572, 60574), "GA")
    return [*snvs, mnv, *indels[:3], *moved[:3]]


# --- windows by hand ------------------------------------------------------------------------------------

_COMP = {"A": "T", "C": "G", "G": "C", "T": "A"}


def rc(seq):
    return "".join(_COMP.get(b, "N") for b in reversed(seq))


def hand_windows(fa, pos1, ref, alt, w, chrom="20"):
    """(ref window, alt window, o, n, m) of the canonical allele, and the same for its mirror on the reverse-
    complemented genome (o' = W - o - max(n, m)), built from the rule by hand."""
    s, r, a = canonical_allele(fa, chrom, pos1 - 1, ref, alt)
    n, m, o = len(r), len(a), w // 2
    g0, e = s - o, s + len(r)
    fwd = (fa.fetch(chrom, g0, g0 + w), fa.fetch(chrom, g0, s) + a + fa.fetch(chrom, e, e + w - o - m),
           o, n, m)
    size = fa.length(chrom)

    def rc_fetch(x0, x1):       # positions x0..x1 of the reverse-complemented contig
        return rc(fa.fetch(chrom, size - x1, size - x0))

    s2 = size - e
    o2 = w - o - max(n, m)
    g2 = s2 - o2
    mir = (rc_fetch(g2, g2 + w), rc_fetch(g2, s2) + rc(a) + rc_fetch(s2 + n, s2 + n + w - o2 - m), o2, n, m)
    return fwd, mir


def jobs_and_hand(w=W):
    jobs, hand = [], []
    cases = [(fasta(), "20", v, 0.05) for v in variants()] + [(MEM, "c1", v, 0.6) for v in mem_variants()]
    for fa, chrom, (pos1, ref, alt), frac in cases:
        a = allele(pos1, ref, alt, chrom)
        win = small_window(fa, a, w, frac)
        mir = mirror_small_window(fa, a, w, frac)
        fwd_h, mir_h = hand_windows(fa, pos1, ref, alt, w, chrom)
        assert win.ok and mir.ok
        assert (win.ref, win.alt, win.offset, win.n, win.m) == fwd_h
        assert (mir.ref, mir.alt, mir.offset, mir.n, mir.m) == mir_h
        jobs.append(Job(win, mir))
        hand.append((fwd_h, mir_h))
    return jobs, hand


# --- brute force -----------------------------------------------------------------------------------------

def forward(m, seq, mask_at=None):
    """One full forward of one window: (logits, hidden states) as nested lists of floats."""
    ids = encode(seq)
    if mask_at is not None:
        ids[mask_at] = MASK
    with torch.no_grad():
        out = m(ids[None])
    return out.logits[0].double().tolist(), out.hidden_states[0].double().tolist()


def logsumexp(vals):
    top = max(vals)
    return top + math.log(sum(math.exp(v - top) for v in vals))


def acgt_logprobs(row):
    """log p over A, C, G, T (token ids 7..10) from one logits row, renormalised over those four."""
    lse = logsumexp(row[7:11])
    return [row[7 + i] - lse for i in range(4)]


def causal_l_h(logits, seq):
    """l[t] = log p(x_t | x_<t) over A/C/G/T and H[t] = the entropy of that prediction; 0 at t = 0 and where
    x_t is not A/C/G/T."""
    l, h = [0.0], [0.0]
    for t in range(1, len(seq)):
        if seq[t] not in "ACGT":
            l.append(0.0)
            h.append(0.0)
            continue
        lp = acgt_logprobs(logits[t - 1])
        l.append(lp["ACGT".index(seq[t])])
        h.append(-sum(math.exp(x) * x for x in lp))
    return l, h


_TOKEN = {"A": 7, "C": 8, "G": 9, "T": 10}


def full_vocab_mean(logits, seq):
    """Evo 2's mean log-likelihood: log_softmax over every logit column, t = 1 .. W-1."""
    ids = [_TOKEN.get(b, 11) for b in seq]
    total = 0.0
    for t in range(1, len(seq)):
        row = logits[t - 1]
        total += row[ids[t]] - logsumexp(row)
    return total / (len(seq) - 1)


def flat_cos_euc(h_x, h_y):
    x = [v for row in h_x for v in row]
    y = [v for row in h_y for v in row]
    dot = sum(a * b for a, b in zip(x, y, strict=True))
    nx = math.sqrt(sum(a * a for a in x))
    ny = math.sqrt(sum(b * b for b in y))
    euc = math.sqrt(sum((a - b + 1e-6) ** 2 for a, b in zip(x, y, strict=True)))
    return 1 - dot / max(nx * ny, 1e-8), euc


def brute_causal_strand(m, ref, alt, o, n, mm):
    """LLR, CLLR and EVO2 of one strand's window pair (causal model)."""
    w = len(ref)
    lg_r, _ = forward(m, ref)
    lg_a, _ = forward(m, alt)
    lr, hr = causal_l_h(lg_r, ref)
    la, ha = causal_l_h(lg_a, alt)
    big_m = w - o - max(n, mm)
    down = sum(la[o + mm + j] - lr[o + n + j] for j in range(big_m))
    llr = sum(la[o + i] for i in range(mm)) - sum(lr[o + i] for i in range(n)) + down
    cllr = sum(la[o + i] + ha[o + i] for i in range(mm)) - sum(lr[o + i] + hr[o + i] for i in range(n)) + down
    return {"llr": llr, "cllr": cllr, "evo2": full_vocab_mean(lg_a, alt) - full_vocab_mean(lg_r, ref)}


def gpn_llr_strand(m, ref, o, r, a):
    lg, _ = forward(m, ref, mask_at=o)
    return lg[o][_TOKEN[a]] - lg[o][_TOKEN[r]]


def brute(m, hand, rc_mode):
    """Every requested score of one job, the slow way; None where the definition says undefined."""
    (ref, alt, o, n, mm), mir = hand
    causal = m.info.kind == "causal"
    out = dict.fromkeys(SCORES)
    if causal:
        fwd = brute_causal_strand(m, ref, alt, o, n, mm)
        strands = [fwd]
        if rc_mode == "mean":
            strands.append(brute_causal_strand(m, mir[0], mir[1], mir[2], n, mm))
        for k in ("llr", "cllr", "evo2"):
            out[k] = sum(s[k] for s in strands) / len(strands)
    if n == mm:      # GPN's recipes: always both strands; the SNV/MNV mirror is the reverse complement
        assert (mir[0], mir[1], mir[2]) == (rc(ref), rc(alt), len(ref) - o - n)
        if not causal and n == 1:
            r, a = ref[o], alt[o]
            out["gpn_llr"] = (gpn_llr_strand(m, ref, o, r, a)
                              + gpn_llr_strand(m, rc(ref), len(ref) - 1 - o, _COMP[r], _COMP[a])) / 2
        c1, e1 = flat_cos_euc(forward(m, ref)[1], forward(m, alt)[1])
        c2, e2 = flat_cos_euc(forward(m, rc(ref))[1], forward(m, rc(alt))[1])
        out["gpn_cos"], out["gpn_euc"] = (c1 + c2) / 2, (e1 + e2) / 2
    return out


def assert_close(got, want, what):
    for name, key in KEYS.items():
        if want[name] is None:
            assert got[key] is None, (what, key, got[key])
        else:
            assert got[key] is not None, (what, key)
            rel, abs_ = TOL[key]
            assert got[key] == pytest.approx(want[name], rel=rel, abs=abs_), (what, key)


# --- brute-force comparisons ----------------------------------------------------------------------------

@pytest.mark.parametrize("rc_mode", ("none", "mean"))
@pytest.mark.parametrize("name", MODELS)
def test_new_scores_match_brute_force(name, rc_mode):
    m = fixture_model(name)
    jobs, hand = jobs_and_hand()
    got = SmallVariantEngine(m, EngineConfig(scores=SCORES, rc=rc_mode, batch_size=4), "cpu").score(jobs)
    causal = m.info.kind == "causal"
    for job, h, g in zip(jobs, hand, got, strict=True):
        win = job.window
        what = (name, rc_mode, win.s + 1, win.ref[win.offset:win.offset + win.n],
                win.alt[win.offset:win.offset + win.m])
        assert set(g) == {KEYS[s] for s in SCORES}, what           # the requested keys, no others
        assert_close(g, brute(m, h, rc_mode), what)
        # what is (un)defined, stated directly
        snv, same = win.n == win.m == 1, win.n == win.m
        assert (g["GLRM_CLLR"] is None) == (not causal) and (g["GLRM_EVO2"] is None) == (not causal), what
        assert (g["GLRM_GPN_LLR"] is None) == (causal or not snv), what
        assert (g["GLRM_GPN_COS"] is None) == (not same) and (g["GLRM_GPN_EUC"] is None) == (not same), what
        if causal and snv:                     # for an SNV, CLLR is LLR: the allele's H terms cancel
            assert g["GLRM_CLLR"] == pytest.approx(g["GLRM_LLR"], rel=1e-6, abs=1e-6), what
        if name == "hyenadna-hf-tiny" and not same:   # an indel: the entropy terms change the value (the
            # mamba fixture's predictions are near-certain, H ~ 0, so there CLLR ~ LLR)
            assert abs(g["GLRM_CLLR"] - g["GLRM_LLR"]) > 1e-3, what


@pytest.mark.parametrize("name", MODELS)
def test_gpn_recipes_average_both_strands_whatever_rc_says(name):
    """GPN's recipes are the mean of the two strands with --rc none and --rc mean alike, and asking for one
    score alone returns that key only, with the same value."""
    m = fixture_model(name)
    jobs, _ = jobs_and_hand()
    a = SmallVariantEngine(m, EngineConfig(scores=NEW, rc="none"), "cpu").score(jobs)
    b = SmallVariantEngine(m, EngineConfig(scores=NEW, rc="mean"), "cpu").score(jobs)
    for x, y in zip(a, b, strict=True):
        for key in ("GLRM_GPN_LLR", "GLRM_GPN_COS", "GLRM_GPN_EUC"):
            assert (x[key] is None) == (y[key] is None)
            if x[key] is not None:
                assert x[key] == pytest.approx(y[key], rel=TOL[key][0], abs=TOL[key][1]), key
    snv_jobs = [j for j in jobs if j.window.n == j.window.m]
    for score in ("gpn_cos", "gpn_euc") + (("gpn_llr",) if m.info.kind == "masked" else ("cllr", "evo2")):
        one = SmallVariantEngine(m, EngineConfig(scores=(score,)), "cpu").score(snv_jobs)
        full = SmallVariantEngine(m, EngineConfig(scores=NEW), "cpu").score(snv_jobs)
        for x, y in zip(one, full, strict=True):
            assert list(x) == [KEYS[score]]
            if x[KEYS[score]] is not None:
                assert x[KEYS[score]] == pytest.approx(y[KEYS[score]], rel=TOL[KEYS[score]][0],
                                                       abs=TOL[KEYS[score]][1])


# --- meaning: the real demo indels through the CLI ------------------------------------------------------

def ranks(x):
    """Ranks 0..n-1, ties given their average rank."""
    x = np.asarray(x, dtype=float)
    _, inv, counts = np.unique(x, return_inverse=True, return_counts=True)
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return (first + (counts - 1) / 2)[inv]


def spearman(x, y):
    return float(np.corrcoef(ranks(x), ranks(y))[0, 1])


def test_spearman_helper():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1)
    assert list(ranks([5, 1, 5, 3])) == [2.5, 0, 2.5, 1]
    # with ties: Pearson of the average ranks (0.5, 0.5, 2, 3) and (0, 1.5, 1.5, 3) = 3.75 / 4.5, by hand
    assert spearman([1, 1, 2, 3], [1, 2, 2, 3]) == pytest.approx(5 / 6, abs=1e-12)


@pytest.fixture(scope="module")
def demo_bed(tmp_path_factory):
    d = tmp_path_factory.mktemp("demo")
    out, bed = d / "demo.vcf", d / "demo.bed"
    assert main(["score-vcf", "-i", str(DEMO / "demo.vcf.gz"), "-f", str(DEMO / "chr20_demo.fa.gz"),
                 "-m", str(DEMO / "model"), "--window", "1024", "--threads", "1", "--device", "cpu",
                 "-o", str(out), "--bed", str(bed), "-q"]) == 0
    lines = bed.read_text().splitlines()
    header = lines[0].lstrip("#").split("\t")
    rows = [dict(zip(header, x.split("\t"), strict=True)) for x in lines[1:]]
    return rows, vcf_records(DEMO / "demo.vcf.gz")


def test_cllr_does_not_rank_indels_by_length_llr_does(demo_bed):
    rows, recs = demo_bed
    assert len(rows) == len(recs) == 201
    change, llr, cllr = [], [], []
    for row, rec in zip(rows, recs, strict=True):
        ref, alt = rec[3], rec[4]
        if len(ref) == len(alt):
            continue
        assert row["GLRM_STATUS"] == "OK"
        change.append(len(alt) - len(ref))
        llr.append(float(row["GLRM_LLR"]))
        cllr.append(float(row["GLRM_CLLR"]))
    assert len(change) == 194
    assert spearman(change, llr) < -0.8            # GLRM_LLR: about -0.98 here (issue 12: -0.977)
    assert abs(spearman(change, cllr)) < 0.2       # GLRM_CLLR: the length trend is gone


def test_bed_main_score_of_a_causal_model_is_cllr(demo_bed):
    rows, recs = demo_bed
    assert list(rows[0])[:11] == ["chrom", "start", "end", "name", "score", "strand", "GLRM_LLR", "GLRM_CLLR",
                                  "GLRM_MLR", "GLRM_EMB", "GLRM_STATUS"]
    assert all(r["score"] == r["GLRM_CLLR"] for r in rows)
    # not vacuous: on indels CLLR and LLR differ
    assert sum(r["GLRM_CLLR"] != r["GLRM_LLR"] for r, rec in zip(rows, recs, strict=True)
               if len(rec[3]) != len(rec[4])) == 194


# --- meaning: insertions sampled from the model itself ------------------------------------------------

NULL_W = 512
NULL_D = (1, 4, 16)
NULL_SITES = 30


@functools.cache
def demo_model():
    return load_model(DEMO / "model")


@functools.cache
def demo_fasta():
    return Fasta(DEMO / "chr20_demo.fa.gz")


def sample_insertion(m, context, d, gen):
    """d bases drawn one at a time from the model's own A/C/G/T prediction (renormalised) after `context`."""
    seq = context
    for _ in range(d):
        with torch.no_grad():
            row = m(encode(seq)[None]).logits[0, -1, 7:11].double()
        seq += "ACGT"[int(torch.multinomial(torch.softmax(row, -1), 1, generator=gen))]
    return seq[len(context):]


def null_sites():
    """Anchor positions (0-based) of insertions: the anchors of the first NULL_SITES distinct demo indels."""
    fa = demo_fasta()
    anchors = []
    for c in vcf_records(DEMO / "demo.vcf.gz"):
        if len(c[3]) != len(c[4]):
            s = canonical_allele(fa, "20", int(c[1]) - 1, c[3], c[4])[0]
            if s not in anchors:
                anchors.append(s)
    return anchors[:NULL_SITES]


def test_cllr_allele_part_is_centred_on_null_insertions():
    """At each site, d bases are sampled from the demo model given the window's upstream half and inserted
    after the anchor base. Under the model, E[l] = -H for every inserted base, so CLLR's allele part (CLLR
    minus the aligned downstream pairs' sum) averages 0 at every d, while LLR's allele part falls by the
    model's entropy per base. The windows are built at the written position (glrm's left-alignment would
    move ~1/4 of them, scoring other bases than the sampled ones); the scores come from glrm's engine."""
    m, fa = demo_model(), demo_fasta()
    w, o = NULL_W, NULL_W // 2
    gen = torch.Generator().manual_seed(12)
    jobs, meta = [], []
    for p in null_sites():
        g0 = p - o
        ref = fa.fetch("20", g0, g0 + w)
        assert "N" not in ref
        x = sample_insertion(m, fa.fetch("20", g0, p + 1), max(NULL_D), gen)
        for d in NULL_D:
            a = fa.fetch("20", p, p + 1) + x[:d]
            alt = fa.fetch("20", g0, p) + a + fa.fetch("20", p + 1, p + 1 + w - o - len(a))
            jobs.append(Job(Window(status=Status.OK, ref=ref, alt=alt, chrom="20", ref_start=g0, alt_start=g0,
                                   offset=o, s=p, e=p + 1, n=1, m=len(a))))
            meta.append((p, d))
    got = SmallVariantEngine(m, EngineConfig(scores=("llr", "cllr"), batch_size=8), "cpu").score(jobs)
    part_c = {d: [] for d in NULL_D}
    part_l = {d: [] for d in NULL_D}
    ent = {d: [] for d in NULL_D}
    lr_cache = {}
    for job, (p, d), g in zip(jobs, meta, got, strict=True):
        win = job.window
        if p not in lr_cache:
            lr_cache[p] = causal_l_h(forward(m, win.ref)[0], win.ref)[0]
        lr = lr_cache[p]
        la, ha = causal_l_h(forward(m, win.alt)[0], win.alt)
        big_m = w - o - win.m
        down = sum(la[o + win.m + j] - lr[o + 1 + j] for j in range(big_m))
        part_c[d].append(g["GLRM_CLLR"] - down)
        part_l[d].append(g["GLRM_LLR"] - down)
        ent[d].append(sum(ha[o + 1 + i] for i in range(d)))
        # the anchor's terms cancel (same prefix): the allele part is the inserted bases' own terms
        assert g["GLRM_LLR"] - down == pytest.approx(sum(la[o + 1 + i] for i in range(d)), abs=1e-4)
    means = {}
    for d in NULL_D:
        c, lpart, h = (np.array(v[d]) for v in (part_c, part_l, ent))
        se = c.std(ddof=1) / math.sqrt(len(c))
        means[d] = c.mean()
        assert abs(c.mean()) < 3 * se, (d, c.mean(), se)                  # CLLR: centred at every d
        assert lpart.mean() == pytest.approx(-h.mean(), abs=3 * se)         # LLR: minus the entropy
        assert -lpart.mean() / d > 0.5                                      # ... about 1 nat or more a base
    # no trend with d: the paired change from d = 1 to d = 16 is within noise, and far below LLR's
    diff = np.array(part_c[16]) - np.array(part_c[1])
    assert abs(diff.mean()) < 3 * diff.std(ddof=1) / math.sqrt(len(diff))
    llr_drop = np.mean(part_l[1]) - np.mean(part_l[16])
    assert llr_drop > 5 * abs(diff.mean()) and llr_drop > 0.5 * 15
    assert np.mean(part_l[1]) > np.mean(part_l[4]) > np.mean(part_l[16])


# --- refusals -----------------------------------------------------------------------------------------------

def test_recipes_refuse_tile_and_masked_models_refuse_causal_only_scores(tmp_path, capsys):
    from glrm.errors import InputError

    for recipe in ("evo2", "gpn_llr", "gpn_cos", "gpn_euc"):
        with pytest.raises(InputError, match="--tile"):
            EngineConfig(scores=("mlr", recipe), tile=True)
    EngineConfig(scores=("llr", "cllr", "mlr", "emb"), tile=True)          # glrm's own scores tile fine
    common = ["score-vcf", "-i", str(DATA / "gonl_snvs.vcf.gz"), "-f", str(DATA / "chr20_slice.fa.gz"),
              "--window", "96", "--device", "cpu", "-q"]
    out = tmp_path / "x.vcf"
    assert main([*common, "-m", str(HERE / "fixtures" / "hyenadna-hf-tiny"), "--scores", "mlr,gpn_cos",
                 "--tile", "-o", str(out)]) == 2
    assert "--tile with --scores gpn_cos" in capsys.readouterr().err and not out.exists()
    assert main([*common, "-m", str(HERE / "fixtures" / "caduceus-ph-tiny"), "--scores", "llr,cllr,evo2",
                 "-o", str(out)]) == 2
    assert "--scores llr,cllr,evo2: none of these is defined for" in capsys.readouterr().err
    assert not out.exists()
