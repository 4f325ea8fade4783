"""HyenaDNA prefix reuse: alt passes that recompute only the suffix after the variant
(glrm.models.hyena_suffix, glrm.scoring.prefix) give the whole alt pass's logits and hidden states, and the
engine the same scores.

- The filter's taps do not depend on the length asked for (what makes the suffix convolution exact).
- run_linked on the fixture checkpoints (both formats) and on random d64 models up to W = 4096: offsets 1,
  small, W/2, W-1, alts at different offsets batched together, SNV- and indel-like alts, chunked or not.
- In float64 the suffix equals the whole pass to 1e-10: the method is exact, only rounding differs.
- Whole passes, same outputs, when the kept tensors exceed the memory budget or hyena_order > 2.
- SmallVariantEngine with prefix reuse on and off: same scores, default and tile windows.
"""

from __future__ import annotations

import copy
import random

import pytest
import torch
from helpers import MemGenome, fixture_model

from glrm.models import hyena_suffix
from glrm.models.hyenadna import HyenaDNA, HyenaDNAConfig
from glrm.models.tokenizer import encode
from glrm.resources import PREFIX_KEEP_FRACTION
from glrm.scoring import prefix
from glrm.scoring.engine import EngineConfig, Job, SmallVariantEngine
from glrm.scoring.prefix import run_linked, supports_prefix_reuse
from glrm.variants import Allele, classify
from glrm.windows import small_window

pytestmark = pytest.mark.usefixtures("one_thread")

FIXTURES = ("hyenadna-hf-tiny", "hyenadna-orig-tiny")
KEYS = ("GLRM_LLR", "GLRM_MLR", "GLRM_EMB")


def random_model(w: int, order: int = 2, d_model: int = 64, seed: int = 0) -> HyenaDNA:
    torch.manual_seed(seed)
    cfg = HyenaDNAConfig(d_model=d_model, n_layer=2, d_inner=4 * d_model, max_seq_len=w + 2, emb_dim=5,
                         filter_order=32, activation_freq=10, hyena_order=order)
    return HyenaDNA(cfg).eval()


def make_passes(w: int, offsets, n_refs: int = 2, seed: int = 0):
    """Random ref windows and alt windows sharing their first o tokens with their ref: every third alt has a
    new suffix (as an indel shifts the downstream sequence), the others one changed base (an SNV, or an N)."""
    rng = random.Random(seed)
    refs = ["".join(rng.choice("ACGT") for _ in range(w)) for _ in range(n_refs)]
    alts = []
    for j, o in enumerate(offsets):
        r = j % n_refs
        ref = refs[r]
        if j % 3 == 2:
            alt = ref[:o] + "".join(rng.choice("ACGTN") for _ in range(w - o))
        else:
            alt = ref[:o] + rng.choice([b for b in "ACGTN" if b != ref[o]]) + ref[o + 1:]
        alts.append((r, alt, o))
    return refs, alts


def linked(model, refs, alts, batch, chunk):
    got = {}
    with torch.inference_mode():
        tokens = run_linked(model, [encode(s) for s in refs], [(r, encode(s), o) for r, s, o in alts], batch,
                            chunk, emit_ref=lambda i, x, lg, h: got.__setitem__(("r", i), (x, lg, h)),
                            emit_alt=lambda j, x, lg, h: got.__setitem__(("a", j), (x, lg, h)))
    return got, tokens


def assert_whole(model, refs, alts, got, tol=1e-5):
    """Each emitted pass equals the whole forward within tol, relative to the size of the outputs (logits
    reach 14 on the fixtures, where the whole float32 pass itself is 1.3e-5 from a float64 one)."""
    wanted = [(("r", i), s) for i, s in enumerate(refs)] + [(("a", j), a[1]) for j, a in enumerate(alts)]
    assert set(got) == {key for key, _ in wanted}
    with torch.inference_mode():
        for key, seq in wanted:
            ids, lg, h = got[key]
            out = model(encode(seq)[None].to(lg.device))
            assert torch.equal(ids.cpu(), encode(seq))
            for a, b in ((lg, out.logits[0]), (h, out.hidden_states[0])):
                torch.testing.assert_close(a, b, rtol=tol, atol=tol * max(1.0, float(b.abs().max())))


# --- the filter ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", FIXTURES)
def test_filter_taps_do_not_depend_on_the_length_asked_for(name):
    """k for length L is the first L rows of the max_seq_len filter: a suffix convolution of W - o positions
    uses the whole pass's first W - o taps. (Compared in float64: in float32, GEMM blocking alone moves the
    last bits.)"""
    m = fixture_model(name)
    for layer in m.backbone.layers:
        f = layer.mixer.filter_fn
        full = f.filter(m.cfg.max_seq_len, torch.float64)                 # (max_seq_len, D)
        for n in (1, 2, 47, 96, 500):
            torch.testing.assert_close(f.filter(n, torch.float64), full[:n], rtol=1e-12, atol=1e-13)


