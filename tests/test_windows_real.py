"""Windows of real variants (tests/data): each expected window is built here from Fasta.fetch slices and the
spec's formulas, then compared with glrm's."""

from __future__ import annotations

import pathlib

import pytest
from helpers import canonical_allele

from glrm.io.fasta import Fasta
from glrm.io.vcf import VcfReader
from glrm.variants import Kind, Status
from glrm.windows import allele_windows, revcomp, small_window

DATA = pathlib.Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def chr20():
    with Fasta(DATA / "chr20_slice.fa.gz") as fa:
        yield fa


@pytest.fixture(scope="module")
def ecoli():
    with Fasta(DATA / "ecoli_slice.fa.gz") as fa:
        yield fa


def alleles(path):
    with VcfReader(str(path)) as reader:
        return [a for rec in reader for a in rec.alleles]


@pytest.mark.parametrize("W", [64, 1024])
def test_chr20_indels_small_rules(chr20, data_dir, W):
    found = alleles(data_dir / "chr20_indels.vcf.gz")
    assert len(found) >= 194
    n_ok = moved = 0
    for a in found:
        w = small_window(chr20, a, W)
        # windows are built from the left-aligned, trimmed allele (vt's file holds unnormalised ones)
        s, ref, alt = canonical_allele(chr20, "20", a.pos - 1, a.ref.upper(), a.alt.upper())
        moved += (s, ref, alt) != (a.pos - 1, a.ref.upper(), a.alt.upper())
        n, m = len(ref), len(alt)
        if max(n, m) > W // 4:
            assert w.status is Status.TOO_LONG, a
            continue
        assert w.status is Status.OK, (a, w.note)          # REF matches the FASTA for all of them
        g0, o = s - W // 2, W // 2
        assert (w.s, w.n, w.m) == (s, n, m)
        assert w.ref == chr20.fetch("20", g0, g0 + W)
        assert w.alt == chr20.fetch("20", g0, s) + alt + chr20.fetch("20", s + n, s + n + W - o - m)
        n_ok += 1
    assert n_ok >= 190 and moved >= 50                     # vt's test input: many are not left-aligned


def test_chr20_indel_statuses(chr20, data_dir):
    a = next(x for x in alleles(data_dir / "chr20_indels.vcf.gz") if x.pos == 4422119)   # 28 bp REF
    assert small_window(chr20, a, 64).status is Status.TOO_LONG
    assert small_window(chr20, a, 112).status is Status.OK
    # 131072 bp window around it is mostly masked N in the slice
    assert small_window(chr20, a, 131072).status is Status.N_CONTENT
    assert small_window(chr20, a, 131072, max_n_frac=1.0).status is Status.OK


