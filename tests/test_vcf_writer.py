"""The VCF annotator (glrm.io.vcf_writer): header lines, byte-exact records, output types, atomicity."""

from __future__ import annotations

import gzip
import math
import os
import shutil
import subprocess
import sys

import cyvcf2
import pysam
import pytest

from glrm.errors import OutputError
from glrm.io.fields import (
    GLRM_EMB,
    GLRM_LLR,
    GLRM_STATUS,
    STATUS_VALUES,
    format_value,
    score_sv_fields,
    score_vcf_fields,
)
from glrm.io.vcf_writer import VcfAnnotator, annotate_line, build_header, check_output, infer_out_type

HEADER = [
    "##fileformat=VCFv4.2",
    "##contig=<ID=chr1,length=5000>",
    "##contig=<ID=chr2,length=5000>",
    '##FILTER=<ID=q10,Description="Quality below 10">',
    '##FILTER=<ID=s50,Description="Less than 50% of samples">',
    '##INFO=<ID=DP,Number=1,Type=Integer,Description="Depth">',
    '##INFO=<ID=DB,Number=0,Type=Flag,Description="dbSNP">',
    '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
    '##FORMAT=<ID=GQ,Number=1,Type=Integer,Description="Genotype quality">',
    "##source=handwritten, with odd spacing  and a trailing space ",
    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tNA1\tNA2",
]
RECORDS = [
    "chr1\t100\trs1\tA\tC,G\t50.00\tq10;s50\tDP=14;DB\tGT:GQ\t0/1:48\t1|2:07",
    "chr1\t200\t.\tAT\tA\t1e+03\tPASS\t.\tGT\t./.\t0/0",
    "chr1\t300\tid3;id3b\tG\t<DEL>\t.\t.\tDB\tGT:GQ\t1/1:.\t.",
    "chr2\t50\t.\tC\tT\t3.14159265\t.\tDP=0\tGT:GQ\t0|1:99\t0|0:1",
]
META = {"ID": "hyenadna-tiny", "Checkpoint": "/models/a b,c/model.safetensors", "SHA256": "ab12",
        "Window": 1024, "RC": "mean", "Precision": "fp32"}
FIELDS = score_vcf_fields(causal=True)


def _values(i: int, n_alt: int, scale: float = 1.0) -> dict:
    return {
        "GLRM_LLR": [scale * (i + 0.5 + j) for j in range(n_alt)],
        "GLRM_CLLR": [scale * (i + 0.25 + j) for j in range(n_alt)],
        "GLRM_MLR": [None] * n_alt,
        "GLRM_EMB": [1e-7 * (j + 1) for j in range(n_alt)],
        "GLRM_STATUS": ["OK"] * (n_alt - 1) + ["TOO_LONG"],
    }


def _n_alt(raw: str) -> int:
    return raw.split("\t")[4].count(",") + 1


def _write(path, out_type=None, records=RECORDS, header=HEADER, scale=1.0, **kw):
    with VcfAnnotator(path, header, FIELDS, out_type=out_type, model_meta=META, command="glrm score-vcf x",
                      **kw) as w:
        for i, raw in enumerate(records):
            w.write(raw, _values(i, _n_alt(raw), scale))
    return w


def _text(path) -> list[str]:
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt") as fh:
        return fh.read().split("\n")[:-1]


def _glrm_entries(info: str) -> dict[str, str]:
    return dict(e.split("=", 1) for e in info.split(";") if e.startswith("GLRM_"))


# ---- header ---------------------------------------------------------------------------------------


def test_header_adds_each_line_once_right_before_chrom(tmp_path):
    out = tmp_path / "o.vcf"
    _write(out)
    lines = _text(out)
    header = [x for x in lines if x.startswith("#")]
    assert header[: len(HEADER) - 1] == HEADER[:-1]  # the input header, unchanged and in order
    assert header[-1] == HEADER[-1]
    added = header[len(HEADER) - 1 : -1]
    assert added[:5] == [f.header_line() for f in FIELDS]
    assert added[5] == "##glrmVersion=0.1.0"
    assert added[6].startswith("##glrmCommand=glrm score-vcf x; Date=")
    assert added[7] == ('##glrm_model=<ID=hyenadna-tiny,Checkpoint="/models/a b,c/model.safetensors",'
                        "SHA256=ab12,Window=1024,RC=mean,Precision=fp32>")
    assert len(added) == 8
    for f in FIELDS:
        assert sum(x.startswith(f"##INFO=<ID={f.id},") for x in header) == 1


