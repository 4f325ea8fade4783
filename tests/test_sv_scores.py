"""SVEngine against brute force: GLRM_SV_EMB / SV_LLR / SV_REACH / SV_BP recomputed the slow, obvious way.

For every fixture model and real SVs (COLO829 chr20 Manta deletions in fits and breakpoint mode, GRIDSS
breakends, E. coli simulated <INV>/<DUP>/<DEL>, spelled-out insertions), the test runs full forwards of the
ref and alt window strings one at a time (no chunking, no batching), takes the A/C/G/T log-softmax by hand,
derives the aligned genome positions itself from s, e, r0, a0 and k' (spec: "Aligned flank positions", not
through FlankMap) and writes the spec's sums as plain Python loops over the pairs. `--rc mean` is checked
against real forwards of the reverse-complemented windows, for Caduceus-ps too (where the engine runs no
second pass).
"""

from __future__ import annotations

import copy
import functools
import math
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import fixture_model

from glrm.io.fasta import Fasta
from glrm.io.vcf import VcfReader
from glrm.models.tokenizer import encode
from glrm.scoring.sv import SVEngine
from glrm.variants import make_alleles
from glrm.windows import allele_windows, revcomp

HERE = Path(__file__).parent
DATA = HERE / "data"
FIX = HERE / "fixtures"
MODELS = ("hyenadna-hf-tiny", "mamba-lm-tiny", "caduceus-ph-tiny", "caduceus-ps-tiny")
K = 40
TOL = 1e-5
# float32 rounding per aligned pair in SV_LLR against the float64 brute force: a plain float32 forward of the
# same windows is off by up to 2.6e-7 per pair on these cases (HyenaDNA and Mamba; Caduceus far less)
LLR_ROUNDING = 4e-7


# one intra-op thread for the tiny models (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("one_thread")


model = fixture_model


@functools.cache
def genome(name):
    return Fasta(DATA / name)


@functools.cache
def vcf_alleles(name):
    with VcfReader(str(DATA / name)) as reader:
        return tuple(a for rec in reader for a in rec.alleles)


def find(vcf, pos, alt_prefix=""):
    return next(a for a in vcf_alleles(vcf) if a.pos == pos and a.alt.startswith(alt_prefix))


def spelled(fasta, pos, ref_len, alt_tail):
    """A spelled-out allele at POS with the FASTA's REF (ref_len bases) and ALT = REF[0] + alt_tail."""
    ref = genome(fasta).fetch("20", pos - 1, pos - 1 + ref_len)
    return make_alleles("20", pos, ".", ref, [ref[0] + alt_tail], {})[0]


def random_bases(n, seed):
    rng = random.Random(seed)
    return "".join(rng.choice("ACGT") for _ in range(n))


def bnd(pos, alt_fmt):
    base = genome("chr20_slice.fa.gz").fetch("20", pos - 1, pos)
    return make_alleles("20", pos, ".", base, [alt_fmt.format(t=base)], {})[0]


