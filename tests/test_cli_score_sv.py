"""`glrm score-sv` end to end on real SV calls (COLO829 chr20: Manta, GRIDSS, novoBreak) and the E. coli
simulated set, with the tiny fixture models and short windows: every record comes out in input order, byte
for byte except INFO; the output parses with cyvcf2, pysam and bcftools; the values written are the SV
engine's for the same windows, and for a fits-mode and a breakpoint-mode deletion a brute-force
recomputation from full forwards; the tracks hold the aligned genome positions; `glrm plot` draws one."""

from __future__ import annotations

import copy
import gzip
import pathlib

import cyvcf2
import numpy as np
import pysam
import pysam.bcftools
import pytest
import torch

from glrm.cli.main import main
from glrm.io.bedgraph import read_bedgraph
from glrm.io.fasta import Fasta
from glrm.io.vcf import VcfReader
from glrm.models import load_model
from glrm.models.tokenizer import encode
from glrm.windows import allele_windows

HERE = pathlib.Path(__file__).parent
DATA = HERE / "data"
CHR20 = str(DATA / "chr20_slice.fa.gz")
ECOLI = str(DATA / "ecoli_slice.fa.gz")
MANTA = str(DATA / "colo829_manta.vcf.gz")
GRIDSS = str(DATA / "colo829_gridss.vcf.gz")
NOVO = str(DATA / "colo829_novobreak.vcf.gz")
ECOLI_VCF = str(DATA / "ecoli_sim_svs.fixed.vcf")
ECOLI_RAW = str(DATA / "ecoli_sim_svs.vcf")
HYENA = str(HERE / "fixtures" / "hyenadna-hf-tiny")
W = 512
KEYS = ("GLRM_SV_EMB", "GLRM_SV_LLR", "GLRM_SV_REACH", "GLRM_SV_BP", "GLRM_STATUS")


def lines(path):
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt") as fh:
        return fh.read().splitlines()


def records(path):
    return [x.split("\t") for x in lines(path) if not x.startswith("#")]


def info(cols):
    return dict(e.split("=", 1) if "=" in e else (e, None) for e in cols[7].split(";"))


def run(tmp, vcf, fasta, name, *extra, model=HYENA, window=W):
    out, bed, tracks = tmp / f"{name}.vcf", tmp / f"{name}.bed", tmp / f"{name}_tracks"
    code = main(["score-sv", "-i", vcf, "-f", fasta, "-m", model, "--window", str(window), "-o", str(out),
                 "--bed", str(bed), "--track-dir", str(tracks), "-q", *extra])
    assert code == 0
    return out, bed, tracks


@pytest.fixture(scope="module")
def manta(tmp_path_factory):
    return run(tmp_path_factory.mktemp("manta"), MANTA, CHR20, "manta")


@pytest.fixture(scope="module")
def gridss(tmp_path_factory):
    return run(tmp_path_factory.mktemp("gridss"), GRIDSS, CHR20, "gridss")


@pytest.fixture(scope="module")
def novo(tmp_path_factory):
    return run(tmp_path_factory.mktemp("novo"), NOVO, CHR20, "novo")


@pytest.fixture(scope="module")
def model():
    return load_model(HYENA)


def statuses(path):
    return [(c[2], c[4], info(c)["GLRM_STATUS"]) for c in records(path)]


# --- the VCF text ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("which, src", [("manta", MANTA), ("gridss", GRIDSS), ("novo", NOVO)])
def test_records_unchanged_but_info(which, src, request):
    out = request.getfixturevalue(which)[0]
    inp, got = records(src), records(out)
    assert len(inp) == len(got)
    for a, b in zip(inp, got, strict=True):
        assert a[:7] == b[:7] and a[8:] == b[8:]
        old = a[7].split(";")
        new = b[7].split(";")
        assert new[:len(old)] == old                       # CIPOS, CIEND, IMPRECISE, ... kept as written
        assert [e.split("=")[0] for e in new[len(old):]] == list(KEYS)
    head = [x for x in lines(out) if x.startswith("##")]
    for key in KEYS:
        assert any(x.startswith(f"##INFO=<ID={key},Number=A") for x in head)
    assert any(x.startswith("##glrm_model=<ID=hyenadna-hf-tiny") and "Window=512" in x for x in head)
    assert any(x.startswith("##glrmCommand=glrm score-sv") for x in head)


