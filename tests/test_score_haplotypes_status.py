"""`glrm score-haplotypes` on bad input: a status per sample, haplotype and target ALT for unphased, missing,
haploid and polyploid genotypes, phase sets that differ, overlapping alleles on one haplotype, symbolic
alleles and background REFs that differ from the FASTA inside the windows; none of them outside the windows;
and one-line errors for what cannot be scored at all. Records are kept as written."""

from __future__ import annotations

import random

import pytest

from glrm.cli.main import main

HYENA = "tests/fixtures/hyenadna-hf-tiny"
W = 64
SAMPLES = ["ok", "unph", "miss", "hap", "ps", "ovl", "sym", "bad", "tri"]


def _case(tmp_path):
    """A random 700-bp contig, targets T1 (SNV at 300) and T2 (SNV at 500, 200 bp from every other record),
    and background records near T1 carrying each problem."""
    rng = random.Random(5)
    seq = "".join(rng.choice("ACGT") for _ in range(700))
    (tmp_path / "ref.fa").write_text(">c\n" + seq + "\n")
    other = {b: next(x for x in "ACGT" if x != b) for b in "ACGT"}

    def snv(pos0):
        return seq[pos0], other[seq[pos0]]

    bad_ref = other[seq[319]]
    # per record: (pos0, ref, alt, info, {sample: GT:PS})
    rows = [
        (279, *snv(279), ".", dict(ok="1|0:.", unph="0/1:.", miss=".|1:.", hap="1:.", ps="0|1:5", ovl="0|0:.",
                                    sym="0|0:.", bad="0|0:.", tri="0|0|1:.")),
        (283, seq[283:287], seq[283], ".", dict(ovl="1|0:.")),            # deletes 284..286
        (285, *snv(285), ".", dict(ovl="1|0:.")),                         # inside that deletion
        (299, *snv(299), ".", dict(ok="0|1:.", unph="0|1:.", miss="0|1:.", hap="1:.", ps="0|1:9", ovl="0|1:.",
                                    sym="0|1:.", bad="0|1:.", tri="0|1:.")),               # T1
        (309, seq[309], "<DEL>", "END=315", dict(sym="1|0:.")),
        (319, bad_ref, other[bad_ref], ".", dict(bad="0|1:.")),            # REF is not the FASTA's
        (499, *snv(499), ".", dict(hap="0:.")),                             # T2
    ]
    lines = ["##fileformat=VCFv4.2", "##contig=<ID=c,length=700>", '##ALT=<ID=DEL,Description="Deletion">',
             '##INFO=<ID=END,Number=1,Type=Integer,Description="End">',
             '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
             '##FORMAT=<ID=PS,Number=1,Type=Integer,Description="Phase set">',
             "\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT", *SAMPLES])]
    for i, (pos0, ref, alt, inf, gts) in enumerate(rows):
        lines.append("\t".join(["c", str(pos0 + 1), f"r{i}", ref, alt, ".", ".", inf, "GT:PS",
                                *(gts.get(s, "0|0:.") for s in SAMPLES)]))
    vcf = tmp_path / "in.vcf"
    vcf.write_text("\n".join(lines) + "\n")
    return vcf


def _run(tmp_path, *extra):
    vcf = _case(tmp_path)
    out = tmp_path / "out.vcf"
    code = main(["score-haplotypes", "-i", str(vcf), "-f", str(tmp_path / "ref.fa"), "-m", HYENA, "--window",
                 str(W), "--device", "cpu", "-o", str(out), *extra])
    return code, vcf, out


def _status(cols):
    i = cols[8].split(":").index("GLRM_HAP_STATUS")
    return {s: cols[9 + j].split(":")[i] for j, s in enumerate(SAMPLES)}