# (case id, FASTA, allele factory, W, expected window bps)
CASES = {
    "manta_seq_del_fits": ("chr20_slice.fa.gz", lambda: find("colo829_manta.vcf.gz", 48395962), 1024, [0]),
    "manta_seq_del_bp": ("chr20_slice.fa.gz", lambda: find("colo829_manta.vcf.gz", 48395962), 256, [1, 2]),
    "manta_sym_del_bp": ("chr20_slice.fa.gz", lambda: find("colo829_manta.vcf.gz", 13160727), 256, [1, 2]),
    "novobreak_del_fits": ("chr20_slice.fa.gz", lambda: find("colo829_novobreak.vcf.gz", 37274467), 1024,
                           [0]),
    "gridss_t[p[": ("chr20_slice.fa.gz", lambda: find("colo829_gridss.vcf.gz", 13160728), 256, [1]),
    "gridss_]p]t": ("chr20_slice.fa.gz", lambda: find("colo829_gridss.vcf.gz", 13164101), 256, [1]),
    "gridss_ins_bases": ("chr20_slice.fa.gz", lambda: find("colo829_gridss.vcf.gz", 32180252), 256, [1]),
    "bnd_t]p]": ("chr20_slice.fa.gz", lambda: bnd(13160728, "{t}]20:13164101]"), 256, [1]),
    "bnd_[p[t": ("chr20_slice.fa.gz", lambda: bnd(13164101, "[20:13160728[{t}"), 256, [1]),
    "bnd_t]p]_ins": ("chr20_slice.fa.gz", lambda: bnd(13160728, "{t}GATTACA]20:13164101]"), 256, [1]),
    "bnd_]p]t_ins": ("chr20_slice.fa.gz", lambda: bnd(13164101, "]20:13160728]CCGGA{t}"), 256, [1]),
    "ecoli_inv": ("ecoli_slice.fa.gz", lambda: next(a for a in vcf_alleles("ecoli_sim_svs.fixed.vcf")
                                                    if a.alt == "<INV>"), 1024, None),
    "ecoli_dup": ("ecoli_slice.fa.gz", lambda: find("ecoli_sim_svs.fixed.vcf", 846129), 1024, [1, 2]),
    "ecoli_del_fits": ("ecoli_slice.fa.gz", lambda: find("ecoli_sim_svs.fixed.vcf", 4198612), 1024, [0]),
    "ins_fits": ("chr20_slice.fa.gz", lambda: spelled("chr20_slice.fa.gz", 48395900, 1, random_bases(80, 1)),
                 256, [0]),
    "ins_bp": ("chr20_slice.fa.gz", lambda: spelled("chr20_slice.fa.gz", 48395900, 1, random_bases(300, 2)),
               256, [1, 2]),
    "delins": ("chr20_slice.fa.gz", lambda: spelled("chr20_slice.fa.gz", 48395900, 30, random_bases(9, 3)),
               256, [0]),
}


def windows_of(case):
    fasta, make, w, bps = CASES[case]
    allele = make()
    wins = allele_windows(genome(fasta), allele, w, sv=True)
    assert all(x.ok for x in wins), [(x.status, x.note) for x in wins]
    if bps is not None:
        assert [x.bp for x in wins] == bps
    return allele, wins


# --- brute force --------------------------------------------------------------------------------

@functools.cache
def model64(m):
    """A float64 copy of a fixture model: the brute force carries no float32 rounding (glrm's models evaluate
    in float64 within 1e-13 of the official code's float64 outputs, tests/fixtures/README.md)."""
    return copy.deepcopy(m).double()


def forward(m, seq):
    """One full forward in float64: (logits (W, V), hidden (W, H')), strand-symmetric for ps."""
    with torch.no_grad():
        out = model64(m)(encode(seq)[None])
    h = out.hidden_states[0].double()
    if m.info.rc_equivariant:
        d = h.shape[1] // 2
        h = torch.stack([(h[:, c] + h[:, 2 * d - 1 - c]) / 2 for c in range(d)], dim=1)
    return out.logits[0].double(), h


def logprob_of(m, logits, seq):
    """l[t] by the spec: causal log p(x_t | x_<t) from logits[t-1]; masked log p(x_t) from logits[t]."""
    out = []
    for t, base in enumerate(seq):
        if base not in "ACGT":
            out.append(0.0)
            continue
        if m.info.kind == "causal":
            if t == 0:
                out.append(0.0)
                continue
            row = logits[t - 1]
        else:
            row = logits[t]
        z = [float(row[7 + i]) for i in range(4)]
        mx = max(z)
        lse = mx + math.log(sum(math.exp(v - mx) for v in z))
        out.append(z["ACGT".index(base)] - lse)
    return out


