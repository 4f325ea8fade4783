"""The per-allele BED writer (glrm.io.bed): columns, header, rows for every status, tabix, atomicity."""

from __future__ import annotations

import gzip
import os

import pysam
import pytest

from glrm.io.bed import BedWriter
from glrm.io.fields import bed_columns, main_score, score_sv_fields, score_vcf_fields
from glrm.variants import Allele, Kind, Status

CAUSAL = score_vcf_fields(causal=True)
MASKED = score_vcf_fields(causal=False)
SV = score_sv_fields()


def _allele(chrom="chr1", pos=100, id=".", ref="A", alt="C", kind=Kind.SNV, alt_index=0):
    return Allele(chrom=chrom, pos=pos, id=id, ref=ref, alt=alt, alt_index=alt_index, kind=kind)


def _rows(path) -> list[list[str]]:
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt") as fh:
        return [line.rstrip("\n").split("\t") for line in fh]


def test_columns_and_main_score():
    assert bed_columns(CAUSAL) == ["chrom", "start", "end", "name", "score", "strand",
                                   "GLRM_LLR", "GLRM_CLLR", "GLRM_MLR", "GLRM_EMB", "GLRM_STATUS"]
    assert bed_columns(MASKED)[6:] == ["GLRM_MLR", "GLRM_EMB", "GLRM_STATUS"]
    assert bed_columns(SV)[6:] == ["GLRM_SV_EMB", "GLRM_SV_LLR", "GLRM_SV_REACH", "GLRM_SV_BP", "GLRM_STATUS"]
    # causal models rank by the length-balanced GLRM_CLLR; without it (--scores llr,...) by GLRM_LLR
    assert (main_score(CAUSAL), main_score(MASKED), main_score(SV)) == (
        "GLRM_CLLR", "GLRM_MLR", "GLRM_SV_EMB")
    assert main_score(score_vcf_fields(causal=True, scores=("llr", "mlr", "emb"))) == "GLRM_LLR"


def test_rows_for_every_allele_whatever_its_status(tmp_path):
    out = tmp_path / "o.bed"
    with BedWriter(out, CAUSAL) as w:
        w.write_allele(_allele(id="rs1"), {"GLRM_LLR": -1.25, "GLRM_CLLR": -1.25, "GLRM_MLR": -0.5,
                                           "GLRM_EMB": 1.5e-5, "GLRM_STATUS": Status.OK})
        # a deletion: the REF span is 0-based half-open; no ID -> chrom:pos:ref:alt
        w.write_allele(_allele(pos=200, ref="ATTG", alt="A", kind=Kind.DEL),
                       {"GLRM_LLR": 3.0, "GLRM_CLLR": 0.75, "GLRM_MLR": None, "GLRM_EMB": 0.25,
                        "GLRM_STATUS": "OK"})
        # not scored: '.' in every score cell, but the row is there with its status
        w.write_allele(_allele(pos=300, ref="G", alt="*", kind=Kind.UNSUPPORTED),
                       {"GLRM_STATUS": Status.UNSUPPORTED_ALLELE})
        w.write_allele(_allele(pos=300, ref="G", alt="T", alt_index=1), {"GLRM_STATUS": "REF_MISMATCH"})
    assert w.rows == 4
    rows = _rows(out)
    assert rows[0] == ["#chrom", "start", "end", "name", "score", "strand",
                       "GLRM_LLR", "GLRM_CLLR", "GLRM_MLR", "GLRM_EMB", "GLRM_STATUS"]
    assert rows[1:] == [      # score = GLRM_CLLR
        ["chr1", "99", "100", "rs1", "-1.25", ".", "-1.25", "-1.25", "-0.5", "1.5e-05", "OK"],
        ["chr1", "199", "203", "chr1:200:ATTG:A", "0.75", ".", "3", "0.75", ".", "0.25", "OK"],
        ["chr1", "299", "300", "chr1:300:G:*", ".", ".", ".", ".", ".", ".", "UNSUPPORTED_ALLELE"],
        ["chr1", "299", "300", "chr1:300:G:T", ".", ".", ".", ".", ".", ".", "REF_MISMATCH"],
    ]


def test_sv_rows_use_sv_emb_as_score(tmp_path):
    out = tmp_path / "sv.bed"
    with BedWriter(out, SV) as w:
        w.write_allele(_allele(pos=1000, id="DEL1", ref="N", alt="<DEL>", kind=Kind.SV_SYMBOLIC),
                       {"GLRM_SV_EMB": 0.125, "GLRM_SV_LLR": -12.5, "GLRM_SV_REACH": 640, "GLRM_SV_BP": 1,
                        "GLRM_STATUS": "OK"})
        w.write_row("chr2", 4, 5, "bnd_1", {"GLRM_STATUS": "UNKNOWN_CONTIG"})
    assert _rows(out)[1:] == [
        ["chr1", "999", "1000", "DEL1", "0.125", ".", "0.125", "-12.5", "640", "1", "OK"],
        ["chr2", "4", "5", "bnd_1", ".", ".", ".", ".", ".", ".", "UNKNOWN_CONTIG"],
    ]


