"""Real SV caller conventions beyond COLO829 chr20: DELLY 0.6.8, Sniffles 1.0.8, Pindel 0.2.5b6, BreakDancer
1.4.5, Manta 1.1.1 (tests/data/callers/, whole files copied byte for byte; see tests/data/README.md).

Two parts:
1. every record of each file through `glrm.io.vcf.VcfReader`: kinds, END, SVLEN (either sign), CIPOS/CIEND,
   IMPRECISE, BND mates, exactly as the files hold them;
2. `glrm score-sv` end to end on each file: **real caller records, synthetic sequence**. The calls are
   whole-genome GRCh37/hg19 and the project has no matching FASTA outside chr20, so the test writes one:
   contigs named and sized as the Sniffles file's ##contig lines (GRCh37 names `1`, `Y`, ...; the
   `chr1`-style files reach them through glrm's contig aliases; Manta's GRCh38 file gets its own genome with
   its ##contig names and lengths), `N` everywhere except seeded random bases
   within 3 kbp of every position the calls name (POS, END, BND mates, CHR2/END), and each record's REF
   written at its POS so the padding base matches. Statuses, record order and bytes, finite scores and
   equal windows for equivalent encodings are checked, not the score values themselves.
"""

from __future__ import annotations

import math
import pathlib
import random

import pysam
import pytest
from pysam.libcbgzf import BGZFile

from glrm.cli.main import main
from glrm.io.vcf import VcfReader
from glrm.variants import Kind

HERE = pathlib.Path(__file__).parent
CALLERS = HERE / "data" / "callers"
DELLY = CALLERS / "delly-0.6.8.vcf"
SNIFFLES = CALLERS / "COLO829.nanopore.sniffles.vcf"
PINDEL = CALLERS / "pindel-0.2.5b6.vcf"
BREAKDANCER = CALLERS / "breakdancer-1.4.5.vcf"
MANTA = CALLERS / "manta-1.1.1.vcf"
MAMBA = str(HERE / "fixtures" / "mamba-lm-tiny")
W = 256
PAD = 3000
KEYS = ("GLRM_SV_EMB", "GLRM_SV_LLR", "GLRM_SV_REACH", "GLRM_SV_BP", "GLRM_STATUS")


def body(path):
    return [x for x in path.read_text().splitlines() if x and not x.startswith("#")]


def info(cols):
    return dict(e.split("=", 1) if "=" in e else (e, None) for e in cols[7].split(";"))


def read(path):
    with VcfReader(str(path)) as r:
        return list(r)


# --- 1. parsing: what the files really contain ------------------------------------------------------------

def test_delly():
    recs = read(DELLY)
    got = [(r.chrom, r.pos, r.id, r.ref, r.alts) for r in recs]
    assert got == [("chr1", 10461, "INV00000001", "N", ["<INV>"]),
                   ("chr1", 547003, "DEL00000001", "N", ["<DEL>"]),
                   ("chr1", 589056, "DUP00000001", "N", ["<DUP>"]),
                   ("chr10", 2991435, "TRA00000001", "N", ["<TRA>"])]
    a = [r.alleles[0] for r in recs]
    assert all(x.kind is Kind.SV_SYMBOLIC and x.sv.imprecise and x.sv.svlen is None for x in a)
    assert [x.sv.svtype for x in a] == ["INV", "DEL", "DUP", "TRA"]
    assert [x.sv.end for x in a] == [249240606, 547549, 239847948, 19357517]   # TRA: END is on CHR2=chr1
    assert [x.sv.cipos for x in a] == [(-429, 429), (-298, 298), (-341, 341), (-525, 525)]
    assert [x.sv.ciend for x in a] == [x.sv.cipos for x in a]
    assert [x.sv.chr2 for x in a] == ["chr1", "chr1", "chr1", "chr1"]
    assert not DELLY.read_bytes().endswith(b"\n")      # the real file has no final newline; the reader copes


