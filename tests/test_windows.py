"""glrm.windows on small in-memory genomes: small-variant and SV windows built by hand from the spec."""

from __future__ import annotations

import logging
import random
import time

import numpy as np
import pytest
from helpers import MemGenome, canonical_allele

from glrm.errors import InputError
from glrm.variants import Allele, Breakend, Kind, Status, SVInfo
from glrm.windows import FlankMap, allele_status, allele_windows, normalize, revcomp, small_window
from glrm.windows.sv import Edit, edit_windows, literal, sv_windows


def G(genome, a, b, chrom="c1"):
    """G[a:b] with N padding, written out independently of MemGenome.fetch."""
    seq = genome.seqs[chrom]
    return "".join(seq[i] if 0 <= i < len(seq) else "N" for i in range(a, b))


def allele(pos, ref, alt, kind, chrom="c1", **kw):
    return Allele(chrom=chrom, pos=pos, id="v", ref=ref, alt=alt, alt_index=0, kind=kind, **kw)


random.seed(7)
SEQ = "".join(random.choice("ACGT") for _ in range(2000))
GEN = MemGenome({"c1": SEQ, "c2": SEQ[::-1]})


def test_revcomp_and_normalize():
    assert revcomp("AACGTN") == "NACGTT"
    assert revcomp("acgRt") == "ANCGT"
    assert normalize("acgtRYKMn-") == "ACGTNNNNNN"
    assert revcomp(revcomp(SEQ)) == SEQ


# --- small variants ---------------------------------------------------------------------------------

@pytest.mark.parametrize("W", [8, 9, 64, 101])
def test_snv_window_by_hand(W):
    pos = 500                                       # 1-based; s = 499
    s = pos - 1
    r = SEQ[s]
    a = "A" if r != "A" else "C"
    w = small_window(GEN, allele(pos, r, a, Kind.SNV), W)
    assert w.status is Status.OK and w.bp == 0
    g0, o = s - W // 2, W // 2
    assert w.ref == SEQ[g0:g0 + W]
    assert w.alt == SEQ[g0:s] + a + SEQ[s + 1:s + 1 + W - o - 1]
    assert (w.offset, w.n, w.m, w.ref_start) == (o, 1, 1, g0)
    diff = [i for i in range(W) if w.ref[i] != w.alt[i]]
    assert diff == [o]


def test_insertion_and_deletion_by_hand():
    W = 40
    # an anchor base the insertion cannot move left of (not A, the inserted sequence's last base) and that
    # differs from the base 5 on (so the 5-base deletion cannot move either): both are written left-aligned
    s = next(i for i in range(1000, 1100) if SEQ[i] not in ("A", SEQ[i + 5]))
    assert canonical_allele(GEN, "c1", s, SEQ[s], SEQ[s] + "GATTACA") == (s, SEQ[s], SEQ[s] + "GATTACA")
    assert canonical_allele(GEN, "c1", s, SEQ[s:s + 6], SEQ[s]) == (s, SEQ[s:s + 6], SEQ[s])
    ins = allele(s + 1, SEQ[s], SEQ[s] + "GATTACA", Kind.INS)
    w = small_window(GEN, ins, W)
    g0, o, n, m = s - 20, 20, 1, 8
    assert w.ref == SEQ[g0:g0 + W]
    assert w.alt == SEQ[g0:s] + SEQ[s] + "GATTACA" + SEQ[s + 1:s + 1 + (W - o - m)]
    M = W - o - max(n, m)
    assert list(w.left.ref_idx) == list(range(o)) == list(w.left.alt_idx)
    assert list(w.left.distance) == [o - i for i in range(o)]
    assert list(w.right.ref_idx) == [o + n + j for j in range(M)]
    assert list(w.right.alt_idx) == [o + m + j for j in range(M)]
    assert list(w.right.distance) == [j + 1 for j in range(M)]

    dele = allele(s + 1, SEQ[s:s + 6], SEQ[s], Kind.DEL)
    w = small_window(GEN, dele, W)
    assert w.alt == SEQ[g0:s] + SEQ[s] + SEQ[s + 6:s + 6 + (W - o - 1)]
    assert len(w.right) == W - o - 6
    assert all(w.ref[i] == w.alt[j] for i, j in zip(w.right.ref_idx, w.right.alt_idx, strict=True))


