"""Tile mode (`--tile`) and Mamba prefix reuse: the scores a user gets from the fast paths.

- Tile geometry: every variant sits in the central half of exactly one tile, at least W/4 from its edges.
- Tile-mode scores against brute force on the tile windows (full forwards, plain loops): causal MLR/LLR/EMB
  exactly as for any window; masked MLR is the wild-type marginal of the unmasked ref tile.
- Tile mode equals the non-tiled scores where they are defined the same: a variant at offset W/2 of its tile
  has the very window of the default mode, and gets the very same values.
- The ref tile pass is shared: by every variant of a tile and across `score()` calls (blocks).
- Prefix reuse (Mamba LM): the same scores as whole alt passes, fewer tokens through the model.
"""

from __future__ import annotations

import random

import pytest
import torch
from helpers import MemGenome, fixture_model
from test_engine import KEYS, allele, assert_scores, brute_window, fasta, forward

from glrm.models.tokenizer import encode
from glrm.scoring.engine import EngineConfig, Job, SmallVariantEngine
from glrm.scoring.prefix import run_linked
from glrm.windows import mirror_small_window, small_window, tile_origin

pytestmark = pytest.mark.usefixtures("one_thread")

W = 96
K = 10
MODELS = ("hyenadna-hf-tiny", "mamba-lm-tiny", "caduceus-ph-tiny", "caduceus-ps-tiny")
_rng = random.Random(7)
SEQ = "".join(_rng.choice("ACGT") for _ in range(600))
GENOME = MemGenome({"c1": SEQ})
_NEXT = {"A": "C", "C": "G", "G": "T", "T": "A"}


def snv(pos):
    b = SEQ[pos - 1]
    return allele(pos, b, _NEXT[b], "c1")


def tile_jobs(alleles, w=W, rc=False):
    jobs = []
    for a in alleles:
        win = small_window(GENOME, a, w, 1.0, tiled=True)
        assert win.ok, win.note
        jobs.append(Job(win, mirror_small_window(GENOME, a, w, 1.0, forward=win) if rc else None))
    return jobs


def dense_alleles():
    """SNVs at every position of [100, 220) plus an MNV, an insertion and a deletion among them."""
    out = [snv(p) for p in range(100, 220)]
    out += [allele(150, SEQ[149:151], _NEXT[SEQ[149]] + _NEXT[SEQ[150]], "c1"),
            allele(170, SEQ[169], SEQ[169] + "GA", "c1"),
            allele(190, SEQ[189:192], SEQ[189], "c1")]
    return out


# --- geometry ------------------------------------------------------------------------------------

