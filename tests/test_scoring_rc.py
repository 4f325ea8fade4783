"""glrm.windows.mirror_small_window: the reverse-complement windows of `--rc mean` (spec: "Reverse
complement"), checked against windows built by hand on an explicitly reverse-complemented genome, and the
forward-coordinate identities they imply."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from helpers import MemGenome, canonical_allele
from hypothesis import given, settings
from hypothesis import strategies as st

from glrm.io.fasta import Fasta
from glrm.variants import Allele, Status, classify
from glrm.windows import RevCompGenome, mirror_small_window, normalize, revcomp, small_window

DATA = Path(__file__).parent / "data"


def G(genome, a, b, chrom="c1"):
    return genome.fetch(chrom, a, b)


def allele(pos, ref, alt, chrom="c1"):
    kind, bnd, reason = classify(ref, alt)
    return Allele(chrom=chrom, pos=pos, id=".", ref=ref, alt=alt, alt_index=0, kind=kind, bnd=bnd,
                  reason=reason)


_rng = random.Random(5)
SEQ = "".join(_rng.choice("ACGT") for _ in range(400))
GEN = MemGenome({"c1": SEQ})


def haplotype(genome, chrom, s, ref, alt, lo, hi):
    """G[lo:hi] with REF at 0-based s replaced by ALT."""
    return genome.fetch(chrom, lo, s) + alt + genome.fetch(chrom, s + len(ref), hi)


def scored_form(genome, a: Allele, fwd, chrom="c1"):
    """(s, REF, ALT) of the allele as glrm scores it: the left-aligned, trimmed form of the brute-force
    normaliser in helpers. An allele that would have to move past the contig start (its canonical anchor
    would sit at -1, or it slides into the N padding before the contig and the normaliser finds no anchor)
    stays at the contig start: then the forward window's allele is taken, after checking that it starts
    the contig and spells the same haplotype as the record."""
    try:
        s, r, x = canonical_allele(genome, chrom, a.pos - 1, normalize(a.ref), normalize(a.alt))
    except AssertionError:          # no anchor left of the allele: it reaches the contig start
        s = -1
    if s >= 0:
        return s, r, x
    s, r, x = fwd.s, fwd.ref[fwd.offset:fwd.offset + fwd.n], fwd.alt[fwd.offset:fwd.offset + fwd.m]
    hi = a.pos - 1 + len(a.ref) + 50
    assert s == 0 and r == genome.fetch(chrom, 0, len(r))
    assert haplotype(genome, chrom, 0, r, x, 0, hi) == haplotype(genome, chrom, a.pos - 1, normalize(a.ref),
                                                                 normalize(a.alt), 0, hi)
    return s, r, x


def by_hand(genome, form, w: int, chrom="c1"):
    """The mirrored pair built on the reverse-complemented contig written out in full (the spec's rule), for
    the allele in the form glrm scores it (`scored_form`)."""
    s, r, x = form
    seq = genome.seqs[chrom]
    rc_genome = MemGenome({chrom: revcomp(seq)})
    n, m = len(r), len(x)
    s_rc = len(seq) - (s + n)                  # REF' start on the RC contig
    o = w - w // 2 - max(n, m)                 # o' = W - o - max(n, m), o = W // 2
    g0 = s_rc - o
    ref = G(rc_genome, g0, g0 + w, chrom)
    alt = G(rc_genome, g0, s_rc, chrom) + revcomp(x) + G(rc_genome, s_rc + n, s_rc + n + (w - o - m), chrom)
    return ref, alt, o


def check_identities(genome, a: Allele, w: int, chrom="c1"):
    fwd = small_window(genome, a, w, 1.0)
    rc = mirror_small_window(genome, a, w, 1.0)
    assert fwd.ok and rc.ok
    assert mirror_small_window(genome, a, w, 1.0, forward=fwd) == rc
    s_c, ref_c, alt_c = form = scored_form(genome, a, fwd, chrom)
    n, m, o = fwd.n, fwd.m, fwd.offset
    assert (fwd.s, n, m, o) == (s_c, len(ref_c), len(alt_c), w // 2)     # the forward window is of that form
    big = max(n, m)
    assert (rc.n, rc.m, rc.offset) == (n, m, w - o - big)
    assert len(rc.ref) == len(rc.alt) == w
    o2 = rc.offset
    assert rc.ref[o2:o2 + n] == revcomp(ref_c) and rc.alt[o2:o2 + m] == revcomp(alt_c)
    assert rc.ref[:o2] == rc.alt[:o2]                                  # upstream identical
    for j in range(w - o2 - big):                                     # the M' = o aligned pairs
        assert rc.ref[o2 + n + j] == rc.alt[o2 + m + j]
    assert w - o2 - big == o
    # forward-coordinate forms (module docstring)
    g0, s, e = fwd.ref_start, fwd.s, fwd.e
    assert rc.ref == revcomp(genome.fetch(chrom, g0 + n - big, g0 + n - big + w))
    assert rc.alt == revcomp(genome.fetch(chrom, g0 + m - big, s) + alt_c
                             + genome.fetch(chrom, e, e + (w - o - big)))
    if n >= m:
        assert rc.ref == revcomp(fwd.ref)
    if m >= n:
        assert rc.alt == revcomp(fwd.alt)
    return fwd, rc, form


@pytest.mark.parametrize("pos,ref,alt", [
    (200, None, "x1"),          # SNV
    (150, None, "x3"),          # MNV
    (100, "ins", None),
    (250, "del", None),
    (3, None, "x1"),            # near the start: N padding
    (399, "del", None),         # deletes the last base
    (400, "ins", None),         # inserts after the last base
])
def test_mirror_matches_hand_built_rc_genome(pos, ref, alt):
    s = pos - 1
    if ref == "ins":
        ref, alt = SEQ[s], SEQ[s] + "GTA"
    elif ref == "del":
        ref = SEQ[s:s + 3] if s + 3 <= len(SEQ) else SEQ[s - 1:s + 1]
        pos = pos if s + 3 <= len(SEQ) else pos - 1
        alt = ref[0]
    else:
        k = int(alt[1:])
        ref = SEQ[s:s + k]
        alt = "".join({"A": "C", "C": "G", "G": "T", "T": "A"}[b] for b in ref)
    a = allele(pos, ref, alt)
    fwd, rc, form = check_identities(GEN, a, 64)
    want_ref, want_alt, o = by_hand(GEN, form, 64)
    assert (rc.ref, rc.alt, rc.offset) == (want_ref, want_alt, o)
    assert rc.ref_start == GEN.length("c1") - fwd.e - o              # RC-contig coordinates
    if len(ref) == len(alt):
        assert (rc.ref, rc.alt) == (revcomp(fwd.ref), revcomp(fwd.alt))


def test_indel_mirrors_shift_the_other_window():
    ins = allele(100, SEQ[99], SEQ[99] + "GTA")
    fwd, rc, _ = check_identities(GEN, ins, 64)
    assert rc.ref != revcomp(fwd.ref)                                  # shifted by m - n = 3
    assert rc.ref[:-3] == revcomp(fwd.ref)[3:]
    dele = allele(250, SEQ[249:252], SEQ[249])
    fwd, rc, _ = check_identities(GEN, dele, 64)
    assert rc.alt != revcomp(fwd.alt)
    assert rc.alt[:-2] == revcomp(fwd.alt)[2:]


def test_rc_genome_fetch():
    rc = RevCompGenome(GEN)
    assert rc.fetch("c1", 0, 400) == revcomp(SEQ)
    assert rc.fetch("c1", -2, 3) == "NN" + revcomp(SEQ)[:3]
    assert rc.fetch("c1", 398, 402) == revcomp(SEQ)[398:] + "NN"
    assert rc.length("c1") == 400 and rc.resolve("c1") == "c1" and rc.resolve("c9") is None


def test_non_ok_forward_status_passes_through():
    assert mirror_small_window(GEN, allele(10, "N" if SEQ[9] != "N" else "A", "T"), 64).status \
        is Status.REF_MISMATCH
    assert mirror_small_window(GEN, allele(10, SEQ[9:29], "A"), 64).status is Status.TOO_LONG
    assert mirror_small_window(GEN, allele(10, SEQ[9], "A", chrom="c9"), 64).status is Status.UNKNOWN_CONTIG
    assert mirror_small_window(GEN, allele(3, SEQ[2], "A" if SEQ[2] != "A" else "C"), 64).status \
        is Status.N_CONTENT


def test_mirrored_ref_gets_its_own_n_check():
    """An insertion near the contig start: the forward ref holds 2 N of 64 (3.1%), the mirrored ref,
    shifted left by m - n = 3, holds 5 (7.8%): above --max-n-frac 0.05."""
    a = allele(31, SEQ[30], SEQ[30] + "ACG")
    assert small_window(GEN, a, 64, 0.05).ok
    rc = mirror_small_window(GEN, a, 64, 0.05)
    assert rc.status is Status.N_CONTENT and "reverse-complement" in rc.note
    assert mirror_small_window(GEN, a, 64, 0.1).ok


def test_real_chr20_indels_and_snv():
    with Fasta(DATA / "chr20_slice.fa.gz") as fa:
        for pos, ref, alt in ((61098, "C", "T"), (421808, "A", "ACCA"), (1600125, "GAA", "G"),
                              (3025866, "TCAAA", "T"), (1292033, "C", "CTTGT")):
            a = allele(pos, ref, alt, chrom="20")
            fwd, rc, _ = check_identities(fa, a, 256, chrom="20")
            assert "N" not in rc.ref


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_mirror_identities_property(data):
    size = data.draw(st.integers(20, 120))
    seq = "".join(data.draw(st.lists(st.sampled_from("ACGT"), min_size=size, max_size=size)))
    genome = MemGenome({"c1": seq})
    w = data.draw(st.sampled_from([8, 16, 33, 64]))
    n = data.draw(st.integers(1, max(1, w // 4)))
    s = data.draw(st.integers(0, size - n))
    m = data.draw(st.integers(1, max(1, w // 4)))
    alt = "".join(data.draw(st.lists(st.sampled_from("ACGTN"), min_size=m, max_size=m)))
    a = allele(s + 1, seq[s:s + n], alt)
    _, rc, form = check_identities(genome, a, w)
    want_ref, want_alt, o = by_hand(genome, form, w)
    assert (rc.ref, rc.alt, rc.offset) == (want_ref, want_alt, o)