def test_contig_end_padding_and_n_content():
    W = 64
    near_start = allele(3, SEQ[2], "T" if SEQ[2] != "T" else "G", Kind.SNV)
    w = small_window(GEN, near_start, W, max_n_frac=0.5)
    assert w.status is Status.OK
    assert w.ref == "N" * 30 + SEQ[:34]                     # g0 = 2 - 32 = -30
    assert w.alt[:30] == "N" * 30
    w = small_window(GEN, near_start, W)                     # 30/64 N > 0.05
    assert w.status is Status.N_CONTENT and w.ref is None and "46.9%" in w.note
    end = allele(2000, SEQ[-1], "N", Kind.SNV)
    w = small_window(GEN, end, W, max_n_frac=1.0)
    assert w.ref == SEQ[1999 - 32:] + "N" * 31


def test_small_statuses_and_precedence():
    W = 16
    ok_ref = SEQ[99]
    w = small_window(GEN, allele(100, ok_ref, "A", Kind.SNV, chrom="nope"), W)
    assert w.status is Status.UNKNOWN_CONTIG and "nope" in w.note
    # chr-prefix reconciliation goes through genome.resolve
    w = small_window(GEN, allele(100, ok_ref, "A", Kind.SNV, chrom="chrc1"), W)
    assert w.status is Status.OK and w.chrom == "c1"
    for alt, kind in [("<DEL>", Kind.SV_SYMBOLIC), ("A[c2:5[", Kind.BND), ("*", Kind.UNSUPPORTED)]:
        w = small_window(GEN, allele(100, ok_ref, alt, kind), W)
        assert w.status is Status.UNSUPPORTED_ALLELE, alt
    assert "score-sv" in small_window(GEN, allele(100, ok_ref, "<DEL>", Kind.SV_SYMBOLIC), W).note
    # unknown contig beats unsupported
    w = small_window(GEN, allele(100, ok_ref, "<DEL>", Kind.SV_SYMBOLIC, chrom="nope"), W)
    assert w.status is Status.UNKNOWN_CONTIG
    bad = "A" if ok_ref != "A" else "C"
    w = small_window(GEN, allele(100, bad, "G", Kind.SNV), W)
    assert w.status is Status.REF_MISMATCH and "c1:100" in w.note
    # REF mismatch beats TOO_LONG; TOO_LONG at max(n, m) > W // 4
    long_bad = bad + SEQ[100:110]
    assert small_window(GEN, allele(100, long_bad, bad, Kind.DEL), W).status is Status.REF_MISMATCH
    assert small_window(GEN, allele(100, SEQ[99:103], ok_ref, Kind.DEL), W).status is Status.OK   # 4 == W//4
    assert small_window(GEN, allele(100, SEQ[99:104], ok_ref, Kind.DEL), W).status is Status.TOO_LONG
    assert small_window(GEN, allele(100, ok_ref, ok_ref + "ACGT", Kind.INS), W).status is Status.TOO_LONG
    # TOO_LONG beats N_CONTENT
    assert small_window(GEN, allele(1, SEQ[:8], SEQ[0], Kind.DEL), W).status is Status.TOO_LONG
    # lower-case REF is compared upper-cased
    assert small_window(GEN, allele(100, ok_ref.lower(), "a", Kind.SNV), W).status is Status.OK


def test_spelled_out_sv_uses_small_rules_without_sv():
    W = 400
    ref = SEQ[299:399]
    w = allele_windows(GEN, allele(300, ref, ref[0], Kind.SV_SEQUENCE), W, sv=False)
    assert len(w) == 1 and w[0].status is Status.OK and w[0].n == 100 and w[0].m == 1
    assert allele_windows(GEN, allele(300, ref, ref[0], Kind.SV_SEQUENCE), 399, sv=False)[0].status \
        is Status.TOO_LONG


def test_window_too_short():
    with pytest.raises(InputError, match="--window"):
        small_window(GEN, allele(100, SEQ[99], "A", Kind.SNV), 4)


# --- SV edits ---------------------------------------------------------------------------------------

def H(s, e, q, chrom="c1"):
    seq = GEN.seqs[chrom]
    return seq[:s] + q + seq[e:]


def Hpad(h, a, b):
    return "".join(h[i] if 0 <= i < len(h) else "N" for i in range(a, b))


def symbolic(pos, alt, end=None, svlen=None, insseq=None, ref=None):
    return allele(pos, ref if ref is not None else SEQ[pos - 1], alt, Kind.SV_SYMBOLIC,
                  sv=SVInfo(svtype=alt.strip("<>").split(":")[0], end=end, svlen=svlen, insseq=insseq))


