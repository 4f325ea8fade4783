"""`glrm score-vcf` end to end on the real test data (chr20 slice; GoNL SNVs; real indels) with the tiny
fixture models: the output is the input plus INFO keys and header lines, readable by cyvcf2, pysam and
bcftools; the VCF's numbers equal a brute-force computation written out here from the spec (full ref and alt
forwards, log-softmax over ACGT); and they do not depend on batch size, chunk size, threads or record order.
The engine's own tests check the score functions; these check what reaches the user through the VCF text."""

from __future__ import annotations

import gzip
import hashlib
import math
import pathlib
import random
import subprocess
import sys

import cyvcf2
import pysam
import pysam.bcftools
import pytest
import torch
from helpers import canonical_allele

from glrm.cli.main import main
from glrm.io.fasta import Fasta
from glrm.models import load_model
from glrm.models.tokenizer import encode
from glrm.pipeline.options import ScoreVcfOptions
from glrm.pipeline.score_vcf import score_vcf
from glrm.windows import normalize, revcomp

HERE = pathlib.Path(__file__).parent
DATA = HERE / "data"
FASTA = str(DATA / "chr20_slice.fa.gz")
INDELS = str(DATA / "chr20_indels.vcf.gz")
SNVS = str(DATA / "gonl_snvs.vcf.gz")
HYENA = str(HERE / "fixtures" / "hyenadna-hf-tiny")
CADUCEUS = str(HERE / "fixtures" / "caduceus-ph-tiny")
CADUCEUS_PS = str(HERE / "fixtures" / "caduceus-ps-tiny")
W = 128
KEYS = ("GLRM_LLR", "GLRM_CLLR", "GLRM_MLR", "GLRM_EMB", "GLRM_STATUS")


def score(args, model=HYENA, window=W):
    return main(["score-vcf", "-m", model, "--window", str(window), *args])


def text_lines(path):
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt") as fh:
        return fh.read().splitlines()


def split(path):
    lines = text_lines(path)
    return [x for x in lines if x.startswith("#")], [x.split("\t") for x in lines if not x.startswith("#")]


def info(cols):
    return dict(e.split("=", 1) if "=" in e else (e, None) for e in cols[7].split(";"))


def number(text):
    return None if text == "." else float(text)


def values(path):
    """(chrom, pos, ref, alt) -> {key: value} for every ALT, from the VCF text."""
    out = {}
    for cols in split(path)[1]:
        i = info(cols)
        for k, alt in enumerate(cols[4].split(",")):
            row = {key: i[key].split(",")[k] for key in KEYS if key in i}
            out[(cols[0], cols[1], cols[3], alt)] = {key: v if key == "GLRM_STATUS" else number(v)
                                                     for key, v in row.items()}
    return out


@pytest.fixture(scope="module")
def hyena_out(tmp_path_factory):
    d = tmp_path_factory.mktemp("hyena")
    out, bed = d / "indels.vcf", d / "indels.bed"
    assert score(["-i", INDELS, "-f", FASTA, "-o", str(out), "--bed", str(bed)]) == 0
    return out, bed


# --- the file: input plus INFO keys, readable everywhere ----------------------------------------------------

def test_output_is_the_input_plus_info_keys_and_header_lines(hyena_out):
    out, _ = hyena_out
    in_head, in_recs = split(INDELS)
    out_head, out_recs = split(out)
    # a VCFv4.0 input (as the demo's) gains Number=A keys: the output declares VCFv4.2, nothing else changes
    assert in_head[0] == "##fileformat=VCFv4.0" and out_head[0] == "##fileformat=VCFv4.2"
    assert text_lines(out)[0] == "##fileformat=VCFv4.2"
    in_head = ["##fileformat=VCFv4.2", *in_head[1:]]
    added = [x for x in out_head if x not in in_head]
    assert [x for x in out_head if x in in_head] == in_head and out_head[-1] == in_head[-1]
    assert [x.split(",")[0] for x in added[:5]] == [f"##INFO=<ID={k}" for k in KEYS]
    assert added[5] == "##glrmVersion=0.1.0" and added[6].startswith("##glrmCommand=glrm score-vcf -m ")
    assert added[7].startswith("##glrm_model=<ID=hyenadna-hf-tiny,") and len(added) == 8
    assert len(out_recs) == len(in_recs) == 194
    for a, b in zip(in_recs, out_recs, strict=True):
        assert b[:7] == a[:7] and b[8:] == a[8:]
        assert b[7].startswith(a[7] + ";GLRM_LLR=") and list(info(b))[-5:] == list(KEYS)
    statuses = [info(b)["GLRM_STATUS"] for b in out_recs]
    assert set(statuses) == {"OK", "TOO_LONG"} and statuses.count("OK") >= 180   # W // 4 = 32


