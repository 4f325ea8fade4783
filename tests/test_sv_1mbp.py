"""A 1,000,000-bp SV window through the chunked path on CPU (tiny Caduceus-ph fixture), and the chunked path
against an unchunked reference on a 32 kb window.

The genome is synthetic (seeded uniform random bases; the real slices in tests/data are N-masked beyond
+-6 kb of their variants, so a 1 Mbp window there would be N_CONTENT). The fixture was trained (randomly)
at no particular length: a 1 Mbp window is extrapolation, which Caduceus allows.
"""

from __future__ import annotations

import resource
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from glrm.models import load_model
from glrm.models.tokenizer import encode
from glrm.scoring.sv import SVEngine
from glrm.variants import make_alleles
from glrm.windows import allele_windows, revcomp

FIX = Path(__file__).parent / "fixtures"


class RandomGenome:
    """One contig `syn` of seeded random A/C/G/T; N outside it (the window builders' Genome protocol)."""

    def __init__(self, length: int, seed: int = 5):
        rng = np.random.default_rng(seed)
        self.seq = np.frombuffer(b"ACGT", dtype=np.uint8)[rng.integers(0, 4, length)].tobytes().decode()

    def resolve(self, chrom):
        return chrom if chrom == "syn" else None

    def length(self, chrom):
        return len(self.seq)

    def fetch(self, chrom, start, end):
        size = len(self.seq)
        lo, hi = min(max(start, 0), size), max(min(end, size), 0)
        before = max(0, min(end, 0) - start)
        after = max(0, end - max(start, size))
        return "N" * before + (self.seq[lo:hi] if hi > lo else "") + "N" * after


def inversion(pos, end):
    return make_alleles("syn", pos, ".", "N", ["<INV>"], {"END": str(end), "SVTYPE": "INV"})[0]


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread: on a busy 2-core CI machine two threads can be several times slower (measured:
    the 1 Mbp pair took 29 s with 2 threads on an idle machine, 234 s with 2 threads while another job ran,
    32 s with 1 thread)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def caduceus():
    return load_model(FIX / "caduceus-ph-tiny")


def brute(m, win, k):
    """Full unchunked forwards and the definitions' sums over pairs derived from s, e, k' (fits mode: both
    windows cover G[s-L : e+R])."""
    w, s, e, kp = max(len(win.ref), len(win.alt)), win.s, win.e, win.m
    left = (w - max(e - s, kp)) // 2
    right = w - max(e - s, kp) - left
    r0 = a0 = s - left
    ri, ai, dist = [], [], []
    for g in range(r0, e + right):
        if g < s:
            ri.append(g - r0), ai.append(g - a0), dist.append(s - g)
        elif g >= e:
            ri.append(g - r0), ai.append(g - e + s + kp - a0), dist.append(g - e + 1)
    ri, ai, dist = torch.tensor(ri), torch.tensor(ai), torch.tensor(dist)
    with torch.no_grad():
        o_r, o_a = m(encode(win.ref)[None]), m(encode(win.alt)[None])
    h_r, h_a = o_r.hidden_states[0].double()[ri], o_a.hidden_states[0].double()[ai]   # (P, H)

    def lw(out, seq, idx):
        lp = torch.log_softmax(out.logits[0, :, 7:11].double(), dim=-1)                # (W, 4)
        tok = encode(seq) - 7
        return lp[idx, tok[idx]]

    llr = float((lw(o_a, win.alt, ai) - lw(o_r, win.ref, ri)).sum())
    near = dist <= k
    u, v = h_r[near].mean(0), h_a[near].mean(0)
    emb = float(1 - u @ v / (u.norm() * v.norm()))
    d = (h_a - h_r).norm(dim=-1)
    reach = int(dist[d >= 0.1 * d.max()].max())
    return emb, llr, reach, d.numpy()


@pytest.mark.slow
def test_chunked_equals_unchunked_and_brute_force_at_32kb(caduceus):
    g = RandomGenome(100_000)
    wins = allele_windows(g, inversion(40_001, 42_000), 32_768, sv=True)
    assert [x.bp for x in wins] == [0] and wins[0].ok
    emb, llr, rch, d = brute(caduceus, wins[0], 768)
    unchunked = SVEngine(caduceus, want_track=True, chunk_size=None).score_allele(wins)
    for eng in (SVEngine(caduceus, want_track=True, chunk_size=4096, batch_size=1),
                SVEngine(caduceus, want_track=True, chunk_size="auto")):
        got = eng.score_allele(wins)
        for r in (got, unchunked):
            assert r.emb == pytest.approx(emb, rel=1e-5, abs=1e-10)
            assert r.llr == pytest.approx(llr, rel=1e-5, abs=1e-5)
            assert r.reach == rch
            assert r.track[1] == pytest.approx(d, rel=1e-5, abs=1e-5)     # far from the event d ~ 1e-6
        assert got.track[1] == pytest.approx(unchunked.track[1], rel=1e-5, abs=1e-5)


@pytest.mark.slow
def test_one_megabase_window_chunked(caduceus):
    w, chunk = 1_000_000, 65_536
    g = RandomGenome(2_200_000)
    allele = inversion(1_100_001, 1_120_000)                     # a 20 kb inversion, fits mode
    wins = allele_windows(g, allele, w, sv=True)
    assert [x.bp for x in wins] == [0] and wins[0].ok
    win = wins[0]
    assert len(win.ref) == len(win.alt) == w
    k = win.e - win.s                                            # END - POS = 19,999 inverted bases
    assert win.alt[win.s - win.alt_start: win.s - win.alt_start + k] == revcomp(g.seq[win.s:win.e])
    eng = SVEngine(caduceus, want_track=True, chunk_size=chunk)
    t = time.perf_counter()
    got = eng.score_allele(wins)
    seconds = time.perf_counter() - t
    assert eng.passes_run == 2 and set(eng.chunk_sizes) == {chunk}   # on CPU: one pass per forward
    pos, d = got.track
    assert len(pos) == len(win.left) + len(win.right) == w - k
    assert pos[0] == win.ref_start and pos[-1] == win.ref_start + w - 1
    assert got.bp == 1 and np.isfinite(got.emb) and got.emb > 0 and np.isfinite(got.llr)
    assert 0 < got.reach <= w // 2 and np.isfinite(d).all() and d.max() > 0
    # the effect is largest next to the inversion and decays along both flanks
    near = d[(pos >= win.s - 100) & (pos < win.e + 100)]
    far = d[(pos < win.s - 100_000) | (pos >= win.e + 100_000)]
    assert near.max() > 100 * far.max()
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    assert peak_gib < 4, f"peak RSS {peak_gib:.1f} GiB"
    print(f"1 Mbp SV window, caduceus-ph-tiny, chunk {chunk}: {seconds:.1f} s, peak RSS {peak_gib:.2f} GiB")