@pytest.mark.parametrize("alt", ["<DEL>", "<INV>", "<DUP>", "<DUP:TANDEM>"])
def test_symbolic_fits_by_hand(alt):
    W, pos, end = 256, 900, 950                     # k = 50: fits (50 + 64 <= 256)
    (w,) = sv_windows(GEN, symbolic(pos, alt, end=end, svlen=-50), W)
    assert w.status is Status.OK and w.bp == 0
    s, e = pos, end                                 # s = POS as 0-based index, e = END
    q = {"<DEL>": "", "<INV>": revcomp(SEQ[s:e])}.get(alt, SEQ[s:e])
    if alt.startswith("<DUP"):
        s = e                                       # the copy is inserted at its end
    k, kp = e - s, len(q)
    L = (W - max(k, kp)) // 2                       # reference bases left of the edit, in both windows
    R = W - max(k, kp) - L                          # and right of it: one genome span G[s-L : e+R]
    assert w.ref == SEQ[s - L:e + R] and len(w.ref) == L + k + R
    assert w.alt == SEQ[s - L:s] + q + SEQ[e:e + R] and len(w.alt) == L + kp + R
    assert max(len(w.ref), len(w.alt)) == W
    assert (w.s, w.e, w.n, w.m, w.ref_start, w.alt_start, w.offset) == (s, e, k, kp, s - L, s - L, L)
    # aligned flanks by brute force over genome positions: every reference base outside the edit
    r0 = a0 = s - L
    left = [(g - r0, g - a0, s - g) for g in range(2000) if r0 <= g < s]
    right = [(g - r0, g - e + s + kp - a0, g - e + 1) for g in range(2000) if e <= g < e + R]
    assert len(left) == L and len(right) == R
    assert list(zip(w.left.ref_idx, w.left.alt_idx, w.left.distance, strict=True)) == left
    assert list(zip(w.right.ref_idx, w.right.alt_idx, w.right.distance, strict=True)) == right
    assert left and right


def test_breakpoint_mode_by_hand():
    W, pos, end = 128, 700, 1100                    # k = 400 > W - 2F
    (w1, w2) = sv_windows(GEN, symbolic(pos, "<DEL>", end=end), W)
    s, e, q, h = pos, end, "", W // 2
    assert (w1.bp, w2.bp) == (1, 2)
    assert w1.ref == SEQ[s - h:s - h + W]
    assert w1.alt == SEQ[s - h:s] + (q + SEQ[e:])[:W - h]
    assert w2.ref == SEQ[e - h:e - h + W]
    assert w2.alt == (SEQ[:s] + q)[-h:] + SEQ[e:e + W - h]
    assert (len(w1.left), len(w1.right), len(w2.left), len(w2.right)) == (h, 0, 0, W - h)
    assert list(w1.left.ref_idx) == list(w1.left.alt_idx) == list(range(h))
    assert list(w2.right.ref_idx) == list(w2.right.alt_idx) == list(range(h, W))
    assert list(w2.right.distance) == list(range(1, W - h + 1))
    assert w1.offset == w2.offset == h

    # INV too large for the window: the right breakpoint's alt ends the inverted copy
    (v1, v2) = sv_windows(GEN, symbolic(pos, "<INV>", end=end), W)
    q = revcomp(SEQ[s:e])
    assert v1.alt == SEQ[s - h:s] + q[:W - h]
    assert v2.alt == q[-h:] + SEQ[e:e + W - h]


def test_fits_boundary():
    W = 64                                          # F = 8: fits iff k + 16 <= 64
    assert [w.bp for w in sv_windows(GEN, symbolic(500, "<DEL>", end=548), W)] == [0]
    assert [w.bp for w in sv_windows(GEN, symbolic(500, "<DEL>", end=549), W)] == [1, 2]