def test_sniffles():
    recs = read(SNIFFLES)
    a = [r.alleles[0] for r in recs]
    assert [r.id for r in recs] == ["0", "1", "2", "4920", "5809", "11159", "32403"]
    assert all(r.ref == "N" for r in recs)
    assert [x.alt for x in a] == ["<INS>", "<DEL>", "<DUP>", "<INVDUP>", "<DUP/INS>", "<INVDUP>",
                                  "]18:9868617]N"]
    assert [x.kind for x in a] == [Kind.SV_SYMBOLIC] * 6 + [Kind.BND]
    # Sniffles writes SVLEN > 0 for deletions too, and END = POS for insertions
    assert [x.sv.svlen for x in a] == [97, 34, 416, 1070, 328, 901, 903236176]
    assert [x.sv.end for x in a] == [749969, 756329, 808578, 24566175, 108294403, 58778314, None]
    assert a[1].sv.end - a[1].pos == a[1].sv.svlen == 34
    assert [x.sv.imprecise for x in a] == [True, False, True, False, True, True, False]
    assert all(x.sv.cipos is None and x.sv.ciend is None and x.sv.insseq is None for x in a)
    assert [x.sv.chr2 for x in a] == ["1", "1", "1", "3", "3", "6", None]
    b = a[6].bnd
    assert (b.form, b.mate_chrom, b.mate_pos0, b.bases) == ("]p]t", "18", 9868616, "N")
    with VcfReader(str(SNIFFLES)) as r:
        assert r.contigs["1"] == 249250621 and r.contigs["MT"] == 16569 and len(r.contigs) == 25


def test_pindel():
    recs = read(PINDEL)
    a = [r.alleles[0] for r in recs]
    assert [(x.chrom, x.pos, x.ref, x.alt) for x in a] == [
        ("chr1", 31163, "T", "<INS>"), ("chr1", 14355403, "A", "<DEL>"), ("chr1", 35034657, "G", "GT"),
        ("chr1", 61027526, "G", "<DUP:TANDEM>"), ("chr12", 1029142, "T", "<RPL>")]
    assert [x.kind for x in a] == [Kind.SV_SYMBOLIC, Kind.SV_SYMBOLIC, Kind.INS, Kind.SV_SYMBOLIC,
                                   Kind.SV_SYMBOLIC]
    assert [x.sv.svlen for x in a] == [5, -27, 1, 64, -40]             # Pindel: SVLEN < 0 for deletions
    assert [x.sv.end for x in a] == [31163, 14355430, 35034657, 61027590, 1029182]
    assert [x.sv.svtype for x in a] == ["INS", "DEL", "INS", "DUP:TANDEM", "RPL"]
    assert all(r.id == "." and not x.sv.imprecise for r, x in zip(recs, a, strict=True))


def test_breakdancer():
    recs = read(BREAKDANCER)
    a = [r.alleles[0] for r in recs]
    assert [r.id for r in recs] == ["line6d", "line6a", "line7", "line6b", "line6c", "line8", "line14",
                                    "line40896o", "line40896h"]
    assert all(r.ref == "N" and x.sv.imprecise for r, x in zip(recs, a, strict=True))
    bnds = [(x.id, x.bnd.form, x.bnd.mate_chrom, x.bnd.mate_pos0, x.bnd.bases) for x in a if x.bnd]
    assert bnds == [("line6d", "]p]t", "chr1", 756286, "N"), ("line6a", "t[p[", "chr1", 756286, "N"),
                    ("line6b", "]p]t", "chr1", 755737, "N"), ("line6c", "t[p[", "chr1", 755904, "N"),
                    ("line40896o", "]p]t", "chrY", 9984111, "N"),
                    ("line40896h", "t[p[", "chr1", 5728550, "N")]
    assert all(x.kind is Kind.BND for x in a if x.bnd)
    sym = {x.id: (x.alt, x.sv.end, x.sv.svlen) for x in a if not x.bnd}
    # BreakDancer: SVLEN < 0 for DEL, and the INV's SVLEN (1734) is not END - POS (1725)
    assert sym == {"line7": ("<DEL>", 756373, -351), "line8": ("<DEL>", 803169, -358),
                   "line14": ("<INV>", 1516842, 1734)}
    assert all(x.sv.svlen == -167 for x in a[:5] if x.bnd)             # SVLEN on BND records, too
    assert all(x.sv.mateid is None for x in a)                         # mates by PARID, not MATEID