def test_manta_deletions_fits_and_breakpoints(chr20, data_dir):
    dels = [a for a in alleles(data_dir / "colo829_manta.vcf.gz") if a.alt == "<DEL>"]
    assert [a.sv.end - a.pos for a in dels] == [3372, 50992, 119993, 13219]
    W, h = 131072, 65536                                   # F = 16384: fits iff k <= 98304
    for a in dels:
        s, e = a.pos, a.sv.end                             # s = POS as a 0-based index, e = END
        k = e - s
        ws = allele_windows(chr20, a, W, sv=True, max_n_frac=1.0)
        if k + 2 * (W // 8) <= W:
            (w,) = ws
            L = (W - k) // 2                               # one genome span G[s-L : e+R] in both windows
            R = W - k - L
            assert w.bp == 0 and w.ref == chr20.fetch("20", s - L, e + R) and len(w.ref) == W
            assert w.alt == chr20.fetch("20", s - L, s) + chr20.fetch("20", e, e + R)
        else:
            w1, w2 = ws
            assert (w1.bp, w2.bp) == (1, 2)
            assert w1.ref == chr20.fetch("20", s - h, s - h + W)
            assert w1.alt == chr20.fetch("20", s - h, s) + chr20.fetch("20", e, e + W - h)
            assert w2.ref == chr20.fetch("20", e - h, e - h + W)
            assert w2.alt == chr20.fetch("20", s - h, s) + chr20.fetch("20", e, e + W - h)
    assert [len(allele_windows(chr20, a, W, sv=True, max_n_frac=1.0)) for a in dels] == [1, 1, 2, 1]
    # at the default --max-n-frac the masked slice makes these 128 kbp windows N_CONTENT
    assert {w.status for a in dels for w in allele_windows(chr20, a, W, sv=True)} == {Status.N_CONTENT}
    # at 1 kbp every one is in breakpoint mode, on real sequence
    ws = [w for a in dels for w in allele_windows(chr20, a, 1024, sv=True)]
    assert [w.bp for w in ws] == [1, 2] * 4 and all(w.status is Status.OK for w in ws)


def test_manta_spelled_out_deletion(chr20, data_dir):
    a = next(x for x in alleles(data_dir / "colo829_manta.vcf.gz") if x.pos == 48395962)
    assert a.kind is Kind.SV_SEQUENCE and len(a.ref) == 329 and a.alt == "C"
    # left-aligned first (shared first base: s = POS0 + 1, q = ALT[1:] = "")
    p0, ref, alt = canonical_allele(chr20, "20", a.pos - 1, a.ref, a.alt)
    assert (len(ref), alt) == (329, ref[0])
    s, e = p0 + 1, p0 + 329
    for W, mode in [(512, [0]), (384, [1, 2])]:            # 328 + 2 * (W // 8) <= W ?
        ws = allele_windows(chr20, a, W, sv=True)
        assert [w.bp for w in ws] == mode and all(w.ok for w in ws)
    (w,) = allele_windows(chr20, a, 512, sv=True)
    L, R = (512 - 328) // 2, 512 - 328 - (512 - 328) // 2
    assert (w.s, w.e) == (s, e)
    assert w.ref == chr20.fetch("20", s - L, e + R)
    assert w.alt == chr20.fetch("20", s - L, s) + chr20.fetch("20", e, e + R) and len(w.alt) == 512 - 328
    # score-vcf rules: a small-variant window, TOO_LONG unless W // 4 >= 329
    assert small_window(chr20, a, 1024).status is Status.TOO_LONG
    assert small_window(chr20, a, 1316).status is Status.OK


def test_gridss_breakends(chr20, data_dir):
    W, h = 256, 128
    bnds = alleles(data_dir / "colo829_gridss.vcf.gz")
    assert len(bnds) == 12 and all(a.kind is Kind.BND for a in bnds)
    checked = inserted = 0
    for a in bnds:
        (w,) = allele_windows(chr20, a, W, sv=True)
        assert w.bp == 1
        if a.bnd.mate_chrom != "20":
            assert w.status is Status.UNKNOWN_CONTIG and a.bnd.mate_chrom in w.note
            continue
        P, p0 = a.pos - 1, a.bnd.mate_pos0
        assert w.status is Status.OK, (a, w.note)
        if a.bnd.form == "t[p[":                           # ALT = t[p[ with t = REF + inserted bases S
            J, S = P + 1, a.alt[:a.alt.index("[")][len(a.ref):]
            alt = chr20.fetch("20", J - h, J) + S + chr20.fetch("20", p0, p0 + W - h - len(S))
        else:
            assert a.bnd.form == "]p]t"                    # ALT = ]p]t with t = S + REF
            J, S = P, a.alt[a.alt.rindex("]") + 1:][:-len(a.ref)]
            alt = chr20.fetch("20", p0 + 1 - (h - len(S)), p0 + 1) + S + chr20.fetch("20", P, P + W - h)
        inserted += bool(S)
        assert w.ref == chr20.fetch("20", J - h, J - h + W)
        assert w.alt == alt
        checked += 1
    assert checked == 10 and inserted >= 1                 # e.g. AAAT[20:32180189[ inserts AAT


def test_gridss_junction_equals_manta_deletion(chr20, data_dir):
    """GRIDSS's breakend pair and Manta's <DEL> describe the same junction: G[s:e] deleted, with the 3 bp
    microhomology GTC letting it slide by one base. The alt windows are the same haplotype, shifted by 1."""
    manta = next(a for a in alleles(data_dir / "colo829_manta.vcf.gz") if a.pos == 13160727)
    gridss = next(a for a in alleles(data_dir / "colo829_gridss.vcf.gz") if a.pos == 13160728)
    W = 1024
    left, _ = allele_windows(chr20, manta, W, sv=True)
    (bnd,) = allele_windows(chr20, gridss, W, sv=True)
    assert bnd.alt[:-1] == left.alt[1:]
    assert bnd.ref[:-1] == left.ref[1:]
    assert bnd.alt != bnd.ref


class MateAlias:
    """chr20 standing in for the other chromosomes, so the real t]p] / [p[t records get a mate sequence.
    The other chromosomes keep their names and a length of 250 Mbp, so a mate past chr20's end (16:70524962)
    is not past its own contig's end (that would be REF_MISMATCH); its bases read as N."""

    def __init__(self, fa):
        self.fa = fa

    def resolve(self, chrom):
        return chrom

    def length(self, chrom):
        return self.fa.length("20") if chrom == "20" else 250_000_000

    def fetch(self, chrom, start, end):
        return self.fa.fetch("20", start, end)


def test_manta_breakends_all_forms(chr20, data_dir):
    bnds = [a for a in alleles(data_dir / "colo829_manta.vcf.gz") if a.kind is Kind.BND]
    assert {a.bnd.form for a in bnds} == {"t]p]", "[p[t", "t[p["}
    W, h = 128, 64
    for a in bnds:
        assert allele_windows(chr20, a, W, sv=True)[0].status is Status.UNKNOWN_CONTIG
        g = MateAlias(chr20)
        (w,) = allele_windows(g, a, W, sv=True, max_n_frac=1.0)
        P, p0 = a.pos - 1, a.bnd.mate_pos0
        expected = {
            "t[p[": (P + 1, g.fetch(0, P + 1 - h, P + 1) + g.fetch(0, p0, p0 + W - h)),
            "t]p]": (P + 1, g.fetch(0, P + 1 - h, P + 1) + revcomp(g.fetch(0, p0 + 1 - (W - h), p0 + 1))),
            "[p[t": (P, revcomp(g.fetch(0, p0, p0 + h)) + g.fetch(0, P, P + W - h)),
        }
        J, alt = expected[a.bnd.form]
        assert w.ref == g.fetch(0, J - h, J - h + W) and w.alt == alt
        assert w.ref[:h] == w.alt[:h] if a.bnd.form != "[p[t" else w.ref[h:] == w.alt[h:]


def test_novobreak_missing_ref_and_tra(chr20, data_dir):
    found = alleles(data_dir / "colo829_novobreak.vcf.gz")
    assert all(a.ref == "." for a in found)
    for a in found:
        ws = allele_windows(chr20, a, 1024, sv=True)
        if a.alt == "<TRA>":
            assert [w.status for w in ws] == [Status.UNSUPPORTED_ALLELE]
        else:
            assert a.alt == "<DEL>" and all(w.ok for w in ws)            # REF '.' is not a mismatch
        assert small_window(chr20, a, 1024).status is Status.UNSUPPORTED_ALLELE


def test_ecoli_simulated_svs(ecoli, data_dir):
    c = "K-12-MG1655"
    W, h = 8192, 4096
    seen = {}
    for a in alleles(data_dir / "ecoli_sim_svs.fixed.vcf"):
        kind = a.alt.strip("<>")
        ws = allele_windows(ecoli, a, W, sv=True)
        seen.setdefault(kind, set()).update((w.bp, w.status) for w in ws)
        if kind == "INS":                                   # SURVIVOR writes no inserted sequence
            assert [w.status for w in ws] == [Status.UNSUPPORTED_ALLELE]
            continue
        s, e = a.pos, a.sv.end
        q = {"DEL": "", "INV": revcomp(ecoli.fetch(c, s, e)), "DUP": ecoli.fetch(c, s, e)}[kind]
        if kind == "DUP":
            s = e
        k, kp = e - s, len(q)
        hap = ecoli.fetch(c, 0, s) + q + ecoli.fetch(c, e, e + W)
        if max(k, kp) + 2 * (W // 8) <= W:
            (w,) = ws
            L = (W - max(k, kp)) // 2                       # one genome span G[s-L : e+R] in both windows
            R = W - max(k, kp) - L
            r0 = a0 = s - L
            wr, wa = L + k + R, L + kp + R
        else:
            w, w2 = ws
            r0 = a0 = s - h
            wr = wa = W
            assert w2.ref == ecoli.fetch(c, e - h, e - h + W)
            assert w2.alt == hap[s + kp - h:s + kp - h + W]
        assert w.status is Status.OK, (a, w.note)
        assert w.ref == ecoli.fetch(c, r0, r0 + wr)
        assert w.alt == hap[a0:a0 + wa]
    assert seen["INS"] == {(0, Status.UNSUPPORTED_ALLELE)}
    assert seen["DEL"] == {(0, Status.OK)} and seen["INV"] == {(0, Status.OK)}
    assert seen["DUP"] == {(0, Status.OK), (1, Status.OK), (2, Status.OK)}
