"""`glrm score-haplotypes` end to end with the tiny fixture models on a synthetic phased cohort: every
haplotype's values equal a brute-force computation written out here (each haplotype spelled by hand with all
of its alleles, the windows cut from it by the definition, full forwards, the scores by formula); haplotypes
with no allele of their own in the windows get score-vcf's values exactly; --no-dedup gives the same numbers;
records are kept byte for byte but for the spliced INFO and FORMAT keys. Real phased data and the statuses:
tests/test_score_haplotypes_real.py and tests/test_score_haplotypes_status.py."""

from __future__ import annotations

import math
import random

import pysam
import pytest
from helpers import fixture_model
from test_cli_score_vcf import brute
from test_haplotype_windows import spell

from glrm.cli.main import main
from glrm.dna import revcomp

HYENA = "tests/fixtures/hyenadna-hf-tiny"
CADUCEUS = "tests/fixtures/caduceus-ph-tiny"
W = 64
SAMPLES = ["S1", "S2", "S3", "S4"]          # S1 carries no ALT anywhere: the reference background


def make_cohort(folder, seed: int = 16, length: int = 1500):
    """A random contig 'c' and a phased VCF of SNVs, MNVs, anchored indels that cannot slide, and a few
    two-ALT SNVs, 6 to 18 bp apart, genotyped for SAMPLES. Returns (fasta, vcf, seq, records) with records
    (pos0, ref, alts, [(a, b) per sample])."""
    rng = random.Random(seed)
    seq = "".join(rng.choice("ACGT") for _ in range(length))
    other = {b: [x for x in "ACGT" if x != b] for b in "ACGT"}
    records, pos = [], 120
    while pos < length - 150:
        pos += rng.randint(6, 18)
        kind = rng.choice(["snv"] * 5 + ["mnv", "ins", "ins", "del", "del", "multi"])
        if kind == "snv":
            ref, alts = seq[pos], [rng.choice(other[seq[pos]])]
        elif kind == "multi":
            ref, alts = seq[pos], rng.sample(other[seq[pos]], 2)
        elif kind == "mnv":
            ref = seq[pos:pos + 2]
            alts = [rng.choice(other[ref[0]]) + rng.choice(other[ref[1]])]
        elif kind == "ins":
            ins = "".join(rng.choice("ACGT") for _ in range(rng.randint(1, 3)))
            if ins[-1] == seq[pos] or ins[0] == seq[pos + 1]:
                continue
            ref, alts = seq[pos], [seq[pos] + ins]
        else:
            k = rng.randint(1, 3)
            if seq[pos] == seq[pos + k] or seq[pos + 1] == seq[pos + k + 1]:
                continue
            ref, alts = seq[pos:pos + k + 1], [seq[pos]]
        gts = [(0, 0)]
        for _ in SAMPLES[1:]:
            gts.append(tuple(rng.choice([0, 0, 1] + ([2] if len(alts) > 1 else [])) for _ in range(2)))
        records.append((pos, ref, alts, gts))
        pos += len(ref)
    fasta = folder / "ref.fa"
    fasta.write_text(">c\n" + "\n".join(seq[i:i + 60] for i in range(0, length, 60)) + "\n")
    vcf = folder / "cohort.vcf"
    lines = ["##fileformat=VCFv4.2", f"##contig=<ID=c,length={length}>",
             '##INFO=<ID=DP,Number=1,Type=Integer,Description="depth">',
             '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
             '##FORMAT=<ID=DS,Number=1,Type=Float,Description="Dosage">',
             "\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT", *SAMPLES])]
    for i, (pos, ref, alts, gts) in enumerate(records):
        fields = [f"{a}|{b}:{(a > 0) + (b > 0)}" for a, b in gts]
        if i % 7 == 3:
            fields[3] = fields[3].split(":")[0]          # a sample field that drops its trailing key
        lines.append("\t".join(["c", str(pos + 1), f"v{i}", ref, ",".join(alts), "50", "PASS", f"DP={i}",
                                "GT:DS", *fields]))
    vcf.write_text("\n".join(lines) + "\n")
    pysam.tabix_compress(str(vcf), str(vcf) + ".gz", force=True)      # for -r/-R and --targets
    pysam.tabix_index(str(vcf) + ".gz", preset="vcf", force=True)
    return fasta, vcf, seq, records


