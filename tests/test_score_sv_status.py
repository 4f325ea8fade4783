"""`glrm score-sv` statuses and options: every status class with its reason in the summary, caller conventions
(SVLEN of either sign, REF=N, IMPRECISE, multi-ALT), option errors before the model loads, the window limit
(HyenaDNA: error; Caduceus: extrapolation warning + header note), --chunk-size N|auto, --rc mean.
A small VCF written here on the real chr20 slice (REF bases read from the FASTA)."""

from __future__ import annotations

import pathlib

import pytest

from glrm.cli.main import main
from glrm.io.fasta import Fasta

HERE = pathlib.Path(__file__).parent
CHR20 = str(HERE / "data" / "chr20_slice.fa.gz")
HYENA = str(HERE / "fixtures" / "hyenadna-hf-tiny")
CADUCEUS = str(HERE / "fixtures" / "caduceus-ph-tiny")
MAMBA = str(HERE / "fixtures" / "mamba-lm-tiny")
W = 256
HEADER = """##fileformat=VCFv4.2
##INFO=<ID=END,Number=1,Type=Integer,Description="End">
##INFO=<ID=SVLEN,Number=.,Type=Integer,Description="Length">
##INFO=<ID=SVTYPE,Number=1,Type=String,Description="Type">
##INFO=<ID=SVINSSEQ,Number=.,Type=String,Description="Inserted sequence">
##INFO=<ID=IMPRECISE,Number=0,Type=Flag,Description="Imprecise">
##INFO=<ID=CIPOS,Number=2,Type=Integer,Description="CI around POS">
##INFO=<ID=CIEND,Number=2,Type=Integer,Description="CI around END">
##ALT=<ID=DEL,Description="Deletion">
#CHROM	POS	ID	REF	ALT	QUAL	FILTER	INFO
"""
P = 13158000   # real sequence on the chr20 slice within +-6 kbp of a Manta call


def _rows(fa):
    def b(pos):
        return fa.fetch("20", pos - 1, pos)

    wrong = {"A": "C", "C": "G", "G": "T", "T": "A"}[b(P + 1200)]
    seq60 = fa.fetch("20", P + 1399, P + 1460)
    return [
        # id, pos, ref, alt, info, expected statuses
        ("del_neg", P, b(P), "<DEL>", f"SVTYPE=DEL;END={P + 100};SVLEN=-100", ["OK"]),
        ("del_pos", P, b(P), "<DEL>", f"SVTYPE=DEL;END={P + 100};SVLEN=100", ["OK"]),
        ("del_imprecise", P, b(P), "<DEL>", f"SVTYPE=DEL;END={P + 100};SVLEN=-100;IMPRECISE;CIPOS=-50,50;"
                                            "CIEND=-40,40", ["OK"]),
        ("del_refN", P, "N", "<DEL>", f"SVTYPE=DEL;END={P + 100}", ["OK"]),
        ("dup", P + 200, b(P + 200), "<DUP>", f"SVTYPE=DUP;END={P + 280};SVLEN=80", ["OK"]),
        ("dup_tandem", P + 300, b(P + 300), "<DUP:TANDEM>", f"SVTYPE=DUP;END={P + 340}", ["OK"]),
        ("inv", P + 400, b(P + 400), "<INV>", f"SVTYPE=INV;END={P + 550}", ["OK"]),
        ("ins_seq", P + 600, b(P + 600), "<INS>", "SVTYPE=INS;SVINSSEQ=ACGTTGCAACGTAGGCTA", ["OK"]),
        ("ins_noseq", P + 700, b(P + 700), "<INS>", "SVTYPE=INS;SVLEN=300", ["UNSUPPORTED_ALLELE"]),
        ("cnv", P + 800, b(P + 800), "<CNV>", f"SVTYPE=CNV;END={P + 900}", ["UNSUPPORTED_ALLELE"]),
        ("cn2", P + 850, b(P + 850), "<CN2>", f"SVTYPE=CNV;END={P + 950}", ["UNSUPPORTED_ALLELE"]),
        ("del_me", P + 900, b(P + 900), "<DEL:ME>", f"SVTYPE=DEL;END={P + 1000}", ["UNSUPPORTED_ALLELE"]),
        ("multi", P + 1000, b(P + 1000), "<DEL>,<CNV>", f"END={P + 1050}", ["OK", "UNSUPPORTED_ALLELE"]),
        ("bnd_missing_mate", P + 1100, b(P + 1100), f"{b(P + 1100)}[7:1000[", "SVTYPE=BND",
         ["UNKNOWN_CONTIG"]),
        ("single_bnd", P + 1150, b(P + 1150), f"{b(P + 1150)}.", "SVTYPE=BND", ["UNSUPPORTED_ALLELE"]),
        ("ref_mismatch", P + 1200, wrong, "<DEL>", f"SVTYPE=DEL;END={P + 1300}", ["REF_MISMATCH"]),
        ("spelled_del", P + 1400, seq60, seq60[0], "SVTYPE=DEL", ["OK"]),
        ("too_long", P + 1500, b(P + 1500), "<DEL>", f"SVTYPE=DEL;END={P + 4500}", ["TOO_LONG"]),
        ("n_rich", 30_000_000, "N", "<DEL>", "SVTYPE=DEL;END=30000100", ["N_CONTENT"]),
        ("other_contig", 5000, "N", "<DEL>", "SVTYPE=DEL;END=5100", ["UNKNOWN_CONTIG"]),
    ]


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    d = tmp_path_factory.mktemp("status")
    with Fasta(CHR20) as fa:
        rows = _rows(fa)
    vcf = d / "in.vcf"
    body = []
    for rid, pos, ref, alt, inf, _ in rows:
        chrom = "21" if rid == "other_contig" else "20"
        body.append(f"{chrom}\t{pos}\t{rid}\t{ref}\t{alt}\t.\tPASS\t{inf}")
    vcf.write_text(HEADER + "\n".join(body) + "\n")
    return d, vcf, {r[0]: r[5] for r in rows}