def aligned_pairs(allele, win, w, contig_len):
    """[(ri, ai, distance)] from the definitions, written out: r0/a0 and the two windows' lengths from the
    mode's formulas, then every genome position of the ref window checked for presence in the alt window."""
    s, e, kp, h = win.s, win.e, win.m, w // 2
    if allele.bnd is not None:
        own_left = allele.bnd.form in ("t[p[", "t]p]")
        j = allele.pos if own_left else allele.pos - 1          # P + 1 or P
        r0 = j - h
        assert (win.ref_start, s, e) == (r0, j, j)
        if own_left:
            return [(g - r0, g - r0, j - g) for g in range(max(r0, 0), min(j, contig_len))]
        return [(g - r0, g - r0, g - j + 1) for g in range(max(j, 0), min(j + w - h, contig_len))]
    wr = wa = w
    if win.bp == 0:      # fits: L and R reference bases around the edit in both windows (one genome span)
        left = (w - max(e - s, kp)) // 2
        right = w - max(e - s, kp) - left
        r0 = a0 = s - left
        wr, wa = left + (e - s) + right, left + kp + right
    elif win.bp == 1:
        r0, a0 = s - h, s - h
    else:
        r0, a0 = e - h, s + kp - h
    assert (win.ref_start, win.alt_start, len(win.ref), len(win.alt)) == (r0, a0, wr, wa)
    pairs = []
    for g in range(r0, r0 + wr):
        if not 0 <= g < contig_len:
            continue
        if g < s and a0 <= g < a0 + wa:
            pairs.append((g - r0, g - a0, s - g))
        elif g >= e and 0 <= g - e + s + kp - a0 < wa:
            pairs.append((g - r0, g - e + s + kp - a0, g - e + 1))
    return pairs


def cosine_distance(u, v):
    dot = sum(a * b for a, b in zip(u, v, strict=True))
    nu = math.sqrt(sum(a * a for a in u))
    nv = math.sqrt(sum(b * b for b in v))
    return 1 - dot / (nu * nv)


def strand(m, ref, alt, pairs, k):
    """(EMB, LLR, d per pair) of one strand's windows, pairs given as (ri, ai, distance)."""
    lr_logits, hr = forward(m, ref)
    la_logits, ha = forward(m, alt)
    lr, la = logprob_of(m, lr_logits, ref), logprob_of(m, la_logits, alt)
    llr = sum(la[ai] - lr[ri] for ri, ai, _ in pairs)
    near = [(ri, ai) for ri, ai, dist in pairs if dist <= k]
    u = [sum(float(hr[ri, c]) for ri, _ in near) / len(near) for c in range(hr.shape[1])]
    v = [sum(float(ha[ai, c]) for _, ai in near) / len(near) for c in range(ha.shape[1])]
    d = [math.sqrt(sum((float(ha[ai, c]) - float(hr[ri, c])) ** 2 for c in range(hr.shape[1])))
         for ri, ai, _ in pairs]
    ref_norm = max(math.sqrt(sum(float(hr[ri, c]) ** 2 for c in range(hr.shape[1]))) for ri, _, _ in pairs)
    return cosine_distance(u, v), llr, d, ref_norm


def reach_range(d, pairs, ref_norm):
    """The REACH values consistent with d up to float rounding at the 10 % threshold: (low, high).
    0 when max(d) <= 5e-5 * the largest ref norm (ref and alt agree up to float32 rounding)."""
    top = max(d)
    if top <= 5e-5 * ref_norm:
        return 0, 0

    def at(threshold):
        return max(dist for x, (_, _, dist) in zip(d, pairs, strict=True) if x >= threshold)

    return at(0.1 * top * (1 + 1e-5)), at(0.1 * top * (1 - 1e-5))


def brute(m, allele, wins, w, contig_len, k, rc):
    """Per window (EMB, LLR, REACH range, track dict) and the reported bp, all by the spec."""
    per = []
    for win in wins:
        pairs = aligned_pairs(allele, win, w, contig_len)
        emb, llr, d, ref_norm = strand(m, win.ref, win.alt, pairs, k)
        if rc:
            wr, wa = len(win.ref), len(win.alt)
            mirrored = [(wr - 1 - ri, wa - 1 - ai, dist) for ri, ai, dist in pairs]
            emb2, llr2, d2, norm2 = strand(m, revcomp(win.ref), revcomp(win.alt), mirrored, k)
            emb, llr, ref_norm = (emb + emb2) / 2, (llr + llr2) / 2, max(ref_norm, norm2)
            d = [(a + b) / 2 for a, b in zip(d, d2, strict=True)]
        track = {win.ref_start + ri: x for (ri, _, _), x in zip(pairs, d, strict=True)}
        per.append((emb, llr, reach_range(d, pairs, ref_norm), track))
    best = max(range(len(per)), key=lambda i: (per[i][0], -i))
    return per, best