def test_parses_with_cyvcf2_pysam_and_bcftools(hyena_out):
    out, _ = hyena_out
    llr_text = [info(c)["GLRM_LLR"] for c in split(out)[1]]
    got = [v.INFO.get("GLRM_LLR") for v in cyvcf2.VCF(str(out))]
    assert [("." if g is None else f"{g:.6g}") for g in got] == [
        ("." if t == "." else f"{float(t):.6g}") for t in llr_text]
    with pysam.VariantFile(str(out)) as vf:
        recs = list(vf)
        assert vf.header.info["GLRM_LLR"].number == "A" and vf.header.info["GLRM_STATUS"].type == "String"
    assert [r.info["GLRM_STATUS"][0] for r in recs] == [info(c)["GLRM_STATUS"] for c in split(out)[1]]
    viewed = pysam.bcftools.view("-H", str(out))
    assert len(viewed.splitlines()) == 194
    queried = pysam.bcftools.query("-f", "%INFO/GLRM_LLR\n", str(out)).splitlines()
    assert queried == llr_text


def test_bgzipped_output_is_bgzf_with_a_tabix_index_and_regions_work(tmp_path, hyena_out):
    out = tmp_path / "o.vcf.gz"
    assert score(["-i", INDELS, "-f", FASTA, "-o", str(out), "-r", "20:1000000-3000000", "--no-version",
                  "-q"]) == 0
    with open(out, "rb") as fh:
        assert fh.read(4) == b"\x1f\x8b\x08\x04"                  # gzip with the BGZF extra field
    assert (tmp_path / "o.vcf.gz.tbi").exists()
    with pysam.TabixFile(str(out)) as tbx:
        fetched = list(tbx.fetch("20", 1_000_000, 3_000_000))
    full = {(c[0], c[1]): c for c in split(hyena_out[0])[1]}
    expect = [c for c in split(INDELS)[1]
              if 1_000_000 <= int(c[1]) - 1 + len(c[3]) and int(c[1]) <= 3_000_000]
    got = [x.split("\t") for x in fetched]
    assert [(c[0], c[1]) for c in got] == [(c[0], c[1]) for c in expect] and len(got) > 3
    for c in got:                                               # same values as the whole-file run
        assert info(c) == info(full[(c[0], c[1])])
    assert text_lines(out)[0] == "##fileformat=VCFv4.2"          # the VCFv4.0 input, bgzipped output too
    head = [x for x in text_lines(out) if x.startswith("##glrm")]
    assert len(head) == 1 and head[0].startswith("##glrm_model=")  # --no-version: no version/command
    bed = tmp_path / "r.bed"
    bed.write_text("20\t999999\t3000000\n")
    out2 = tmp_path / "o2.vcf"
    assert score(["-i", INDELS, "-f", FASTA, "-o", str(out2), "-R", str(bed), "-q"]) == 0
    assert [c[:2] for c in split(out2)[1]] == [c[:2] for c in got]


def test_bed_has_one_row_per_alt_with_the_spec_columns(hyena_out):
    out, bed = hyena_out
    lines = bed.read_text().splitlines()
    assert lines[0] == ("#chrom\tstart\tend\tname\tscore\tstrand\tGLRM_LLR\tGLRM_CLLR\tGLRM_MLR\tGLRM_EMB\t"
                        "GLRM_STATUS")
    rows = [x.split("\t") for x in lines[1:]]
    recs = split(out)[1]
    assert len(rows) == sum(len(c[4].split(",")) for c in recs)
    for row, c in zip(rows, recs, strict=True):
        i = info(c)
        assert row[:4] == [c[0], str(int(c[1]) - 1), str(int(c[1]) - 1 + len(c[3])),
                           c[2] if c[2] != "." else f"{c[0]}:{c[1]}:{c[3]}:{c[4]}"]
        assert row[4] == row[7] == i["GLRM_CLLR"] and row[5] == "."           # causal: CLLR is the main score
        assert row[6] == i["GLRM_LLR"] and row[8:] == [i["GLRM_MLR"], i["GLRM_EMB"], i["GLRM_STATUS"]]