def run(args, model=HYENA, window=W):
    return main(["score-haplotypes", "-m", model, "--window", str(window), "--device", "cpu", "-q", *args])


def body(path):
    return [x.split("\t") for x in path.read_text().splitlines() if not x.startswith("#")]


def fmt(cols, key):
    """{sample index: [values...]} of FORMAT key `key` in one record."""
    keys = cols[8].split(":")
    i = keys.index(key)
    return {j: cols[9 + j].split(":")[i].split(",") for j in range(len(cols) - 9)}


def info(cols):
    return dict(e.split("=", 1) if "=" in e else (e, "") for e in cols[7].split(";"))


def num(text):
    return None if text == "." else float(text)


def close(got, want, rel=2e-4, abs_=2e-4):
    if want is None:
        return got is None
    return got is not None and math.isclose(got, want, rel_tol=rel, abs_tol=abs_)


def oracle_windows(seq, records, t, alt, sample, slot):
    """The ref/alt windows of record t's ALT `alt` in haplotype `slot` of `sample`, from the haplotype spelled
    out with all of its alleles but the target's (the target is set to REF and to ALT)."""
    pos, ref = records[t][0], records[t][1]
    carried = [(p, r, alts[gts[sample][slot] - 1]) for i, (p, r, alts, gts) in enumerate(records)
               if i != t and gts[sample][slot] > 0]
    hap, where = spell(seq, carried)
    hs, o, n, m = where[pos], W // 2, len(ref), len(alt)
    a_ref, a_alt = ref, alt
    if n == m:                                   # SNV/MNV: trimmed as glrm scores them (no shared bases)
        while a_ref and a_ref[0] == a_alt[0]:
            a_ref, a_alt, hs = a_ref[1:], a_alt[1:], hs + 1
        n = m = len(a_ref)
    return hap[hs - o:hs - o + W], hap[hs - o:hs] + a_alt + hap[hs + n:hs + n + W - o - m], o, n, m


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    d = tmp_path_factory.mktemp("cohort")
    fasta, vcf, seq, records = make_cohort(d)
    out = d / "hap.vcf"
    assert run(["-i", str(vcf), "-f", str(fasta), "-o", str(out), "--scores", "llr,cllr,mlr,emb",
                "--emb-flank", "20"]) == 0
    return fasta, vcf, seq, records, out


def test_every_haplotype_equals_brute_force(cohort):
    _fasta, _vcf, seq, records, out = cohort
    model = fixture_model("hyenadna-hf-tiny")
    memo = {}
    checked = 0
    rows = body(out)
    assert len(rows) == len(records) > 40
    for t, cols in enumerate(rows):
        alts = records[t][2]
        assert info(cols)["GLRM_STATUS"] == ",".join(["OK"] * len(alts))
        vals = {k: fmt(cols, f"GLRM_HAP_{k}") for k in ("LLR", "CLLR", "MLR", "EMB")}
        status = fmt(cols, "GLRM_HAP_STATUS")
        for j in range(len(SAMPLES)):
            for k, alt in enumerate(alts):
                for slot in (0, 1):
                    i = 2 * k + slot                   # ALT-major
                    assert status[j][i] == "OK"
                    wins = oracle_windows(seq, records, t, alt, j, slot)
                    if wins[:2] not in memo:
                        memo[wins[:2]] = brute(model, *wins, 20)
                    llr, cllr, mlr, emb = memo[wins[:2]]
                    assert close(num(vals["LLR"][j][i]), llr), (t, j, k, slot, vals["LLR"][j][i], llr)
                    assert close(num(vals["CLLR"][j][i]), cllr), (t, j, k, slot)
                    assert close(num(vals["MLR"][j][i]), mlr), (t, j, k, slot)
                    assert close(num(vals["EMB"][j][i]), emb, 1e-3, 1e-6), (t, j, k, slot)
                    checked += 1
    assert checked > 8 * len(records)