def check(name, case, rc="none", k=K):
    m = model(name)
    allele, wins = windows_of(case)
    w = CASES[case][2]                       # the window length asked for (fits-mode windows differ)
    fasta = CASES[case][0]
    contig_len = genome(fasta).length(wins[0].chrom)
    engine = SVEngine(m, emb_flank=k, rc=rc, want_track=True)
    got = engine.score_allele(wins)
    per, best = brute(m, allele, wins, w, contig_len, k, rc == "mean")
    # the reported window: the larger EMB (ties within rounding, e.g. two unchanged windows, either one)
    i = next(i for i, x in enumerate(wins) if max(1, x.bp) == got.bp)
    assert per[i][0] >= per[best][0] - TOL
    emb, llr, (lo, hi), track = per[i]
    assert got.emb == pytest.approx(emb, rel=TOL, abs=1e-10)   # EMB of the tiny models can be ~1e-6
    # the engine runs float32: each pair's log-probability difference carries up to LLR_ROUNDING
    n_pairs = len(track)
    assert got.llr == pytest.approx(llr, rel=TOL, abs=max(TOL, LLR_ROUNDING * n_pairs))
    assert lo <= got.reach <= hi, (got.reach, lo, hi)
    pos, vals = got.track
    assert list(pos) == sorted(track)
    assert list(vals) == pytest.approx([track[p] for p in sorted(track)], rel=TOL, abs=TOL)
    return got, engine


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("name", MODELS)
def test_engine_matches_brute_force(name, case):
    check(name, case)


@pytest.mark.parametrize("case", ["manta_sym_del_bp", "ins_fits", "gridss_]p]t", "ecoli_inv"])
@pytest.mark.parametrize("name", MODELS)
def test_rc_mean_matches_brute_force_on_revcomp_windows(name, case):
    got, engine = check(name, case, rc="mean")
    n_windows = len(windows_of(case)[1])
    if name == "caduceus-ps-tiny":   # RC-equivariant: no second pass, same values as --rc none
        assert engine.passes_run == 2 * n_windows
        plain = SVEngine(model(name), emb_flank=K, rc="none").score_allele(windows_of(case)[1])
        assert (got.emb, got.llr, got.reach) == pytest.approx((plain.emb, plain.llr, plain.reach), rel=1e-6)
    else:
        assert engine.passes_run == 4 * n_windows


@pytest.mark.parametrize("name", MODELS)
def test_emb_flank_changes_only_emb(name):
    a, _ = check(name, "ecoli_del_fits", k=5)
    b, _ = check(name, "ecoli_del_fits", k=10_000)   # every pair
    assert (a.llr, a.reach) == pytest.approx((b.llr, b.reach), rel=1e-9)
    assert a.emb != b.emb


@pytest.mark.parametrize("name", MODELS)
def test_edit_that_changes_nothing_scores_zero(name):
    """q == G[s:e] (REF spelled out again as ALT): ref == alt, so EMB, LLR and REACH are exactly 0."""
    ref = genome("chr20_slice.fa.gz").fetch("20", 48395899, 48395959)
    allele = make_alleles("20", 48395900, ".", ref, [ref], {})[0]
    for w in (256, 1024):
        wins = allele_windows(genome("chr20_slice.fa.gz"), allele, w, sv=True)
        assert [x.ok for x in wins] == [True] and wins[0].ref == wins[0].alt
        engine = SVEngine(model(name), emb_flank=K, want_track=True)
        got = engine.score_allele(wins)
        assert (got.emb, got.llr, got.reach, got.bp) == (0.0, 0.0, 0, 1)
        assert not got.track[1].any()
        assert engine.passes_run == 1           # the alt pass is the ref pass


def test_strand_symmetric_ps_is_rc_invariant():
    """Caduceus-ps: scoring the reverse-complemented windows directly gives the same scores, because the
    strand-symmetric hidden state of revcomp(x) at W-1-i equals that of x at i."""
    m = model("caduceus-ps-tiny")
    _, wins = windows_of("manta_seq_del_fits")
    win = wins[0]
    wr, wa = len(win.ref), len(win.alt)
    pairs = aligned_pairs(find("colo829_manta.vcf.gz", 48395962), win, CASES["manta_seq_del_fits"][2],
                          63_025_520)
    f = strand(m, win.ref, win.alt, pairs, K)
    r = strand(m, revcomp(win.ref), revcomp(win.alt), [(wr - 1 - a, wa - 1 - b, c) for a, b, c in pairs], K)
    assert f[0] == pytest.approx(r[0], rel=1e-5, abs=1e-9)
    assert f[1] == pytest.approx(r[1], rel=1e-5, abs=1e-6)
    assert f[2] == pytest.approx(r[2], rel=1e-4, abs=1e-6)
    assert max(f[2]) > 0