def test_manta(tmp_path):
    recs = read(eight_columns(MANTA, tmp_path / "m.vcf"))     # the file as shipped is ragged (see below)
    a = [r.alleles[0] for r in recs]
    assert [x.kind for x in a] == [Kind.BND, Kind.SV_SEQUENCE, Kind.SV_SYMBOLIC, Kind.SV_SYMBOLIC,
                                   Kind.SV_SYMBOLIC, Kind.COMPLEX, Kind.DEL, Kind.BND, Kind.INS,
                                   Kind.SV_SYMBOLIC, Kind.SV_SYMBOLIC]
    assert [x.alt for x in a if x.kind is Kind.SV_SYMBOLIC] == ["<INS>", "<INV>", "<DUP:TANDEM>", "<DEL>",
                                                                 "<DUP:TANDEM>"]
    # Manta: SVLEN < 0 for deletions, none on BND; END = POS on <INS>; INV3 flag on the one-sided inversion
    assert [x.sv.svlen for x in a] == [None, -165, None, 107420339, 66, 20, -8, None, 12, -2451, 29]
    assert [x.sv.end for x in a] == [None, 1605826, 1929384, 118852083, 12139014, 48244353, 48260900, None,
                                     57595220, 57693934, 59050093]
    assert a[2].sv.insseq is None and "LEFT_SVINSSEQ=" in recs[2].raw and "RIGHT_SVINSSEQ=" in recs[2].raw
    assert ";INV3" in recs[3].raw and a[3].sv.ciend == (-18, 0)
    assert (a[0].sv.mateid, a[7].sv.mateid) == (recs[7].id, recs[0].id)
    assert (a[0].bnd.form, a[0].bnd.mate_chrom, a[0].bnd.mate_pos0) == ("]p]t", "chr15", 93292549)
    assert (a[7].bnd.form, a[7].bnd.mate_chrom, a[7].bnd.mate_pos0) == ("t[p[", "chr1", 1570956)
    assert (len(a[5].ref), len(a[5].alt)) == (5, 21)                   # CIGAR=1M20I4D: a complex allele


# --- 2. end to end on a synthetic reference -------------------------------------------------------------

GENOME_CONTIGS = ("1", "3", "6", "10", "12", "18", "Y")


def _positions(path):
    """(contig, 1-based position) of every coordinate a call names, and (contig, POS, REF)."""
    spots, refs = [], []
    for line in body(path):
        cols = line.split("\t")
        chrom, pos, ref, alt, inf = cols[0], int(cols[1]), cols[3], cols[4], info(cols)
        spots.append((chrom, pos))
        refs.append((chrom, pos, ref))
        if "END" in inf:
            spots.append((inf.get("CHR2", chrom), int(inf["END"])))
        for piece in alt.replace("[", "]").split("]"):
            if ":" in piece and not alt.startswith("<"):
                mate, mpos = piece.rsplit(":", 1)
                spots.append((mate, int(mpos)))
    return spots, refs