@pytest.mark.parametrize("w", [96, 97, 1024, 16384])
def test_tiles_cover_each_position_once_with_a_quarter_margin(w):
    for s in list(range(0, 3 * w)) + [10**6 + 7]:
        g0 = tile_origin(s, w)
        o = s - g0
        assert w // 4 <= o < w // 4 + w // 2           # in the central half of its tile
        assert w - (o + w // 4) >= 0                    # an allele of up to W/4 bases still fits
        assert g0 % (w // 2) == (-(w // 4)) % (w // 2)  # tiles start on the stride grid
    # consecutive tiles' central halves abut: the position after one tile's half starts the next tile
    assert tile_origin(w // 2 - 1, w) + w // 2 == tile_origin(w // 2, w)


def test_tile_windows_share_one_ref_window():
    wins = [small_window(GENOME, snv(p), W, 1.0, tiled=True) for p in range(100, 220)]
    by_tile = {}
    for win in wins:
        by_tile.setdefault(win.ref_start, set()).add(win.ref)
        assert win.ref == GENOME.fetch("c1", win.ref_start, win.ref_start + W)
        o = win.offset
        assert win.alt[:o] == win.ref[:o] and win.alt[o + 1:] == win.ref[o + 1:]
    assert all(len(refs) == 1 for refs in by_tile.values())
    assert len(by_tile) == 3     # 120 positions, 48 per tile central half


# --- scores against brute force -------------------------------------------------------------------

def brute_tile(m, win):
    """Brute force for tile mode: as any window, but masked MLR = the unmasked ref pass's marginal."""
    want = brute_window(m, win, K)
    if m.info.kind == "masked" and win.n == win.m:
        lg, _ = forward(m, win.ref)
        from test_engine import acgt_logprob

        o = win.offset
        want["GLRM_MLR"] = sum(acgt_logprob(lg[o + i], win.alt[o + i])
                               - acgt_logprob(lg[o + i], win.ref[o + i]) for i in range(win.n))
    return want


@pytest.mark.parametrize("name", MODELS)
def test_tile_mode_matches_brute_force(name):
    m = fixture_model(name)
    alleles = dense_alleles()[::9] + dense_alleles()[-3:]
    jobs = tile_jobs(alleles)
    # HyenaDNA: whole alt passes, as brute force runs them (its alt suffixes differ from those by float32
    # rounding, up to 2e-5 on these LLRs: bounded in tests/test_hyena_suffix.py)
    cfg = EngineConfig(emb_flank=K, batch_size=3, tile=True, prefix_reuse=m.info.family != "hyenadna")
    got = SmallVariantEngine(m, cfg, "cpu").score(jobs)
    for job, g in zip(jobs, got, strict=True):
        assert_scores(g, brute_tile(m, job.window))


@pytest.mark.parametrize("name", MODELS)
def test_tile_equals_default_where_the_windows_coincide(name):
    """A variant at s with s mod (W/2) == W/4 has offset W/2 in its tile: the default window exactly."""
    m = fixture_model(name)
    alleles = [snv(p + 1) for p in range(0, 560) if p % (W // 2) == W // 4 and p >= W // 2]
    tiled = tile_jobs(alleles)
    plain = [Job(small_window(GENOME, a, W, 1.0)) for a in alleles]
    assert [j.window.ref for j in tiled] == [j.window.ref for j in plain]
    cfg = dict(emb_flank=K, batch_size=2)
    got = SmallVariantEngine(m, EngineConfig(**cfg, tile=True), "cpu").score(tiled)
    want = SmallVariantEngine(m, EngineConfig(**cfg), "cpu").score(plain)
    keys = KEYS if m.info.kind == "causal" else ("GLRM_EMB",)   # masked MLR: marginal vs masked, by design
    for g, w in zip(got, want, strict=True):
        for key in keys:
            assert g[key] == pytest.approx(w[key], rel=1e-6, abs=1e-7), key


@pytest.mark.parametrize("name", ["hyenadna-hf-tiny", "caduceus-ph-tiny", "caduceus-ps-tiny"])
def test_tile_rc_mean_matches_brute_force_on_both_strands(name):
    """--rc mean in tile mode: the mean of the forward tile scores and those of the mirrored tile windows
    (for Caduceus-ps read from the forward pass through RC equivariance)."""
    m = fixture_model(name)
    jobs = tile_jobs([a for a in dense_alleles()[::15] if a.kind.name == "SNV"], rc=True)
    got = SmallVariantEngine(m, EngineConfig(emb_flank=K, rc="mean", tile=True), "cpu").score(jobs)
    for job, g in zip(jobs, got, strict=True):
        f, r = brute_tile(m, job.window), brute_tile(m, job.rc_window)
        assert_scores(g, {k: None if f[k] is None else (f[k] + r[k]) / 2 for k in KEYS})


# --- sharing ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["hyenadna-hf-tiny", "caduceus-ph-tiny"])
@pytest.mark.parametrize("rc", [False, True])
def test_one_ref_pass_per_tile_across_blocks(name, rc):
    """--scores mlr: each ref tile (and with --rc mean its mirror) runs once, however the blocks cut the
    tiles; the kept tiles own their storage (a row of a batch's output would keep the whole batch)."""
    m = fixture_model(name)
    snvs = [snv(p) for p in range(100, 220)]          # 3 tiles
    jobs = tile_jobs(snvs, rc=rc)
    cfg = EngineConfig(scores=("mlr",), emb_flank=K, tile=True, rc="mean" if rc else "none", batch_size=4)
    eng = SmallVariantEngine(m, cfg, "cpu")
    blocks = [jobs[i:i + 7] for i in range(0, len(jobs), 7)]   # blocks cut across tile boundaries
    got = [r for b in blocks for r in eng.score(b)]
    assert eng.passes_run == (6 if rc else 3)
    for kept in eng._tile_cache.values():
        assert all(t.untyped_storage().nbytes() == t.numel() * t.element_size() for t in kept[:3])
    whole = SmallVariantEngine(m, cfg, "cpu").score(jobs)
    assert [g["GLRM_MLR"] for g in got] == pytest.approx([w["GLRM_MLR"] for w in whole], rel=1e-6)


# --- prefix reuse ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("tile", [False, True])
def test_prefix_reuse_gives_the_same_scores_with_fewer_tokens(tile):
    m = fixture_model("mamba-lm-tiny")
    alleles = dense_alleles()[::4]
    if tile:
        jobs = tile_jobs(alleles)
    else:
        jobs = [Job(small_window(GENOME, a, W, 1.0)) for a in alleles]
    fast = SmallVariantEngine(m, EngineConfig(emb_flank=K, batch_size=4, tile=tile), "cpu")
    slow = SmallVariantEngine(m, EngineConfig(emb_flank=K, batch_size=4, tile=tile, prefix_reuse=False),
                              "cpu")
    assert fast.prefix_reuse and not slow.prefix_reuse
    for g, w in zip(fast.score(jobs), slow.score(jobs), strict=True):
        for key in KEYS:
            assert g[key] == pytest.approx(w[key], rel=1e-5, abs=1e-5), key
    assert fast.tokens_run < 0.8 * slow.tokens_run


def test_prefix_reuse_off_for_models_without_a_carried_state():
    # HyenaDNA has prefix reuse of its own (alt suffixes): tests/test_hyena_suffix.py
    for name in ("caduceus-ph-tiny",):
        assert not SmallVariantEngine(fixture_model(name), EngineConfig(), "cpu").prefix_reuse


@pytest.mark.parametrize("batch", [1, 3, 64])
def test_run_linked_equals_whole_passes(batch):
    """Alt passes started from the ref state at o give the whole alt pass's logits and hidden states."""
    m = fixture_model("mamba-lm-tiny")
    rng = random.Random(batch)
    refs = ["".join(rng.choice("ACGT") for _ in range(80)) for _ in range(2)]
    alts = []
    for r, ref in enumerate(refs):
        for o in (1, 5, 5, 40, 79):
            alts.append((r, ref[:o] + rng.choice("ACGTN") + ref[o + 1:], o))
    got = {}
    with torch.inference_mode():
        run_linked(m, [encode(s) for s in refs], [(r, encode(s), o) for r, s, o in alts], batch, 16,
                   emit_ref=lambda i, x, lg, h: got.__setitem__(("r", i), (lg, h)),
                   emit_alt=lambda j, x, lg, h: got.__setitem__(("a", j), (lg, h)))
        wanted = [(("r", i), s) for i, s in enumerate(refs)] + [(("a", j), a[1]) for j, a in enumerate(alts)]
        for key, seq in wanted:
            out = m(encode(seq)[None])
            torch.testing.assert_close(got[key][0], out.logits[0], rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(got[key][1], out.hidden_states[0], rtol=1e-5, atol=1e-5)


def test_tile_end_to_end_on_real_sequence(tmp_path):
    """score-vcf --tile on real chr20 SNVs: header labelled, every record kept in order, scores present."""
    from glrm.pipeline.options import ScoreVcfOptions
    from glrm.pipeline.score_vcf import score_vcf

    vcf = tmp_path / "in.vcf"
    fa = fasta()
    rows = []
    for pos in range(61090, 61110):                     # real sequence around rs6078030 (tests/data)
        b = fa.fetch("20", pos - 1, pos)
        rows.append(f"20\t{pos}\t.\t{b}\t{_NEXT[b]}\t.\t.\t.")
    vcf.write_text("##fileformat=VCFv4.2\n##contig=<ID=20,length=63025520>\n"
                   "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n" + "\n".join(rows) + "\n")
    out = tmp_path / "out.vcf"
    score_vcf(ScoreVcfOptions(input=str(vcf), fasta=str(fa.path), model=str(fixture_model_dir()),
                              output=str(out), window=W, emb_flank=K, device="cpu", quiet=True, tile=True,
                              max_n_frac=1.0))
    text = out.read_text().splitlines()
    assert any(line.startswith("##glrm_model=") and "Mode=tile" in line and "TileStride=48" in line
               for line in text)
    assert any(line.startswith("##INFO=<ID=GLRM_MLR") and "--tile" in line for line in text)
    body = [line.split("\t") for line in text if not line.startswith("#")]
    assert [r[1] for r in body] == [r.split("\t")[1] for r in rows]
    assert all("GLRM_STATUS=OK" in r[7] and "GLRM_MLR=." not in r[7] for r in body)


def fixture_model_dir():
    from helpers import FIXTURES

    return FIXTURES / "hyenadna-hf-tiny"
