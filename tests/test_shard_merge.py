"""`--shard i/n` and `glrm merge`: the shards of a run, merged, equal the unsharded run record for record and
value for value (raw lines compared), for score-vcf and score-sv; merge refuses incomplete, doubled,
foreign and truncated shard sets with one-line errors; `bcftools concat` of the shards gives the same records.
Real runs on tests/data with the tiny fixture models and short windows."""

from __future__ import annotations

import gzip
import pathlib

import pysam
import pysam.bcftools
import pytest

from glrm.cli.main import main
from glrm.errors import InputError
from glrm.pipeline.shard import Shard, parse_shard, shard_range

HERE = pathlib.Path(__file__).parent
DATA = HERE / "data"
FASTA = str(DATA / "chr20_slice.fa.gz")
INDELS = str(DATA / "chr20_indels.vcf.gz")     # 194 records
SNVS = str(DATA / "gonl_snvs.vcf.gz")          # 7 records
MANTA = str(DATA / "colo829_manta.vcf.gz")     # 12 SV records on chr20
HYENA = str(HERE / "fixtures" / "hyenadna-hf-tiny")


def lines(path):
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt") as fh:
        return fh.read().splitlines()


def body(path):
    return [x for x in lines(path) if not x.startswith("#")]


def head(path, drop=("##glrmShard=",)):
    return [x for x in lines(path) if x.startswith("#") and not x.startswith(drop)]


def score(cmd, vcf, out, *extra, window=128):
    code = main([cmd, "-i", vcf, "-f", FASTA, "-m", HYENA, "--window", str(window), "-o", str(out), "-q",
                 *extra])
    assert code == 0
    return out


def shards(tmp, cmd, vcf, n, *extra, suffix=".vcf.gz", window=128):
    return [score(cmd, vcf, tmp / f"s{i}of{n}{suffix}", "--shard", f"{i}/{n}", *extra, window=window)
            for i in range(1, n + 1)]


# --- the split itself ------------------------------------------------------------------------------

def test_ranges_are_the_contiguous_split():
    for n_rec in range(0, 23):
        for n in range(1, 26):
            rs = [shard_range(Shard(i, n), n_rec) for i in range(1, n + 1)]
            assert rs[0].start == 0 and rs[-1].end == n_rec
            for a, b in zip(rs, rs[1:], strict=False):
                assert a.end == b.start
            for k in range(n_rec):   # record k goes to shard floor(k*n/N)+1
                i = k * n // n_rec + 1
                assert rs[i - 1].start <= k < rs[i - 1].end
            assert max(r.records for r in rs) - min(r.records for r in rs) <= 1


@pytest.mark.parametrize("text", ["0/3", "4/3", "1/0", "a/b", "3", "-1/2", "1/2/3"])
def test_bad_shard_spec(text):
    with pytest.raises(InputError, match="--shard"):
        parse_shard(text)


def test_shard_refuses_stdin(tmp_path, capsys):
    code = main(["score-vcf", "-i", "-", "-f", FASTA, "-m", HYENA, "-o", str(tmp_path / "o.vcf"),
                 "--shard", "1/2"])
    assert code != 0
    assert "stdin" in capsys.readouterr().err
    assert not (tmp_path / "o.vcf").exists()


# --- sharded + merged == unsharded ----------------------------------------------------------------

