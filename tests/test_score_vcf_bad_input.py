"""`glrm score-vcf` on bad input, one case per test, checked as a user sees it: the GLRM_STATUS values and
'.' scores in the output, or the one-line error, its exit status, and that no output file is left behind."""

from __future__ import annotations

import gzip
import os
import pathlib
import random
import shutil
import signal
import subprocess
import sys
import time

import pysam
import pytest

from glrm.cli.main import main
from glrm.io.fasta import Fasta

HERE = pathlib.Path(__file__).parent
DATA = HERE / "data"
FASTA = str(DATA / "chr20_slice.fa.gz")
INDELS = str(DATA / "chr20_indels.vcf.gz")
HYENA = str(HERE / "fixtures" / "hyenadna-hf-tiny")
CADUCEUS = str(HERE / "fixtures" / "caduceus-ph-tiny")
HEADER = ("##fileformat=VCFv4.2\n##contig=<ID=20,length=63025520>\n"
          '##INFO=<ID=END,Number=1,Type=Integer,Description="End">\n'
          "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
W = "128"


@pytest.fixture(scope="module")
def fa():
    with Fasta(FASTA) as f:
        yield f


def score(args, model=HYENA):
    return main(["score-vcf", "-m", model, "--window", W, *args])


def records(path):
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt") as fh:
        return [line.rstrip("\n").split("\t") for line in fh if not line.startswith("#")]


def info(rec):
    return dict(e.split("=", 1) if "=" in e else (e, None) for e in rec[7].split(";"))


def base(fa, pos):
    """The FASTA base at 1-based `pos` on chr20."""
    return fa.fetch("20", pos - 1, pos)


def other(b):
    return "C" if b != "C" else "G"


def write_vcf(tmp_path, body, name="in.vcf", header=HEADER):
    p = tmp_path / name
    p.write_text(header + body)
    return str(p)


def only(tmp_path, *names):
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names)


# --- REF mismatch ------------------------------------------------------------------------------------------

def test_ref_mismatch_gets_a_status_and_the_rest_is_scored(tmp_path, fa, capsys):
    p = 421808
    bad = other(base(fa, p))
    vcf = write_vcf(tmp_path, f"20\t{p}\tbad\t{bad}\tT\t.\t.\t.\n"
                              f"20\t{p + 5}\tgood\t{base(fa, p + 5)}\t{other(base(fa, p + 5))}\t.\t.\t.\n")
    out = tmp_path / "o.vcf"
    assert score(["-i", vcf, "-f", FASTA, "-o", str(out)]) == 0
    r1, r2 = records(out)
    assert info(r1) == {"GLRM_LLR": ".", "GLRM_CLLR": ".", "GLRM_MLR": ".", "GLRM_EMB": ".",
                       "GLRM_STATUS": "REF_MISMATCH"}
    assert info(r2)["GLRM_STATUS"] == "OK" and info(r2)["GLRM_LLR"] != "."
    err = capsys.readouterr().err
    assert f"first REF_MISMATCH: {vcf}: line 5 ALT T:" in err
    assert f"FASTA has {base(fa, p)} at 20:{p}" in err