def test_conv_length_buckets():
    assert hyena_suffix.conv_length(48, 96) == 48
    assert hyena_suffix.conv_length(49, 96) == 54
    assert hyena_suffix.conv_length(95, 96) == 96
    assert hyena_suffix.conv_length(8192, 16384) == 8192
    lengths = {hyena_suffix.conv_length(s, 16384) for s in range(4096, 12289)}
    assert lengths == {1024 * i for i in range(4, 13)}


# --- suffix passes == whole passes ---------------------------------------------------------------------

@pytest.mark.parametrize("name", FIXTURES)
@pytest.mark.parametrize("batch,chunk", [(1, None), (3, 16), (64, None), (64, 7)])
def test_run_linked_equals_whole_passes_on_fixtures(name, batch, chunk):
    m = fixture_model(name)
    w = 96
    refs, alts = make_passes(w, [1, 2, 3, 5, 5, 17, 48, 48, 70, 94, 95], seed=batch)
    got, tokens = linked(m, refs, alts, batch, chunk)
    assert_whole(m, refs, alts, got)
    assert tokens == sum(w - o for _r, _s, o in alts)


@pytest.mark.parametrize("w", [256, 1024, 4096])
def test_run_linked_equals_whole_passes_on_random_models(w):
    m = random_model(w)
    offsets = [1, 7, w // 4, w // 2, w // 2, 3 * w // 4 - 1, w - 1]
    refs, alts = make_passes(w, offsets, seed=w)
    for batch, chunk in [(1, None), (4, 100)]:
        got, _ = linked(m, refs, alts, batch, chunk)
        assert_whole(m, refs, alts, got)


def test_suffix_is_exact_in_float64():
    """In float64 the suffix pass and the whole pass agree to 1e-10: they differ by rounding only."""
    m = copy.deepcopy(fixture_model("hyenadna-hf-tiny")).double()
    refs, alts = make_passes(300, [1, 2, 150, 151, 299, 40], seed=3)
    got, _ = linked(m, refs, alts, 4, None)
    assert got[("a", 0)][1].dtype == torch.float64
    assert_whole(m, refs, alts, got, tol=1e-10)


def test_bf16_suffix_stays_within_bf16_rounding_of_the_whole_pass():
    """to_dtype(bfloat16): gates and the kept tensors in bfloat16, the difference and its FFT in float32."""
    m = copy.deepcopy(fixture_model("hyenadna-hf-tiny")).to_dtype(torch.bfloat16)
    refs, alts = make_passes(96, [1, 30, 48, 95], seed=4)
    got, _ = linked(m, refs, alts, 2, None)
    assert_whole(m, refs, alts, got, tol=3e-2)


@pytest.mark.gpu
@pytest.mark.parametrize("chunk", [None, 16])
def test_run_linked_on_cuda_equals_whole_passes(chunk):
    m = copy.deepcopy(fixture_model("hyenadna-orig-tiny")).cuda()
    refs, alts = make_passes(96, [1, 2, 5, 48, 95, 60], seed=6)
    got, _ = linked(m, refs, alts, 3, chunk)
    assert_whole(m, refs, alts, got)


def test_suffix_forward_outputs_are_the_alt_rows_after_o():
    """suffix_forward's row b holds positions o_b.. of its alt pass; the prefix rows come from the ref."""
    m = fixture_model("hyenadna-orig-tiny")
    refs, alts = make_passes(64, [3, 30, 63], n_refs=1, seed=5)
    ref_ids = encode(refs[0])[None]                                          # (1, W)
    alt_ids = torch.stack([encode(s) for _r, s, _o in alts])                 # (3, W)
    with torch.inference_mode():
        out, cache = hyena_suffix.ref_forward(m, ref_ids, [3, 30, 63])
        sfx = hyena_suffix.suffix_forward(m, cache, alt_ids, [0, 0, 0], [3, 30, 63])
        whole = m(alt_ids)
    assert sfx.logits.shape == (3, 61, m.cfg.padded_vocab_size)
    for b, o in enumerate([3, 30, 63]):
        torch.testing.assert_close(sfx.logits[b, :64 - o], whole.logits[b, o:], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(out.logits[0, :o], whole.logits[b, :o], rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="not among the offsets"):
        hyena_suffix.suffix_forward(m, cache, alt_ids[:1], [0], [10])
    with pytest.raises(ValueError, match="offsets must lie"):
        hyena_suffix.suffix_forward(m, cache, alt_ids[:1], [0], [64])


@pytest.mark.parametrize("name", ["hyenadna-hf-tiny", "mamba-lm-tiny"])
def test_run_linked_refuses_an_alt_that_does_not_share_the_prefix(name):
    """Both prefix-reuse paths check, before any work, that each alt pass starts with its ref's o tokens
    (a wrong offset would otherwise be a silently wrong score)."""
    refs, alts = make_passes(96, [40])
    r, alt, o = alts[0]
    bad = [(r, alt[:10] + ("A" if alt[10] != "A" else "C") + alt[11:], o)]
    with pytest.raises(ValueError, match="first 40 tokens differ"):
        linked(fixture_model(name), refs, bad, 1, None)


# --- whole passes where the suffix does not apply ------------------------------------------------------

def test_memory_guard_groups_refs_and_runs_whole_passes_past_it(monkeypatch, caplog):
    """Refs run in groups whose kept tensors fit in PREFIX_KEEP_FRACTION of the free memory: together when
    they fit together, one at a time when only one does; a ref whose own kept tensors do not fit runs whole
    with its alts, with a warning. The outputs are the whole passes' every time."""
    m = fixture_model("hyenadna-hf-tiny")
    w = 96
    refs, alts = make_passes(w, [1, 48, 95, 20])                     # ref 0: o = 1, 95; ref 1: o = 48, 20
    per_ref = [hyena_suffix.kept_bytes(m, 1, w, [o for r, _s, o in alts if r == i]) for i in (0, 1)]
    row = m.cfg.n_layer * m.cfg.d_model * 4
    assert per_ref == [(2 * w + 1 + 2) * row, (2 * w + 2 + 2) * row]   # halo rows: o - 2, o - 1 (>= 0)
    suffix = {j: w - o for j, (_r, _s, o) in enumerate(alts)}
    prefix._warned.clear()
    for allowed, tokens_run in [(sum(per_ref), sum(suffix.values())),          # one group
                                (per_ref[1], sum(suffix.values())),            # one ref per group
                                (per_ref[0], suffix[0] + suffix[2] + 2 * w),   # ref 1 whole
                                (per_ref[0] - 1, 4 * w)]:                      # both whole
        free = int(allowed / PREFIX_KEEP_FRACTION)
        monkeypatch.setattr("glrm.resources.free_memory_bytes", lambda device, f=free: f)
        with caplog.at_level("WARNING", logger="glrm.scoring.prefix"):
            got, tokens = linked(m, refs, alts, 2, None)
        assert tokens == tokens_run, allowed
        assert_whole(m, refs, alts, got)
    assert sum("its alt passes run whole" in r.getMessage() for r in caplog.records) == 1   # once per model


def test_hyena_order_3_runs_whole_passes():
    m = random_model(128, order=3, d_model=16)
    refs, alts = make_passes(128, [1, 64, 127])
    got, tokens = linked(m, refs, alts, 2, None)
    assert tokens == len(alts) * 128
    assert_whole(m, refs, alts, got)
    assert not hyena_suffix.supports_suffix(m) and not supports_prefix_reuse(m)
    with pytest.raises(ValueError, match="hyena_order 2"):
        hyena_suffix.ref_forward(m, encode(refs[0])[None], [1])


# --- the engine ---------------------------------------------------------------------------------------------

W = 96
_rng = random.Random(11)
SEQ = "".join(_rng.choice("ACGT") for _ in range(600))
GENOME = MemGenome({"c1": SEQ})
_NEXT = {"A": "C", "C": "G", "G": "T", "T": "A"}


def allele(pos, ref, alt):
    kind, bnd, reason = classify(ref, alt)
    return Allele(chrom="c1", pos=pos, id=".", ref=ref, alt=alt, alt_index=0, kind=kind, bnd=bnd,
                  reason=reason)


def alleles():
    """SNVs every 4th position of [100, 220), an MNV, an insertion and a deletion."""
    out = [allele(p, SEQ[p - 1], _NEXT[SEQ[p - 1]]) for p in range(100, 220, 4)]
    return out + [allele(150, SEQ[149:151], _NEXT[SEQ[149]] + _NEXT[SEQ[150]]),
                  allele(170, SEQ[169], SEQ[169] + "GA"), allele(190, SEQ[189:192], SEQ[189])]


@pytest.mark.parametrize("name", FIXTURES)
@pytest.mark.parametrize("tile", [False, True])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_prefix_reuse_gives_the_same_scores_with_fewer_tokens(name, tile, dtype):
    """Same scores with prefix reuse on and off: to 1e-9 in float64 (the same computation up to rounding);
    in float32 to 5e-5 absolute, the size of float32 rounding itself here (the LLR sums log-probabilities
    over ~48 positions: the whole float32 passes' LLR is up to 2.9e-5 from float64 on these fixtures)."""
    m = fixture_model(name)
    if dtype == torch.float64:
        m = copy.deepcopy(m).double()
    tol = dict(rel=1e-9, abs=1e-9) if dtype == torch.float64 else dict(rel=1e-5, abs=5e-5)
    jobs = [Job(small_window(GENOME, a, W, 1.0, tiled=tile)) for a in alleles()]
    assert all(j.window.ok for j in jobs)
    fast = SmallVariantEngine(m, EngineConfig(emb_flank=10, batch_size=4, tile=tile), "cpu")
    slow = SmallVariantEngine(m, EngineConfig(emb_flank=10, batch_size=4, tile=tile, prefix_reuse=False),
                              "cpu")
    assert fast.prefix_reuse and not slow.prefix_reuse
    got, want = fast.score(jobs), slow.score(jobs)
    assert sum(g["GLRM_LLR"] is not None and g["GLRM_MLR"] is None for g in got) == 2   # the indels
    for g, w in zip(got, want, strict=True):
        for key in KEYS:
            assert (g[key] is None) == (w[key] is None), key
            if w[key] is not None:
                assert g[key] == pytest.approx(w[key], **tol), key
    assert fast.tokens_run < 0.8 * slow.tokens_run