def test_summaries_and_background_ids(cohort):
    *_, records, out = cohort
    for t, cols in enumerate(body(out)):
        inf = info(cols)
        bgs, vals = fmt(cols, "GLRM_HAP_BG"), fmt(cols, "GLRM_HAP_CLLR")
        for k in range(len(records[t][2])):
            per = [(bgs[j][2 * k + h], num(vals[j][2 * k + h])) for j in range(4) for h in (0, 1)]
            assert int(inf["GLRM_HAP_N"].split(",")[k]) == 8
            assert int(inf["GLRM_HAP_N_UNIQUE"].split(",")[k]) == len({b for b, _ in per})
            got = [v for _, v in per]
            assert close(num(inf["GLRM_HAP_CLLR_MEAN"].split(",")[k]), sum(got) / 8, 1e-5, 1e-5)
            assert inf["GLRM_HAP_CLLR_MIN"].split(",")[k] == f"{min(got):.6g}"
            assert inf["GLRM_HAP_CLLR_MAX"].split(",")[k] == f"{max(got):.6g}"
            for b, v in per:               # one background, one value
                assert all(v == v2 for b2, v2 in per if b2 == b)
            # background 0 is the reference: S1 carries nothing, and its values are GLRM_CLLR
            assert bgs[0][2 * k] == bgs[0][2 * k + 1] == "0"
            assert vals[0][2 * k] == inf["GLRM_CLLR"].split(",")[k]


