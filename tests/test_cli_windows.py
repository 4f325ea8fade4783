"""`glrm windows` end to end on the real test data: rows checked against windows built here from
Fasta.fetch slices and the spec's formulas; header-only input, unknown contigs, wrong assembly, atomic
output."""

from __future__ import annotations

import gzip
import os
import pathlib
import subprocess
import sys

import pytest
from helpers import canonical_allele

from glrm.cli.main import main
from glrm.io.fasta import Fasta
from glrm.windows import normalize

DATA = pathlib.Path(__file__).parent / "data"
FASTA = str(DATA / "chr20_slice.fa.gz")
INDELS = str(DATA / "chr20_indels.vcf.gz")
MANTA = str(DATA / "colo829_manta.vcf.gz")
COLUMNS = ["chrom", "pos", "id", "ref", "alt", "status", "bp", "ref_window", "alt_window"]
HEADER = ("##fileformat=VCFv4.2\n##contig=<ID=20,length=63025520>\n"
          "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")


@pytest.fixture(scope="module")
def fa():
    with Fasta(FASTA) as f:
        yield f


def run(args):
    return main(["windows", *args])


def read_tsv(path):
    lines = pathlib.Path(path).read_text().splitlines()
    return lines[0].split("\t"), [line.split("\t") for line in lines[1:]]


def vcf_records(path):
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt") as fh:
        return [line.rstrip("\n").split("\t") for line in fh if not line.startswith("#")]


def test_indels_rows_match_hand_built_windows(tmp_path, fa):
    out = tmp_path / "w.tsv"
    W = 64
    assert run(["-i", INDELS, "-f", FASTA, "--window", str(W), "-o", str(out)]) == 0
    header, rows = read_tsv(out)
    assert header == COLUMNS
    records = vcf_records(INDELS)
    expected_keys = [(r[0], r[1], r[2], r[3], alt) for r in records for alt in r[4].split(",")]
    assert [tuple(row[:5]) for row in rows] == expected_keys          # one row per ALT, input order
    statuses, moved = {}, 0
    for _chrom, pos, _id, ref, alt, status, bp, rw, aw in rows:
        statuses[status] = statuses.get(status, 0) + 1
        assert bp == "0"
        # windows are built from the left-aligned, trimmed allele (brute-force normaliser in helpers)
        s, ref, alt = canonical_allele(fa, "20", int(pos) - 1, normalize(ref), normalize(alt))
        moved += s != int(pos) - 1
        n, m, h = len(ref), len(alt), W // 2
        if max(n, m) > W // 4:
            assert (status, rw, aw) == ("TOO_LONG", ".", ".")
            continue
        assert status == "OK"
        assert rw == fa.fetch("20", s - h, s - h + W)
        assert aw == fa.fetch("20", s - h, s) + alt + fa.fetch("20", s + n, s + n + W - h - m)
    assert statuses["OK"] >= 190 and moved == 80         # 80 of the 194 indels are not left-aligned


def test_sv_rules_and_score_vcf_rules_on_manta(tmp_path, fa, capsys):
    out = tmp_path / "sv.tsv"
    W, h = 256, 128
    assert run(["-i", MANTA, "-f", FASTA, "--window", str(W), "--sv", "-o", str(out)]) == 0
    _, rows = read_tsv(out)
    by_pos = {}
    for row in rows:
        by_pos.setdefault((row[1], row[2]), []).append(row)
    # <DEL> 20:13160727 END=13164099: breakpoint mode, two rows
    (b1, b2) = by_pos[("13160727", "MantaDEL:282317:0:1:0:0:0")]
    s, e = 13160727, 13164099
    assert (b1[5], b1[6], b2[5], b2[6]) == ("OK", "1", "OK", "2")
    assert b1[7] == fa.fetch("20", s - h, s - h + W) and b2[7] == fa.fetch("20", e - h, e - h + W)
    assert b1[8] == b2[8] == fa.fetch("20", s - h, s) + fa.fetch("20", e, e + W - h)
    # BND with mates on chromosomes the chr20 FASTA lacks: one row each, bp 1, no windows
    bnds = [r for r in rows if "[" in r[4] or "]" in r[4]]
    assert len(bnds) == 6 and all(r[5:] == ["UNKNOWN_CONTIG", "1", ".", "."] for r in bnds)
    # the spelled-out 328 bp deletions: breakpoint mode at W = 256
    spelled = [r for r in rows if r[1] == "48395962"]
    assert [r[6] for r in spelled] == ["1", "2", "1", "2"] and {r[5] for r in spelled} == {"OK"}
    assert len(rows) == 4 * 2 + 6 + 2 * 2

    # without --sv: score-vcf rules
    assert run(["-i", MANTA, "-f", FASTA, "--window", str(W)]) == 0
    text = capsys.readouterr().out
    rows = [line.split("\t") for line in text.splitlines()[1:]]
    assert len(rows) == 12
    sv_alts = {r[5] for r in rows if r[4].startswith("<") or "[" in r[4] or "]" in r[4]}
    assert sv_alts == {"UNSUPPORTED_ALLELE"}
    assert {r[5] for r in rows if r[1] == "48395962"} == {"TOO_LONG"}
    assert all(r[6] == "0" and r[7] == r[8] == "." for r in rows)


def test_header_only_vcf_gives_header_only_tsv(tmp_path, capsys):
    vcf = tmp_path / "empty.vcf"
    vcf.write_text(HEADER)
    out = tmp_path / "empty.tsv"
    assert run(["-i", str(vcf), "-f", FASTA, "--window", "64", "-o", str(out)]) == 0
    assert out.read_text() == "\t".join(COLUMNS) + "\n"
    assert run(["-i", str(vcf), "-f", FASTA, "--window", "64", "-o", "-"]) == 0
    assert capsys.readouterr().out == "\t".join(COLUMNS) + "\n"