def build_genome(path, lengths, vcfs):
    """Write the synthetic FASTA (BGZF + .fai/.gzi): masked, random bases near the calls, REFs at POS."""
    spots, refs = [], []
    for vcf in vcfs:
        s, f = _positions(vcf)
        spots += s
        refs += f
    names = {c: c for c in lengths} | {"chr" + c: c for c in lengths} | {c[3:]: c for c in lengths}
    rng = random.Random(20)
    with BGZFile(str(path), "wb") as fh:
        for c, n in lengths.items():
            seq = bytearray(b"N") * n
            for chrom, pos in spots:
                if names.get(chrom) == c:
                    lo, hi = max(pos - PAD, 0), min(pos + PAD, n)
                    seq[lo:hi] = "".join(rng.choices("ACGT", k=hi - lo)).encode()
            for chrom, pos, ref in refs:
                if names.get(chrom) == c and ref not in (".", "N"):
                    seq[pos - 1:pos - 1 + len(ref)] = ref.encode()
            fh.write(b">" + c.encode() + b"\n" + bytes(seq) + b"\n")   # one line per contig
    pysam.faidx(str(path))
    return str(path)


def _contigs(vcf, names):
    with VcfReader(str(vcf)) as r:
        return {c: r.contigs[c] for c in names}


@pytest.fixture(scope="module")
def genome(tmp_path_factory):
    """GRCh37-shaped, for DELLY, Sniffles, Pindel and BreakDancer."""
    return build_genome(tmp_path_factory.mktemp("genome") / "grch37_synthetic.fa.gz",
                        _contigs(SNIFFLES, GENOME_CONTIGS), (DELLY, SNIFFLES, PINDEL, BREAKDANCER))


@pytest.fixture(scope="module")
def genome38(tmp_path_factory):
    """GRCh38-shaped, for Manta 1.1.1 (its ##contig lines)."""
    return build_genome(tmp_path_factory.mktemp("genome38") / "grch38_synthetic.fa.gz",
                        _contigs(MANTA, ("chr1", "chr2", "chr15", "chr16")), (MANTA,))


def score(vcf, fasta, out, *extra):
    code = main(["score-sv", "-i", str(vcf), "-f", fasta, "-m", MAMBA, "--window", str(W), "-o", str(out),
                 "-q", *extra])
    assert code == 0
    return [x.split("\t") for x in out.read_text().splitlines() if not x.startswith("#")]


EXPECTED = {
    # id (or POS for Pindel, which writes no IDs) -> status. DELLY's INV and DUP span 249 and 239 Mbp.
    DELLY: {"INV00000001": "TOO_LONG", "DEL00000001": "OK", "DUP00000001": "TOO_LONG",
            "TRA00000001": "UNSUPPORTED_ALLELE"},
    SNIFFLES: {"0": "UNSUPPORTED_ALLELE", "1": "OK", "2": "OK", "4920": "UNSUPPORTED_ALLELE",
               "5809": "UNSUPPORTED_ALLELE", "11159": "UNSUPPORTED_ALLELE", "32403": "OK"},
    PINDEL: {"31163": "UNSUPPORTED_ALLELE", "14355403": "OK", "35034657": "OK", "61027526": "OK",
             "1029142": "UNSUPPORTED_ALLELE"},
    # Manta: an <INS> with only LEFT_/RIGHT_SVINSSEQ (partly assembled) has no full sequence; the INV spans
    # 107 Mbp; the rest (BND, spelled DEL/INS/complex, <DUP:TANDEM>, <DEL>) are scored
    MANTA: {"MantaBND:103:0:1:0:0:0:0": "OK", "MantaDEL:1:45:45:2:2:0": "OK",
            "MantaINS:1:50:50:0:5:0": "UNSUPPORTED_ALLELE", "MantaINV:746:0:2:0:0:0": "TOO_LONG",
            "MantaDUP:TANDEM:798:0:1:0:0:0": "OK", "MantaINS:14002:0:0:0:0:0": "OK",
            "MantaDEL:13943:0:0:0:0:0": "OK", "MantaBND:103:0:1:0:0:0:1": "OK",
            "MantaINS:119539:0:0:0:0:0": "OK", "MantaDEL:119560:0:1:0:0:0": "OK",
            "MantaDUP:TANDEM:83323:1:1:1:0:0": "OK"},
    BREAKDANCER: {"line6d": "OK", "line6a": "OK", "line7": "OK", "line6b": "OK", "line6c": "OK",
                  "line8": "OK", "line14": "OK", "line40896o": "OK", "line40896h": "OK"},
}