@pytest.mark.parametrize("which", ["manta", "gridss", "novo"])
def test_output_parses_with_htslib_readers(which, request):
    out = str(request.getfixturevalue(which)[0])
    n = len(records(out))
    v = list(cyvcf2.VCF(out))
    assert len(v) == n and all(r.INFO.get("GLRM_STATUS") is not None for r in v)
    with pysam.VariantFile(out) as fh:
        got = list(fh)
    assert len(got) == n
    assert all(len(r.info["GLRM_STATUS"]) == len(r.alts) for r in got)
    text = pysam.bcftools.view("-H", out)
    assert len(text.splitlines()) == n


def test_manta_statuses_and_modes(manta):
    got = statuses(manta[0])
    for rid, alt, st in got:
        if alt.startswith("<DEL>") or "[" not in alt and "]" not in alt:
            assert st == "OK", rid
        else:   # every Manta BND on this chr20 slice has its mate on another chromosome
            assert st == "UNKNOWN_CONTIG", rid
    rows = {c[2]: info(c) for c in records(manta[0])}
    # the 328-bp spelled-out deletion fits a 512-bp window (one window, bp 1); the 3-120 kbp ones do not
    assert rows["MantaDEL:285799:0:0:0:3:0"]["GLRM_SV_BP"] == "1"
    assert all(rows[k]["GLRM_SV_BP"] in ("1", "2") for k in rows if k.startswith("MantaDEL"))
    for r in rows.values():
        if r["GLRM_STATUS"] == "OK":
            assert float(r["GLRM_SV_EMB"]) >= 0 and int(r["GLRM_SV_REACH"]) >= 0
        else:
            assert all(r[k] == "." for k in KEYS[:4])


def test_bed_rows(manta):
    bed = [x.split("\t") for x in lines(manta[1])]
    assert bed[0][0] == "#chrom" and bed[0][6:] == list(KEYS)
    recs = records(manta[0])
    assert len(bed) - 1 == len(recs)
    for row, cols in zip(bed[1:], recs, strict=True):
        i = info(cols)
        assert row[3] == cols[2] and row[4] == i["GLRM_SV_EMB"] and row[10] == i["GLRM_STATUS"]
        if cols[4] == "<DEL>":                                 # symbolic: POS0 .. END
            assert (int(row[1]), int(row[2])) == (int(cols[1]) - 1, int(i["END"]))


def test_gridss_bnd_forms(gridss):
    got = {rid: (alt, st) for rid, alt, st in statuses(gridss[0])}
    assert got["gridss273fb_7674o"] == ("G[20:13164101[", "OK")            # t[p[
    assert got["gridss273fb_7674h"] == ("]20:13160728]T", "OK")            # ]p]t
    assert got["gridss233bb_196h"] == ("[15:23685607[C", "UNKNOWN_CONTIG")  # [p[t, mate on chr15
    assert got["gridss275bf_349o"][1] == "OK"                              # inserted bases in the ALT
    bp = {c[2]: info(c)["GLRM_SV_BP"] for c in records(gridss[0])}
    assert all(v == "1" for k, v in bp.items() if got[k][1] == "OK")


def test_novobreak_ref_missing_and_tra(novo):
    for _rid, alt, st in statuses(novo[0]):
        assert st == ("UNSUPPORTED_ALLELE" if alt == "<TRA>" else "OK"), alt
    names = sorted(p.name for p in novo[2].iterdir())
    oks = sum(st == "OK" for *_, st in statuses(novo[0]))
    assert len(names) == oks == len(set(names))     # every call has ID 'N': names made unique per record
    assert "N.bedgraph" in names and any(n.startswith("N_rec") for n in names)


# --- the numbers -----------------------------------------------------------------------------------------

def written(out):
    return {(c[2], c[4]): info(c) for c in records(out)}


def test_values_are_the_engines(manta, gridss, model):
    from glrm.scoring.sv import SVEngine

    engine = SVEngine(model, want_track=False)
    with Fasta(CHR20) as fa:
        for src, out in ((MANTA, manta[0]), (GRIDSS, gridss[0])):
            got = written(out)
            with VcfReader(src) as reader:
                for rec in reader:
                    a = rec.alleles[0]
                    row = got[(rec.id, rec.alts[0])]
                    wins = allele_windows(fa, a, W, sv=True)
                    if not all(w.ok for w in wins):
                        continue
                    s = engine.score_allele(wins)
                    assert float(row["GLRM_SV_EMB"]) == pytest.approx(s.emb, rel=1e-5, abs=1e-9)
                    assert float(row["GLRM_SV_LLR"]) == pytest.approx(s.llr, rel=1e-5, abs=1e-4)
                    assert int(row["GLRM_SV_REACH"]) == s.reach and int(row["GLRM_SV_BP"]) == s.bp