def test_header_model_line_and_command(tmp_path):
    out = tmp_path / "o.vcf"
    assert score(["-i", SNVS, "-f", FASTA, "-o", str(out), "--rc", "mean", "-q"]) == 0
    head = split(out)[0]
    sha = hashlib.sha256((pathlib.Path(HYENA) / "model.safetensors").read_bytes()).hexdigest()
    assert f"##glrm_model=<ID=hyenadna-hf-tiny,Checkpoint={HYENA},SHA256={sha},Window=128,RC=mean," \
           "Precision=fp32,Definitions=2>" in head
    cmd = next(x for x in head if x.startswith("##glrmCommand="))
    assert cmd.startswith(f"##glrmCommand=glrm score-vcf -m {HYENA} --window 128 -i {SNVS} -f {FASTA} "
                          f"-o {out} --rc mean -q; Date=")


def test_command_line_comes_from_this_call_not_an_earlier_one(tmp_path, monkeypatch):
    """The app invoked without glrm's main() (a Python caller, a test runner) records this process's argv,
    never the arguments of an earlier main() call in the same process."""
    from glrm.cli.main import app

    assert score(["-i", SNVS, "-f", FASTA, "-o", str(tmp_path / "a.vcf"), "-q"]) == 0
    monkeypatch.setattr(sys, "argv", ["my-pipeline.py", "--step", "2"])
    app(["score-vcf", "-m", HYENA, "--window", "128", "-i", SNVS, "-f", FASTA, "-o", str(tmp_path / "b.vcf"),
         "-q"], standalone_mode=False)
    cmd = next(x for x in split(tmp_path / "b.vcf")[0] if x.startswith("##glrmCommand="))
    assert cmd.startswith("##glrmCommand=my-pipeline.py --step 2; Date="), cmd


def test_scores_subset_declares_and_writes_only_those(tmp_path):
    out, bed = tmp_path / "o.vcf", tmp_path / "o.bed"
    assert score(["-i", SNVS, "-f", FASTA, "-o", str(out), "--bed", str(bed), "--scores", "emb", "-q"]) == 0
    head, recs = split(out)
    assert [x.split(",")[0] for x in head if x.startswith("##INFO=<ID=GLRM")] == [
        "##INFO=<ID=GLRM_EMB", "##INFO=<ID=GLRM_STATUS"]
    assert all(list(info(c))[-2:] == ["GLRM_EMB", "GLRM_STATUS"] and "GLRM_LLR" not in info(c) for c in recs)
    lines = bed.read_text().splitlines()
    assert lines[0].endswith("strand\tGLRM_EMB\tGLRM_STATUS")
    assert all(row.split("\t")[4] == row.split("\t")[6] != "." for row in lines[1:])


def test_stdin_to_stdout_carries_only_the_vcf(tmp_path):
    glrm = pathlib.Path(sys.executable).parent / "glrm"
    data = pathlib.Path(SNVS).read_bytes()
    res = subprocess.run([str(glrm), "score-vcf", "-i", "-", "-f", FASTA, "-m", HYENA, "--window", str(W),
                          "--no-version"], input=data, capture_output=True, check=True)
    ref = tmp_path / "o.vcf"
    assert score(["-i", SNVS, "-f", FASTA, "-o", str(ref), "--no-version", "-q"]) == 0
    assert res.stdout.decode() == ref.read_text()
    err = res.stderr.decode()
    assert "7 records, 7 ALT alleles: OK 7" in err and "device cpu" in err and "wrote stdout" in err


# --- the numbers: brute force from full model outputs -----------------------------------------------------

