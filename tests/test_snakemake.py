"""The Snakemake example (examples/snakemake) run for real: 3 shards scored and merged == one direct run.

Runs `snakemake --cores 2` on the bundled demo (201 chr20 variants, the demo HyenaDNA) on CPU, then compares
the merged VCF with `glrm score-vcf` on the same input: the same records, byte for byte, and the same header
apart from ##glrmCommand (command line and date) and ##glrmShard (per shard; merge drops it). Skipped, with
the reason, when snakemake is not installed (`make install` installs it through the dev extra).
"""

import gzip
import importlib.util
import os
import pathlib
import shutil
import subprocess
import sys

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]
SMK = ROOT / "examples" / "snakemake"
DEMO = ROOT / "examples" / "demo"
BIN = pathlib.Path(sys.executable).parent

# Header lines that may differ between a merged and a direct run (docs/scale-out.md says so).
VOLATILE_HEADER = ("##glrmCommand=", "##glrmShard=")

needs_snakemake = pytest.mark.skipif(
    importlib.util.find_spec("snakemake") is None or shutil.which("snakemake", path=str(BIN)) is None,
    reason="snakemake is not installed in this environment (pip install -e '.[dev]' installs it)",
)


def _env():
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def _split(path):
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


@pytest.fixture(scope="module")
def workflow_run(tmp_path_factory):
    """Run the workflow (3 shards, CPU) and one direct score-vcf on the demo; return both output paths."""
    tmp = tmp_path_factory.mktemp("smk")
    cmd = [
        str(BIN / "snakemake"), "--cores", "2", "-s", str(SMK / "Snakefile"), "--directory", str(tmp),
        "--config", "shards=3", "device=cpu", "gpus_per_shard=0",
        f"vcf={DEMO / 'demo.vcf.gz'}", f"fasta={DEMO / 'chr20_demo.fa.gz'}", f"model={DEMO / 'model'}",
    ]
    run = subprocess.run(cmd, cwd=tmp, env=_env(), capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, f"snakemake failed:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    direct = tmp / "direct.vcf.gz"
    cmd = [
        str(BIN / "glrm"), "score-vcf", "-i", str(DEMO / "demo.vcf.gz"), "-f", str(DEMO / "chr20_demo.fa.gz"),
        "-m", str(DEMO / "model"), "--device", "cpu", "--threads", "1", "-q", "-o", str(direct),
    ]
    run = subprocess.run(cmd, cwd=tmp, env=_env(), capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    return tmp, tmp / "results" / "demo.glrm.vcf.gz", direct


@needs_snakemake
@pytest.mark.slow
def test_workflow_equals_direct_run(workflow_run):
    tmp, merged, direct = workflow_run
    assert merged.exists() and pathlib.Path(f"{merged}.tbi").exists()
    m_header, m_records = _split(merged)
    d_header, d_records = _split(direct)
    with gzip.open(DEMO / "demo.vcf.gz", "rt") as fh:
        n_input = sum(1 for line in fh if not line.startswith("#"))
    assert len(d_records) == n_input == 201
    assert len(m_records) == len(d_records)
    for i, (m, d) in enumerate(zip(m_records, d_records, strict=True)):
        assert m == d, f"record {i + 1} differs:\nmerged: {m}direct: {d}"
    assert m_header == d_header
    # The scores really are there (not an all-missing run on both sides).
    assert sum("GLRM_LLR=" in r and "GLRM_LLR=." not in r for r in m_records) > 150


@needs_snakemake
@pytest.mark.slow
def test_workflow_scattered_into_contiguous_shards(workflow_run):
    tmp, merged, _ = workflow_run
    shards = sorted((tmp / "results" / "shards").glob("demo.*-of-0003.vcf.gz"))
    assert [s.name for s in shards] == [f"demo.{i:04d}-of-0003.vcf.gz" for i in (1, 2, 3)]
    parts = [_split(s) for s in shards]
    assert all(h == parts[0][0] for h, _ in parts), "shards must share one header"
    assert all(len(r) > 0 for _, r in parts)
    assert [line for _, r in parts for line in r] == _split(merged)[1]


def test_snakefile_asks_for_a_gpu_per_shard_and_the_slurm_profile_requests_it():
    text = (SMK / "Snakefile").read_text()
    assert 'gpu=int(config.get("gpus_per_shard", 1))' in text
    assert "--shard {params.index}/{params.n}" in text and "glrm merge -o" in text
    assert 'resume="--resume" if config.get("resume", True)' in text
    assert "bcftools concat" in text and "bcftools index -t" in text
    config = yaml.safe_load((SMK / "config.yaml").read_text())
    for key in ("vcf", "fasta", "model"):
        assert (ROOT / config[key]).exists(), f"config.yaml {key} does not point at the demo"
    assert config["gpus_per_shard"] == 1 and config["device"] == "auto"
    profile = yaml.safe_load((SMK / "profiles" / "slurm" / "config.yaml").read_text())
    assert profile["executor"] == "slurm"
    assert profile["set-resources"]["score_shard"]["slurm_extra"] == "'--gres=gpu:1'"
