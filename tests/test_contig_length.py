"""`--ignore-contig-length` (score-vcf, score-sv, windows): a VCF whose ##contig lengths differ from the
FASTA's is refused by default with one line naming the file, the contig and the flag; with the flag the run
goes on, warns once naming the contigs, and writes every record in input order. Records past the FASTA
contig's end get REF_MISMATCH (never dropped, never scored on N padding).

Data: `ecoli_sim_svs.sites.vcf` is SURVIVOR's simulated E. coli set with only the FORMAT/sample columns cut
(its ##contig says 4,740,704, the simulated genome; the FASTA has 4,639,675); `ecoli_sim_svs.fixed.vcf` is the
same file with the ##contig length edited by hand (tests/data/README.md). Past-end cases use a small synthetic
FASTA written here."""

from __future__ import annotations

import gzip
import logging
import pathlib
import random

import pytest

from glrm.cli.main import main
from glrm.errors import InputError
from glrm.io.fasta import Fasta
from glrm.io.vcf import VcfReader
from glrm.variants import Status
from glrm.windows import allele_windows

pytestmark = pytest.mark.usefixtures("one_thread")

HERE = pathlib.Path(__file__).parent
DATA = HERE / "data"
ECOLI = str(DATA / "ecoli_slice.fa.gz")
SITES = str(DATA / "ecoli_sim_svs.sites.vcf")      # SURVIVOR's ##contig length (4,740,704)
FIXED = str(DATA / "ecoli_sim_svs.fixed.vcf")      # the same records, ##contig length edited to the FASTA's
HYENA = str(HERE / "fixtures" / "hyenadna-hf-tiny")
FLAG = "--ignore-contig-length"


def body(path) -> list[str]:
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt") as fh:
        return [x.rstrip("\n") for x in fh if not x.startswith("#")]


def header(path) -> list[str]:
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt") as fh:
        return [x.rstrip("\n") for x in fh if x.startswith("##")]


def status_of(line: str) -> str:
    return next(kv for kv in line.split("\t")[7].split(";") if kv.startswith("GLRM_STATUS="))[12:]


# --- the strict default ------------------------------------------------------------------------------------