def brute(model, ref, alt, o, n, m, k):
    """The spec's scores from full forwards: (LLR, CLLR, MLR, EMB), None where undefined."""
    w = len(ref)
    ids_r, ids_a = encode(ref)[None], encode(alt)[None]                           # (1, W)
    out_r, out_a = model(ids_r), model(ids_a)
    hr, ha = out_r.hidden_states[0].double(), out_a.hidden_states[0].double()    # (W, H)
    u = hr[max(0, o - k):min(w, o + n + k)].mean(0)
    v = ha[max(0, o - k):min(w, o + m + k)].mean(0)
    emb = 1.0 - float(torch.dot(u, v) / (u.norm() * v.norm()))
    nuc = {"A": 0, "C": 1, "G": 2, "T": 3}
    if model.info.kind == "causal":
        lpr = torch.log_softmax(out_r.logits[0, :, 7:11].double(), -1)           # (W, 4)
        lpa = torch.log_softmax(out_a.logits[0, :, 7:11].double(), -1)

        def tok(lp, seq):
            return [0.0] + [float(lp[t - 1, nuc[seq[t]]]) if seq[t] in nuc else 0.0 for t in range(1, w)]

        def entropy(lp, seq):        # H[t]: entropy (nats) of the ACGT prediction for t, from row t-1
            out = [0.0]
            for t in range(1, w):
                h = 0.0
                if seq[t] in nuc:
                    for b in range(4):
                        h -= math.exp(float(lp[t - 1, b])) * float(lp[t - 1, b])
                out.append(h)
            return out

        lr, la = tok(lpr, ref), tok(lpa, alt)
        hr, ha = entropy(lpr, ref), entropy(lpa, alt)
        big_m = w - o - max(n, m)
        tail = sum(la[o + m + j] - lr[o + n + j] for j in range(big_m))
        llr = sum(la[o:o + m]) - sum(lr[o:o + n]) + tail
        cllr = (sum(la[o + i] + ha[o + i] for i in range(m)) - sum(lr[o + i] + hr[o + i] for i in range(n))
                + tail)
        mlr = sum(float(lpr[o + i - 1, nuc[alt[o + i]]] - lpr[o + i - 1, nuc[ref[o + i]]])
                  for i in range(n)) if n == m else None
        return llr, cllr, mlr, emb
    masked = ids_r.clone()
    masked[0, o:o + n] = 3                                                        # [MASK]
    lp = torch.log_softmax(model(masked).logits[0, :, 7:11].double(), -1)        # (W, 4)
    mlr = sum(float(lp[o + i, nuc[alt[o + i]]] - lp[o + i, nuc[ref[o + i]]]) for i in range(n)) \
        if n == m else None
    return None, None, mlr, emb


def spec_windows(fa, chrom, pos, ref_allele, alt_allele, w):
    """The spec's windows for the allele as glrm scores it: left-aligned and trimmed (the brute-force
    normaliser in helpers), whatever way the VCF writes it."""
    s, ref_allele, alt_allele = canonical_allele(fa, chrom, pos - 1, normalize(ref_allele),
                                                 normalize(alt_allele))
    n, m = len(ref_allele), len(alt_allele)
    o = w // 2
    g0 = s - o
    ref = fa.fetch(chrom, g0, g0 + w)
    alt = fa.fetch(chrom, g0, s) + alt_allele + fa.fetch(chrom, s + n, s + n + (w - o - m))
    return ref, alt, o, n, m


def close(got, want, rel, abs_):
    if want is None:
        return got is None
    return got is not None and math.isclose(got, want, rel_tol=rel, abs_tol=abs_)


@pytest.mark.parametrize("model_dir", [HYENA, CADUCEUS])
def test_vcf_values_equal_brute_force(tmp_path, model_dir):
    with gzip.open(INDELS, "rt") as fh:
        lines = fh.read().splitlines()
    picked = [x for x in lines if x.startswith("#")] + [x for x in lines if not x.startswith("#")][:12]
    vcf = tmp_path / "in.vcf"
    snv_lines = [x for x in text_lines(SNVS) if not x.startswith("#")]
    vcf.write_text("\n".join(picked + snv_lines) + "\n")
    out = tmp_path / "o.vcf"
    k = 20
    assert score(["-i", str(vcf), "-f", FASTA, "-o", str(out), "--emb-flank", str(k), "-q"],
                 model=model_dir) == 0
    got = values(out)
    model = load_model(model_dir)
    checked = 0
    with Fasta(FASTA) as fa:
        for (chrom, pos, r, a), row in got.items():
            if row["GLRM_STATUS"] != "OK":
                continue
            llr, cllr, mlr, emb = brute(model, *spec_windows(fa, chrom, int(pos), r, a, W), k)
            assert close(row["GLRM_LLR"], llr, 1e-4, 1e-5), (pos, row, llr)
            assert close(row["GLRM_CLLR"], cllr, 1e-4, 1e-5), (pos, row, cllr)
            assert close(row["GLRM_MLR"], mlr, 1e-4, 1e-5), (pos, row, mlr)
            assert close(row["GLRM_EMB"], emb, 1e-3, 1e-6), (pos, row, emb)
            checked += 1
    assert checked == 19