def test_no_version_omits_version_and_command_but_keeps_model(tmp_path):
    out = tmp_path / "o.vcf"
    _write(out, version_line=False)
    header = [x for x in _text(out) if x.startswith("##")]
    assert not any(x.startswith(("##glrmVersion", "##glrmCommand")) for x in header)
    assert sum(x.startswith("##glrm_model=") for x in header) == 1


def test_header_needs_chrom_line():
    with pytest.raises(ValueError, match="#CHROM"):
        build_header(HEADER[:-1], FIELDS)


def test_info_descriptions_and_statuses():
    for f in FIELDS + score_sv_fields():
        assert f.number == "A" and f.description and '"' not in f.description
    assert [f.id for f in FIELDS] == ["GLRM_LLR", "GLRM_CLLR", "GLRM_MLR", "GLRM_EMB", "GLRM_STATUS"]
    assert [f.id for f in score_vcf_fields(causal=False)] == ["GLRM_MLR", "GLRM_EMB", "GLRM_STATUS"]
    # the VCF header declares every requested key, whatever the model kind
    assert [f.id for f in score_vcf_fields()] == [f.id for f in FIELDS]
    assert [f.type for f in score_sv_fields()] == ["Float", "Float", "Integer", "Integer", "String"]
    assert STATUS_VALUES == ("OK", "REF_MISMATCH", "N_CONTENT", "TOO_LONG", "UNSUPPORTED_ALLELE",
                             "UNKNOWN_CONTIG")


# ---- records --------------------------------------------------------------------------------------


def test_records_are_byte_identical_apart_from_info(tmp_path):
    out = tmp_path / "o.vcf"
    _write(out)
    body = [x for x in _text(out) if not x.startswith("#")]
    assert len(body) == len(RECORDS)
    for raw, got in zip(RECORDS, body, strict=True):
        a, b = raw.split("\t"), got.split("\t")
        assert len(a) == len(b)
        assert a[:7] == b[:7] and a[8:] == b[8:]  # QUAL 50.00, FILTER lists, sample columns: untouched
        old = [] if a[7] == "." else a[7].split(";")
        new = b[7].split(";")
        assert new[: len(old)] == old  # existing INFO entries stay first, as written
        assert [e.split("=")[0] for e in new[len(old):]] == [f.id for f in FIELDS]
    first = _glrm_entries(body[0].split("\t")[7])
    assert first == {"GLRM_LLR": "0.5,1.5", "GLRM_CLLR": "0.25,1.25", "GLRM_MLR": ".,.",
                     "GLRM_EMB": "1e-07,2e-07", "GLRM_STATUS": "OK,TOO_LONG"}


def test_missing_values_and_formatting():
    raw = RECORDS[0]
    line = annotate_line(raw, FIELDS, {"GLRM_LLR": [float("nan"), -0.000123456789],
                                       "GLRM_STATUS": ["UNSUPPORTED_ALLELE", "OK"]})
    assert _glrm_entries(line.split("\t")[7]) == {
        "GLRM_LLR": ".,-0.000123457", "GLRM_CLLR": ".,.", "GLRM_MLR": ".,.", "GLRM_EMB": ".,.",
        "GLRM_STATUS": "UNSUPPORTED_ALLELE,OK"}
    assert format_value(GLRM_LLR, 123456789.0) == "1.23457e+08"
    assert format_value(score_sv_fields()[2], 768) == "768"
    with pytest.raises(ValueError):
        format_value(score_sv_fields()[2], 1.5)
    with pytest.raises(ValueError):
        format_value(GLRM_STATUS, "OK,OK")
    with pytest.raises(ValueError):
        format_value(GLRM_EMB, "0.5")


def test_values_must_match_the_alt_count_and_declared_keys():
    with pytest.raises(ValueError, match="one per ALT"):
        annotate_line(RECORDS[0], FIELDS, {"GLRM_LLR": [1.0]})
    with pytest.raises(ValueError, match="one per ALT"):
        annotate_line(RECORDS[0], FIELDS, {"GLRM_STATUS": "OK"})
    with pytest.raises(ValueError, match="not declared"):
        annotate_line(RECORDS[0], FIELDS, {"GLRM_SV_EMB": [1.0, 2.0]})
    with pytest.raises(ValueError, match="8"):
        annotate_line("chr1\t1\t.\tA\tC", FIELDS, {})