def brute_window(model, win, k=768):
    """(EMB, LLR, REACH, positions, d) of one window pair from full forwards, written from the spec."""
    out_r, out_a = model(encode(win.ref)[None]), model(encode(win.alt)[None])
    hr, ha = out_r.hidden_states[0].double(), out_a.hidden_states[0].double()      # (W, H)
    lr = torch.log_softmax(out_r.logits[0, :, 7:11].double(), -1)                  # (W, 4)
    la = torch.log_softmax(out_a.logits[0, :, 7:11].double(), -1)
    nuc = {"A": 0, "C": 1, "G": 2, "T": 3}

    def lp(lps, seq, t):
        return float(lps[t - 1, nuc[seq[t]]]) if t > 0 and seq[t] in nuc else 0.0

    ri, ai, dist = [], [], []
    for fm in (win.left, win.right):
        ri += list(fm.ref_idx)
        ai += list(fm.alt_idx)
        dist += list(fm.distance)
    near = [j for j in range(len(ri)) if dist[j] <= k]
    u = hr[[ri[j] for j in near]].mean(0)
    v = ha[[ai[j] for j in near]].mean(0)
    emb = 1.0 - float(torch.dot(u, v) / (u.norm() * v.norm()))
    llr = sum(lp(la, win.alt, a) - lp(lr, win.ref, r) for r, a in zip(ri, ai, strict=True))
    d = np.array([float((ha[a] - hr[r]).norm()) for r, a in zip(ri, ai, strict=True)])
    reach = int(max(x for x, y in zip(dist, d, strict=True) if y >= 0.1 * d.max())) if d.max() > 0 else 0
    return emb, llr, reach, np.array(ri) + win.ref_start, d


@pytest.mark.parametrize("rid", ["MantaDEL:285799:0:0:0:3:0", "MantaDEL:282317:0:1:0:0:0"])
def test_brute_force_deletions(manta, model, rid):
    """A fits-mode (328 bp) and a breakpoint-mode (3.4 kbp) deletion, recomputed from full forwards."""
    got = {c[2]: info(c) for c in records(manta[0])}[rid]
    with VcfReader(MANTA) as reader, Fasta(CHR20) as fa:
        rec = next(r for r in reader if r.id == rid)
        wins = allele_windows(fa, rec.alleles[0], W, sv=True)
    model64 = copy.deepcopy(model).double()      # the brute force in float64: no float32 rounding in it
    with torch.no_grad():
        per_bp = [brute_window(model64, w) for w in wins]
    best = max(range(len(per_bp)), key=lambda i: per_bp[i][0])
    emb, llr, reach, pos, d = per_bp[best]
    assert int(got["GLRM_SV_BP"]) == best + 1
    assert float(got["GLRM_SV_EMB"]) == pytest.approx(emb, rel=1e-4, abs=1e-7)
    assert float(got["GLRM_SV_LLR"]) == pytest.approx(llr, rel=1e-4, abs=1e-3)
    assert int(got["GLRM_SV_REACH"]) == reach
    track = read_bedgraph(manta[2] / (rid.replace(":", "_") + ".bedgraph"))
    order = np.argsort(pos)
    assert np.array_equal(track.start, pos[order]) and np.array_equal(track.end, pos[order] + 1)
    assert np.allclose(track.value, d[order], rtol=1e-4, atol=1e-5)


# --- tracks and plot ---------------------------------------------------------------------------------------

def test_tracks(manta):
    out, _bed, tracks = manta
    oks = [c for c in records(out) if info(c)["GLRM_STATUS"] == "OK"]
    files = sorted(tracks.glob("*.bedgraph"))
    assert len(files) == len(oks)
    assert not [p for p in tracks.iterdir() if p.name.startswith(".")]   # no temporary files left
    with Fasta(CHR20) as fa, VcfReader(MANTA) as reader:
        by_id = {r.id: r for r in reader}
        for f in files:
            t = read_bedgraph(f)
            assert t.track_line.startswith("track type=bedGraph")
            assert (t.value >= 0).all() and (np.diff(t.start) > 0).all() and t.chrom == "20"
            m = t.meta
            wins = allele_windows(fa, by_id[m.vcf_id].alleles[0], W, sv=True)
            win = wins[m.bp - 1] if len(wins) == 2 else wins[0]
            want = np.concatenate([win.left.ref_idx, win.right.ref_idx]) + win.ref_start
            assert np.array_equal(t.start, np.sort(want))
            assert (m.window_start, m.window_end) == (win.ref_start, win.ref_start + W)


