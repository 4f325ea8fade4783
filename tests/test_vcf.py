"""glrm.io.vcf: streaming VCF/BCF input on the real test data, regions, and every kind of bad input."""

from __future__ import annotations

import gzip
import io
import shutil
import subprocess
import sys
from collections import Counter

import pysam
import pytest

from glrm.errors import InputError
from glrm.io.fasta import Fasta
from glrm.io.vcf import VcfReader
from glrm.variants import Kind

INDELS = "chr20_indels.vcf.gz"


def _lines(path) -> list[str]:
    """The file's lines as text, newline removed (independent of the reader under test)."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as fh:
        return [b.decode("utf-8", "surrogateescape").rstrip("\r\n") for b in fh]


def _records(path) -> list[str]:
    return [x for x in _lines(path) if x and not x.startswith("#")]


def _read(path, **kw):
    with VcfReader(str(path), **kw) as r:
        return list(r)


def _write(path, header: list[str], records: list[str], compress=None):
    data = ("\n".join(header + records) + "\n").encode()
    if compress == "gzip":
        path.write_bytes(gzip.compress(data))
    elif compress == "bgzf":
        plain = path.with_name(path.name + ".plain")
        plain.write_bytes(data)
        pysam.tabix_compress(str(plain), str(path), force=True)
    else:
        path.write_bytes(data)
    return path


def _make_bcf(src, dest):
    with pysam.VariantFile(str(src)) as vin, pysam.VariantFile(str(dest), "wb", header=vin.header) as vout:
        for rec in vin:
            vout.write(rec)
    pysam.tabix_index(str(dest), preset="vcf", csi=True)
    return dest


HEADER = [
    "##fileformat=VCFv4.2",
    "##contig=<ID=20,length=63025520>",
    '##INFO=<ID=END,Number=1,Type=Integer,Description="End">',
    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO",
]


# ---- real data ----------------
@pytest.mark.parametrize(
    "name, n, samples",
    [
        (INDELS, 194, []),
        ("gonl_snvs.vcf.gz", 7, []),
        ("colo829_manta.vcf.gz", 12, ["COLO829R", "COLO829T"]),
        (
            "colo829_gridss.vcf.gz",
            12,
            ["COLO829v003R_dedup.realigned.bam", "COLO829v003T_dedup.realigned.bam"],
        ),
        ("colo829_novobreak.vcf.gz", 15, ["SPIKEIN"]),
        ("ecoli_sim_svs.fixed.vcf", 80, []),
    ],
)
def test_real_files_raw_lines_are_exact(data_dir, name, n, samples):
    path = data_dir / name
    lines = _lines(path)
    n_header = sum(1 for x in lines if x.startswith("#"))
    with VcfReader(str(path)) as r:
        assert r.header_lines == lines[:n_header]
        assert r.header_lines[-1].startswith("#CHROM") and r.samples == samples and not r.is_bcf
        recs = list(r)
    assert len(recs) == n
    for i, rec in enumerate(recs):
        assert rec.raw == lines[n_header + i]  # byte for byte, QUAL like 991.76 / 5198.33 untouched
        assert rec.line == n_header + i + 1 and rec.index == i
        f = rec.raw.split("\t")
        assert (rec.chrom, rec.pos, rec.id, rec.ref, rec.alts) == (
            f[0],
            int(f[1]),
            f[2],
            f[3],
            f[4].split(","),
        )
        assert len(rec.alleles) == len(rec.alts)
        assert all(a.record_index == i and a.pos == rec.pos for a in rec.alleles)


def test_real_kinds(data_dir):
    def kinds(name):
        return Counter(a.kind for r in _read(data_dir / name) for a in r.alleles)

    assert kinds(INDELS) == {Kind.INS: 89, Kind.DEL: 105}
    assert kinds("gonl_snvs.vcf.gz") == {Kind.SNV: 7}
    assert kinds("colo829_manta.vcf.gz") == {Kind.BND: 6, Kind.SV_SYMBOLIC: 4, Kind.SV_SEQUENCE: 2}
    assert kinds("colo829_gridss.vcf.gz") == {Kind.BND: 12}
    assert kinds("colo829_novobreak.vcf.gz") == {Kind.SV_SYMBOLIC: 15}
    alts = Counter(a.alt for r in _read(data_dir / "ecoli_sim_svs.fixed.vcf") for a in r.alleles)
    assert alts == {"<DEL>": 19, "<DUP>": 20, "<INS>": 21, "<INV>": 20}


def test_real_sv_fields(data_dir):
    manta = _read(data_dir / "colo829_manta.vcf.gz")
    first = manta[0].alleles[0]  # 20:13160727 <DEL> END=13164099 SVLEN=-3372 CIPOS=0,3
    assert (first.kind, first.sv.end, first.sv.svlen, first.sv.svtype) == (
        Kind.SV_SYMBOLIC,
        13164099,
        -3372,
        "DEL",
    )
    assert first.sv.cipos == (0, 3)
    bnds = [a for r in manta for a in r.alleles if a.kind is Kind.BND]
    assert {a.bnd.mate_chrom for a in bnds} == {"17", "16", "15", "7", "12"}
    assert all(a.sv.mateid for a in bnds)
    gridss = [a for r in _read(data_dir / "colo829_gridss.vcf.gz") for a in r.alleles]
    assert Counter(a.bnd.form for a in gridss) == {"t[p[": 6, "]p]t": 5, "[p[t": 1}
    # each same-contig GRIDSS breakend's mate is another record of the file, pointing back
    by_pos = {(a.chrom, a.pos - 1): a for a in gridss}
    for a in gridss:
        if a.bnd.mate_chrom == "20":
            mate = by_pos[("20", a.bnd.mate_pos0)]
            assert mate.bnd.mate_pos0 == a.pos - 1
    novo = _read(data_dir / "colo829_novobreak.vcf.gz")
    assert all(r.ref == "." and r.id == "N" for r in novo)


def test_real_vcf_against_real_fasta(data_dir):
    with Fasta(data_dir / "chr20_slice.fa.gz") as fa, VcfReader(str(data_dir / INDELS)) as r:
        fa.check_contigs(r.contigs, r.path)  # GRCh37 lengths agree
        assert r.contigs["20"] == 63_025_520
        for rec in r:
            assert fa.fetch(rec.chrom, rec.pos - 1, rec.pos - 1 + len(rec.ref)) == rec.ref.upper()
    with (
        Fasta(data_dir / "ecoli_slice.fa.gz") as fa,
        VcfReader(str(data_dir / "ecoli_sim_svs.fixed.vcf")) as r,
    ):
        fa.check_contigs(r.contigs, r.path)


def test_wrong_assembly_ecoli_contig_length(tmp_path, data_dir):
    """The simulated VCF's own ##contig length (4,740,704) against the real genome (4,639,675)."""
    fixed = _lines(data_dir / "ecoli_sim_svs.fixed.vcf")
    wrong = [x.replace("length=4639675", "length=4740704") for x in fixed]
    path = tmp_path / "wrong.vcf"
    path.write_text("\n".join(wrong) + "\n")
    with Fasta(data_dir / "ecoli_slice.fa.gz") as fa, VcfReader(str(path)) as r:
        with pytest.raises(
            InputError,
            match=r"wrong\.vcf: ##contig K-12-MG1655 has length 4,740,704 but "
            r".*ecoli_slice\.fa\.gz has 4,639,675 - wrong assembly\?",
        ):
            fa.check_contigs(r.contigs, r.path)