def test_crlf_line_keeps_its_carriage_return():
    raw = "chr1\t5\t.\tA\tC\t.\t.\tDP=3\r"
    assert annotate_line(raw, [GLRM_STATUS], {"GLRM_STATUS": ["OK"]}) == (
        "chr1\t5\t.\tA\tC\t.\t.\tDP=3;GLRM_STATUS=OK\r")


def test_reannotation_replaces_values_in_place(tmp_path):
    first, second = tmp_path / "1.vcf", tmp_path / "2.vcf"
    _write(first)
    lines = _text(first)
    header = [x for x in lines if x.startswith("#")]
    body = [x for x in lines if not x.startswith("#")]
    # an old definition of GLRM_EMB from somewhere else must be replaced, not duplicated
    header.insert(3, '##INFO=<ID=GLRM_EMB,Number=1,Type=String,Description="old">')
    meta2 = dict(META, ID="caduceus-ps")
    with VcfAnnotator(second, header, FIELDS, model_meta=meta2, command="glrm again") as w:
        for i, raw in enumerate(body):
            w.write(raw, _values(i, _n_alt(raw), scale=-2.0))
    lines2 = _text(second)
    header2 = [x for x in lines2 if x.startswith("#")]
    for f in FIELDS:
        assert sum(x.startswith(f"##INFO=<ID={f.id},") for x in header2) == 1
    assert header2[3] == GLRM_EMB.header_line()  # replaced where it stood
    models = [x for x in header2 if x.startswith("##glrm_model=")]
    assert len(models) == 1 and "ID=caduceus-ps" in models[0]
    assert sum(x.startswith("##glrmCommand=") for x in header2) == 2  # history kept, like bcftools
    body2 = [x for x in lines2 if not x.startswith("#")]
    for old, new in zip(body, body2, strict=True):
        o, n = old.split("\t"), new.split("\t")
        assert o[:7] == n[:7] and o[8:] == n[8:]
        assert [e.split("=")[0] for e in o[7].split(";")] == [e.split("=")[0] for e in n[7].split(";")]
    assert _glrm_entries(body2[0].split("\t")[7])["GLRM_LLR"] == "-1,-3"


# ---- parsers accept the output --------------------------------------------------------------------


def _check_parsed(path):
    got = list(pysam.VariantFile(str(path)))
    assert len(got) == len(RECORDS)
    assert [r.pos for r in got] == [100, 200, 300, 50]
    assert got[0].info["GLRM_LLR"] == pytest.approx((0.5, 1.5))
    assert got[0].info["GLRM_CLLR"] == pytest.approx((0.25, 1.25))
    assert got[0].info["GLRM_MLR"] == (None, None)
    assert got[0].info["GLRM_STATUS"] == ("OK", "TOO_LONG")
    assert got[0].info["DP"] == 14 and got[0].info["DB"] is True
    assert got[0].filter.keys() == ["q10", "s50"]
    assert got[0].samples["NA2"]["GT"] == (1, 2) and got[0].samples["NA2"]["GQ"] == 7
    assert got[0].qual == 50.0 and got[1].qual == 1000.0
    assert got[2].id == "id3;id3b" and got[2].alts == ("<DEL>",)
    assert pysam.VariantFile(str(path)).header.info["GLRM_STATUS"].number == "A"
    return got


def test_output_parses_with_pysam_and_cyvcf2(tmp_path):
    out = tmp_path / "o.vcf"
    _write(out)
    _check_parsed(out)
    recs = list(cyvcf2.VCF(str(out)))
    assert len(recs) == 4
    llr = recs[3].INFO.get("GLRM_LLR")
    assert llr == pytest.approx(3.5)
    assert recs[0].INFO.get("GLRM_STATUS") == "OK,TOO_LONG"
    model = [r for r in pysam.VariantFile(str(out)).header.records if r.key == "glrm_model"]
    assert len(model) == 1
    assert dict(model[0].items()) == {
        "ID": "hyenadna-tiny", "Checkpoint": '"/models/a b,c/model.safetensors"', "SHA256": "ab12",
        "Window": "1024", "RC": "mean", "Precision": "fp32"}