@pytest.mark.parametrize("name", ["hyenadna-hf-tiny", "mamba-lm-tiny"])
def test_causal_model_prefix_flank_has_no_reach(name):
    """A t[p[ breakend keeps only its left flank, which a causal model reads before the junction: ref and
    alt agree there (HyenaDNA up to FFT rounding), so REACH is 0 and EMB ~ 0, while ]p]t (right flank,
    read after the junction) has a real effect."""
    left = SVEngine(model(name), emb_flank=K).score_allele(windows_of("gridss_t[p[")[1])
    assert left.reach == 0 and abs(left.llr) < 1e-4 and left.emb < 1e-9
    right = SVEngine(model(name), emb_flank=K).score_allele(windows_of("gridss_]p]t")[1])
    assert right.reach > 0 and right.emb > 1e-7 and abs(right.llr) > 1e-3


def symbolic_sv(pos, alt, end):
    ref = genome("chr20_slice.fa.gz").fetch("20", pos - 1, pos)
    return make_alleles("20", pos, ".", ref, [alt], {"END": str(end), "SVTYPE": alt.strip("<>")})[0]


# fits-mode events of each kind on real chr20 sequence, W = 512
FITS_EVENTS = {
    "DEL": lambda: symbolic_sv(48395900, "<DEL>", 48396050),
    "INS": lambda: spelled("chr20_slice.fa.gz", 48395900, 1, random_bases(120, 5)),
    "INV": lambda: symbolic_sv(48395900, "<INV>", 48396050),
    "DUP": lambda: symbolic_sv(48395900, "<DUP>", 48396050),
}


@pytest.mark.parametrize("event", sorted(FITS_EVENTS))
@pytest.mark.parametrize("name", ["hyenadna-hf-tiny", "mamba-lm-tiny"])
def test_causal_left_flank_is_exactly_unchanged_in_fits_mode(name, event):
    """Fits-mode windows cover one genome span, so every left-flank base is read after the same prefix in
    both windows: a left-to-right model's outputs there cannot change, and do not, to the last bit. The
    event shows on the right flank only, and REACH, SV_LLR and the track measure it, not the window edge."""
    wins = allele_windows(genome("chr20_slice.fa.gz"), FITS_EVENTS[event](), 512, sv=True)
    assert [w.bp for w in wins] == [0] and wins[0].ok
    win = wins[0]
    got = SVEngine(model(name), emb_flank=K, want_track=True).score_allele(wins)
    pos, d = got.track
    left, right = pos < win.s, pos >= win.e
    assert left.sum() == len(win.left) > 100 and right.sum() == len(win.right) > 100
    assert (d[left] == 0).all()                         # exactly zero, not small
    assert d[right].max() > 0
    dist = np.where(left, win.s - pos, pos - win.e + 1)
    assert got.reach == dist[right][d[right] >= 0.1 * d.max()].max()
    # two whole passes (no shared prefix) agree on the left flank up to float32 rounding
    whole = SVEngine(model(name), emb_flank=K, want_track=True, prefix_reuse=False).score_allele(wins)
    assert whole.track[1][left].max() < 1e-5 * d.max()
    assert whole.reach == got.reach
    assert whole.llr == pytest.approx(got.llr, rel=1e-4, abs=LLR_ROUNDING * len(pos))


@pytest.mark.parametrize("event", sorted(FITS_EVENTS))
def test_bidirectional_model_sees_the_event_from_both_flanks(event):
    """The same windows through Caduceus (bidirectional): the left flank changes too, as it should."""
    wins = allele_windows(genome("chr20_slice.fa.gz"), FITS_EVENTS[event](), 512, sv=True)
    got = SVEngine(model("caduceus-ph-tiny"), emb_flank=K, want_track=True).score_allele(wins)
    pos, d = got.track
    assert d[pos < wins[0].s].max() > 1e-3 * d.max() and d[pos >= wins[0].e].max() > 0