def test_statuses_per_sample_and_haplotype(tmp_path, capsys):
    code, vcf, out = _run(tmp_path)
    assert code == 0
    recs = {c[2]: c for c in (x.split("\t") for x in out.read_text().splitlines() if not x.startswith("#"))}
    assert _status(recs["r3"]) == {
        "ok": "OK,OK", "unph": "UNPHASED,UNPHASED", "miss": "MISSING_GT,OK", "hap": "OK,PLOIDY",
        "ps": "UNPHASED,UNPHASED", "ovl": "OVERLAP,OK", "sym": "SYMBOLIC_IN_WINDOW,OK",
        "bad": "OK,BACKGROUND_REF_MISMATCH", "tri": "PLOIDY,PLOIDY"}
    assert "GLRM_HAP_N=7;GLRM_HAP_N_UNIQUE=2;" in recs["r3"][7]
    # T2 is 180 bp from the nearest record: nothing but its own genotypes matters
    assert _status(recs["r6"]) == {s: "OK,PLOIDY" if s == "hap" else "OK,OK" for s in SAMPLES}
    # the records themselves as targets: score-vcf's statuses for every haplotype
    assert "GLRM_STATUS=UNSUPPORTED_ALLELE" in recs["r4"][7] and "GLRM_HAP_N=." in recs["r4"][7]
    assert set(_status(recs["r4"]).values()) == {"UNSUPPORTED_ALLELE,UNSUPPORTED_ALLELE"}
    assert "GLRM_STATUS=REF_MISMATCH" in recs["r5"][7]
    # unscored slots have '.' values and background ids
    i = recs["r3"][8].split(":")
    unph = recs["r3"][9 + SAMPLES.index("unph")].split(":")
    assert unph[i.index("GLRM_HAP_CLLR")] == ".,." and unph[i.index("GLRM_HAP_BG")] == ".,."
    err = capsys.readouterr().err
    assert "haplotype windows: OK " in err and "UNPHASED" in err
    assert "first OVERLAP: " in err and "sample ovl haplotype 1" in err
    # every record as it came, in order, but for the spliced keys
    src = [x.split("\t") for x in vcf.read_text().splitlines() if not x.startswith("#")]
    for a, b in zip(src, (recs[f"r{k}"] for k in range(len(src))), strict=True):
        assert b[:7] == a[:7] and b[7].startswith(a[7] if a[7] != "." else "GLRM_CLLR=")
        assert all(y.startswith(x + ":") for x, y in zip(a[8:], b[8:], strict=True))


def test_samples_subset_leaves_the_others_empty(tmp_path):
    (tmp_path / "names.txt").write_text("ok\nhap\n")
    code, _vcf, out = _run(tmp_path, "-S", str(tmp_path / "names.txt"))
    assert code == 0
    lines = [x.split("\t") for x in out.read_text().splitlines() if x[0] != "#"]
    cols = next(c for c in lines if c[2] == "r3")
    st = _status(cols)
    assert st["ok"] == "OK,OK" and st["hap"] == "OK,PLOIDY" and st["unph"] == "."
    assert "GLRM_HAP_N=3;" in cols[7]


@pytest.mark.parametrize("args, message", [
    (["-s", "nobody"], "no sample named nobody"),
    (["-s", "ok", "-S", "x.txt"], "give either -s/--samples or -S/--samples-file"),
    (["--scores", "gpn_llr"], "--scores gpn_llr: none of these is defined"),
])
def test_one_line_errors(tmp_path, capsys, args, message):
    code, _vcf, out = _run(tmp_path, *args)
    assert code == 2 and not out.exists()
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_unsorted_and_sites_only_inputs_are_errors(tmp_path, capsys):
    vcf = _case(tmp_path)
    lines = vcf.read_text().splitlines()
    head, recs = [x for x in lines if x.startswith("#")], [x for x in lines if not x.startswith("#")]
    (tmp_path / "unsorted.vcf").write_text("\n".join(head + recs[3:] + recs[:3]) + "\n")
    sites = [h for h in head[:-1]] + ["\t".join(head[-1].split("\t")[:8])] + \
            ["\t".join(r.split("\t")[:8]) for r in recs]
    (tmp_path / "sites.vcf").write_text("\n".join(sites) + "\n")
    for name, message in (("unsorted.vcf", "the VCF is not sorted; sort it (bcftools sort)"),
                          ("sites.vcf", "has no sample columns; score-haplotypes needs a VCF with phased")):
        out = tmp_path / "o.vcf"
        code = main(["score-haplotypes", "-i", str(tmp_path / name), "-f", str(tmp_path / "ref.fa"), "-m",
                     HYENA, "--window", str(W), "--device", "cpu", "-o", str(out)])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and not out.exists() and len(err) == 1 and message in err[0], err
    code = main(["score-haplotypes", "-i", "-", "-f", str(tmp_path / "ref.fa"), "-m", HYENA, "--targets",
                 str(vcf)])
    assert code == 2 and "needs an indexed file, not stdin" in capsys.readouterr().err


def test_options_refuse_shard_and_resume():
    from glrm.errors import InputError
    from glrm.pipeline.options import ScoreHaplotypesOptions

    for extra in ({"shard": "1/2"}, {"resume": True}):
        with pytest.raises(InputError, match="score-haplotypes takes no --shard or --resume"):
            ScoreHaplotypesOptions(HYENA, input="x.vcf.gz", fasta="x.fa", **extra).validate()