def test_output_passes_bundled_bcftools(tmp_path):
    """pysam ships bcftools' code: `bcftools view` must read the output back record for record."""
    import pysam.bcftools

    out = tmp_path / "o.vcf"
    _write(out)
    text = pysam.bcftools.view("-H", str(out))
    assert len(text.splitlines()) == len(RECORDS)
    assert text.splitlines()[0].split("\t")[7] == (
        "DP=14;DB;GLRM_LLR=0.5,1.5;GLRM_CLLR=0.25,1.25;GLRM_MLR=.,.;GLRM_EMB=1e-07,2e-07;"
        "GLRM_STATUS=OK,TOO_LONG")


@pytest.mark.skipif(shutil.which("bcftools") is None, reason="bcftools not on PATH")
def test_output_passes_bcftools_view(tmp_path):
    out = tmp_path / "o.vcf"
    _write(out)
    res = subprocess.run(["bcftools", "view", "-H", str(out)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert len(res.stdout.splitlines()) == len(RECORDS)


# ---- output types ---------------------------------------------------------------------------------


def test_infer_out_type():
    assert [infer_out_type(x) for x in ("a.vcf", "a.vcf.gz", "a.vcf.bgz", "a.bcf", "a.txt", "-")] == [
        "v", "z", "z", "b", "v", "v"]


def test_bgzf_output_with_tabix_index(tmp_path):
    out = tmp_path / "o.vcf.gz"
    _write(out)
    assert out.read_bytes()[:4] == b"\x1f\x8b\x08\x04"  # gzip with the BGZF extra field
    assert (tmp_path / "o.vcf.gz.tbi").exists() and not (tmp_path / "o.vcf.gz.csi").exists()
    _check_parsed(out)
    tbx = pysam.TabixFile(str(out))
    assert list(tbx.fetch("chr1", 150, 250)) == [
        [x for x in _text(out) if x.startswith("chr1\t200\t")][0]]
    assert len(list(tbx.fetch("chr2"))) == 1


def test_long_contig_gets_csi_index(tmp_path):
    header = list(HEADER)
    header[1] = "##contig=<ID=chr1,length=900000000>"
    records = list(RECORDS)
    records[2] = records[2].replace("chr1\t300\t", "chr1\t600000000\t")
    out = tmp_path / "o.vcf.gz"
    _write(out, header=header, records=records)
    assert (tmp_path / "o.vcf.gz.csi").exists() and not (tmp_path / "o.vcf.gz.tbi").exists()
    vf = pysam.VariantFile(str(out))
    assert [r.pos for r in vf.fetch("chr1", 599999990, 600000010)] == [600000000]


@pytest.mark.parametrize("out_type", ["b", "u"])
def test_bcf_output_with_csi_index(tmp_path, out_type):
    out = tmp_path / "o.bcf"
    _write(out, out_type=out_type)
    assert pysam.VariantFile(str(out)).format == "BCF"
    got = _check_parsed(out)
    _write(tmp_path / "o.vcf")
    # same records, same values as the VCF output
    for bcf, vcf in zip(got, pysam.VariantFile(str(tmp_path / "o.vcf")), strict=True):
        assert (bcf.chrom, bcf.pos, bcf.id, bcf.ref, bcf.alts, bcf.qual) == (
            vcf.chrom, vcf.pos, vcf.id, vcf.ref, vcf.alts, vcf.qual)
        assert list(bcf.info) == list(vcf.info)
        for key in vcf.info:
            assert bcf.info[key] == vcf.info[key]
        assert list(bcf.filter) == list(vcf.filter)
        assert [dict(s) for s in bcf.samples.values()] == [dict(s) for s in vcf.samples.values()]
    if out_type == "b":
        assert (tmp_path / "o.bcf.csi").exists()
        assert [r.pos for r in pysam.VariantFile(str(out)).fetch("chr1", 250, 350)] == [300]
    else:  # uncompressed BCF cannot be indexed
        assert not (tmp_path / "o.bcf.csi").exists()
    assert got[2].alts == ("<DEL>",) and "END" not in got[2].info  # records are not edited


def test_bcf_declares_what_the_input_header_lacks(tmp_path, caplog):
    header = ["##fileformat=VCFv4.2", "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS"]
    records = ["chrX\t10\t.\tA\tG\t.\tlowq\tXX=1;FLAG\tGT:AD\t0/1:3,4"]
    out = tmp_path / "o.bcf"
    with VcfAnnotator(out, header, FIELDS) as w:
        w.write(records[0], {"GLRM_STATUS": ["OK"]})
    assert "declarations the input header lacks" in caplog.text
    rec = next(iter(pysam.VariantFile(str(out))))
    assert rec.chrom == "chrX" and rec.filter.keys() == ["lowq"]
    assert rec.info["XX"] == ("1",) and rec.info["FLAG"] is True and rec.info["GLRM_STATUS"] == ("OK",)
    assert rec.samples["S"]["GT"] == (0, 1)


def test_stdout_plain_vcf(capfdbinary):
    _write("-")
    out = capfdbinary.readouterr().out.decode().split("\n")[:-1]
    assert out[-len(RECORDS)].startswith("chr1\t100\trs1\tA\tC,G\t50.00\tq10;s50\tDP=14;DB;GLRM_LLR=0.5,1.5")
    assert out[0] == HEADER[0]


@pytest.mark.parametrize("out_type,fmt", [("z", "VCF"), ("b", "BCF")])
def test_stdout_binary(tmp_path, out_type, fmt):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import tests.test_vcf_writer as t; "
            "t._write('-', sys.argv[2])")
    res = subprocess.run([sys.executable, "-c", code, root, out_type], capture_output=True, cwd=root)
    assert res.returncode == 0, res.stderr.decode()
    assert res.stdout[:4] == b"\x1f\x8b\x08\x04"
    (tmp_path / "s.out").write_bytes(res.stdout)
    assert pysam.VariantFile(str(tmp_path / "s.out")).format == fmt
    _check_parsed(tmp_path / "s.out")
    assert os.listdir(tmp_path) == ["s.out"]


# ---- atomicity and early checks ----------------------------------------------------------------


class Boom(Exception):
    pass


@pytest.mark.parametrize("name,out_type", [("o.vcf", None), ("o.vcf.gz", None), ("o.bcf", None)])
@pytest.mark.parametrize("exc", [Boom, KeyboardInterrupt])
def test_interrupted_write_leaves_nothing(tmp_path, name, out_type, exc):
    out = tmp_path / name
    with pytest.raises(exc):
        with VcfAnnotator(out, HEADER, FIELDS, out_type=out_type) as w:
            w.write(RECORDS[0], _values(0, 2))
            raise exc()
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("name", ["o.vcf", "o.vcf.gz", "o.bcf"])
def test_existing_output_is_replaced_only_on_success(tmp_path, name):
    out = tmp_path / name
    _write(out)
    before = {p: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(Boom):
        with VcfAnnotator(out, HEADER, FIELDS) as w:
            w.write(RECORDS[0], _values(0, 2, scale=9.0))
            raise Boom()
    assert {p: p.read_bytes() for p in tmp_path.iterdir()} == before
    _write(out, scale=-1.0)
    assert sorted(tmp_path.iterdir()) == sorted(before)
    first = next(iter(pysam.VariantFile(str(out))))
    assert first.info["GLRM_LLR"] == pytest.approx((-0.5, -1.5))


def test_unsorted_input_gets_no_index(tmp_path, caplog):
    out = tmp_path / "o.vcf.gz"
    (tmp_path / "o.vcf.gz.tbi").write_bytes(b"stale")
    _write(out, records=[RECORDS[1], RECORDS[0], RECORDS[3]])
    assert "not sorted" in caplog.text
    assert os.listdir(tmp_path) == ["o.vcf.gz"]  # the stale index went too
    assert [r.pos for r in pysam.VariantFile(str(out))] == [200, 100, 50]  # input order kept


def test_contigs_in_any_grouped_order_are_indexable(tmp_path):
    out = tmp_path / "o.vcf.gz"
    _write(out, records=[RECORDS[3], RECORDS[0], RECORDS[1]])  # chr2 before chr1: tabix accepts it
    assert (tmp_path / "o.vcf.gz.tbi").exists()
    assert [r.pos for r in pysam.VariantFile(str(out)).fetch("chr1")] == [100, 200]


def test_index_failure_keeps_the_complete_file(tmp_path, caplog):
    records = list(RECORDS)
    records[3] = records[3].replace("chr2\t50\t", "chr2\t90000\t")  # past the declared length 5000
    out = tmp_path / "o.bcf"
    (tmp_path / "o.bcf.csi").write_bytes(b"stale")
    _write(out, records=records)
    assert "could not be indexed" in caplog.text and str(out) in caplog.text
    assert os.listdir(tmp_path) == ["o.bcf"]
    assert [r.pos for r in pysam.VariantFile(str(out))] == [100, 200, 300, 90000]


def test_atomic_path_commits_or_removes(tmp_path):
    from glrm.io.atomic import atomic_path

    target = tmp_path / "t.txt"
    with atomic_path(target, suffix=".txt") as tmp:
        assert tmp.parent == tmp_path and tmp.name.endswith(".txt") and tmp != target
        tmp.write_text("one")
    assert target.read_text() == "one"
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(target) as tmp:
            tmp.write_text("two")
            raise KeyboardInterrupt
    assert target.read_text() == "one" and os.listdir(tmp_path) == ["t.txt"]


def test_unwritable_outputs_fail_early(tmp_path):
    with pytest.raises(OutputError, match="does not exist"):
        check_output(tmp_path / "missing" / "o.vcf")
    with pytest.raises(OutputError, match="is a folder"):
        check_output(tmp_path)
    with pytest.raises(OutputError, match="unknown output type"):
        check_output(tmp_path / "o.vcf", "x")
    with pytest.raises(OutputError, match="does not exist"):
        VcfAnnotator(tmp_path / "missing" / "o.vcf", HEADER, FIELDS)
    assert check_output("-") == "v" and check_output(tmp_path / "o.bcf") == "b"
    if os.geteuid() != 0:  # root can write anywhere
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o555)
        with pytest.raises(OutputError, match="not writable"):
            check_output(ro / "o.vcf")


# ---- real VCFs ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["gonl_snvs.vcf.gz", "chr20_indels.vcf.gz", "colo829_manta.vcf.gz",
                                  "colo829_novobreak.vcf.gz"])