def test_ref_mismatch_error_names_file_line_allele_and_base(tmp_path, fa, capsys):
    p = 421808
    bad = other(base(fa, p))
    vcf = write_vcf(tmp_path, f"20\t{p - 3}\t.\t{base(fa, p - 3)}\tG\t.\t.\t.\n"
                              f"20\t{p}\t.\t{bad}\tT\t.\t.\t.\n")
    out = tmp_path / "o.vcf.gz"
    assert score(["-i", vcf, "-f", FASTA, "-o", str(out), "--ref-mismatch", "error"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith(f"glrm: error: {vcf}: line 6: 20:{p} REF {bad} ALT T: ")
    assert f"the FASTA has {base(fa, p)} at 20:{p}" in err and "--ref-mismatch status" in err
    only(tmp_path, "in.vcf")                                  # no VCF, index or temporary file


# --- alleles glrm cannot score -------------------------------------------------------------------------

def test_unknown_contig_gets_a_status(tmp_path, capsys):
    vcf = write_vcf(tmp_path, "7\t100\tx\tA\tG\t.\t.\t.\n")
    out = tmp_path / "o.vcf"
    assert score(["-i", vcf, "-f", FASTA, "-o", str(out)]) == 0
    (r,) = records(out)
    assert r[:7] == ["7", "100", "x", "A", "G", ".", "."]
    assert info(r) == {"GLRM_LLR": ".", "GLRM_CLLR": ".", "GLRM_MLR": ".", "GLRM_EMB": ".",
                       "GLRM_STATUS": "UNKNOWN_CONTIG"}
    assert "first UNKNOWN_CONTIG" in capsys.readouterr().err


def test_symbolic_allele_points_to_score_sv(tmp_path, fa, capsys):
    p = 421808
    vcf = write_vcf(tmp_path, f"20\t{p}\tsv1\t{base(fa, p)}\t<DEL>\t.\t.\tEND={p + 300}\n")
    out, bed = tmp_path / "o.vcf", tmp_path / "o.bed"
    assert score(["-i", vcf, "-f", FASTA, "-o", str(out), "--bed", str(bed)]) == 0
    (r,) = records(out)
    assert info(r) == {"END": str(p + 300), "GLRM_LLR": ".", "GLRM_CLLR": ".", "GLRM_MLR": ".",
                       "GLRM_EMB": ".", "GLRM_STATUS": "UNSUPPORTED_ALLELE"}
    assert bed.read_text().splitlines()[1].split("\t") == [
        "20", str(p - 1), str(p), "sv1", ".", ".", ".", ".", ".", ".", "UNSUPPORTED_ALLELE"]
    err = capsys.readouterr().err
    assert "1 symbolic/breakend ALT alleles got UNSUPPORTED_ALLELE; score them with `glrm score-sv`" in err


def test_star_and_missing_alt_alleles(tmp_path, fa):
    p = 421808
    b = base(fa, p)
    vcf = write_vcf(tmp_path, f"20\t{p}\t.\t{b}\t{other(b)},*\t.\t.\t.\n20\t{p + 2}\t.\t{base(fa, p + 2)}"
                              "\t.\t.\t.\t.\n")
    out = tmp_path / "o.vcf"
    assert score(["-i", vcf, "-f", FASTA, "-o", str(out)]) == 0
    r1, r2 = records(out)
    assert info(r1)["GLRM_STATUS"] == "OK,UNSUPPORTED_ALLELE"
    for key in ("GLRM_LLR", "GLRM_CLLR"):
        llr = info(r1)[key].split(",")
        assert llr[0] != "." and llr[1] == ".", key
    assert r2[4] == "." and info(r2) == {"GLRM_LLR": ".", "GLRM_CLLR": ".", "GLRM_MLR": ".", "GLRM_EMB": ".",
                                         "GLRM_STATUS": "UNSUPPORTED_ALLELE"}


# --- windows with N -----------------------------------------------------------------------------------------

def _small_fasta(tmp_path, seq, name="t1"):
    path = tmp_path / "small.fa"
    path.write_text(f">{name}\n" + "\n".join(seq[i:i + 60] for i in range(0, len(seq), 60)) + "\n")
    return str(path)


def _random_seq(n, seed=7):
    rng = random.Random(seed)
    return "".join(rng.choice("ACGT") for _ in range(n))


def test_n_rich_window_gets_n_content_unless_allowed(tmp_path):
    seq = list(_random_seq(600))
    seq[100:200] = "N" * 100
    seq = "".join(seq)
    fasta = _small_fasta(tmp_path, seq)
    p = 211                                                  # window [146, 274): 54 of 128 bases are N
    vcf = write_vcf(tmp_path, f"t1\t{p}\t.\t{seq[p - 1]}\t{other(seq[p - 1])}\t.\t.\t.\n",
                    header=HEADER.replace("ID=20,length=63025520", "ID=t1,length=600"))
    out = tmp_path / "o.vcf"
    assert score(["-i", vcf, "-f", fasta, "-o", str(out)]) == 0
    assert info(records(out)[0])["GLRM_STATUS"] == "N_CONTENT"
    assert info(records(out)[0])["GLRM_LLR"] == "."
    assert score(["-i", vcf, "-f", fasta, "-o", str(out), "--max-n-frac", "0.5"]) == 0
    assert info(records(out)[0])["GLRM_STATUS"] == "OK" and info(records(out)[0])["GLRM_LLR"] != "."


def test_first_and_last_base_of_a_contig(tmp_path):
    seq = _random_seq(500)
    fasta = _small_fasta(tmp_path, seq)
    body = (f"t1\t1\tfirst\t{seq[0]}\t{other(seq[0])}\t.\t.\t.\n"
            f"t1\t500\tlast\t{seq[-1]}\t{other(seq[-1])}\t.\t.\t.\n"
            f"t1\t499\tdel\t{seq[-2:]}\t{seq[-2]}\t.\t.\t.\n")
    vcf = write_vcf(tmp_path, body, header=HEADER.replace("ID=20,length=63025520", "ID=t1,length=500"))
    out = tmp_path / "o.vcf"
    # half of each window lies past a contig end: N-padded, so N_CONTENT at the default 5%
    assert score(["-i", vcf, "-f", fasta, "-o", str(out)]) == 0
    assert [info(r)["GLRM_STATUS"] for r in records(out)] == ["N_CONTENT"] * 3
    # allowed: scored, padding included
    assert score(["-i", vcf, "-f", fasta, "-o", str(out), "--max-n-frac", "0.6"]) == 0
    rows = records(out)
    assert [info(r)["GLRM_STATUS"] for r in rows] == ["OK"] * 3
    for r in rows:
        assert info(r)["GLRM_LLR"] != "." and info(r)["GLRM_CLLR"] != "." and info(r)["GLRM_EMB"] != "."
    assert info(rows[2])["GLRM_MLR"] == "."                  # a deletion has no MLR


# --- records ------------------------------------------------------------------------------------------------

def test_multiallelic_record_with_mixed_types(tmp_path, fa):
    p = 421808
    b = base(fa, p)
    vcf = write_vcf(tmp_path, f"20\t{p}\tm\t{b}\t{other(b)},{b}TT,<DEL>,*\t.\t.\tEND={p + 100}\n")
    out, bed = tmp_path / "o.vcf", tmp_path / "o.bed"
    assert score(["-i", vcf, "-f", FASTA, "-o", str(out), "--bed", str(bed)]) == 0
    (r,) = records(out)
    i = info(r)
    assert i["GLRM_STATUS"] == "OK,OK,UNSUPPORTED_ALLELE,UNSUPPORTED_ALLELE"
    llr, cllr, mlr, emb = (i[k].split(",") for k in ("GLRM_LLR", "GLRM_CLLR", "GLRM_MLR", "GLRM_EMB"))
    assert [x != "." for x in llr] == [True, True, False, False]
    assert [x != "." for x in cllr] == [True, True, False, False]
    assert [x != "." for x in mlr] == [True, False, False, False]   # MLR: SNV only here
    assert [x != "." for x in emb] == [True, True, False, False]
    rows = [line.split("\t") for line in bed.read_text().splitlines()[1:]]
    assert [row[3] for row in rows] == ["m"] * 4 and [row[-1] for row in rows] == i["GLRM_STATUS"].split(",")
    assert [row[6] for row in rows] == llr and [row[4] for row in rows] == [row[7] for row in rows] == cllr


def test_duplicate_records_are_both_kept_with_the_same_values(tmp_path, fa):
    p = 421808
    line = f"20\t{p}\t.\t{base(fa, p)}\tT\t50\tPASS\tDP=3\n"
    vcf = write_vcf(tmp_path, line + line)
    out = tmp_path / "o.vcf"
    assert score(["-i", vcf, "-f", FASTA, "-o", str(out)]) == 0
    r1, r2 = records(out)
    assert r1 == r2 and info(r1)["GLRM_STATUS"] == "OK" and info(r1)["DP"] == "3"


def test_header_only_vcf_gives_a_valid_empty_vcf_and_bed(tmp_path, capsys):
    vcf = write_vcf(tmp_path, "")
    out, bed = tmp_path / "o.vcf.gz", tmp_path / "o.bed"
    assert score(["-i", vcf, "-f", FASTA, "-o", str(out), "--bed", str(bed)]) == 0
    with pysam.VariantFile(str(out)) as v:
        assert list(v) == [] and "GLRM_STATUS" in v.header.info
    assert os.path.exists(str(out) + ".tbi")
    assert bed.read_text().startswith("#chrom\tstart\tend\tname\tscore\tstrand\tGLRM_LLR")
    assert len(bed.read_text().splitlines()) == 1
    assert "0 records, 0 ALT alleles: none" in capsys.readouterr().err


def test_malformed_line_is_named_and_leaves_no_output(tmp_path, fa, capsys):
    p = 421808
    vcf = write_vcf(tmp_path, f"20\t{p}\t.\t{base(fa, p)}\tT\t.\t.\t.\n20\tnotapos\t.\tA\tG\t.\t.\t.\n")
    out, bed = tmp_path / "o.vcf.gz", tmp_path / "o.bed"
    assert score(["-i", vcf, "-f", FASTA, "-o", str(out), "--bed", str(bed)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"glrm: error: {vcf}: line 6: POS 'notapos' is not a whole number; fix or remove the line"
    only(tmp_path, "in.vcf")


# --- outputs, options and the model: fail before any model loads --------------------------------------------

def test_unwritable_output_fails_before_the_model_loads(tmp_path, capsys):
    broken = tmp_path / "broken-model"          # would fail to load: proves the output check comes first
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    for out in (tmp_path / "missing" / "o.vcf", tmp_path):
        assert main(["score-vcf", "-i", INDELS, "-f", FASTA, "-m", str(broken), "-o", str(out)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"glrm: error: {out}: ") and "config.json" not in err
    bed = tmp_path / "nope" / "o.bed"
    assert main(["score-vcf", "-i", INDELS, "-f", FASTA, "-m", str(broken), "-o", str(tmp_path / "o.vcf"),
                 "--bed", str(bed)]) == 2
    assert f"{bed}: folder {bed.parent} does not exist" in capsys.readouterr().err
    # and the same run with a good output path does reach the model
    good = str(tmp_path / "o.vcf")
    assert main(["score-vcf", "-i", INDELS, "-f", FASTA, "-m", str(broken), "-o", good]) == 2
    assert "config.json" in capsys.readouterr().err
    only(tmp_path, "broken-model")


def test_model_folder_missing_files_lists_them(tmp_path, capsys):
    no_weights = tmp_path / "no-weights"
    no_weights.mkdir()
    shutil.copy(pathlib.Path(HYENA) / "config.json", no_weights)
    no_config = tmp_path / "no-config"
    no_config.mkdir()
    shutil.copy(pathlib.Path(HYENA) / "model.safetensors", no_config)
    out = tmp_path / "o.vcf"
    assert main(["score-vcf", "-i", INDELS, "-f", FASTA, "-m", str(no_weights), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "missing its weights: model.safetensors or pytorch_model.bin (found: config.json)" in err
    assert main(["score-vcf", "-i", INDELS, "-f", FASTA, "-m", str(no_config), "-o", str(out)]) == 2
    assert "missing config.json (found model.safetensors)" in capsys.readouterr().err
    assert not out.exists()


def test_wrong_assembly_and_window_too_long(tmp_path, capsys):
    vcf = write_vcf(tmp_path, "20\t100\t.\tN\tG\t.\t.\t.\n", header=HEADER.replace("63025520", "64444167"))
    out = tmp_path / "o.vcf"
    assert score(["-i", vcf, "-f", FASTA, "-o", str(out)]) == 2
    assert "wrong assembly" in capsys.readouterr().err
    assert main(["score-vcf", "-i", INDELS, "-f", FASTA, "-m", HYENA, "--window", "1025",
                 "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "--window 1025 is longer than hyenadna-hf-tiny can take: 1024 bases" in err
    assert "give --window 1024 or less" in err
    only(tmp_path, "in.vcf")


@pytest.mark.parametrize("args, message", [
    (["--scores", "llr,foo"], "--scores 'llr,foo': give a comma-separated subset of "
                              "llr,cllr,mlr,emb,evo2,gpn_llr,gpn_cos,gpn_euc"),
    (["--rc", "both"], "--rc 'both': use none or mean"),
    (["--batch-size", "0"], "--batch-size 0: give 'auto' or 1 or more"),
    (["--batch-size", "big"], "--batch-size 'big': give 'auto' or a whole number"),
    (["--chunk-size", "0"], "--chunk-size 0: give 'auto' or 1 or more tokens"),
    (["--chunk-size", "big"], "--chunk-size 'big': give 'auto' or a whole number of tokens (1 or more)"),
    (["--threads", "0"], "--threads 0: give 1 or more"),
    (["--max-n-frac", "2"], "--max-n-frac 2 is not a fraction"),
    (["--ref-mismatch", "skip"], "--ref-mismatch 'skip': use status or error"),
    (["--precision", "fp16"], "--precision 'fp16': use fp32 or bf16"),
    (["--device", "tpu"], "device 'tpu'"),
    (["-O", "x"], "unknown output type 'x'"),
    (["--window", "4"], "window length 4 is too short"),
    (["--bed", "-"], "-o - and --bed - both write to stdout"),
])
def test_bad_options_are_one_line_errors(args, message, capsys):
    assert main(["score-vcf", "-i", INDELS, "-f", FASTA, "-m", HYENA, *args]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_masked_model_with_llr_only_is_refused(capsys):
    for scores in ("llr", "llr,cllr", "cllr"):      # causal-only scores: nothing a masked model can give
        assert main(["score-vcf", "-i", INDELS, "-f", FASTA, "-m", CADUCEUS, "--scores", scores]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"glrm: error: --scores {scores}: none of these is defined for "
                              "caduceus-ph-tiny")
        assert len(err.strip().splitlines()) == 1


def test_output_onto_the_input_is_refused(tmp_path, capsys):
    vcf = write_vcf(tmp_path, "")
    assert score(["-i", vcf, "-f", FASTA, "-o", vcf]) == 2
    assert "is the input VCF" in capsys.readouterr().err
    out = str(tmp_path / "o.vcf")
    assert score(["-i", vcf, "-f", FASTA, "-o", out, "--bed", out]) == 2
    assert "-o and --bed name the same file" in capsys.readouterr().err
    assert score(["-i", str(tmp_path / "missing.vcf"), "-f", FASTA, "-o", out]) == 2
    assert "missing.vcf: VCF file not found" in capsys.readouterr().err
    only(tmp_path, "in.vcf")


# --- Ctrl-C -------------------------------------------------------------------------------------------------

@pytest.mark.slow
def _default_sigint() -> None:
    """Ctrl-C as at a terminal: a test run in the background of a non-interactive shell (`make test &`)
    inherits SIGINT ignored, and Python then leaves it ignored in the child."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_sigint_mid_run_leaves_no_output(tmp_path):
    with gzip.open(INDELS, "rt") as fh:
        lines = fh.read().splitlines()
    head = [x for x in lines if x.startswith("#")]
    body = [x for x in lines if not x.startswith("#")]
    big = tmp_path / "big.vcf"
    big.write_text("\n".join(head + body * 20) + "\n")          # 3,880 records
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    glrm = pathlib.Path(sys.executable).parent / "glrm"
    proc = subprocess.Popen([str(glrm), "score-vcf", "-i", str(big), "-f", FASTA, "-m", HYENA,
                             "--window", "512", "-o", str(out_dir / "o.vcf.gz"),
                             "--bed", str(out_dir / "o.bed"),
                             "--batch-size", "4"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=_default_sigint)
    deadline = time.time() + 60
    while time.time() < deadline and len(list(out_dir.iterdir())) < 2:   # both temporary files exist
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()
    time.sleep(1.0)                                                      # well into the records
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err.decode()
    assert "interrupted; no output was left behind" in err.decode()
    assert list(out_dir.iterdir()) == []
