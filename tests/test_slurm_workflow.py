"""The Snakemake workflow through the shipped SLURM profile on a real one-node SLURM (tests/slurm_cluster.py).

The node declares two GPUs (`Gres=gpu:2`) and more CPUs than the shard jobs use, so the profile's
`gres: gpu:1` is what limits them: at most two shards run at once. Site values are overridden on the command
line, not edited: the status command (no accounting here: squeue) and the first status check. Checks:
- score-vcf (3 shards) and score-sv (2 shards) merged outputs equal single runs record for record;
- a shard job cancelled with `scancel` mid-run is submitted again (the profile's `retries: 1`) and
  finishes from its --resume checkpoint; its output equals an uninterrupted run;
- the daemons are stopped at the end, by PID (the cluster fixture checks that they are gone).
Skipped, saying why, where a cluster cannot be started (not root, no apt).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from slurm_cluster import ClusterUnavailable, slurm_cluster
from test_snakemake import SMALL, SMK, SV, assert_same, demo_config, direct, needs_snakemake

pytestmark = [pytest.mark.slow, needs_snakemake]
BIN = Path(sys.executable).parent
SITE = ["--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "1"]
CADUCEUS = str(Path(__file__).parent / "fixtures" / "caduceus-ph-tiny")


@pytest.fixture(scope="module")
def cluster():
    with contextlib.ExitStack() as stack:
        try:
            c = stack.enter_context(slurm_cluster(cpus=16, partitions=("cpu", "gpu"), memory_mb=65536))
        except ClusterUnavailable as e:
            pytest.skip(f"no SLURM test cluster: {e}")
        yield c
    assert not [pid for pid in c.pids.values() if Path(f"/proc/{pid}").exists()], "daemons left running"


def deploy(tmp: Path, config: dict) -> Path:
    for part in ("workflow", "config", "profiles"):
        shutil.copytree(SMK / part, tmp / part)
    (tmp / "config" / "config.yaml").write_text(yaml.safe_dump(config))
    return tmp


def start(cluster, tmp: Path, **env) -> subprocess.Popen:
    e = dict(cluster.env)
    e["PATH"] = f"{BIN}:{e['PATH']}"
    e.update(env)
    return subprocess.Popen([str(BIN / "snakemake"), "--profile", "profiles/slurm", *SITE], cwd=tmp, env=e,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def jobs(cluster) -> dict[str, tuple[str, str]]:
    """Job id -> (GPUs asked for, state) of the jobs squeue knows."""
    out = cluster.run("squeue", "-h", "--states=all", "-o", "%i|%b|%T").stdout
    return {i: (g, s) for i, g, s in (line.split("|") for line in out.splitlines())}


def finish(proc: subprocess.Popen, timeout: float = 400) -> str:
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, f"snakemake failed:\n{out[-4000:]}"
    return out


def test_profile_runs_both_commands_two_gpus_at_a_time(cluster, tmp_path):
    config = demo_config(vcf_shards=3, sv_shards=2, device="cpu", gpus_per_shard=1)
    tmp = deploy(tmp_path, config)
    t0 = time.monotonic()
    proc = start(cluster, tmp)
    seen: dict[str, str] = {}
    most = 0
    while proc.poll() is None:
        now = jobs(cluster)
        seen.update({i: n for i, (n, _) in now.items()})
        most = max(most, sum(s == "RUNNING" and "gpu" in g for g, s in now.values()))
        time.sleep(0.3)
    out = finish(proc)
    took = time.monotonic() - t0
    print(f"\nSLURM workflow: {took:.1f} s, job ids seen in squeue: {sorted(seen, key=int)}, at most {most} "
          f"GPU jobs running at once", file=sys.stderr)
    assert len(seen) >= 7, out[-3000:]           # 3 + 2 shard jobs and 2 merges
    assert most == 2                              # the two GPUs, both used, never a third shard
    res = tmp / "results"
    assert_same(res / "demo.glrm.vcf.gz", direct(tmp, "score-vcf", SMALL, "d.vcf.gz"), 201)
    single_sv = direct(tmp, "score-sv", SV, "d.sv.vcf.gz", "--window", "4096")
    assert_same(res / "demo.sv.glrm.vcf.gz", single_sv, 12)


def test_cancelled_shard_resumes_from_its_checkpoint(cluster, tmp_path):
    small = {**SMALL, "model": CADUCEUS}                 # slow enough on CPU to cancel mid-run
    config = demo_config(vcf_shards=1, sv_shards=0, device="cpu", gpus_per_shard=1, sample="cancel")
    config["score_vcf"]["model"] = CADUCEUS
    tmp = deploy(tmp_path, config)
    state = tmp / "results" / "shards" / "cancel.0001-of-0001.vcf.gz.glrm-resume" / "state.json"
    proc = start(cluster, tmp, GLRM_CHECKPOINT_SECONDS="0")
    deadline, done = time.monotonic() + 300, 0
    while time.monotonic() < deadline and proc.poll() is None:
        with contextlib.suppress(OSError, ValueError, KeyError):
            done = json.loads(state.read_text())["records"]
        if done >= 20:
            break
        time.sleep(0.1)
    running = [i for i, (g, s) in jobs(cluster).items() if s == "RUNNING" and "gpu" in g]
    assert done >= 20 and len(running) == 1, f"no shard job mid-run to cancel (records {done}, {running})"
    cluster.run("scancel", running[0])
    out = finish(proc)
    print(f"\ncancelled job {running[0]} after {done} records; jobs seen: {sorted(jobs(cluster), key=int)}",
          file=sys.stderr)
    smk_log = "".join(p.read_text() for p in (tmp / ".snakemake" / "log").glob("*.log"))
    assert f"SLURM-job '{running[0]}' failed, SLURM status is: 'CANCELLED'" in smk_log, out[-3000:]
    submitted = [line for line in smk_log.splitlines() if "submitted with SLURM jobid" in line and
                 "rule_score_vcf_shard" in line]
    assert len(submitted) == 2, submitted         # the cancelled job and its resubmission (retries: 1)
    log = (tmp / "results" / "logs" / "score_vcf.0001.log").read_text()
    assert "more records resumed from the checkpoint" in log, log
    resumed = int(log.split("; ")[1].split(" more records")[0].replace(",", ""))
    assert 20 <= resumed < 201
    assert_same(tmp / "results" / "cancel.glrm.vcf.gz", direct(tmp, "score-vcf", small, "d.vcf.gz"), 201)