def test_ecoli_format_without_samples_is_explained(data_dir):
    path = data_dir / "ecoli_sim_svs.vcf"
    with pytest.raises(InputError) as err:
        VcfReader(str(path))
    msg = str(err.value)
    assert msg.startswith(f"{path}: line 18: the #CHROM line names a FORMAT column but no sample column")
    assert f"`cut -f1-8 {path}`" in msg and "add a sample name" in msg and "\n" not in msg


def test_reiteration_and_header_only(tmp_path, data_dir):
    with VcfReader(str(data_dir / "gonl_snvs.vcf.gz")) as r:
        first = [x.raw for x in r]
        assert [x.raw for x in r] == first
    path = _write(tmp_path / "h.vcf", HEADER, [])
    with VcfReader(str(path)) as r:
        assert list(r) == [] and r.header_lines == HEADER and r.contigs == {"20": 63_025_520}


def test_raw_keeps_formatting_utf8_and_latin1(tmp_path):
    recs = [
        "20\t100\trs1\tA\tC\t50.00\tPASS\tNOTE=caf\u00e9;X=1.500",
        "20\t200\t.\tG\tT,GA\t1e+03\t.\t.",
    ]
    path = _write(tmp_path / "x.vcf", HEADER, recs)
    assert [r.raw for r in _read(path)] == recs
    latin = tmp_path / "latin.vcf"
    body = "\n".join(HEADER).encode() + b"\n20\t300\t.\tA\tC\t.\t.\tNOTE=caf\xe9\n"
    latin.write_bytes(body)
    (rec,) = _read(latin)
    assert rec.raw.encode("utf-8", "surrogateescape") == b"20\t300\t.\tA\tC\t.\t.\tNOTE=caf\xe9"