@pytest.mark.parametrize("command", [
    ["score-sv", "-m", HYENA, "--window", "512"],
    ["score-vcf", "-m", HYENA, "--window", "512"],
    ["windows", "--window", "512", "--sv"],
])
def test_strict_default_refuses_naming_file_contig_and_flag(tmp_path, capsys, command):
    out = tmp_path / "out.vcf"
    code = main([*command, "-i", SITES, "-f", ECOLI, "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("glrm: error: ")
    assert "ecoli_sim_svs.sites.vcf" in err and "##contig K-12-MG1655 has length 4,740,704" in err
    assert "ecoli_slice.fa.gz has 4,639,675" in err and FLAG in err
    assert list(tmp_path.iterdir()) == []          # no output, no temporary file


# --- with the flag: the SURVIVOR set ---------------------------------------------------------------------

def test_score_sv_survivor_set_with_the_flag(tmp_path, caplog, capsys):
    out, bed = tmp_path / "sim.vcf.gz", tmp_path / "sim.bed"
    with caplog.at_level(logging.WARNING):
        code = main(["score-sv", "-i", SITES, "-f", ECOLI, "-m", HYENA, "--window", "512", "-o", str(out),
                     "--bed", str(bed), "--max-sv-len", "100000", FLAG])
    assert code == 0
    warnings = [r.getMessage() for r in caplog.records if "##contig lengths differ" in r.getMessage()]
    assert len(warnings) == 1 and "\n" not in warnings[0]
    assert "K-12-MG1655 (4,740,704 in the VCF, 4,639,675 in the FASTA)" in warnings[0]
    assert "ecoli_sim_svs.sites.vcf" in warnings[0] and FLAG in warnings[0]
    assert "80 records" in capsys.readouterr().err

    got, src = body(out), body(SITES)
    assert len(got) == len(src) == 80
    for g, s in zip(got, src, strict=True):        # every record, in input order, as written but INFO
        gc, sc = g.split("\t"), s.split("\t")
        assert gc[:7] == sc[:7] and gc[7].startswith(sc[7] + ";")
        assert status_of(g) == ("UNSUPPORTED_ALLELE" if sc[4] == "<INS>" else "OK"), sc[2]
    hdr = header(out)
    assert "##contig=<ID=K-12-MG1655,length=4740704>" in hdr          # the header is kept as written
    (cmd,) = [x for x in hdr if x.startswith("##glrmCommand=")]
    assert FLAG in cmd.split(";")[0].split()                           # the override is on record
    assert len(body(bed)) == 80

    # the hand-edited ##contig length is no longer needed: same records, same values
    fixed = tmp_path / "fixed.vcf.gz"
    assert main(["score-sv", "-i", FIXED, "-f", ECOLI, "-m", HYENA, "--window", "512", "-o", str(fixed),
                 "--max-sv-len", "100000", "-q"]) == 0
    assert body(fixed) == got


def test_windows_and_score_vcf_take_the_flag(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        assert main(["windows", "-i", SITES, "-f", ECOLI, "-w", "256", "--sv", "-o", str(tmp_path / "a.tsv"),
                     FLAG]) == 0
    assert "K-12-MG1655" in caplog.text and FLAG in caplog.text
    assert main(["windows", "-i", FIXED, "-f", ECOLI, "-w", "256", "--sv", "-o", str(tmp_path / "b.tsv")]) \
        == 0
    assert (tmp_path / "a.tsv").read_text() == (tmp_path / "b.tsv").read_text()

    out = tmp_path / "v.vcf"
    assert main(["score-vcf", "-i", SITES, "-f", ECOLI, "-m", HYENA, "--window", "256", "-o", str(out), "-q",
                 FLAG]) == 0
    got = body(out)
    assert [x.split("\t")[2] for x in got] == [x.split("\t")[2] for x in body(SITES)]
    assert {status_of(x) for x in got} == {"UNSUPPORTED_ALLELE"}      # all symbolic: score-sv's job


# --- records past the FASTA contig's end -----------------------------------------------------------------

SEQ = "".join(random.Random(7).choice("ACGT") for _ in range(400))
PAST_HEADER = ("##fileformat=VCFv4.2\n##contig=<ID=c1,length=500>\n"
               '##INFO=<ID=END,Number=1,Type=Integer,Description="End">\n'
               '##INFO=<ID=SVTYPE,Number=1,Type=String,Description="Type">\n'
               "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
# (id, POS, REF, ALT, INFO, status under score-sv, status under score-vcf)
PAST = [
    ("in_snv", 200, SEQ[199], "T" if SEQ[199] != "T" else "G", ".", "OK", "OK"),
    ("past_snv", 450, "A", "G", ".", "REF_MISMATCH", "REF_MISMATCH"),
    ("past_n_snv", 450, "N", "G", ".", "REF_MISMATCH", "REF_MISMATCH"),
    ("in_del", 100, "N", "<DEL>", "SVTYPE=DEL;END=110", "OK", "UNSUPPORTED_ALLELE"),
    ("crossing_del", 380, "N", "<DEL>", "SVTYPE=DEL;END=420", "REF_MISMATCH", "UNSUPPORTED_ALLELE"),
    ("past_inv", 450, "N", "<INV>", "SVTYPE=INV;END=470", "REF_MISMATCH", "UNSUPPORTED_ALLELE"),
    ("past_bnd", 450, "N", "N[c1:100[", ".", "REF_MISMATCH", "UNSUPPORTED_ALLELE"),
    ("mate_past", 200, SEQ[199], SEQ[199] + "[c1:450[", ".", "REF_MISMATCH", "UNSUPPORTED_ALLELE"),
    ("mate_telomere", 200, SEQ[199], SEQ[199] + "[c1:401[", ".", "OK", "UNSUPPORTED_ALLELE"),  # N+1
]


@pytest.fixture
def past_end(tmp_path):
    fa = tmp_path / "c1.fa"
    fa.write_text(">c1\n" + "\n".join(SEQ[i:i + 60] for i in range(0, len(SEQ), 60)) + "\n")
    vcf = tmp_path / "past.vcf"
    vcf.write_text(PAST_HEADER + "".join(f"c1\t{pos}\t{rid}\t{ref}\t{alt}\t.\t.\t{info}\n"
                                         for rid, pos, ref, alt, info, _, _ in PAST))
    return str(fa), str(vcf)


def test_windows_of_records_past_the_end(past_end):
    fasta, vcf = past_end
    with Fasta(fasta) as fa, VcfReader(vcf) as reader:
        for rec, (rid, *_, sv_status, vcf_status) in zip(reader, PAST, strict=True):
            (allele,) = rec.alleles
            for sv, want in ((True, sv_status), (False, vcf_status)):
                wins = allele_windows(fa, allele, 32, sv, max_n_frac=1.0)
                assert {w.status.value for w in wins} == {want}, (rid, sv)
                if want == "REF_MISMATCH":
                    assert "past the end of c1 (400 bp in the FASTA)" in wins[0].note, rid
    crossing = next(r for r in VcfReader(vcf) if r.id == "crossing_del").alleles[0]
    with Fasta(fasta) as fa:
        (w, *_) = allele_windows(fa, crossing, 32, True)
    assert w.status is Status.REF_MISMATCH and "<DEL> at c1:380-420 runs past the end" in w.note


@pytest.mark.parametrize("command,column", [("score-sv", 5), ("score-vcf", 6)])
def test_records_past_the_end_get_a_status_and_stay(tmp_path, capsys, past_end, command, column):
    fasta, vcf = past_end
    out = tmp_path / "out.vcf"
    assert main([command, "-i", vcf, "-f", fasta, "-m", HYENA, "--window", "32", "--max-n-frac", "1",
                 "-o", str(out), FLAG]) == 0
    got = body(out)
    assert [x.split("\t")[2] for x in got] == [p[0] for p in PAST]     # every record, in order
    assert [status_of(x) for x in got] == [p[column] for p in PAST]
    err = capsys.readouterr().err
    assert "first REF_MISMATCH" in err and "past the end of c1" in err


# --- the check itself ------------------------------------------------------------------------------------

def test_check_contigs_names_every_differing_contig(tmp_path, caplog):
    fa_path = tmp_path / "two.fa"
    fa_path.write_text(">a\n" + "A" * 50 + "\n>b\n" + "C" * 60 + "\n>c\n" + "G" * 70 + "\n")
    lengths = {"a": 55, "chrb": 66, "c": 70, "d": 10, "e": None}   # chrb resolves to b; d is not in the FASTA
    with Fasta(fa_path) as fa:
        with pytest.raises(InputError) as exc:
            fa.check_contigs(lengths, "x.vcf")
        msg = str(exc.value)
        assert msg.startswith("x.vcf: ##contig a has length 55 but ") and "(and 1 more contigs)" in msg
        assert FLAG in msg and "\n" not in msg
        with caplog.at_level(logging.WARNING):
            fa.check_contigs(lengths, "x.vcf", ignore_length=True)
            fa.check_contigs({"a": 50, "b": None}, "y.vcf", ignore_length=True)   # nothing differs: silent
    (rec,) = caplog.records
    text = rec.getMessage()
    assert "a (55 in the VCF, 50 in the FASTA)" in text
    assert "chrb (FASTA: b) (66 in the VCF, 60 in the FASTA)" in text
    assert " c (" not in text and "d (" not in text and "\n" not in text