def test_round_trip_on_real_vcf(tmp_path, data_dir, name):
    with gzip.open(data_dir / name, "rt") as fh:
        lines = fh.read().split("\n")
    assert lines[-1] == ""
    header = [x for x in lines[:-1] if x.startswith("#")]
    body = [x for x in lines[:-1] if not x.startswith("#")]
    out = tmp_path / "o.vcf.gz"
    with VcfAnnotator(out, header, FIELDS, model_meta=META) as w:
        for i, raw in enumerate(body):
            n = _n_alt(raw)
            w.write(raw, {"GLRM_LLR": [i * 0.25 - 3] * n, "GLRM_STATUS": ["OK"] * n})
    got = _text(out)
    got_header = [x for x in got if x.startswith("#")]
    got_body = [x for x in got if not x.startswith("#")]
    # Number=A keys need VCF 4.1: the VCFv4.0 input (chr20_indels) is declared VCFv4.2, the others keep theirs
    want_format = {"chr20_indels.vcf.gz": "##fileformat=VCFv4.2"}.get(name, header[0])
    assert header[0].startswith("##fileformat=VCFv4.") and got_header[0] == want_format
    assert [x for x in got_header if not x.startswith(("##INFO=<ID=GLRM_", "##glrm"))] == [
        want_format, *header[1:]]
    assert len(got_body) == len(body)
    for i, (raw, new) in enumerate(zip(body, got_body, strict=True)):
        a, b = raw.split("\t"), new.split("\t")
        assert a[:7] == b[:7] and a[8:] == b[8:]
        old = [] if a[7] == "." else a[7].split(";")
        assert b[7].split(";")[: len(old)] == old
        llr = _glrm_entries(b[7])["GLRM_LLR"].split(",")
        assert all(math.isclose(float(v), i * 0.25 - 3) for v in llr)
    # readers agree, and the index serves region queries
    vf = pysam.VariantFile(str(out))
    recs = list(vf)
    assert len(recs) == len(body)
    first = recs[0]
    assert len(list(vf.fetch(first.chrom, first.start, first.start + 1))) >= 1
    assert len(list(cyvcf2.VCF(str(out)))) == len(body)