def test_crlf_and_blank_lines(tmp_path):
    body = ("\r\n".join(HEADER[:2] + [""] + HEADER[2:]) + "\r\n20\t100\t.\tA\tC\t.\t.\t.\r\n\r\n").encode()
    (tmp_path / "crlf.vcf").write_bytes(body)
    (rec,) = _read(tmp_path / "crlf.vcf")
    assert rec.raw == "20\t100\t.\tA\tC\t.\t.\t." and rec.alts == ["C"] and rec.line == 6


def test_multiallelic_record(tmp_path):
    path = _write(tmp_path / "m.vcf", HEADER, ["20\t1000\tm1\tA\tC,ACG,<DEL>,*,G]20:5000]\t.\t.\tEND=1500"])
    (rec,) = _read(path)
    assert [a.kind for a in rec.alleles] == [Kind.SNV, Kind.INS, Kind.SV_SYMBOLIC, Kind.UNSUPPORTED, Kind.BND]
    assert [a.alt_index for a in rec.alleles] == [0, 1, 2, 3, 4] and rec.alleles[2].sv.end == 1500


# ---- compression, BCF, stdin ----------------
def test_plain_gzip_streams_but_regions_need_bgzf(tmp_path, data_dir):
    plain = tmp_path / "plain.vcf.gz"
    plain.write_bytes(gzip.compress(gzip.decompress((data_dir / INDELS).read_bytes())))
    assert [r.raw for r in _read(plain)] == [r.raw for r in _read(data_dir / INDELS)]
    with pytest.raises(
        InputError,
        match=r"plain gzip; run `zcat .*plain\.vcf\.gz > .*plain\.vcf && bgzip -f "
        r".*plain\.vcf && tabix -p vcf .*plain\.vcf\.gz`",
    ):
        VcfReader(str(plain), regions="20")
    text = tmp_path / "t.vcf"
    text.write_bytes(gzip.decompress((data_dir / INDELS).read_bytes()))
    assert len(_read(text)) == 194
    with pytest.raises(
        InputError, match=r"not compressed; run `bgzip .*t\.vcf && tabix -p vcf .*t\.vcf\.gz`"
    ):
        VcfReader(str(text), regions_file=str(tmp_path / "any.bed"))


def test_bcf_input_and_regions(tmp_path, data_dir):
    bcf = _make_bcf(data_dir / INDELS, tmp_path / "x.bcf")
    text = _read(data_dir / INDELS)
    with VcfReader(str(bcf)) as r:
        assert r.is_bcf and r.header_lines[-1].startswith("#CHROM") and r.contigs["20"] == 63_025_520
        recs = list(r)
    assert [(x.chrom, x.pos, x.ref, x.alts) for x in recs] == [(x.chrom, x.pos, x.ref, x.alts) for x in text]
    assert all(x.line is None for x in recs)
    with VcfReader(str(bcf)) as r:
        assert len(list(r)) == len(list(r)) == 194  # iterable more than once
    assert [[a.kind for a in x.alleles] for x in recs] == [[a.kind for a in x.alleles] for x in text]
    region = "20:1000000-2000000,20:421808"
    got = [x.pos for x in _read(bcf, regions=region)]
    assert (
        got
        == [x.pos for x in _read(data_dir / INDELS, regions=region)]
        == [421808, 1292033, 1340527, 1600125, 1728298]
    )
    (tmp_path / "x.bcf.csi").unlink()
    with pytest.raises(InputError, match=r"needs? a \.csi index; run `bcftools index .*x\.bcf`"):
        VcfReader(str(bcf), regions="20")