@pytest.mark.parametrize("vcf", list(EXPECTED), ids=lambda p: p.name.split("-")[0].split(".")[1]
                         if p.name.startswith("COLO") else p.name.split("-")[0])
def test_score_sv_statuses(request, tmp_path, vcf):
    fasta = request.getfixturevalue("genome38" if vcf == MANTA else "genome")
    if vcf == MANTA:         # ragged as shipped (see test_manta_ragged_columns): score its 8-column copy
        vcf = eight_columns(MANTA, tmp_path / "manta.8col.vcf")
    out = score(vcf, fasta, tmp_path / "out.vcf")
    src = [x.split("\t") for x in body(vcf)]
    assert len(out) == len(src)
    for a, b in zip(src, out, strict=True):         # same records, same order, INFO extended
        assert a[:7] + a[8:] == b[:7] + b[8:]
        assert b[7].startswith(a[7] + ";GLRM_")
    want = EXPECTED[MANTA if vcf.name == "manta.8col.vcf" else vcf]
    keys = [c[2] if c[2] != "." else c[1] for c in out]
    assert keys == list(want)
    for key, cols in zip(keys, out, strict=True):
        inf = info(cols)
        assert inf["GLRM_STATUS"] == want[key], key
        if want[key] == "OK":
            assert all(math.isfinite(float(inf[k])) for k in ("GLRM_SV_EMB", "GLRM_SV_LLR")), key
            assert inf["GLRM_SV_BP"] in ("0", "1", "2")
        else:
            assert inf["GLRM_SV_EMB"] == ".", key


def eight_columns(src, dst):
    """`src` with the #CHROM line and every record cut to the 8 site columns (FORMAT and samples dropped)."""
    text = [x if x.startswith("##") else "\t".join(x.split("\t")[:8]) for x in src.read_text().splitlines()]
    dst.write_text("\n".join(text) + "\n")
    return dst


def test_manta_ragged_columns(genome38, tmp_path, capsys):
    """Manta 1.1.1's file as shipped: the #CHROM line names a sample, but 5 of its 11 records stop after INFO
    (the small spelled-out indels). score-sv refuses it in one line naming the first such line, and writes
    nothing."""
    out = tmp_path / "o.vcf"
    code = main(["score-sv", "-i", str(MANTA), "-f", genome38, "-m", MAMBA, "--window", str(W),
                 "-o", str(out)])
    err = capsys.readouterr().err
    assert code != 0 and not out.exists()
    assert "manta-1.1.1.vcf: line 80: the record has 8 columns but the #CHROM line has 10" in err
    assert [len(x.split("\t")) for x in body(MANTA)] == [10, 10, 10, 10, 10, 8, 8, 10, 8, 8, 8]


def test_unsupported_reasons(genome, tmp_path, capsys):
    """The summary names why: a <TRA> (DELLY, END on CHR2) is not an edit; a 249 Mbp INV is TOO_LONG."""
    assert main(["score-sv", "-i", str(DELLY), "-f", genome, "-m", MAMBA, "--window", str(W),
                 "-o", str(tmp_path / "d.vcf")]) == 0
    err = capsys.readouterr().err.splitlines()
    assert "glrm score-sv: 4 records, 4 ALT alleles: OK 1, TOO_LONG 2, UNSUPPORTED_ALLELE 1" in err
    line = next(x for x in err if "first UNSUPPORTED_ALLELE" in x)
    assert "line 40 ALT <TRA>" in line, line
    line = next(x for x in err if "first TOO_LONG" in x)
    assert "line 37 ALT <INV>" in line and "249230145" in line and "--max-sv-len" in line, line
    # all four are IMPRECISE; only the OK one (the DEL) counts as scored at POS/END
    assert any("1 IMPRECISE calls scored at POS/END" in x for x in err)