def test_rc_mean_equals_the_mean_of_both_strands_by_brute_force(tmp_path):
    out = tmp_path / "o.vcf"
    k = 20
    assert score(["-i", SNVS, "-f", FASTA, "-o", str(out), "--rc", "mean", "--emb-flank", str(k), "-q"]) == 0
    model = load_model(HYENA)
    with Fasta(FASTA) as fa:
        for (chrom, pos, r, a), row in values(out).items():
            ref, alt, o, n, m = spec_windows(fa, chrom, int(pos), r, a, W)
            fwd = brute(model, ref, alt, o, n, m, k)
            rev = brute(model, revcomp(ref), revcomp(alt), W - o - 1, 1, 1, k)    # SNV: exact mirror
            assert close(fwd[1], fwd[0], 1e-6, 1e-6)                             # SNV: CLLR == LLR
            for key, f, b in zip(KEYS, fwd, rev, strict=False):
                assert close(row[key], (f + b) / 2, 1e-4, 1e-5), (pos, key, row[key], f, b)


def test_rc_mean_never_runs_an_rc_equivariant_checkpoint_twice(tmp_path):
    def run(model, rc):
        out = tmp_path / f"{pathlib.Path(model).name}-{rc}.vcf"
        s = score_vcf(ScoreVcfOptions(input=SNVS, fasta=FASTA, model=model, output=str(out), window=W, rc=rc,
                                      quiet=True, device="cpu"))
        return s.passes, values(out)

    none_ps, v_none = run(CADUCEUS_PS, "none")
    mean_ps, v_mean = run(CADUCEUS_PS, "mean")
    assert mean_ps == none_ps > 0
    for key in v_none:                                            # SNV windows mirror exactly
        for k in ("GLRM_MLR", "GLRM_EMB"):
            assert close(v_mean[key][k], v_none[key][k], 1e-4, 1e-6)
    assert run(HYENA, "mean")[0] == 2 * run(HYENA, "none")[0]      # a plain model: both strands run


# --- independence from batching, chunking, threads and input order ------------------------------------------

