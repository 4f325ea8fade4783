"""glrm.variants: ALT classification, breakend parsing and SV INFO fields."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from glrm.variants import (
    SV_MIN_LEN,
    Breakend,
    Kind,
    SVInfo,
    classify,
    info_subset,
    is_clean_indel,
    make_alleles,
    parse_breakend,
    sv_info,
)


@pytest.mark.parametrize(
    "ref, alt, kind",
    [
        ("A", "C", Kind.SNV),
        ("a", "t", Kind.SNV),
        ("AC", "GT", Kind.MNV),
        ("ACG", "TCA", Kind.MNV),
        ("A", "ACCA", Kind.INS),  # VCF normal form: shared first base (real vt record, 20:421808)
        ("C", "CTTGT", Kind.INS),
        ("ACCA", "A", Kind.DEL),
        ("CA", "A", Kind.DEL),  # position-1 form: shared last base
        ("A", "CA", Kind.INS),
        ("CTT", "CTTT", Kind.INS),  # not left-aligned, still one inserted block
        ("AT", "AGGT", Kind.INS),  # block between a shared prefix and suffix
        ("AGGT", "AT", Kind.DEL),
        ("ATG", "AC", Kind.COMPLEX),  # delete TG, insert C
        ("A", "TC", Kind.COMPLEX),
        ("AC", "TGA", Kind.COMPLEX),
        ("A", "<DEL>", Kind.SV_SYMBOLIC),
        ("N", "<DUP>", Kind.SV_SYMBOLIC),
        ("N", "<DUP:TANDEM>", Kind.SV_SYMBOLIC),
        ("G", "<INV>", Kind.SV_SYMBOLIC),
        ("G", "<INS>", Kind.SV_SYMBOLIC),
        ("G", "<CNV>", Kind.SV_SYMBOLIC),
        ("G", "<DEL:ME:ALU>", Kind.SV_SYMBOLIC),
        ("G", "<CN2>", Kind.SV_SYMBOLIC),
        (".", "<TRA>", Kind.SV_SYMBOLIC),  # novoBreak writes REF '.'
        ("G", "G[20:13164101[", Kind.BND),
        ("T", "]20:13160728]T", Kind.BND),
        ("G", "[15:23685608[G", Kind.BND),
        ("A", "A]17:21522468]", Kind.BND),
        ("G", "G.", Kind.BND),
        ("G", ".G", Kind.BND),
        ("G", "GTTA.", Kind.BND),
        ("A", "*", Kind.UNSUPPORTED),
        ("A", ".", Kind.UNSUPPORTED),
        ("A", "<NON_REF>", Kind.UNSUPPORTED),
        ("A", "<*>", Kind.UNSUPPORTED),
        ("A", "", Kind.UNSUPPORTED),
        ("A", "A-C", Kind.UNSUPPORTED),
        (".", "C", Kind.UNSUPPORTED),  # a spelled-out ALT needs a spelled-out REF
    ],
)
def test_classify(ref, alt, kind):
    got, bnd, reason = classify(ref, alt)
    assert got is kind
    if kind is Kind.UNSUPPORTED:
        assert reason
    if kind is not Kind.BND:
        assert bnd is None


def test_sv_sequence_threshold():
    assert SV_MIN_LEN == 50
    assert classify("A", "A" + "C" * 48)[0] is Kind.INS  # 49 bases
    assert classify("A", "A" + "C" * 49)[0] is Kind.SV_SEQUENCE  # 50 bases
    assert classify("G" * 50, "G")[0] is Kind.SV_SEQUENCE
    assert classify("G" * 50, "T" * 50)[0] is Kind.SV_SEQUENCE  # 50 long: an SV, whatever the shape
    assert classify("G" * 60, "TTA")[0] is Kind.SV_SEQUENCE


def test_unsupported_reasons_say_why():
    assert "spanning a deletion" in classify("A", "*")[2]
    assert "no alternate allele" in classify("A", ".")[2]
    assert "gVCF" in classify("A", "<NON_REF>")[2]


@pytest.mark.parametrize(
    "alt, form, chrom, pos0, bases",
    [
        ("G[20:13164101[", "t[p[", "20", 13164100, "G"),  # GRIDSS, COLO829
        ("A]17:21522468]", "t]p]", "17", 21522467, "A"),  # Manta
        ("]20:13160728]T", "]p]t", "20", 13160727, "T"),
        ("[15:23685608[G", "[p[t", "15", 23685607, "G"),
        ("AAAT[20:32180189[", "t[p[", "20", 32180188, "AAAT"),  # inserted bases kept as written
        ("]20:32180252]AATT", "]p]t", "20", 32180251, "AATT"),
        ("C[HLA-A*01:01:01:01:100[", "t[p[", "HLA-A*01:01:01:01", 99, "C"),  # ':' inside a contig name
        ("t[chr2:1[", "t[p[", "chr2", 0, "t"),
    ],
)
def test_parse_breakend(alt, form, chrom, pos0, bases):
    assert parse_breakend(alt) == Breakend(form=form, mate_chrom=chrom, mate_pos0=pos0, bases=bases)
    kind, bnd, reason = classify("N", alt)
    assert kind is Kind.BND and bnd == parse_breakend(alt) and reason == ""


@pytest.mark.parametrize("alt", ["A[20:5]", "A[20:x[", "[20:5[", "A[20:5[G", "A]20:5[", "]]", "A[:5["])
def test_malformed_breakends(alt):
    assert parse_breakend(alt) is None
    kind, bnd, reason = classify("A", alt)
    assert kind is Kind.BND and bnd is None and "cannot read breakend" in reason


def test_single_breakend_reason():
    kind, bnd, reason = classify("G", "G.")
    assert (kind, bnd) == (Kind.BND, None) and "single breakend" in reason
    assert parse_breakend("G.") is None
    assert parse_breakend("ACGT") is None and parse_breakend("<DEL>") is None


def test_is_clean_indel_examples():
    assert is_clean_indel("A", "ACCA") and is_clean_indel("ACCA", "A")
    assert is_clean_indel("GA", "GAA") and is_clean_indel("TCA", "TA")
    assert not is_clean_indel("ATG", "AC")
    assert not is_clean_indel("AC", "GAC" + "T")


@given(
    pre=st.text("ACGT", max_size=6),
    block=st.text("ACGT", min_size=1, max_size=10),
    post=st.text("ACGT", max_size=6),
)
def test_one_block_insertions_and_deletions_are_clean(pre, block, post):
    short, long_ = pre + post, pre + block + post
    if not short:
        return  # a VCF allele is never empty
    assert is_clean_indel(short, long_)
    assert classify(short, long_)[0] is Kind.INS
    assert classify(long_, short)[0] is Kind.DEL


@given(ref=st.text("ACGT", min_size=1, max_size=8), alt=st.text("ACGT", min_size=1, max_size=8))
def test_classification_is_total_and_consistent(ref, alt):
    kind = classify(ref, alt)[0]
    if len(ref) == len(alt):
        assert kind is (Kind.SNV if len(ref) == 1 else Kind.MNV)
    elif kind in (Kind.INS, Kind.DEL):
        # one block: removing it from the longer allele gives the shorter
        short, long_ = sorted((ref, alt), key=len)
        k = len(long_) - len(short)
        assert any(long_[:i] + long_[i + k :] == short for i in range(len(short) + 1))
        assert kind is (Kind.INS if len(alt) > len(ref) else Kind.DEL)
    else:
        assert kind is Kind.COMPLEX
        short, long_ = sorted((ref, alt), key=len)
        k = len(long_) - len(short)
        assert not any(long_[:i] + long_[i + k :] == short for i in range(len(short) + 1))


# ---- INFO ----------------
def test_info_subset_reads_only_sv_keys():
    info = "END=13164099;SVTYPE=DEL;SVLEN=-3372;CIPOS=0,3;CIEND=0,3;HOMLEN=3;HOMSEQ=GTC;SOMATIC;IMPRECISE"
    assert info_subset(info) == {
        "END": "13164099",
        "SVTYPE": "DEL",
        "SVLEN": "-3372",
        "CIPOS": "0,3",
        "CIEND": "0,3",
        "IMPRECISE": None,
    }
    assert info_subset("XEND=5;SVLEN_X=3;MATEIDS=a") == {}  # whole keys only
    assert info_subset(".") == {} and info_subset("") == {}
    assert info_subset("AC=1;AN=2") == {}


def test_sv_info_manta_deletion():
    sv = sv_info(info_subset("END=13164099;SVTYPE=DEL;SVLEN=-3372;CIPOS=0,3;CIEND=0,3;HOMLEN=3;SOMATIC"))
    assert sv == SVInfo(svtype="DEL", end=13164099, svlen=-3372, cipos=(0, 3), ciend=(0, 3), imprecise=False)


def test_sv_info_flags_mate_and_insseq():
    sv = sv_info(info_subset("SVTYPE=BND;MATEID=MantaBND:5:0:1;IMPRECISE;CIPOS=-473,474"))
    assert sv.mateid == "MantaBND:5:0:1" and sv.imprecise and sv.cipos == (-473, 474) and sv.end is None
    sv = sv_info(info_subset("SVTYPE=INS;END=100;SVLEN=4;SVINSSEQ=ACGT"))
    assert (sv.svlen, sv.insseq, sv.end) == (4, "ACGT", 100)
    assert sv_info({}) == SVInfo()


def test_sv_info_per_alt_lists():
    info = info_subset("SVLEN=-30,40;SVINSSEQ=.,ACGT")
    assert sv_info(info, 0, 2).svlen == -30
    assert sv_info(info, 1, 2).svlen == 40
    assert sv_info(info, 1, 2).insseq == "ACGT"
    assert sv_info(info_subset("SVLEN=7"), 1, 2).svlen == 7  # one value for the record: shared


def test_sv_info_bad_numbers():
    with pytest.raises(ValueError, match="INFO/END=abc is not a list of whole numbers"):
        sv_info(info_subset("END=abc"))
    with pytest.raises(ValueError, match="INFO/CIPOS"):
        sv_info(info_subset("CIPOS=-1,x"))


# ---- alleles ----------------
def test_make_alleles_multiallelic_mixed_kinds():
    alts = ["C", "ACG", "<DEL>", "*", "A[20:100["]
    alleles = make_alleles("20", 1000, "rs1", "A", alts, info_subset("END=1500;SVTYPE=DEL"), record_index=7)
    assert [a.kind for a in alleles] == [Kind.SNV, Kind.INS, Kind.SV_SYMBOLIC, Kind.UNSUPPORTED, Kind.BND]
    assert [a.alt for a in alleles] == alts
    assert [a.alt_index for a in alleles] == [0, 1, 2, 3, 4]
    assert {a.record_index for a in alleles} == {7}
    assert all(a.sv.end == 1500 for a in alleles)
    assert alleles[4].bnd == Breakend("t[p[", "20", 99, "A")
    assert alleles[0].start == 999 and alleles[0].end == 1000 and alleles[0].name == "rs1"
    nameless = make_alleles("20", 5, ".", "AT", ["A"], {})
    assert nameless[0].name == "20:5:AT:A" and nameless[0].kind is Kind.DEL