@pytest.mark.parametrize("name", ["colo829_manta.vcf.gz", "colo829_gridss.vcf.gz", "colo829_novobreak.vcf.gz",
                                  "chr20_indels.vcf.gz"])
def test_real_vcf_as_bcf_keeps_records(tmp_path, data_dir, name):
    with gzip.open(data_dir / name, "rt") as fh:
        lines = fh.read().split("\n")[:-1]
    header = [x for x in lines if x.startswith("#")]
    body = [x for x in lines if not x.startswith("#")]
    for out in (tmp_path / "o.vcf.gz", tmp_path / "o.bcf"):
        with VcfAnnotator(out, header, score_sv_fields()) as w:
            for raw in body:
                n = _n_alt(raw)
                w.write(raw, {"GLRM_SV_EMB": [0.5] * n, "GLRM_SV_REACH": [12] * n, "GLRM_STATUS": ["OK"] * n})
    vcf = list(pysam.VariantFile(str(tmp_path / "o.vcf.gz")))
    bcf = list(pysam.VariantFile(str(tmp_path / "o.bcf")))
    assert len(vcf) == len(bcf) == len(body)
    for a, b in zip(vcf, bcf, strict=True):
        assert (a.chrom, a.pos, a.id, a.ref, a.alts, a.stop) == (b.chrom, b.pos, b.id, b.ref, b.alts, b.stop)
        assert list(a.info) == list(b.info)  # no INFO/END or other key appears in the BCF
        assert b.info["GLRM_SV_REACH"] == (12,) * len(b.alts)
    assert (tmp_path / "o.bcf.csi").exists()