def _same(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert a[key]["GLRM_STATUS"] == b[key]["GLRM_STATUS"]
        for k in ("GLRM_LLR", "GLRM_CLLR", "GLRM_MLR", "GLRM_EMB"):
            assert close(a[key][k], b[key][k], 1e-5, 1e-7), (key, k, a[key][k], b[key][k])


def test_values_do_not_depend_on_batch_chunk_threads_or_order(tmp_path):
    head, recs = split(INDELS)
    recs = recs[:30] + split(SNVS)[1]
    vcf = tmp_path / "in.vcf"
    vcf.write_text("\n".join(head + ["\t".join(c) for c in recs]) + "\n")
    first = tmp_path / "auto.vcf"
    assert score(["-i", str(vcf), "-f", FASTA, "-o", str(first), "-q"]) == 0
    base = values(first)
    assert sum(v["GLRM_STATUS"] == "OK" for v in base.values()) >= 30
    for i, extra in enumerate((["--batch-size", "1"], ["--batch-size", "7", "--chunk-size", "40"],
                               ["--threads", "1"])):
        out = tmp_path / f"o{i}.vcf"
        assert score(["-i", str(vcf), "-f", FASTA, "-o", str(out), "-q", *extra]) == 0
        _same(values(out), base)
    random.Random(4).shuffle(recs)
    shuffled = tmp_path / "shuffled.vcf"
    shuffled.write_text("\n".join(head + ["\t".join(c) for c in recs]) + "\n")
    out = tmp_path / "shuffled.out.vcf"
    assert score(["-i", str(shuffled), "-f", FASTA, "-o", str(out), "-q"]) == 0
    assert [c[:5] for c in split(out)[1]] == [c[:5] for c in recs]    # the shuffled order is kept
    _same(values(out), base)


def test_masked_model_header_and_bed(tmp_path):
    out, bed = tmp_path / "o.vcf", tmp_path / "o.bed"
    assert score(["-i", SNVS, "-f", FASTA, "-o", str(out), "--bed", str(bed), "-q"], model=CADUCEUS) == 0
    head, recs = split(out)
    assert [x.split(",")[0] for x in head if x.startswith("##INFO=<ID=GLRM")] == [
        f"##INFO=<ID={k}" for k in KEYS]                            # the same header as causal models
    assert all(info(c)["GLRM_LLR"] == info(c)["GLRM_CLLR"] == "." and info(c)["GLRM_MLR"] != "."
               for c in recs)
    lines = bed.read_text().splitlines()
    assert lines[0] == "#chrom\tstart\tend\tname\tscore\tstrand\tGLRM_MLR\tGLRM_EMB\tGLRM_STATUS"
    for row, c in zip(lines[1:], recs, strict=True):
        assert row.split("\t")[4] == row.split("\t")[6] == info(c)["GLRM_MLR"]


def test_bcf_in_and_out(tmp_path):
    bcf = tmp_path / "in.bcf"
    pysam.bcftools.view("-Ob", "-o", str(bcf), SNVS, catch_stdout=False)
    out, ref = tmp_path / "o.bcf", tmp_path / "o.vcf"
    assert score(["-i", str(bcf), "-f", FASTA, "-o", str(out), "-q"]) == 0
    assert score(["-i", SNVS, "-f", FASTA, "-o", str(ref), "-q"]) == 0
    assert (tmp_path / "o.bcf.csi").exists()
    fmt = "%POS\t%INFO/GLRM_LLR\t%INFO/GLRM_CLLR\t%INFO/GLRM_MLR\t%INFO/GLRM_EMB\t%INFO/GLRM_STATUS\n"
    assert pysam.bcftools.query("-f", fmt, str(out)) == pysam.bcftools.query("-f", fmt, str(ref))


def test_progress_and_summary_on_stderr_and_quiet(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GLRM_LOG_INTERVAL", "3600")   # stderr is no terminal here: plain lines, none due yet
    out = tmp_path / "o.vcf"
    assert score(["-i", SNVS, "-f", FASTA, "-o", str(out)]) == 0
    cap = capsys.readouterr()
    assert cap.out == ""
    assert cap.err.startswith("glrm score-vcf: 7 records") and "elapsed" not in cap.err   # no bar drawn
    assert "glrm score-vcf: 7 records, 7 ALT alleles: OK 7" in cap.err
    assert f"glrm score-vcf: wrote {out}" in cap.err
    assert score(["-i", SNVS, "-f", FASTA, "-o", str(out), "--quiet"]) == 0
    assert capsys.readouterr().err == ""


def test_chunk_size_auto_takes_the_chunk_from_free_memory(tmp_path, monkeypatch, capsys):
    """--chunk-size auto (score-sv's rule, glrm.resources.auto_chunk_size): with little memory free, an
    8,192-base window of a Mamba LM runs in chunks of 4,096 (the floor), the summary says so, and the values
    are those of whole-window passes."""
    from glrm import resources

    head, recs = split(INDELS)
    vcf = tmp_path / "in.vcf"
    vcf.write_text("\n".join(head + ["\t".join(c) for c in recs[:12]]) + "\n")
    whole, auto = tmp_path / "whole.vcf", tmp_path / "auto.vcf"
    mamba = str(HERE / "fixtures" / "mamba-lm-tiny")
    assert score(["-i", str(vcf), "-f", FASTA, "-o", str(whole), "-q"], model=mamba, window=8192) == 0
    monkeypatch.setattr(resources, "free_memory_bytes", lambda device: 1 << 20)
    assert score(["-i", str(vcf), "-f", FASTA, "-o", str(auto), "--chunk-size", "auto"],
                 model=mamba, window=8192) == 0
    assert "model passes, window 8,192 in chunks of 4,096 (--chunk-size auto)," in capsys.readouterr().err
    assert sum(v["GLRM_STATUS"] == "OK" for v in values(whole).values()) >= 10
    _same(values(auto), values(whole))