def test_stdin_text_through_a_real_pipe(data_dir):
    code = (
        "from glrm.io.vcf import VcfReader\n"
        "r = VcfReader('-')\n"
        "print(sum(1 for _ in r), len(r.header_lines))\n"
    )
    data = (data_dir / INDELS).read_bytes()
    out = subprocess.run([sys.executable, "-c", code], input=data, capture_output=True, check=True)
    assert out.stdout.split() == [b"194", b"96"]
    out = subprocess.run(
        [sys.executable, "-c", code], input=gzip.decompress(data), capture_output=True, check=True
    )
    assert out.stdout.split() == [b"194", b"96"]


def test_stdin_bcf_and_empty(monkeypatch, tmp_path, data_dir):
    bcf = _make_bcf(data_dir / INDELS, tmp_path / "x.bcf")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(bcf.read_bytes())))
    with VcfReader("-") as r:
        assert r.is_bcf and len(list(r)) == 194
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"")))
    with pytest.raises(InputError, match=r"stdin \('-'\): no input"):
        VcfReader("-")
    with pytest.raises(InputError, match="not stdin"):
        VcfReader("-", regions="20")


# ---- regions ----------------
def _manual(path, spans):
    """Records whose REF span [POS-1, POS-1+len(REF)) overlaps any 0-based half-open span (no INFO/END)."""
    out = []
    for line in _records(path):
        f = line.split("\t")
        s0, e0 = int(f[1]) - 1, int(f[1]) - 1 + len(f[3])
        if any(c == f[0] and s0 < (e if e is not None else 1 << 62) and e0 > s for c, s, e in spans):
            out.append(line)
    return out


@pytest.mark.parametrize(
    "regions, spans",
    [
        ("20:1000000-2000000", [("20", 999_999, 2_000_000)]),
        ("20:421808", [("20", 421_807, 421_808)]),
        ("20:421809", [("20", 421_808, 421_809)]),  # the base after 20:421808's 1-base REF
        ("20:30000000-", [("20", 29_999_999, None)]),
        ("20", [("20", 0, None)]),
        # out of order, overlapping, and a contig the file lacks: each record once, in file order
        (
            "20:5000000-9000000,20:1000000-2000000,20:1500000-6000000,7:1-100",
            [("20", 4_999_999, 9_000_000), ("20", 999_999, 2_000_000), ("20", 1_499_999, 6_000_000)],
        ),
        # nested spans
        (
            "20:1000000-9000000,20:2000000-3000000,20:4000000-5000000",
            [("20", 999_999, 9_000_000)],
        ),
    ],
)
def test_regions_match_a_manual_filter(data_dir, regions, spans):
    path = data_dir / INDELS
    got = [r.raw for r in _read(path, regions=regions)]
    assert got == _manual(path, spans)
    assert [r.index for r in _read(path, regions=regions)] == list(range(len(got)))


def test_region_contig_alias(data_dir, caplog):
    path = data_dir / INDELS
    assert [r.raw for r in _read(path, regions="chr20:1000000-2000000")] == [
        r.raw for r in _read(path, regions="20:1000000-2000000")
    ]
    assert len(_read(path, regions="chr20:1000000-2000000")) == 4
    with caplog.at_level("WARNING"):
        assert _read(path, regions="chr7,7:1-5") == []
    assert "no records on chr7, 7" in caplog.text


def test_regions_on_deletion_spans(data_dir):
    """A 3-base REF is found from a region that covers only its last base (tabix overlap, not POS)."""
    path = data_dir / INDELS
    recs = _records(path)
    long_del = next(x for x in recs if len(x.split("\t")[3]) >= 3)
    chrom, pos, ref = long_del.split("\t")[0], int(long_del.split("\t")[1]), long_del.split("\t")[3]
    last = pos + len(ref) - 1
    got = [r.raw for r in _read(path, regions=f"{chrom}:{last}")]
    assert long_del in got