def run(args, model=HYENA, window=W):
    return main(["score-sv", "-m", model, "--window", str(window), *args])


def parse(path):
    out = {}
    for line in pathlib.Path(path).read_text().splitlines():
        if line.startswith("#"):
            continue
        cols = line.split("\t")
        inf = dict(e.split("=", 1) if "=" in e else (e, None) for e in cols[7].split(";"))
        out[cols[2]] = (cols, inf)
    return out


@pytest.fixture(scope="module")
def scored(case):
    d, vcf, _ = case
    out = d / "out.vcf"
    import contextlib
    import io

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = run(["-i", str(vcf), "-f", CHR20, "-o", str(out), "--max-sv-len", "2000", "--bed",
                    str(d / "out.bed")])
    assert code == 0
    return parse(out), err.getvalue()


def test_every_status_class(case, scored):
    want = case[2]
    got, _ = scored
    assert list(got) == list(want)                         # input order
    for rid, statuses in want.items():
        assert got[rid][1]["GLRM_STATUS"].split(",") == statuses, rid
        emb = got[rid][1]["GLRM_SV_EMB"].split(",")
        assert [v != "." for v in emb] == [s == "OK" for s in statuses], rid


def test_summary_gives_reasons(scored):
    _, err = scored
    lines = [x for x in err.splitlines() if x.startswith("glrm score-sv:")]
    assert any("20 records, 21 ALT alleles" in x for x in lines)
    first = {x.split("first ", 1)[1].split(":", 1)[0]: x for x in lines if ": first " in x}
    assert set(first) == {"REF_MISMATCH", "N_CONTENT", "TOO_LONG", "UNSUPPORTED_ALLELE", "UNKNOWN_CONTIG"}
    assert "SVINSSEQ" in first["UNSUPPORTED_ALLELE"]                     # <INS> without a sequence
    assert "mate contig 7" in first["UNKNOWN_CONTIG"]
    assert "--max-sv-len" in first["TOO_LONG"] and "--max-n-frac" in first["N_CONTENT"]
    assert any("1 IMPRECISE calls scored at POS/END" in x for x in lines)


def test_unsupported_reasons_name_the_allele(case, tmp_path, capsys):
    """Each unsupported class alone, so the summary's first reason is its own."""
    d, vcf, want = case
    text = vcf.read_text().splitlines()
    for rid, needle in (("cnv", "<CNV>"), ("cn2", "<CN2>"), ("del_me", "<DEL:ME>"), ("single_bnd", "single")):
        one = tmp_path / f"{rid}.vcf"
        one.write_text("\n".join([x for x in text if x.startswith("#")] +
                                 [x for x in text if f"\t{rid}\t" in x]) + "\n")
        assert run(["-i", str(one), "-f", CHR20, "-o", str(tmp_path / f"{rid}.out.vcf")]) == 0
        err = capsys.readouterr().err
        line = next(x for x in err.splitlines() if "first UNSUPPORTED_ALLELE" in x)
        assert needle in line, line


def test_conventions(scored):
    got, _ = scored
    # SVLEN's sign does not matter, REF=N is accepted, IMPRECISE is scored at POS/END: all the same event
    vals = {rid: (got[rid][1]["GLRM_SV_EMB"], got[rid][1]["GLRM_SV_LLR"])
            for rid in ("del_neg", "del_pos", "del_imprecise", "del_refN")}
    assert len(set(vals.values())) == 1
    cols, inf = got["del_imprecise"]
    assert "IMPRECISE;CIPOS=-50,50;CIEND=-40,40" in cols[7] and inf["CIPOS"] == "-50,50"


