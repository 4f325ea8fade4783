"""The Snakemake workflow (examples/snakemake) run for real, as users deploy it.

- A copy of the workflow folder in a fresh place, with a config that points at the demo files: 3 score-vcf
  shards and 2 score-sv shards (with tracks), each set merged; the merged VCFs equal direct `glrm score-vcf` /
  `glrm score-sv` runs record for record, headers equal apart from ##glrmCommand and ##glrmShard; the BEDs
  and the SV tracks equal the direct runs' too.
- The workflow imported as a Snakemake `module` from another project's Snakefile.
- Dry runs: the shipped config as it is (relative paths to the demo), `--snakefile`/`--configfile` from
  another folder, and one-line errors for wrong config values.
Skipped, with the reason, when snakemake is not installed (`make install` installs it through the dev extra).
"""

import gzip
import importlib.util
import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]
SMK = ROOT / "examples" / "snakemake"
DEMO = ROOT / "examples" / "demo"
DATA = ROOT / "tests" / "data"
BIN = pathlib.Path(sys.executable).parent

# Header lines that may differ between a merged and a direct run (docs/scale-out.md says so).
VOLATILE_HEADER = ("##glrmCommand=", "##glrmShard=")
SV = {"vcf": str(DATA / "colo829_manta.vcf.gz"), "fasta": str(DATA / "chr20_slice.fa.gz"),
      "model": str(ROOT / "tests" / "fixtures" / "mamba-lm-tiny"), "window": 4096}
SMALL = {"vcf": str(DEMO / "demo.vcf.gz"), "fasta": str(DEMO / "chr20_demo.fa.gz"),
         "model": str(DEMO / "model")}

needs_snakemake = pytest.mark.skipif(
    importlib.util.find_spec("snakemake") is None or shutil.which("snakemake", path=str(BIN)) is None,
    reason="snakemake is not installed in this environment (pip install -e '.[dev]' installs it)",
)


def env():
    e = dict(os.environ)
    e["PATH"] = f"{BIN}{os.pathsep}{e.get('PATH', '')}"
    return e


def split(path):
    """(header lines, record lines) of a bgzipped VCF, the volatile header lines left out."""
    header, records = [], []
    with gzip.open(path, "rt") as fh:
        for line in fh:
            if line.startswith("#"):
                if not line.startswith(VOLATILE_HEADER):
                    header.append(line)
            else:
                records.append(line)
    return header, records


def demo_config(vcf_shards=3, sv_shards=2, **top):
    return {"sample": "demo", "outdir": "results", "device": "cpu", "gpus_per_shard": 0,
            "threads_per_shard": 1, "resume": True, **top,
            "score_vcf": {**SMALL, "shards": vcf_shards} if vcf_shards else {"enabled": False},
            "score_sv": {**SV, "shards": sv_shards, "chunk_size": "", "tracks": True} if sv_shards
            else {"enabled": False}}