def test_regions_file_bed(tmp_path, data_dir):
    path = data_dir / INDELS
    bed = tmp_path / "r.bed"
    bed.write_text(
        "track name=x\n# comment\n"
        "20\t10000000\t20000000\n20\t421807\t421808\n20\t15000000\t25000000\n\n20\t5\t5\nY\t0\t100\n"
    )
    got = [r.raw for r in _read(path, regions_file=str(bed))]
    assert got == _manual(
        path, [("20", 10_000_000, 20_000_000), ("20", 421_807, 421_808), ("20", 15_000_000, 25_000_000)]
    )
    assert len(got) > 20
    # BED is 0-based: [421808, 421809) does not touch the 1-base REF at POS 421808
    bed.write_text("20\t421808\t421809\n")
    assert [r.pos for r in _read(path, regions_file=str(bed))] == []
    bed.write_text("20\tten\t20\n")
    with pytest.raises(InputError, match=r"r\.bed: line 1: not a BED line"):
        VcfReader(str(path), regions_file=str(bed))
    with pytest.raises(InputError, match="regions file not found"):
        VcfReader(str(path), regions_file=str(tmp_path / "none.bed"))


def test_sv_spanning_two_regions_comes_once(data_dir):
    """Manta <DEL> 20:14988824 END=15108817 overlaps both spans through INFO/END; it is returned once."""
    path = data_dir / "colo829_manta.vcf.gz"
    got = _read(path, regions="20:14990000-14990010,20:15100000-15100010")
    ids = [r.id for r in got]
    assert ids.count("MantaDEL:282494:0:1:0:0:0") == 1
    assert [r.pos for r in got] == sorted(r.pos for r in got)


def test_region_errors(tmp_path, data_dir):
    path = data_dir / INDELS
    for bad in ["20:abc", "20:0-5", "20:10-5", "20,,21"]:
        with pytest.raises(InputError, match="--regions"):
            VcfReader(str(path), regions=bad)
    with pytest.raises(InputError, match="not both"):
        VcfReader(str(path), regions="20", regions_file="x.bed")
    shutil.copy(path, tmp_path / "noindex.vcf.gz")
    with pytest.raises(InputError, match=r"need an index .*`tabix -p vcf .*noindex\.vcf\.gz`"):
        VcfReader(str(tmp_path / "noindex.vcf.gz"), regions="20")


# ---- bad input ----------------
def test_truncated_bgzf_is_caught_up_front(tmp_path, data_dir):
    data = (data_dir / INDELS).read_bytes()
    (tmp_path / "cut.vcf.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(
        InputError, match=r"cut\.vcf\.gz: the BGZF file has no end-of-file block, so it is truncated"
    ):
        VcfReader(str(tmp_path / "cut.vcf.gz"))