def test_reference_background_is_score_vcf_exactly(cohort, tmp_path):
    fasta, vcf, _seq, _records, out = cohort
    sv = tmp_path / "sv.vcf"
    assert main(["score-vcf", "-i", str(vcf), "-f", str(fasta), "-m", HYENA, "--window", str(W), "--device",
                 "cpu", "-q", "--scores", "llr,cllr,mlr,emb", "--emb-flank", "20", "-o", str(sv)]) == 0
    checked = 0
    for a, b in zip(body(sv), body(out), strict=True):
        ia, ib = info(a), info(b)
        for key in ("GLRM_LLR", "GLRM_CLLR", "GLRM_MLR", "GLRM_EMB", "GLRM_STATUS"):
            assert ia[key] == ib[key]               # the reference background, as score-vcf writes it
        bgs = fmt(b, "GLRM_HAP_BG")
        for key in ("LLR", "CLLR", "MLR", "EMB"):
            per = fmt(b, f"GLRM_HAP_{key}")
            for j in range(4):
                for i, bg in enumerate(bgs[j]):
                    if bg == "0":      # no allele of its own in the windows: score-vcf's value, to the digit
                        assert per[j][i] == ia[f"GLRM_{key}"].split(",")[i // 2]
                        checked += 1
    assert checked > 100


def test_no_dedup_gives_the_same_numbers(cohort, tmp_path):
    fasta, vcf, *_ , out = cohort
    naive = tmp_path / "naive.vcf"
    assert run(["-i", str(vcf), "-f", str(fasta), "-o", str(naive), "--scores", "llr,cllr,mlr,emb",
                "--emb-flank", "20", "--no-dedup"]) == 0
    # the same values to float rounding (the passes are batched differently: docs/score-vcf.md, Performance),
    # the same statuses, backgrounds and counts exactly
    for a, b in zip(body(naive), body(out), strict=True):
        assert a[:7] == b[:7] and a[8] == b[8]
        pairs = [zip(a[7].split(";"), b[7].split(";"), strict=True)]
        pairs += [zip(a[9 + j].split(":"), b[9 + j].split(":"), strict=True) for j in range(4)]
        for x, y in (p for z in pairs for p in z):
            for u, v in zip(x.split(","), y.split(","), strict=True):
                assert u == v or math.isclose(float(u.split("=")[-1]), float(v.split("=")[-1]), rel_tol=1e-5)


def test_records_are_kept_byte_for_byte(cohort):
    _fasta, vcf, *_, out = cohort
    src = [x.split("\t") for x in vcf.read_text().splitlines() if not x.startswith("#")]
    for a, b in zip(src, body(out), strict=True):
        assert b[:7] == a[:7]
        assert b[7].startswith(a[7] + ";GLRM_LLR=")
        assert b[8].startswith(a[8] + ":GLRM_HAP_LLR:")
        for x, y in zip(a[9:], b[9:], strict=True):
            keep = x + (":." if x.count(":") == 0 else "")      # a dropped trailing key comes back as '.'
            assert y.startswith(keep + ":")
    head = [x for x in out.read_text().splitlines() if x.startswith("##")]
    assert '##FORMAT=<ID=GLRM_HAP_CLLR,Number=.,Type=Float,Description="glrm score-haplotypes: ' \
           'GLRM_CLLR of the ALT in each haplotype\'s own background, per ALT then haplotype">' in head
    assert any(x.startswith("##INFO=<ID=GLRM_HAP_N_UNIQUE,Number=A,Type=Integer") for x in head)
    assert any(x.startswith("##glrmCommand=glrm score-haplotypes ") for x in head)


def test_default_scores_and_bed(cohort, tmp_path):
    fasta, vcf, *_ = cohort
    out, bed = tmp_path / "o.vcf.gz", tmp_path / "o.bed"
    assert run(["-i", f"{vcf}.gz", "-f", str(fasta), "-o", str(out), "--bed", str(bed), "-r",
                "c:300-400"]) == 0
    assert (tmp_path / "o.vcf.gz.tbi").exists()
    rows = [x.split("\t") for x in bed.read_text().splitlines()]
    assert rows[0] == ["#chrom", "start", "end", "name", "score", "strand", "GLRM_CLLR", "GLRM_HAP_CLLR_MEAN",
                       "GLRM_HAP_CLLR_MIN", "GLRM_HAP_CLLR_MAX", "GLRM_HAP_N", "GLRM_HAP_N_UNIQUE",
                       "GLRM_STATUS"]
    assert len(rows) > 5 and all(r[-1] == "OK" and r[-3] == "8" for r in rows[1:])


def test_rc_mean_on_haplotypes_by_brute_force(cohort, tmp_path):
    fasta, vcf, seq, records, _ = cohort
    out = tmp_path / "rc.vcf"
    assert run(["-i", f"{vcf}.gz", "-f", str(fasta), "-o", str(out), "--scores", "llr", "--rc", "mean",
                "-r", "c:200-420"]) == 0
    model = fixture_model("hyenadna-hf-tiny")
    by_pos = {str(r[0] + 1): t for t, r in enumerate(records)}
    checked = 0
    for cols in body(out):
        t = by_pos[cols[1]]
        alts = records[t][2]
        if len(records[t][1]) != 1 or len(alts[0]) != 1:
            continue                                         # SNVs: the mirror is the reverse complement
        vals = fmt(cols, "GLRM_HAP_LLR")
        for j in (1, 2):
            for slot in (0, 1):
                ref, alt, o, n, m = oracle_windows(seq, records, t, alts[0], j, slot)
                fwd = brute(model, ref, alt, o, n, m, 20)[0]
                rev = brute(model, revcomp(ref), revcomp(alt), W - o - 1, 1, 1, 20)[0]
                assert close(num(vals[j][slot]), (fwd + rev) / 2)
                checked += 1
    assert checked >= 8


def test_masked_model_brute_force(cohort, tmp_path):
    fasta, vcf, seq, records, _ = cohort
    out = tmp_path / "masked.vcf"
    assert run(["-i", f"{vcf}.gz", "-f", str(fasta), "-o", str(out), "--scores", "mlr,emb", "--emb-flank",
                "20", "-r", "c:200-330"], model=CADUCEUS) == 0
    model = fixture_model("caduceus-ph-tiny")
    by_pos = {str(r[0] + 1): t for t, r in enumerate(records)}
    checked = 0
    for cols in body(out):
        t = by_pos[cols[1]]
        vals, emb = fmt(cols, "GLRM_HAP_MLR"), fmt(cols, "GLRM_HAP_EMB")
        for j in (1, 3):
            for k, alt in enumerate(records[t][2]):
                for slot in (0, 1):
                    _, _, mlr, e = brute(model, *oracle_windows(seq, records, t, alt, j, slot), 20)
                    assert close(num(vals[j][2 * k + slot]), mlr), (t, j, k, slot)
                    assert close(num(emb[j][2 * k + slot]), e, 1e-3, 1e-6)
                    checked += 1
    assert checked >= 12


def test_tile_mode_reference_background_is_score_vcf_tile(cohort, tmp_path):
    fasta, vcf, *_ = cohort
    hap, sv = tmp_path / "h.vcf", tmp_path / "sv.vcf"
    common = ["-i", f"{vcf}.gz", "-f", str(fasta), "-r", "c:400-700", "--tile", "--scores", "mlr,cllr"]
    assert run([*common, "-o", str(hap)]) == 0
    assert main(["score-vcf", *common, "-m", HYENA, "--window", str(W), "--device", "cpu", "-q",
                 "-o", str(sv)]) == 0
    got = body(hap)
    assert len(got) > 10
    for a, b in zip(body(sv), got, strict=True):     # to float rounding: a tile's passes batch differently
        ia, ib = info(a), info(b)
        for key in ("GLRM_MLR", "GLRM_CLLR"):
            for x, y in zip(ia[key].split(","), ib[key].split(","), strict=True):
                assert x == y or math.isclose(float(x), float(y), rel_tol=1e-5)
    assert "Mode=tile" in hap.read_text()


def test_targets_with_the_same_samples(cohort, tmp_path):
    fasta, vcf, *_, out = cohort
    t = tmp_path / "t.vcf"
    assert run(["-i", f"{vcf}.gz", "-f", str(fasta), "-o", str(t), "--targets", f"{vcf}.gz", "-r",
                "c:500-600", "--scores", "llr,cllr,mlr,emb", "--emb-flank", "20"]) == 0
    by_pos = {c[1]: c for c in body(out)}
    got = body(t)
    assert len(got) >= 5
    for c in got:
        want = by_pos[c[1]]
        assert c[:9] == want[:9]
        for x, y in zip(c[9:], want[9:], strict=True):
            for u, v in zip(x.replace(":", ",").split(","), y.replace(":", ",").split(","), strict=True):
                assert u == v or math.isclose(float(u), float(v), rel_tol=1e-5)


def test_unsorted_targets_get_their_backgrounds(cohort, tmp_path):
    fasta, vcf, *_, out = cohort
    lines = vcf.read_text().splitlines()
    meta = [x for x in lines if x.startswith("##")]
    head = [*meta, "\t".join(lines[len(meta)].split("\t")[:8])]
    recs = [x.split("\t")[:8] for x in lines if not x.startswith("#")]
    picked = [recs[10], recs[31], recs[20], recs[5], recs[40]]          # back and forth along the contig
    targets = tmp_path / "t.vcf"
    targets.write_text("\n".join(head + ["\t".join(r) for r in picked]) + "\n")
    t = tmp_path / "t.out.vcf"
    assert run(["-i", f"{vcf}.gz", "-f", str(fasta), "-o", str(t), "--targets", str(targets),
                "--scores", "llr,cllr,mlr,emb", "--emb-flank", "20"]) == 0
    by_pos = {c[1]: c for c in body(out)}
    got = body(t)
    assert [c[1] for c in got] == [r[1] for r in picked]
    for c in got:
        want = by_pos[c[1]]
        for x, y in zip(c[9:], want[9:], strict=True):
            x = ":".join(x.split(":")[-6:])
            y = ":".join(y.split(":")[-6:])
            for u, v in zip(x.replace(":", ",").split(","), y.replace(":", ",").split(","), strict=True):
                assert u == v or math.isclose(float(u), float(v), rel_tol=1e-5)