def test_insertions():
    W = 64
    ins = symbolic(800, "<INS>", insseq="ggatcc")
    (w,) = sv_windows(GEN, ins, W)
    s = 800                                          # L = R = (64 - 6) // 2 = 29
    assert w.alt == H(s, s, "GGATCC")[s - 29:s + 6 + 29] and len(w.alt) == 64
    assert w.ref == SEQ[s - 29:s + 29]
    w = sv_windows(GEN, symbolic(800, "<INS>"), W)[0]
    assert w.status is Status.UNSUPPORTED_ALLELE and "SVINSSEQ" in w.note
    # a spelled-out insertion sharing its first base: s = POS0 + 1, q = ALT[1:] (once left-aligned: here the
    # anchor is not C, the inserted sequence's last base, so it stays where it is written)
    p0 = next(i for i in range(799, 900) if SEQ[i] != "C")
    (w,) = sv_windows(GEN, allele(p0 + 1, SEQ[p0], SEQ[p0] + "GGATCC", Kind.SV_SEQUENCE), W)
    assert (w.s, w.e, w.m) == (p0 + 1, p0 + 1, 6) and w.alt == H(p0 + 1, p0 + 1, "GGATCC")[p0 - 28:p0 + 36]


def test_spelled_out_sv_in_a_repeat_scores_as_one_haplotype():
    """A 60-bp copy of a tandem repeat deleted (or added), written at any copy and with or without extra
    shared bases, is one haplotype: score-sv builds the very same windows for every spelling."""
    rng = random.Random(3)
    unit = "".join(rng.choice("ACGT") for _ in range(60))
    flank = "".join(rng.choice("ACGT") for _ in range(700))
    seq = flank + unit * 3 + flank[::-1]
    gen = MemGenome({"c1": seq})
    W, a = 512, len(flank)                           # the repeat starts at a
    spellings = []
    for copy in range(3):                            # delete copy 0, 1 or 2: anchor = the base before it
        p0 = a + 60 * copy - 1
        spellings.append((p0, seq[p0:p0 + 61], seq[p0]))
    p0 = a + 30                                      # mid-unit, with 3 extra shared bases on the right
    spellings.append((p0, seq[p0:p0 + 63], seq[p0] + seq[p0 + 61:p0 + 63]))
    haplotypes = {seq[:p] + alt + seq[p + len(ref):] for p, ref, alt in spellings}
    assert len(haplotypes) == 1
    got = [sv_windows(gen, allele(p + 1, ref, alt, Kind.SV_SEQUENCE), W)[0] for p, ref, alt in spellings]
    assert all(w.status is Status.OK and w.bp == 0 for w in got)
    assert len({(w.ref, w.alt, w.s, w.e, w.ref_start) for w in got}) == 1
    pc, rc, ac = canonical_allele(gen, "c1", *spellings[1], margin=600)   # the left-aligned spelling
    assert (got[0].s, got[0].e, len(rc), ac) == (pc + 1, pc + 61, 61, rc[0])
    # the insertion of one more copy, written after each copy, likewise
    ins = [sv_windows(gen, allele(a + 60 * c, seq[a + 60 * c - 1], seq[a + 60 * c - 1] + unit,
                                  Kind.SV_SEQUENCE), W)[0] for c in range(4)]
    assert len({(w.ref, w.alt, w.s) for w in ins}) == 1


def test_sequence_resolved_without_shared_base():
    W = 64
    ref = SEQ[599:609]
    alt = "T" if ref[0] != "T" else "G"
    alt += "CCC" if ref[-1] != "C" else "CCA"    # no shared first or last base: nothing to trim
    (w,) = sv_windows(GEN, allele(600, ref, alt, Kind.COMPLEX), W)
    s, e = 599, 609
    assert (w.s, w.e, w.n, w.m) == (s, e, 10, 4)
    L, R = (64 - 10) // 2, 64 - 10 - (64 - 10) // 2
    assert w.ref == SEQ[s - L:e + R] and w.alt == SEQ[s - L:s] + alt + SEQ[e:e + R]