@pytest.fixture(scope="module")
def indels(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("indels")
    full = score("score-vcf", INDELS, tmp / "full.vcf.gz", "--no-version")
    return tmp, full, {n: shards(tmp, "score-vcf", INDELS, n, "--no-version") for n in (1, 3)}


@pytest.mark.parametrize("n", [1, 3])
def test_score_vcf_merged_equals_unsharded(indels, n):
    tmp, full, made = indels
    merged = tmp / f"merged{n}.vcf.gz"
    assert main(["merge", "-q", "-o", str(merged), *map(str, made[n])]) == 0
    assert lines(merged) == lines(full)           # header and every record, byte for byte (as text)
    assert sum("GLRM_STATUS=OK" in x for x in body(full)) > 150   # real scores, not only statuses
    assert pathlib.Path(str(merged) + ".tbi").exists()
    sizes = [len(body(s)) for s in made[n]]
    assert sum(sizes) == 194 and max(sizes) - min(sizes) <= 1


def test_shard_headers_identical_but_shard_line(indels):
    _tmp, full, made = indels
    heads = [head(s) for s in made[3]]
    assert heads[0] == heads[1] == heads[2] == head(full)
    shard_lines = [[x for x in lines(s) if x.startswith("##glrmShard=")] for s in made[3]]
    assert shard_lines == [["##glrmShard=<Index=1,Total=3,Records=65,Start=0,Of=194>"],
                           ["##glrmShard=<Index=2,Total=3,Records=65,Start=65,Of=194>"],
                           ["##glrmShard=<Index=3,Total=3,Records=64,Start=130,Of=194>"]]


def test_more_shards_than_records_and_version_lines(tmp_path):
    full = score("score-vcf", SNVS, tmp_path / "full.vcf")
    made = shards(tmp_path, "score-vcf", SNVS, 9, suffix=".vcf")
    assert [len(body(s)) for s in made].count(0) == 2    # 7 records in 9 shards: two header-only shards
    merged = tmp_path / "merged.vcf"
    assert main(["merge", "-q", "-o", str(merged), *map(str, reversed(made))]) == 0   # any order
    assert body(merged) == body(full)
    drop = ("##glrmCommand=",)   # names the shard, the output and the date: the one documented difference
    assert head(merged, drop) == head(full, drop)
    assert len([x for x in lines(merged) if x.startswith("##glrmCommand=")]) == 1


def test_regions_then_shards(tmp_path):
    full = score("score-vcf", INDELS, tmp_path / "full.vcf", "--no-version", "-r", "chr20:1-5000000")
    made = shards(tmp_path, "score-vcf", INDELS, 4, "--no-version", "-r", "chr20:1-5000000", suffix=".vcf")
    merged = tmp_path / "merged.vcf"
    assert main(["merge", "-q", "-o", str(merged), *map(str, made)]) == 0
    assert 0 < len(body(full)) < 194
    assert lines(merged) == lines(full)


def test_score_sv_merged_equals_unsharded(tmp_path):
    full = score("score-sv", MANTA, tmp_path / "full.vcf.gz", "--no-version", window=512)
    made = shards(tmp_path, "score-sv", MANTA, 5, "--no-version", window=512)
    merged = tmp_path / "merged.vcf.gz"
    assert main(["merge", "-q", "-o", str(merged), *map(str, made)]) == 0
    assert lines(merged) == lines(full)
    assert len(body(full)) == 12
    assert sum("GLRM_SV_EMB=." not in x for x in body(full)) >= 3   # some SVs really scored


def test_auto_chunk_shards_from_different_machines_merge(tmp_path, monkeypatch):
    """score-sv --chunk-size auto takes the chunk from each machine's free memory; shards scored where it
    differs (chunks of 4,096 and whole 8,192-token windows here) keep identical headers, so merge takes
    them."""
    from glrm import resources

    made = []
    for i, free in ((1, 1 << 20), (2, 1 << 40)):
        monkeypatch.setattr(resources, "free_memory_bytes", lambda device, f=free: f)
        out = tmp_path / f"s{i}.vcf.gz"
        assert main(["score-sv", "-i", MANTA, "-f", FASTA, "-m", str(HERE / "fixtures" / "mamba-lm-tiny"),
                     "--window", "8192", "--chunk-size", "auto", "--shard", f"{i}/2", "-o", str(out),
                     "-q"]) == 0
        made.append(out)
    per_run = ("##glrmShard=", "##glrmCommand=")
    assert head(made[0], per_run) == head(made[1], per_run)
    merged = tmp_path / "merged.vcf.gz"
    assert main(["merge", "-q", "-o", str(merged), *map(str, made)]) == 0
    assert len(body(merged)) == 12


def test_bcftools_concat_equals_merge(indels):
    tmp, full, made = indels
    out = tmp / "concat.vcf.gz"
    pysam.bcftools.concat("--no-version", "-Oz", "-o", str(out), *map(str, made[3]), catch_stdout=False)
    assert body(out) == body(full)
    assert head(out) == head(full)    # concat keeps shard 1's header: only its ##glrmShard line differs


# --- merge refuses bad shard sets ------------------------------------------------------------------

def merge_error(capsys, out, *paths):
    code = main(["merge", "-o", str(out), *map(str, paths)])
    err = capsys.readouterr().err.strip()
    assert code != 0 and not out.exists()
    assert len(err.splitlines()) == 1, err
    return err


def test_missing_duplicate_foreign_shards(indels, tmp_path, capsys):
    _tmp, full, made = indels
    s1, s2, s3 = made[3]
    out = tmp_path / "m.vcf.gz"
    assert "shard 2/3 missing" in merge_error(capsys, out, s1, s3)
    assert "given twice" in merge_error(capsys, out, s1, s2, s2, s3)
    assert "no ##glrmShard" in merge_error(capsys, out, s1, s2, s3, full)
    assert "different runs" in merge_error(capsys, out, s1, s2, made[1][0])
    other = score("score-vcf", INDELS, tmp_path / "w64.vcf.gz", "--no-version", "--shard", "2/3", window=64)
    assert "header differs" in merge_error(capsys, out, s1, other, s3)


def test_truncated_shards(indels, tmp_path, capsys):
    _tmp, _full, made = indels
    s1, s2, s3 = made[3]
    out = tmp_path / "m.vcf"
    short = tmp_path / "short.vcf"                       # a record lost
    short.write_text("\n".join(lines(s2)[:-1]) + "\n")
    assert "truncated" in merge_error(capsys, out, s1, short, s3)
    cut = tmp_path / "cut.vcf"                           # cut in the middle of a line
    text = "\n".join(lines(s2)) + "\n"
    cut.write_text(text[: len(text) - 30])
    assert "truncated" in merge_error(capsys, out, s1, cut, s3)
    cutgz = tmp_path / "cut.vcf.gz"                      # bgzip cut short
    data = pathlib.Path(s2).read_bytes()
    cutgz.write_bytes(data[: len(data) // 2])
    assert "truncated" in merge_error(capsys, out, s1, cutgz, s3)


def test_merge_to_bcf(indels, tmp_path):
    _tmp, full, made = indels
    out = tmp_path / "m.bcf"
    assert main(["merge", "-q", "-o", str(out), *map(str, made[3])]) == 0
    with pysam.VariantFile(str(out)) as vf, pysam.VariantFile(str(full)) as ref:
        assert [str(r) for r in vf] == [str(r) for r in ref]
    assert pathlib.Path(str(out) + ".csi").exists()


def test_shards_of_different_score_definitions_are_refused(indels, tmp_path, capsys):
    """A shard scored by a glrm with other score definitions (an older file has no Definitions key in its
    ##glrm_model line) holds values that do not mean the same: merge names both files and both versions."""
    _tmp, _full, made = indels
    text = lines(made[3][1])
    model = [x for x in text if x.startswith("##glrm_model=")]
    assert len(model) == 1 and ",Definitions=2" in model[0]
    for label, new in (("old", model[0].replace(",Definitions=2", "")),
                       ("future", model[0].replace(",Definitions=2", ",Definitions=3"))):
        other = tmp_path / f"{label}.vcf"
        other.write_text("\n".join(new if x == model[0] else x for x in text) + "\n")
        out = tmp_path / f"{label}.merged.vcf"
        code = main(["merge", "-q", "-o", str(out), str(made[3][0]), str(other), str(made[3][2])])
        err = capsys.readouterr().err
        assert code != 0 and not out.exists()
        assert "score definitions" in err and str(other) in err and "score every shard with one glrm" in err
        assert ("definitions 1" in err) if label == "old" else ("under 3" in err)
        assert len(err.strip().splitlines()) == 1