def test_truncated_plain_gzip_fails_while_streaming(tmp_path, data_dir):
    data = gzip.compress(gzip.decompress((data_dir / INDELS).read_bytes()))
    (tmp_path / "cut.vcf.gz").write_bytes(data[: len(data) * 3 // 4])
    with VcfReader(str(tmp_path / "cut.vcf.gz")) as r:
        with pytest.raises(
            InputError,
            match=r"cut\.vcf\.gz: after line \d+: the compressed data is corrupt or "
            "truncated",
        ):
            list(r)


def test_garbage_and_empty(tmp_path, data_dir):
    (tmp_path / "g.vcf").write_bytes(bytes(range(256)) * 10)
    with pytest.raises(InputError, match=r"g\.vcf: not a VCF"):
        VcfReader(str(tmp_path / "g.vcf"))
    (tmp_path / "t.vcf").write_text("hello\nworld\n")
    with pytest.raises(InputError, match=r"t\.vcf: not a VCF"):
        VcfReader(str(tmp_path / "t.vcf"))
    with pytest.raises(InputError, match="not a VCF"):
        VcfReader(str(data_dir / "chr20_slice.fa.gz"))  # a FASTA given as the VCF
    (tmp_path / "e.vcf").write_text("")
    with pytest.raises(InputError, match=r"e\.vcf: is empty"):
        VcfReader(str(tmp_path / "e.vcf"))
    with pytest.raises(InputError, match="VCF file not found"):
        VcfReader(str(tmp_path / "missing.vcf"))
    (tmp_path / "h.vcf").write_text("##fileformat=VCFv4.2\n##source=x\n")
    with pytest.raises(InputError, match=r"h\.vcf: no '#CHROM' header line"):
        VcfReader(str(tmp_path / "h.vcf"))


@pytest.mark.parametrize(
    "line, message",
    [
        ("20\tabc\t.\tA\tC\t.\t.\t.", "POS 'abc' is not a whole number"),
        ("20 100 . A C . . .", "at least 8 tab-separated columns, this line has 1"),
        ("20\t100\t.\tA\tC\t.\t.", "at least 8 tab-separated columns, this line has 7"),
        ("20\t100\t.\tA\tC\t.\t.\t.\tGT\t0/1", "the record has 10 columns but the #CHROM line has 8"),
        ("20\t100\t.\t\tC\t.\t.\t.", "REF is empty"),
        ("20\t100\t.\tA\t\t.\t.\t.", "ALT is empty"),
        ("\t100\t.\tA\tC\t.\t.\t.", "CHROM is empty"),
        (
            "20\t100\t.\tA\t<DEL>\t.\t.\tEND=12x",
            "INFO/END=12x is not a list of whole numbers; fix the INFO column",
        ),
        ("#20\t100\t.\tA\tC\t.\t.\t.", "a header line ('#...') after the #CHROM line"),
    ],
)
def test_malformed_record_names_file_and_line(tmp_path, line, message):
    good = "20\t50\t.\tA\tC\t.\t.\t."
    path = _write(tmp_path / "bad.vcf.gz", HEADER, [good, good, line, good], compress="bgzf")
    with VcfReader(str(path)) as r:
        it = iter(r)
        assert next(it).line == 5 and next(it).line == 6
        with pytest.raises(InputError) as err:
            next(it)
    msg = str(err.value)
    assert msg.startswith(f"{path}: line 7: ") and message in msg and "\n" not in msg


@pytest.mark.parametrize(
    "chrom_line, message",
    [
        ("#CHROM POS ID REF ALT QUAL FILTER INFO", "space-separated"),
        ("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tINFO", "must start with the 8 columns"),
        (
            "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFMT\tS1",
            "column 9 of the #CHROM line must be FORMAT",
        ),
    ],
)
def test_bad_chrom_line(tmp_path, chrom_line, message):
    path = _write(tmp_path / "x.vcf", HEADER[:-1] + [chrom_line], [])
    with pytest.raises(InputError, match=message):
        VcfReader(str(path))


def test_record_before_chrom_line_and_bad_header(tmp_path):
    path = _write(tmp_path / "x.vcf", HEADER[:-1] + ["20\t1\t.\tA\tC\t.\t.\t."], [])
    with pytest.raises(InputError, match=r"x\.vcf: line 4: found a record before the #CHROM header line"):
        VcfReader(str(path))
    path = _write(
        tmp_path / "y.vcf", ["##fileformat=VCFv4.2", HEADER[-1] + "\tFORMAT\tS1\tS1"], []
    )  # same name twice
    with pytest.raises(InputError, match=r"y\.vcf: htslib cannot parse the VCF header"):
        VcfReader(str(path))


def test_parse_regions_and_merge_units():
    from glrm.io.regions import merge_spans, parse_regions

    assert parse_regions("20:5-,X,20:7,20:1-10") == [
        ("20", 4, None),
        ("X", 0, None),
        ("20", 6, 7),
        ("20", 0, 10),
    ]
    assert parse_regions("HLA-A*01:01", known_contigs=["HLA-A*01:01"]) == [("HLA-A*01:01", 0, None)]
    assert parse_regions("HLA-A*01:01:5-9") == [("HLA-A*01:01", 4, 9)]
    merged = merge_spans(
        [("20", 10, 20), ("20", 0, 5), ("20", 5, 8), ("20", 15, 30), ("21", 3, None), ("21", 9, 12)]
    )
    assert merged == {"20": [(0, 8), (10, 30)], "21": [(3, None)]}


def test_pos_with_non_ascii_digit_is_a_clean_error(tmp_path):
    vcf = tmp_path / "sup.vcf"
    vcf.write_text("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
                   "20\t1\u00b2\t.\tA\tC\t.\t.\t.\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"line 3: POS .* is not a whole number"):
        list(VcfReader(str(vcf)))