def direct(tmp, command, sec, out, *extra):
    """One direct glrm run with the section's inputs; returns the output path."""
    cmd = [str(BIN / "glrm"), command, "-i", sec["vcf"], "-f", sec["fasta"], "-m", sec["model"],
           "--device", "cpu", "--threads", "1", "-q", "-o", str(tmp / out), *extra]
    run = subprocess.run(cmd, cwd=tmp, env=env(), capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    return tmp / out


def assert_same(merged, single, at_least):
    m_header, m_records = split(merged)
    d_header, d_records = split(single)
    assert len(m_records) == len(d_records) >= at_least
    for i, (m, d) in enumerate(zip(m_records, d_records, strict=True)):
        assert m == d, f"record {i + 1} differs:\nmerged: {m}direct: {d}"
    assert m_header == d_header


def snakemake(cwd, *args):
    run = subprocess.run([str(BIN / "snakemake"), "--cores", "2", *args], cwd=cwd, env=env(),
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, f"snakemake failed:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"


def snakemake_dry(cwd, *args):
    """`snakemake -n`: (return code, stdout and stderr together)."""
    run = subprocess.run([str(BIN / "snakemake"), "-n", "--cores", "2", *args], cwd=cwd, env=env(),
                         capture_output=True, text=True, timeout=120)
    return run.returncode, run.stdout + run.stderr


def job_counts(text):
    """{rule: jobs} from the job-stats table a dry run prints."""
    rules = r"all|score_vcf_shard|score_sv_shard|merge_vcf|merge_sv"
    return {m.group(1): int(m.group(2)) for m in re.finditer(rf"^({rules})\s+(\d+)$", text, re.M)}


@pytest.fixture(scope="module")
def direct_runs(tmp_path_factory):
    """Single glrm score-vcf and score-sv runs on the whole demo inputs, with the workflow's options."""
    tmp = tmp_path_factory.mktemp("direct")
    vcf = direct(tmp, "score-vcf", SMALL, "d.vcf.gz", "--bed", str(tmp / "d.bed"))
    sv = direct(tmp, "score-sv", SV, "d.sv.vcf.gz", "--window", str(SV["window"]), "--track-dir",
                str(tmp / "d-tracks"), "--bed", str(tmp / "d.sv.bed"))
    return {"vcf": vcf, "bed": tmp / "d.bed", "sv": sv, "sv_bed": tmp / "d.sv.bed",
            "tracks": tmp / "d-tracks"}


@pytest.fixture(scope="module")
def copied_run(tmp_path_factory):
    """The workflow folder copied elsewhere (as a project deploys it), its config pointed at the demo."""
    tmp = tmp_path_factory.mktemp("deployed")
    for part in ("workflow", "config", "profiles"):
        shutil.copytree(SMK / part, tmp / part)
    (tmp / "config" / "config.yaml").write_text(yaml.safe_dump(demo_config()))
    snakemake(tmp)          # finds workflow/Snakefile and config/config.yaml in the working directory
    return tmp


@needs_snakemake
@pytest.mark.slow
def test_copied_workflow_merges_equal_single_runs(copied_run, direct_runs):
    res = copied_run / "results"
    assert_same(res / "demo.glrm.vcf.gz", direct_runs["vcf"], 201)
    assert_same(res / "demo.sv.glrm.vcf.gz", direct_runs["sv"], 12)
    assert (res / "demo.glrm.bed").read_text() == direct_runs["bed"].read_text()
    assert (res / "demo.sv.glrm.bed").read_text() == direct_runs["sv_bed"].read_text()
    for name in ("demo.glrm.vcf.gz.tbi", "demo.sv.glrm.vcf.gz.tbi"):
        assert (res / name).exists()
    tracks = direct_runs["tracks"]
    shard_tracks = sorted(p for p in (res / "demo.sv-tracks").glob("*/*.bedgraph"))
    assert sorted(p.name for p in shard_tracks) == sorted(p.name for p in tracks.iterdir()) != []
    for p in shard_tracks:
        assert p.read_bytes() == (tracks / p.name).read_bytes()
    # the scores are really there (not an all-missing run on both sides)
    assert sum("GLRM_LLR=" in r and "GLRM_LLR=." not in r for r in split(res / "demo.glrm.vcf.gz")[1]) > 150
    shards = sorted((res / "shards").glob("demo.*-of-0003.vcf.gz"))
    assert [s.name for s in shards] == [f"demo.{i:04d}-of-0003.vcf.gz" for i in (1, 2, 3)]
    assert all(len(split(s)[1]) > 0 for s in shards)
    # each job's stderr is in results/logs/, with glrm's summary; the shard commands had --resume
    log = (res / "logs" / "score_sv.0002.log").read_text()
    assert "glrm score-sv: 6 records" in log, log
    assert not list((res / "shards").glob("*.glrm-resume"))     # checkpoints removed on success


@needs_snakemake
@pytest.mark.slow
def test_workflow_as_a_module_of_another_project(tmp_path, direct_runs):
    # an output folder with a space in its name: the shell commands quote their paths
    config = demo_config(vcf_shards=2, sv_shards=0, outdir="my results")
    (tmp_path / "my.yaml").write_text(yaml.safe_dump(config))
    (tmp_path / "Snakefile").write_text(
        'configfile: "my.yaml"\n\n'
        "module glrm:\n"
        f'    snakefile: "{SMK / "workflow" / "Snakefile"}"\n'
        "    config: config\n\n"
        "use rule * from glrm as glrm_*\n")
    snakemake(tmp_path)
    res = tmp_path / "my results"
    assert_same(res / "demo.glrm.vcf.gz", direct_runs["vcf"], 201)
    assert (res / "demo.glrm.bed").read_text() == direct_runs["bed"].read_text()
    assert not (res / "demo.sv.glrm.vcf.gz").exists()


@pytest.fixture
def shipped(tmp_path):
    """examples/snakemake as it is, in a place where its relative config paths resolve (../demo,
    ../../tests), so that Snakemake's .snakemake/ folder is not written into the repository."""
    (tmp_path / "examples").mkdir()
    (tmp_path / "examples" / "demo").symlink_to(DEMO)
    (tmp_path / "tests").symlink_to(ROOT / "tests")
    for part in ("workflow", "config", "profiles"):
        shutil.copytree(SMK / part, tmp_path / "examples" / "snakemake" / part)
    return tmp_path / "examples" / "snakemake"


@needs_snakemake
def test_shipped_config_runs_out_of_the_box(shipped):
    """`cd examples/snakemake && snakemake --cores 2`: every input is found, both sections are on."""
    code, out = snakemake_dry(shipped)
    assert code == 0, out[-3000:]
    assert job_counts(out) == {"score_vcf_shard": 4, "score_sv_shard": 2, "merge_vcf": 1, "merge_sv": 1,
                               "all": 1}, out[-3000:]


@needs_snakemake
def test_snakefile_and_configfile_from_another_folder(tmp_path):
    (tmp_path / "my.yaml").write_text(yaml.safe_dump(demo_config(vcf_shards=0, sv_shards=3)))
    code, out = snakemake_dry(tmp_path, "-p", "--snakefile", str(SMK / "workflow" / "Snakefile"),
                              "--configfile", "my.yaml")
    assert code == 0, out[-3000:]
    assert job_counts(out) == {"score_sv_shard": 3, "merge_sv": 1, "all": 1}, out[-3000:]
    assert "--shard 3/3 --window 4096 --device cpu --threads 1 --resume --track-dir" in out


@needs_snakemake
@pytest.mark.parametrize(("setting", "message"), [
    ("threads_per_shard=abc", "config threads_per_shard: 'abc' is not a whole number; give 1 or more"),
    ("device=gpu", "config device: 'gpu' is not a device; give auto, cpu, cuda or cuda:N"),
    ("score_sv={shard: 3}", "config score_sv: unknown key(s) shard; the keys are enabled, vcf, fasta"),
    ("score_vcf={model: ''}", "config score_vcf: no model; set it, or set 'score_vcf: {enabled: false}'"),
])
def test_wrong_config_values_stop_with_one_line(shipped, setting, message):
    code, out = snakemake_dry(shipped, "--config", setting)
    assert code != 0 and message in out, out[-3000:]


def test_default_config_points_at_the_demo_and_asks_for_a_gpu_per_shard():
    config = yaml.safe_load((SMK / "config" / "config.yaml").read_text())
    for sec in ("score_vcf", "score_sv"):
        for key in ("vcf", "fasta", "model"):
            assert (SMK / config[sec][key]).exists(), f"config {sec}.{key} does not point at the demo"
    assert config["gpus_per_shard"] == 1 and config["device"] == "auto"
    text = (SMK / "workflow" / "Snakefile").read_text()
    assert text.count("gpu=GPUS") == 2 and text.count("{RUN_OPTS}") == 2   # device, threads, resume
    profile = yaml.safe_load((SMK / "profiles" / "slurm" / "config.yaml").read_text())
    assert profile["executor"] == "slurm" and profile["retries"] >= 1
    for rule in ("score_vcf_shard", "score_sv_shard"):
        assert profile["set-resources"][rule]["gres"] == "gpu:1"