def test_sv_statuses(caplog):
    W = 64
    assert sv_windows(GEN, symbolic(500, "<DEL>", end=520), W)[0].status is Status.OK
    for alt in ["<CNV>", "<CN0>", "<DEL:ME>", "<INS:ME:ALU>", "<TRA>"]:
        w = sv_windows(GEN, symbolic(500, alt, end=520), W)
        assert [x.status for x in w] == [Status.UNSUPPORTED_ALLELE], alt
        assert alt in w[0].note or "SVINSSEQ" in w[0].note
    w = sv_windows(GEN, symbolic(500, "<DEL>"), W)
    assert w[0].status is Status.UNSUPPORTED_ALLELE and "END" in w[0].note
    # SVLEN alone gives END = POS + |SVLEN|; END wins over a disagreeing SVLEN, with a log line
    assert sv_windows(GEN, symbolic(500, "<DEL>", svlen=-20), W)[0].e == 520
    with caplog.at_level(logging.WARNING, logger="glrm.windows.sv"):
        assert sv_windows(GEN, symbolic(500, "<DEL>", end=520, svlen=-25), W)[0].e == 520
    assert "SVLEN=-25 disagrees with END=520" in caplog.text
    # REF: padding base must match; a REF of only Ns, or a missing one, is accepted
    bad = "A" if SEQ[499] != "A" else "C"
    assert sv_windows(GEN, symbolic(500, "<DEL>", end=520, ref=bad), W)[0].status is Status.REF_MISMATCH
    assert sv_windows(GEN, symbolic(500, "<DEL>", end=520, ref="N"), W)[0].status is Status.OK
    assert sv_windows(GEN, symbolic(500, "<DEL>", end=520, ref="."), W)[0].status is Status.OK
    spelled = allele(500, SEQ[499:520] + bad, SEQ[499], Kind.SV_SEQUENCE)
    assert sv_windows(GEN, spelled, W)[0].status is Status.REF_MISMATCH
    # TOO_LONG above max_sv_len (both breakpoints say so); REF_MISMATCH comes first
    w = sv_windows(GEN, symbolic(500, "<DEL>", end=1500), W, max_sv_len=999)
    assert [(x.bp, x.status) for x in w] == [(1, Status.TOO_LONG), (2, Status.TOO_LONG)]
    assert sv_windows(GEN, symbolic(500, "<DEL>", end=1500), W, max_sv_len=1000)[0].status is Status.OK
    w = sv_windows(GEN, symbolic(500, "<DEL>", end=1500, ref=bad), W, max_sv_len=999)
    assert w[0].status is Status.REF_MISMATCH
    # N_CONTENT per ref window: the left breakpoint sits at the contig start, the right one does not
    w = sv_windows(GEN, symbolic(1, "<DEL>", end=1000), W)
    assert [x.status for x in w] == [Status.N_CONTENT, Status.OK]
    assert allele_status(w) is Status.N_CONTENT
    assert sv_windows(GEN, allele(5, "A", "<DEL>", Kind.SV_SYMBOLIC, chrom="x"), W)[0].status \
        is Status.UNKNOWN_CONTIG


# --- BND --------------------------------------------------------------------------------------------

def bnd(pos, form, mate_chrom, p0, ref=None, t=None):
    t = t or SEQ[pos - 1]
    alt = {"t[p[": f"{t}[{mate_chrom}:{p0 + 1}[", "t]p]": f"{t}]{mate_chrom}:{p0 + 1}]",
           "]p]t": f"]{mate_chrom}:{p0 + 1}]{t}", "[p[t": f"[{mate_chrom}:{p0 + 1}[{t}"}[form]
    return allele(pos, ref or SEQ[pos - 1], alt, Kind.BND, bnd=Breakend(form, mate_chrom, p0, t))


@pytest.mark.parametrize("W", [64, 65])
def test_bnd_four_forms_by_hand(W):
    M = GEN.seqs["c2"]
    P, p0, h = 999, 300, W // 2
    pos = P + 1
    cases = {
        "t[p[": (P + 1, SEQ[P + 1 - h:P + 1] + M[p0:p0 + W - h]),
        "t]p]": (P + 1, SEQ[P + 1 - h:P + 1] + revcomp(M[p0 + 1 - (W - h):p0 + 1])),
        "]p]t": (P, M[p0 + 1 - h:p0 + 1] + SEQ[P:P + W - h]),
        "[p[t": (P, revcomp(M[p0:p0 + h]) + SEQ[P:P + W - h]),
    }
    for form, (J, alt) in cases.items():
        (w,) = sv_windows(GEN, bnd(pos, form, "c2", p0), W)
        assert w.status is Status.OK and w.bp == 1, form
        assert w.ref == SEQ[J - h:J - h + W], form
        assert w.alt == alt, form
        if form in ("t[p[", "t]p]"):
            assert len(w.right) == 0 and list(w.left.ref_idx) == list(range(h))
            assert list(w.left.distance) == [J - g for g in range(J - h, J)]
        else:
            assert len(w.left) == 0 and list(w.right.ref_idx) == list(range(h, W))
            assert list(w.right.distance) == [g - J + 1 for g in range(J, J + W - h)]
        assert all(w.ref[i] == w.alt[j] for i, j in
                   zip(np.r_[w.left.ref_idx, w.right.ref_idx], np.r_[w.left.alt_idx, w.right.alt_idx],
                       strict=True))