def test_bad_rows_are_caller_errors(tmp_path):
    with BedWriter(tmp_path / "o.bed", CAUSAL) as w:
        with pytest.raises(ValueError, match="GLRM_STATUS"):
            w.write_row("chr1", 0, 1, "x", {"GLRM_LLR": 1.0})
        with pytest.raises(ValueError, match="not declared"):
            w.write_row("chr1", 0, 1, "x", {"GLRM_SV_EMB": 1.0, "GLRM_STATUS": "OK"})
    with pytest.raises(ValueError, match="GLRM_STATUS"):
        BedWriter(tmp_path / "p.bed", CAUSAL[:1])


def test_bgzipped_bed_loads_in_tabix(tmp_path):
    out = tmp_path / "o.bed.gz"
    with BedWriter(out, CAUSAL) as w:
        for i in range(50):
            w.write_row("chr1", 10 * i, 10 * i + 1, f"v{i}", {"GLRM_LLR": i / 4, "GLRM_STATUS": "OK"})
        w.write_row("chr2", 7, 9, "w", {"GLRM_STATUS": "N_CONTENT"})
    assert out.read_bytes()[:4] == b"\x1f\x8b\x08\x04"
    assert sorted(os.listdir(tmp_path)) == ["o.bed.gz", "o.bed.gz.tbi"]
    tbx = pysam.TabixFile(str(out))
    assert tbx.header == ["#" + "\t".join(bed_columns(CAUSAL))]
    def names(*region):
        return [row.split("\t")[3] for row in tbx.fetch(*region)]

    assert names("chr1", 95, 125) == ["v10", "v11", "v12"]
    assert names("chr1", 90, 91) == ["v9"] and names("chr1", 91, 100) == []  # 0-based half-open, like BED
    assert [row.split("\t")[-1] for row in tbx.fetch("chr2")] == ["N_CONTENT"]


def test_unsorted_rows_are_kept_but_not_indexed(tmp_path, caplog):
    out = tmp_path / "o.bed.gz"
    with BedWriter(out, SV) as w:
        w.write_row("chr1", 500, 501, "b", {"GLRM_STATUS": "OK"})
        w.write_row("chr1", 100, 101, "a", {"GLRM_STATUS": "OK"})
    assert "not sorted" in caplog.text
    assert os.listdir(tmp_path) == ["o.bed.gz"]
    assert [r[3] for r in _rows(out)[1:]] == ["b", "a"]


@pytest.mark.parametrize("name", ["o.bed", "o.bed.gz"])
@pytest.mark.parametrize("exc", [RuntimeError, KeyboardInterrupt])
def test_interrupted_write_leaves_old_file_and_no_temp(tmp_path, name, exc):
    out = tmp_path / name
    with BedWriter(out, CAUSAL) as w:
        w.write_row("chr1", 0, 1, "old", {"GLRM_STATUS": "OK"})
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(exc):
        with BedWriter(out, CAUSAL) as w:
            w.write_row("chr1", 0, 1, "new", {"GLRM_STATUS": "OK"})
            raise exc()
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    with BedWriter(out, CAUSAL) as w:
        w.write_row("chr1", 0, 1, "new", {"GLRM_STATUS": "OK"})
    assert _rows(out)[1][3] == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(before)


def test_interrupted_first_write_leaves_nothing(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with BedWriter(tmp_path / "o.bed.gz", CAUSAL) as w:
            w.write_row("chr1", 0, 1, "x", {"GLRM_STATUS": "OK"})
            raise KeyboardInterrupt
    assert os.listdir(tmp_path) == []


def test_writer_dropped_without_close_leaves_nothing(tmp_path):
    w = BedWriter(tmp_path / "o.bed", CAUSAL)
    w.write_row("chr1", 0, 1, "x", {"GLRM_STATUS": "OK"})
    assert len(os.listdir(tmp_path)) == 1  # the temporary file
    del w
    assert os.listdir(tmp_path) == []


def test_stdout(capfdbinary):
    with BedWriter("-", SV) as w:
        w.write_row("chr1", 0, 1, "x", {"GLRM_SV_EMB": 0.5, "GLRM_STATUS": "OK"})
    lines = capfdbinary.readouterr().out.decode().splitlines()
    assert lines == ["#" + "\t".join(bed_columns(SV)), "chr1\t0\t1\tx\t0.5\t.\t0.5\t.\t.\t.\tOK"]


def test_unwritable_output(tmp_path):
    from glrm.errors import OutputError

    with pytest.raises(OutputError, match="does not exist"):
        BedWriter(tmp_path / "nope" / "o.bed", CAUSAL)
