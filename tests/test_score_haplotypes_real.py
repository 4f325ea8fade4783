"""`glrm score-haplotypes` on real phased data (tests/data/README.md, "Phased cohorts"): 1000 Genomes chr22
(5 samples) and Eagle's phasing of 379 samples on chr21, each with its synthetic reference. The region queries
(-r, --targets) give what one pass over the file gives; backgrounds repeat, so far fewer are scored than there
are haplotypes; the reference background is score-vcf's value."""

from __future__ import annotations

import math

import pysam

from glrm.cli.main import main

DATA = "tests/data"
CHR22, FA22 = f"{DATA}/phased_chr22.vcf.gz", f"{DATA}/phased_chr22.fa.gz"
CHR21, FA21 = f"{DATA}/phased_chr21.vcf.gz", f"{DATA}/phased_chr21.fa.gz"
HYENA = "tests/fixtures/hyenadna-hf-tiny"
W = 64


def run(*args):
    return main(["score-haplotypes", "-m", HYENA, "--window", str(W), "--device", "cpu", "-q", *args])


def records(path):
    with pysam.BGZFile(str(path)) if str(path).endswith(".gz") else open(path, "rb") as fh:
        text = fh.read().decode()
    return [x.split("\t") for x in text.splitlines() if x and not x.startswith("#")]


def same(a: list[str], b: list[str]) -> bool:
    """Two output records agree: every byte, but numbers to float rounding (batches differ between runs)."""
    if len(a) != len(b) or a[:7] != b[:7]:
        return False
    for x, y in zip(a[7:], b[7:], strict=True):
        for u, v in zip(x.replace(";", ":").split(":"), y.replace(";", ":").split(":"), strict=True):
            for p, q in zip(u.split(","), v.split(","), strict=True):
                if p != q and not math.isclose(float(p.split("=")[-1]), float(q.split("=")[-1]),
                                               rel_tol=1e-5):
                    return False
    return True


def test_chr22_region_and_targets_equal_one_pass(tmp_path):
    # one pass over a sub-file that holds every record within 2W of the region
    sub = tmp_path / "sub.vcf"
    with pysam.TabixFile(CHR22) as tbx:
        sub.write_text("\n".join([*tbx.header, *tbx.fetch("22", 50_301_000 - 200, 50_304_000 + 200)]) + "\n")
    one, reg = tmp_path / "one.vcf", tmp_path / "reg.vcf.gz"
    assert run("-i", str(sub), "-f", FA22, "-o", str(one)) == 0
    assert run("-i", CHR22, "-f", FA22, "-o", str(reg), "-r", "22:50301001-50304000") == 0
    by_pos = {c[1]: c for c in records(one)}
    got = records(reg)
    assert len(got) > 30
    assert all(same(c, by_pos[c[1]]) for c in got)
    statuses = [x for c in got for x in c[7].split("GLRM_STATUS=")[1].split(",")]
    assert statuses.count("OK") == len(statuses)
    # --targets: a sites-only VCF of three of them; the output gains FORMAT and the five sample columns
    picked = got[5:8]
    targets = tmp_path / "targets.vcf"
    with pysam.TabixFile(CHR22) as tbx:
        head = list(tbx.header)
    lines = [*head[:-1], "\t".join(head[-1].split("\t")[:8])]
    src = {c[1]: c for c in records(CHR22)}
    lines += ["\t".join(src[c[1]][:8]) for c in picked]
    targets.write_text("\n".join(lines) + "\n")
    tout = tmp_path / "t.vcf"
    assert run("-i", CHR22, "-f", FA22, "-o", str(tout), "--targets", str(targets)) == 0
    out_head = [x for x in tout.read_text().splitlines() if x.startswith("#CHROM")][0].split("\t")
    assert out_head[8:] == ["FORMAT", "HG00096", "HG00097", "HG00099", "HG00100", "HG00101"]
    for c, t in zip(picked, records(tout), strict=True):
        assert t[:7] == c[:7] and t[7].startswith(src[c[1]][7] + ";GLRM_CLLR=")
        assert t[8] == "GLRM_HAP_CLLR:GLRM_HAP_BG:GLRM_HAP_STATUS"
        assert same(t[:8] + [c[7]], c[:8] + [c[7]])
        n_keys = len(c[8].split(":"))
        assert [":".join(x.split(":")[n_keys - 3:]) for x in c[9:]] == t[9:]


def test_chr22_backgrounds_are_shared_and_the_reference_one_is_score_vcf(tmp_path):
    out, sv = tmp_path / "h.vcf", tmp_path / "sv.vcf"
    region = "22:50310001-50311000"
    assert run("-i", CHR22, "-f", FA22, "-o", str(out), "-r", region) == 0
    assert main(["score-vcf", "-i", CHR22, "-f", FA22, "-m", HYENA, "--window", str(W), "--device", "cpu",
                 "-q", "--scores", "cllr", "-o", str(sv), "-r", region]) == 0
    for h, s in zip(records(out), records(sv), strict=True):
        info = dict(e.split("=", 1) for e in h[7].split(";") if "=" in e)
        assert info["GLRM_CLLR"] == dict(e.split("=", 1) for e in s[7].split(";") if "=" in e)["GLRM_CLLR"]
        keys = h[8].split(":")
        for sample in h[9:]:
            parts = sample.split(":")
            for bg, v in zip(parts[keys.index("GLRM_HAP_BG")].split(","),
                             parts[keys.index("GLRM_HAP_CLLR")].split(","), strict=True):
                assert bg != "0" or v == info["GLRM_CLLR"]
        if info["GLRM_STATUS"] == "OK":
            assert 1 <= int(info["GLRM_HAP_N_UNIQUE"]) <= int(info["GLRM_HAP_N"]) <= 10


def test_chr21_379_samples_dedup(tmp_path, capsys):
    out, naive = tmp_path / "h.vcf", tmp_path / "naive.vcf"
    region = "21:39557000-39557100,21:39700200-39700300"      # two pairs of SNPs 9 and 32 bp apart
    args = ["-m", HYENA, "--window", "128", "--device", "cpu", "-i", CHR21, "-f", FA21, "-r", region]
    assert main(["score-haplotypes", *args, "-o", str(out)]) == 0
    err = capsys.readouterr().err
    got = records(out)
    assert len(got) == 4 and all(len(c) == 9 + 379 for c in got)
    infos = [dict(e.split("=", 1) for e in c[7].split(";") if "=" in e) for c in got]
    assert [int(i["GLRM_HAP_N"]) for i in infos] == [758] * 4
    uniq = [int(i["GLRM_HAP_N_UNIQUE"]) for i in infos]
    assert all(2 <= u <= 4 for u in uniq), uniq        # each SNP's neighbour: carried or not, or missing
    assert "379 samples, 758 haplotypes per ALT" in err
    assert f"3,032 haplotype windows scored from {sum(uniq)} distinct backgrounds" in err
    args[-1] = "21:39557079-39557079"                   # every haplotype on its own: 758 jobs
    assert main(["score-haplotypes", *args, "-q", "-o", str(naive), "--no-dedup"]) == 0
    assert all(same(a, b) for a, b in zip(records(naive), got[:1], strict=True))
