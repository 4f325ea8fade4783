"""glrm.scoring.scores: the pure score functions on small hand-made tensors, checked against the spec's
formulas written out by hand."""

from __future__ import annotations

import math

import pytest
import torch

from glrm.models.tokenizer import MASK, N, encode
from glrm.scoring import scores as S


def lse(vals):
    top = max(vals)
    return top + math.log(sum(math.exp(v - top) for v in vals))


def test_nucleotide_logprobs_renormalise_over_acgt_only():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 5, 16, generator=g)  # (B, L, V)
    lp = S.nucleotide_logprobs(logits)
    assert lp.shape == (2, 5, 4)
    row = logits[1, 3].tolist()
    want = [row[7 + i] - lse(row[7:11]) for i in range(4)]
    assert lp[1, 3].tolist() == pytest.approx(want, rel=1e-6)
    assert torch.allclose(lp.exp().sum(-1), torch.ones(2, 5))
    # the other columns (specials, N, padding rows) have no say
    bumped = logits.clone()
    bumped[..., :7] += 100.0
    bumped[..., 11:] -= 50.0
    assert torch.equal(S.nucleotide_logprobs(bumped), lp)


def test_causal_token_logprobs_shift_and_n():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(6, 16, generator=g)  # (L, V)
    seq = "ACNGTA"
    ids = encode(seq)
    lt = S.causal_token_logprobs(logits, ids)
    assert lt.shape == (6,)
    want = [0.0]
    for t in range(1, 6):
        if seq[t] == "N":
            want.append(0.0)
        else:
            row = logits[t - 1].tolist()
            want.append(row[7 + "ACGT".index(seq[t])] - lse(row[7:11]))
    assert lt.tolist() == pytest.approx(want, rel=1e-6, abs=1e-7)
    batched = S.causal_token_logprobs(logits.expand(3, 6, 16), ids.expand(3, 6))
    assert torch.equal(batched[2], lt)


def test_gather_nucleotide_zero_for_mask_and_n():
    lp = torch.log(torch.tensor([[0.1, 0.2, 0.3, 0.4]] * 3))
    ids = torch.tensor([MASK, N, 10])
    assert S.gather_nucleotide(lp, ids).tolist() == pytest.approx([0.0, 0.0, math.log(0.4)])


def test_llr_matches_spec_sum():
    """LLR = sum l_alt[o:o+m] - sum l_ref[o:o+n] + sum_j (l_alt[o+m+j] - l_ref[o+n+j]), j < M."""
    g = torch.Generator().manual_seed(2)
    w = 20
    for o, n, m in ((10, 1, 1), (10, 3, 1), (10, 1, 4), (10, 2, 2)):
        l_ref = -torch.rand(w, generator=g)
        l_alt = -torch.rand(w, generator=g)
        big_m = S.downstream_pairs(w, o, n, m)
        assert big_m == w - o - max(n, m)
        want = (sum(l_alt[o + i].item() for i in range(m)) - sum(l_ref[o + i].item() for i in range(n))
                + sum(l_alt[o + m + j].item() - l_ref[o + n + j].item() for j in range(big_m)))
        assert S.llr(l_ref, l_alt, o, n, m, big_m) == pytest.approx(want, rel=1e-6)
        # upstream positions never enter
        l_ref2, l_alt2 = l_ref.clone(), l_alt.clone()
        l_ref2[:o] = -5.0
        l_alt2[:o] = -9.0
        assert S.llr(l_ref2, l_alt2, o, n, m, big_m) == S.llr(l_ref, l_alt, o, n, m, big_m)


def test_mlr_per_base_and_n():
    lp = torch.log(torch.tensor([[0.1, 0.2, 0.3, 0.4], [0.25, 0.25, 0.4, 0.1]]))  # rows for o, o+1
    ref, alt = encode("AG"), encode("TC")
    want = (math.log(0.4) - math.log(0.1)) + (math.log(0.25) - math.log(0.4))
    assert S.mlr(lp, ref, alt) == pytest.approx(want)
    # an N on one side counts 0 on that side only
    assert S.mlr(lp, ref, encode("NC")) == pytest.approx(-math.log(0.1) + math.log(0.25) - math.log(0.4))
    with pytest.raises(ValueError):
        S.mlr(lp, encode("A"), encode("T"))