def test_bed_span_for_symbolic_and_spelled(case):
    d = case[0]
    rows = [r.split("\t") for r in (d / "out.bed").read_text().splitlines()[1:]]
    assert len(rows) == 21                                           # one per ALT
    bed = {r[3]: r for r in rows}
    assert (int(bed["del_neg"][1]), int(bed["del_neg"][2])) == (P - 1, P + 100)
    assert int(bed["spelled_del"][2]) - int(bed["spelled_del"][1]) == 61
    assert [r[10] for r in rows if r[3] == "multi"] == ["OK", "UNSUPPORTED_ALLELE"]
    assert [r[4] == "." for r in rows] == [r[10] != "OK" for r in rows]   # score column = GLRM_SV_EMB


# --- options ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("args, needle", [
    (["--chunk-size", "abc"], "--chunk-size"),
    (["--chunk-size", "0"], "--chunk-size"),
    (["--rc", "both"], "--rc"),
    (["--max-sv-len", "0"], "--max-sv-len"),
    (["--precision", "fp8"], "--precision"),
    (["--max-n-frac", "2"], "--max-n-frac"),
])
def test_bad_options(case, tmp_path, capsys, args, needle):
    out = tmp_path / "o.vcf"
    code = run(["-i", str(case[1]), "-f", CHR20, "-o", str(out), *args], model=str(tmp_path / "no-model"))
    err = capsys.readouterr().err
    assert code != 0 and needle in err and not out.exists()    # refused before the (missing) model is read


def test_track_dir_is_a_file(case, tmp_path, capsys):
    f = tmp_path / "tracks"
    f.write_text("x")
    code = run(["-i", str(case[1]), "-f", CHR20, "-o", str(tmp_path / "o.vcf"), "--track-dir", str(f)],
               model=str(tmp_path / "no-model"))
    assert code != 0 and "--track-dir" in capsys.readouterr().err


def test_track_dir_created(case, tmp_path):
    tracks = tmp_path / "a" / "b"
    assert run(["-i", str(_one_del(case, tmp_path)), "-f", CHR20, "-o", str(tmp_path / "o.vcf"),
                "--track-dir", str(tracks), "-q"]) == 0
    assert sorted(p.name for p in tracks.iterdir()) == ["del_neg.bedgraph"]    # one OK allele, one track


def test_hyenadna_cannot_extrapolate(case, tmp_path, capsys):
    out = tmp_path / "o.vcf"
    code = run(["-i", str(case[1]), "-f", CHR20, "-o", str(out)], window=2048)
    err = capsys.readouterr().err
    assert code != 0 and "1024" in err and "extrapolate" in err and not out.exists()


def _one_del(case, tmp_path):
    text = case[1].read_text().splitlines()
    one = tmp_path / "one.vcf"
    one.write_text("\n".join([x for x in text if x.startswith("#")] +
                             [x for x in text if "\tdel_neg\t" in x or "\tcnv\t" in x]) + "\n")
    return one


def test_caduceus_extrapolation_is_noted(case, tmp_path, capsys):
    out = tmp_path / "o.vcf"
    code = run(["-i", str(_one_del(case, tmp_path)), "-f", CHR20, "-o", str(out)], model=CADUCEUS,
               window=2048)
    err = capsys.readouterr().err
    assert code == 0 and "extrapolation" in err
    model_line = next(x for x in out.read_text().splitlines() if x.startswith("##glrm_model="))
    assert "Extrapolation=" in model_line and "1024" in model_line and "Window=2048" in model_line
    assert "GLRM_STATUS=OK" in out.read_text()


def test_chunk_size_gives_the_same_values(case, tmp_path):
    one = _one_del(case, tmp_path)
    got = {}
    for name, extra in (("full", []), ("chunk", ["--chunk-size", "64"]), ("auto", ["--chunk-size", "auto"])):
        out = tmp_path / f"{name}.vcf"
        assert run(["-i", str(one), "-f", CHR20, "-o", str(out), "-q", *extra], model=MAMBA) == 0
        got[name] = parse(out)["del_neg"][1]
        if name == "auto":
            assert "ChunkSize=auto" in out.read_text()   # as given: shard headers must not vary by GPU
    for key in ("GLRM_SV_EMB", "GLRM_SV_LLR"):
        ref = float(got["full"][key])
        for name in ("chunk", "auto"):
            assert float(got[name][key]) == pytest.approx(ref, rel=1e-4, abs=1e-5)
    assert got["full"]["GLRM_SV_REACH"] == got["chunk"]["GLRM_SV_REACH"]


def test_rc_mean(case, tmp_path):
    one = _one_del(case, tmp_path)
    out = tmp_path / "rc.vcf"
    assert run(["-i", str(one), "-f", CHR20, "-o", str(out), "-q", "--rc", "mean"]) == 0
    text = out.read_text()
    assert "RC=mean" in text and "GLRM_STATUS=OK" in text