def test_unknown_contig_is_a_row_status(tmp_path, fa, capsys):
    vcf = tmp_path / "mixed.vcf"
    ref = fa.fetch("20", 421807, 421808)
    vcf.write_text(HEADER + f"7\t100\tx\tA\tG\t.\t.\t.\nchr20\t421808\ty\t{ref}\tT,<DEL>\t.\t.\t.\n")
    assert run(["-i", str(vcf), "-f", FASTA, "--window", "16"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split("\t") == ["7", "100", "x", "A", "G", "UNKNOWN_CONTIG", "0", ".", "."]
    snv = lines[2].split("\t")                                         # chr20 resolves to the FASTA's 20
    assert snv[5] == "OK" and snv[7] == fa.fetch("20", 421807 - 8, 421807 + 8)
    assert snv[8] == fa.fetch("20", 421807 - 8, 421807) + "T" + fa.fetch("20", 421808, 421815)
    assert lines[3].split("\t")[4:7] == ["<DEL>", "UNSUPPORTED_ALLELE", "0"]


def test_wrong_assembly_and_bad_options_fail_cleanly(tmp_path, capsys):
    vcf = tmp_path / "hg.vcf"
    vcf.write_text(HEADER.replace("63025520", "64444167") + "20\t100\t.\tA\tG\t.\t.\t.\n")
    out = tmp_path / "o.tsv"
    assert run(["-i", str(vcf), "-f", FASTA, "--window", "64", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "wrong assembly" in err and len(err.strip().splitlines()) == 1
    assert not out.exists() and list(tmp_path.iterdir()) == [vcf]
    assert run(["-i", INDELS, "-f", FASTA, "--window", "4", "-o", str(out)]) == 2
    assert "--window" in capsys.readouterr().err and not out.exists()
    assert run(["-i", INDELS, "-f", FASTA, "--window", "64", "--max-n-frac", "1.5"]) == 2
    assert "--max-n-frac" in capsys.readouterr().err


def test_bad_record_leaves_no_output(tmp_path, capsys):
    vcf = tmp_path / "bad.vcf"
    vcf.write_text(HEADER + "20\t421808\t.\tA\tACCA\t.\t.\t.\n20\tnotapos\t.\tA\tG\t.\t.\t.\n")
    out = tmp_path / "o.tsv"
    out.write_text("old\n")
    assert run(["-i", str(vcf), "-f", FASTA, "--window", "64", "-o", str(out)]) == 2
    assert "bad.vcf" in capsys.readouterr().err
    assert out.read_text() == "old\n"                                  # untouched, no temp file left
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.vcf", "o.tsv"]


def test_regions(tmp_path):
    out = tmp_path / "r.tsv"
    assert run(["-i", INDELS, "-f", FASTA, "--window", "64", "-r", "20:1000000-2000000", "-o", str(out)]) == 0
    _, rows = read_tsv(out)
    expected = [r[1] for r in vcf_records(INDELS) if 1_000_000 <= int(r[1]) <= 2_000_000]
    assert expected and [r[1] for r in rows] == expected


def test_installed_command_and_light_import(tmp_path):
    out = tmp_path / "a.tsv"
    assert run(["-i", MANTA, "-f", FASTA, "--window", "128", "--sv", "-o", str(out)]) == 0
    exe = pathlib.Path(sys.executable).parent / "glrm"
    done = subprocess.run([str(exe), "windows", "-i", MANTA, "-f", FASTA, "--window", "128", "--sv"],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "NO_COLOR": "1"})
    assert done.returncode == 0, done.stderr
    assert done.stdout == out.read_text()
    code = ("import sys, glrm.cli.windows; "
            "print(sorted({'numpy', 'torch', 'pysam', 'cyvcf2'} & set(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "[]"


def test_closed_stdout_pipe_is_not_an_error():
    exe = pathlib.Path(sys.executable).parent / "glrm"
    proc = subprocess.Popen([str(exe), "windows", "-i", INDELS, "-f", FASTA, "--window", "100000",
                             "--max-n-frac", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout.read(100).startswith(b"chrom\tpos\t")
    proc.stdout.close()                                                # like `| head -c 100`
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0 and "Traceback" not in err and "Error" not in err


def test_regions_file(tmp_path):
    bed = tmp_path / "r.bed"
    bed.write_text("20\t999999\t2000000\n")
    out = tmp_path / "r.tsv"
    assert run(["-i", INDELS, "-f", FASTA, "--window", "64", "-R", str(bed), "-o", str(out)]) == 0
    _, rows = read_tsv(out)
    expected = [r[1] for r in vcf_records(INDELS) if 1_000_000 <= int(r[1]) <= 2_000_000]
    assert [r[1] for r in rows] == expected


def test_output_naming_the_input_is_refused(tmp_path, capsys):
    import shutil

    from glrm.cli.main import main

    vcf = tmp_path / "same.vcf"
    shutil.copy(DATA / "ecoli_sim_svs.fixed.vcf", vcf)
    before = vcf.read_bytes()
    rc = main(["windows", "-i", str(vcf), "-f", str(DATA / "ecoli_slice.fa.gz"), "--window", "64",
               "-o", str(vcf)])
    assert rc != 0
    assert "is an input file" in capsys.readouterr().err
    assert vcf.read_bytes() == before