def test_emb_span_clips_to_window():
    assert S.emb_span(10, 2, 3, 20) == (7, 15)
    assert S.emb_span(10, 2, 768, 20) == (0, 20)
    assert S.emb_span(2, 1, 5, 20) == (0, 8)
    assert S.emb_span(18, 1, 5, 20) == (13, 20)


def test_strand_symmetric():
    h = torch.arange(12, dtype=torch.float64).reshape(2, 6)  # (L, 2D), D = 3
    s = S.strand_symmetric(h)
    assert s.tolist() == [[(0 + 5) / 2, (1 + 4) / 2, (2 + 3) / 2], [(6 + 11) / 2, (7 + 10) / 2, (8 + 9) / 2]]
    # invariant under the RC channel layout (channels reversed)
    assert torch.equal(S.strand_symmetric(h.flip(-1)), s)
    with pytest.raises(ValueError):
        S.strand_symmetric(torch.zeros(2, 5))


def test_cosine_distance():
    u = torch.tensor([1.0, 0.0, 0.0])
    assert S.cosine_distance(u, torch.tensor([0.0, 2.0, 0.0])) == pytest.approx(1.0)
    assert S.cosine_distance(u, torch.tensor([3.0, 0.0, 0.0])) == pytest.approx(0.0, abs=1e-15)
    assert S.cosine_distance(u, -u) == pytest.approx(2.0)
    # nearly parallel float32 vectors (1 - cos ~ 1e-8, where a float32 formula can even turn negative)
    a, b = torch.tensor([1.0, 2.0, 3.0]), torch.tensor([1.0, 2.0, 3.001])
    x, y = a.double().tolist(), b.double().tolist()
    dot = sum(p * q for p, q in zip(x, y, strict=True))
    want = 1 - dot / math.sqrt(sum(p * p for p in x) * sum(q * q for q in y))
    assert want > 0 and S.cosine_distance(a, b) == pytest.approx(want, rel=1e-6)
    assert S.cosine_distance(u, torch.zeros(3)) is None


def test_emb_distance_means_over_clipped_spans():
    g = torch.Generator().manual_seed(3)
    w, hdim = 16, 4
    h_ref = torch.randn(w, hdim, generator=g, dtype=torch.float64)
    h_alt = torch.randn(w, hdim, generator=g, dtype=torch.float64)
    o, n, m, k = 8, 1, 3, 2
    u = [sum(h_ref[t, c].item() for t in range(o - k, o + n + k)) / (n + 2 * k) for c in range(hdim)]
    v = [sum(h_alt[t, c].item() for t in range(o - k, o + m + k)) / (m + 2 * k) for c in range(hdim)]
    dot = sum(x * y for x, y in zip(u, v, strict=True))
    want = 1 - dot / (math.sqrt(sum(x * x for x in u)) * math.sqrt(sum(y * y for y in v)))
    assert S.emb_distance(h_ref, h_alt, o, n, m, k) == pytest.approx(want, rel=1e-9)
    # a huge flank is the whole window
    whole = S.cosine_distance(h_ref.mean(0), h_alt.mean(0))
    assert S.emb_distance(h_ref, h_alt, o, n, m, 10_000) == pytest.approx(whole, rel=1e-12)
    # RC-equivariant: strand-symmetric combination first
    sym = S.cosine_distance(S.strand_symmetric(h_ref[o - k:o + n + k]).mean(0),
                            S.strand_symmetric(h_alt[o - k:o + m + k]).mean(0))
    assert S.emb_distance(h_ref, h_alt, o, n, m, k, rc_equivariant=True) == pytest.approx(sym, rel=1e-12)