def test_plot_a_track(manta, tmp_path):
    track = sorted(manta[2].glob("*.bedgraph"))[0]
    png = tmp_path / "sv.png"
    assert main(["plot", str(track), "-o", str(png), "--title", "a deletion"]) == 0
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


# --- the E. coli simulated set ----------------------------------------------------------------------------

def test_ecoli_simulated(tmp_path):
    out, bed, _ = run(tmp_path, ECOLI_VCF, ECOLI, "ecoli", "--max-sv-len", "100000")
    got = statuses(out)
    assert len(got) == len(records(ECOLI_VCF)) == 80
    for rid, alt, st in got:
        if alt == "<INS>":   # SURVIVOR writes no SVINSSEQ: the inserted sequence is unknown
            assert st == "UNSUPPORTED_ALLELE", rid
        else:
            assert st == "OK", rid
    assert [c[2] for c in records(out)] == [c[2] for c in records(ECOLI_VCF)]
    assert len(lines(bed)) == 81


def test_ecoli_raw_file_is_refused(tmp_path, capsys):
    out = tmp_path / "raw.vcf"
    code = main(["score-sv", "-i", ECOLI_RAW, "-f", ECOLI, "-m", HYENA, "--window", str(W), "-o", str(out),
                 "-q"])
    err = capsys.readouterr().err
    assert code != 0 and not out.exists()
    assert "ecoli_sim_svs.vcf: line 18" in err and "FORMAT" in err and len(err.strip().splitlines()) == 1


# --- output formats and failures -------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["out.vcf.gz", "out.bcf"])
def test_compressed_and_bcf_outputs(tmp_path, gridss, name):
    out = tmp_path / name
    assert main(["score-sv", "-i", GRIDSS, "-f", CHR20, "-m", HYENA, "--window", str(W), "-o", str(out),
                 "-q"]) == 0
    index = pathlib.Path(str(out) + (".tbi" if name.endswith(".gz") else ".csi"))
    assert index.exists()
    with pysam.VariantFile(str(out)) as fh:
        got = [(r.id, r.info["GLRM_STATUS"], r.info.get("GLRM_SV_BP")) for r in fh]
    want = [(c[2], tuple(info(c)["GLRM_STATUS"].split(",")),
             (None,) if info(c)["GLRM_SV_BP"] == "." else (int(info(c)["GLRM_SV_BP"]),))
            for c in records(gridss[0])]
    assert got == want


def test_error_mid_run_leaves_no_output(tmp_path, capsys):
    """A bad record after good ones: one-line error with the line number; no VCF, no BED, no temporary files;
    the tracks of the records before it are complete files."""
    text = lines(MANTA)
    head = [x for x in text if x.startswith("#")]
    body = [x for x in text if not x.startswith("#")]
    bad = body[3].split("\t")
    bad[1] = "12x"
    vcf = tmp_path / "bad.vcf"
    vcf.write_text("\n".join(head + body[:3] + ["\t".join(bad)] + body[4:]) + "\n")
    out, bed, tracks = tmp_path / "o.vcf", tmp_path / "o.bed", tmp_path / "tracks"
    code = main(["score-sv", "-i", str(vcf), "-f", CHR20, "-m", HYENA, "--window", str(W), "-o", str(out),
                 "--bed", str(bed), "--track-dir", str(tracks), "-q"])
    err = capsys.readouterr().err.strip()
    assert code != 0 and f"line {len(head) + 4}" in err and len(err.splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.vcf", "tracks"]
    for f in tracks.iterdir():
        assert not f.name.startswith(".") and read_bedgraph(f).value.size > 0


def test_stdin_to_stdout_matches_the_file_run(tmp_path):
    """`-i - -o -`: the VCF on stdout is the file run's, byte for byte (--no-version); logs stay on stderr."""
    import subprocess
    import sys

    text = "\n".join(lines(GRIDSS)) + "\n"
    args = ["score-sv", "-f", CHR20, "-m", HYENA, "--window", str(W), "--no-version", "-q"]
    proc = subprocess.run([sys.executable, "-m", "glrm.cli.main", *args, "-i", "-", "-o", "-"], input=text,
                          capture_output=True, text=True, check=True)
    out = tmp_path / "file.vcf"
    assert main([*args, "-i", GRIDSS, "-o", str(out)]) == 0
    assert proc.stdout == out.read_text() and proc.stdout.startswith("##fileformat=VCF")