def test_svlen_sign_and_end_give_the_same_windows(genome, tmp_path):
    """Sniffles' DEL (END=756329, SVLEN=+34) rewritten four ways: SVLEN -34, SVLEN only (either sign)."""
    head = [x for x in SNIFFLES.read_text().splitlines() if x.startswith("#")]
    cols = next(x.split("\t") for x in body(SNIFFLES) if x.split("\t")[2] == "1")
    variants = []
    for rid, old, new in (("1", "", ""), ("neg", "SVLEN=34", "SVLEN=-34"), ("posonly", "END=756329;", ""),
                          ("neg_only", "END=756329;", "")):
        inf = cols[7].replace(old, new) if old else cols[7]
        if rid == "neg_only":
            inf = inf.replace("SVLEN=34", "SVLEN=-34")
        variants.append("\t".join(cols[:2] + [rid] + cols[3:7] + [inf] + cols[8:]))
    vcf = tmp_path / "flip.vcf"
    vcf.write_text("\n".join(head + variants) + "\n")
    out = score(vcf, genome, tmp_path / "flip.out.vcf")
    assert [c[2] for c in out] == ["1", "neg", "posonly", "neg_only"]
    vals = {tuple(info(c)[k] for k in KEYS) for c in out}
    assert len(vals) == 1 and next(iter(vals))[-1] == "OK"


def test_breakdancer_inv_uses_end_over_svlen(genome, tmp_path, caplog):
    """BreakDancer's INV: SVLEN=1734 but END - POS = 1725; END wins (spec), and the log says so."""
    lines = BREAKDANCER.read_text().splitlines()
    head = [x for x in lines if x.startswith("#")]
    rec = next(x for x in lines if "\tline14\t" in x)
    vcf = tmp_path / "inv.vcf"
    vcf.write_text("\n".join(head + [rec, rec.replace("SVLEN=1734", "SVLEN=1725").replace(
        "\tline14\t", "\tsvlen_fixed\t")]) + "\n")
    with caplog.at_level("WARNING"):
        out = score(vcf, genome, tmp_path / "inv.out.vcf")
    a, b = (info(c) for c in out)
    assert all(a[k] == b[k] for k in KEYS)
    assert any("SVLEN=1734 disagrees with END=1516842" in r.getMessage() for r in caplog.records)


def test_chr2_on_another_contig_is_not_an_edit(genome, tmp_path, capsys):
    """DELLY's DEL with its CHR2 changed to chr10: END would be on chr10, so it is not a deletion on chr1.
    The real record (CHR2=chr1, the FASTA's `1` through the alias) next to it stays OK."""
    head = [x for x in DELLY.read_text().splitlines() if x.startswith("#")]
    rec = next(x for x in body(DELLY) if "\tDEL00000001\t" in x)
    moved = rec.replace("CHR2=chr1;", "CHR2=chr10;").replace("\tDEL00000001\t", "\tmoved\t")
    vcf = tmp_path / "chr2.vcf"
    vcf.write_text("\n".join(head + [rec, moved]) + "\n")
    assert main(["score-sv", "-i", str(vcf), "-f", genome, "-m", MAMBA, "--window", str(W),
                 "-o", str(tmp_path / "chr2.out.vcf")]) == 0
    out = [x.split("\t") for x in body(tmp_path / "chr2.out.vcf")]
    assert [info(c)["GLRM_STATUS"] for c in out] == ["OK", "UNSUPPORTED_ALLELE"]
    line = next(x for x in capsys.readouterr().err.splitlines() if "first UNSUPPORTED_ALLELE" in x)
    assert "INFO/CHR2=chr10" in line and "BND" in line, line