@pytest.mark.parametrize("W", [64, 65])
def test_bnd_inserted_bases_by_hand(W):
    """VCF 4.2 section 5.4: t is the REF base plus the inserted bases S (REF + S in t[p[ and t]p], S + REF in
    ]p]t and [p[t); S stays in the alt haplotype, between this contig's piece and the mate's."""
    M = GEN.seqs["c2"]
    P, p0, h, S = 999, 300, W // 2, "GATTAC"
    d = len(S)
    r = SEQ[P]
    cases = {   # form: (t, J, alt window written out)
        "t[p[": (r + S, P + 1, SEQ[P + 1 - h:P + 1] + S + M[p0:p0 + W - h - d]),
        "t]p]": (r + S, P + 1, SEQ[P + 1 - h:P + 1] + S + revcomp(M[p0 + 1 - (W - h - d):p0 + 1])),
        "]p]t": (S + r, P, M[p0 + 1 - (h - d):p0 + 1] + S + SEQ[P:P + W - h]),
        "[p[t": (S + r, P, revcomp(M[p0:p0 + h - d]) + S + SEQ[P:P + W - h]),
    }
    for form, (t, J, alt) in cases.items():
        (w,) = sv_windows(GEN, bnd(P + 1, form, "c2", p0, t=t, ref=r), W)
        assert w.status is Status.OK and w.bp == 1, form
        assert w.ref == SEQ[J - h:J - h + W] and len(w.alt) == W, form
        assert w.alt == alt, form
        own = slice(0, h) if form in ("t[p[", "t]p]") else slice(h, W)   # this contig's bases: unchanged
        assert w.alt[own] == w.ref[own], form
        assert len(w.left) + len(w.right) == (h if form in ("t[p[", "t]p]") else W - h), form
    # lower-case inserted bases read as upper case; more than W // 8 inserted bases is TOO_LONG
    (w,) = sv_windows(GEN, bnd(P + 1, "t[p[", "c2", p0, t=r + "gattac", ref=r), W)
    assert w.alt == cases["t[p["][2]
    (w,) = sv_windows(GEN, bnd(P + 1, "t[p[", "c2", p0, t=r + "A" * (W // 8 + 1), ref=r), W)
    assert w.status is Status.TOO_LONG and str(W // 8) in w.note
    (w,) = sv_windows(GEN, bnd(P + 1, "t[p[", "c2", p0, t=r + "A" * (W // 8), ref=r), W)
    assert w.status is Status.OK


@pytest.mark.parametrize("W", [64, 65])
def test_bnd_with_a_multi_base_ref_keeps_every_ref_base(W):
    """A REF of n bases that `t` starts (ends) with is n anchor bases on this contig: all of them stay in the
    alt haplotype, and the junction follows the last of them (t[p[, t]p]); a `t` that does not carry REF as
    written has a one-base anchor and the rest of `t` inserted."""
    M = GEN.seqs["c2"]
    P, p0, h, S = 999, 300, W // 2, "GAT"
    r3 = SEQ[P:P + 3]
    cases = {   # form: (t, J, alt window written out)
        "t[p[": (r3 + S, P + 3, SEQ[P + 3 - h:P + 3] + S + M[p0:p0 + W - h - 3]),
        "t]p]": (r3 + S, P + 3, SEQ[P + 3 - h:P + 3] + S + revcomp(M[p0 + 1 - (W - h - 3):p0 + 1])),
        "]p]t": (S + r3, P, M[p0 + 1 - (h - 3):p0 + 1] + S + SEQ[P:P + W - h]),
        "[p[t": (S + r3, P, revcomp(M[p0:p0 + h - 3]) + S + SEQ[P:P + W - h]),
    }
    for form, (t, J, alt) in cases.items():
        (w,) = sv_windows(GEN, bnd(P + 1, form, "c2", p0, t=t, ref=r3), W)
        assert w.status is Status.OK and w.ref == SEQ[J - h:J - h + W], form
        assert w.alt == alt and w.m == 3, form
        if form in ("t[p[", "t]p]"):
            assert r3 in w.alt[:h] and list(w.left.distance)[-1] == 1
    # REF not at the start of t: one anchor base, the rest of t inserted
    other = "C" if SEQ[P + 1] != "C" else "G"
    (w,) = sv_windows(GEN, bnd(P + 1, "t[p[", "c2", p0, t=SEQ[P] + other + S, ref=r3), W)
    assert w.status is Status.OK and w.m == 4 and w.alt[:h] == SEQ[P + 1 - h:P + 1]
    assert w.alt[h:h + 4] == other + S


def test_bnd_statuses():
    W = 64
    assert sv_windows(GEN, bnd(1000, "t[p[", "chrZ", 10), W)[0].status is Status.UNKNOWN_CONTIG
    assert sv_windows(GEN, bnd(1000, "t[p[", "c2", 10), W)[0].bp == 1
    bad = "A" if SEQ[999] != "A" else "C"
    assert sv_windows(GEN, bnd(1000, "t[p[", "c2", 10, ref=bad), W)[0].status is Status.REF_MISMATCH
    assert sv_windows(GEN, bnd(1000, "t[p[", "c2", 10, ref="N"), W)[0].status is Status.OK
    # own contig near its end: N-padded ref window
    assert sv_windows(GEN, bnd(2000, "t[p[", "c2", 10), W)[0].status is Status.N_CONTENT
    w = sv_windows(GEN, bnd(2000, "t[p[", "c2", 10), W, max_n_frac=0.5)[0]
    assert w.status is Status.OK and w.ref == SEQ[-32:] + "N" * 32 and len(w.left) == 32
    w = sv_windows(GEN, bnd(2000, "]p]t", "c2", 10), W, max_n_frac=0.5)[0]
    assert w.status is Status.OK and w.ref == SEQ[-33:] + "N" * 31
    # flank pairs are reference bases only: the padding past the contig end is not aligned
    assert list(w.right.ref_idx) == [32] and list(w.right.distance) == [1]


# --- maps and speed ---------------------------------------------------------------------------------

def test_flankmap_within():
    left = FlankMap(ref_start=10, alt_start=12, length=20, dist_start=20, dist_step=-1)
    near = left.within(5)
    assert list(near.distance) == [5, 4, 3, 2, 1] and list(near.ref_idx) == [25, 26, 27, 28, 29]
    right = FlankMap(ref_start=40, alt_start=30, length=20, dist_start=1, dist_step=1)
    assert list(right.within(3).alt_idx) == [30, 31, 32] and len(right.within(0)) == 0
    assert len(left.within(100)) == 20 and left.ref_slice == slice(10, 30)


def test_equal_edit_gives_equal_windows():
    for s, e in [(100, 150), (100, 1900)]:
        for w in edit_windows(GEN, Edit("c1", s, e, literal(SEQ[s:e])), 128):
            assert w.alt == w.ref


class BigGenome(MemGenome):
    """No normalisation copy of the big contig (it is already ACGT)."""

    def __init__(self, seq):
        self.seqs = {"big": seq}


def test_megabase_windows_are_fast():
    rng = np.random.default_rng(3)
    seq = np.frombuffer(b"ACGT", dtype=np.uint8)[rng.integers(0, 4, 13_000_000)].tobytes().decode()
    genome = BigGenome(seq)
    W = 1_000_000
    cases = [
        (1_500_000, "<DEL>", 11_500_000),     # 10 Mbp: breakpoint mode
        (2_000_000, "<INV>", 2_700_000),      # fits: 700 kbp + 250 kbp <= 1 Mbp
        (1_500_000, "<DUP>", 11_400_000),     # 9.9 Mbp copy inserted
        (1_500_000, "<INV>", 11_500_000),
    ]
    for pos, alt, end in cases:
        a = Allele("big", pos, "x", seq[pos - 1], alt, 0, Kind.SV_SYMBOLIC, sv=SVInfo(end=end))
        t = time.perf_counter()
        ws = sv_windows(genome, a, W)
        dt = time.perf_counter() - t
        assert all(w.status is Status.OK and len(w.ref) == len(w.alt) == W for w in ws)
        assert dt < 0.5, (a.alt, dt)
    (w1, w2) = sv_windows(genome, Allele("big", 1_500_000, "x", seq[1_499_999], "<INV>", 0, Kind.SV_SYMBOLIC,
                                         sv=SVInfo(end=11_500_000)), W)
    s, e, h = 1_500_000, 11_500_000, W // 2
    assert w1.alt == seq[s - h:s] + revcomp(seq[e - (W - h):e])
    assert w2.alt == revcomp(seq[s:s + h]) + seq[e:e + W - h]