@pytest.mark.parametrize("name", ["gonl_snvs.vcf.gz", "colo829_gridss.vcf.gz", "ecoli_sim_svs.fixed.vcf"])
def test_reader_to_writer_keeps_every_input_byte(tmp_path, data_dir, name):
    """Through glrm.io.vcf: removing glrm's header lines and INFO entries gives back the input exactly."""
    from glrm.io.vcf import VcfReader

    src = data_dir / name
    out = tmp_path / "o.vcf"
    with VcfReader(str(src)) as reader, VcfAnnotator(out, reader.header_lines, FIELDS, model_meta=META) as w:
        for rec in reader:
            n = len(rec.alleles)  # the writer refuses a count that disagrees with the ALT column
            w.write(rec.raw, {"GLRM_EMB": [0.125] * n, "GLRM_STATUS": ["N_CONTENT"] * n})
    with (gzip.open(src, "rb") if name.endswith(".gz") else open(src, "rb")) as fh:
        raw_in = fh.read()
    kept = []
    for line in out.read_bytes().split(b"\n")[:-1]:
        if line.startswith((b"##INFO=<ID=GLRM_", b"##glrm")):
            continue
        if not line.startswith(b"#"):
            cols = line.split(b"\t")
            info = [e for e in cols[7].split(b";") if not e.startswith(b"GLRM_")]
            cols[7] = b";".join(info) or b"."
            line = b"\t".join(cols)
        kept.append(line + b"\n")
    assert b"".join(kept) == raw_in


@pytest.mark.parametrize("version,written", [
    ("VCFv4.0", "VCFv4.2"),      # no Number=A before VCF 4.1: the output is declared VCFv4.2
    ("VCFv3.3", "VCFv4.2"),
    ("VCFv4.1", "VCFv4.1"),      # already allow Number=A: kept as written
    ("VCFv4.2", "VCFv4.2"),
    ("VCFv4.3", "VCFv4.3"),
])
def test_old_fileformat_is_declared_vcf42(tmp_path, version, written):
    header = [f"##fileformat={version}", *HEADER[1:]]
    out = tmp_path / "o.vcf"
    _write(out, header=header)
    lines = _text(out)
    got_header = [x for x in lines if x.startswith("#")]
    assert lines[0] == f"##fileformat={written}"
    assert sum(x.startswith("##fileformat=") for x in got_header) == 1
    # every other input header line unchanged and in order, glrm's lines before #CHROM
    assert got_header[1:len(HEADER) - 1] == HEADER[1:-1] and got_header[-1] == HEADER[-1]
    body = [x for x in lines if not x.startswith("#")]
    assert len(body) == len(RECORDS)
    for raw, got in zip(RECORDS, body, strict=True):     # records: only glrm's INFO entries appended
        a, b = raw.split("\t"), got.split("\t")
        assert a[:7] == b[:7] and a[8:] == b[8:]
        old = [] if a[7] == "." else a[7].split(";")
        new = b[7].split(";")
        assert new[:len(old)] == old and [e.split("=")[0] for e in new[len(old):]] == [f.id for f in FIELDS]
    assert build_header(header, FIELDS, version_line=False)[0] == f"##fileformat={written}"
    with pysam.VariantFile(str(out)) as vf:      # and a VCF 4.2 reader takes the output
        assert len(list(vf)) == len(RECORDS) and vf.header.info["GLRM_CLLR"].number == "A"
