"""The one-node SLURM of tests/slurm_cluster.py does what the workflow tests rely on: batch jobs run and end
with their state and exit code visible without accounting, the two stand-in GPUs let at most two
`--gres=gpu:1` jobs run at once (the CPUs would allow four), a cancelled job shows as CANCELLED, and the
cluster's daemons and jobs are gone once it is stopped, also after its owner died."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from slurm_cluster import ClusterUnavailable, alive, cluster_processes, reap_leftovers, slurm_cluster

pytestmark = pytest.mark.slow

CPUS = 4  # declared CPUs: more than the two gres-limited jobs use, so the GPUs are what holds jobs back


@pytest.fixture(scope="module")
def cluster():
    with contextlib.ExitStack() as stack:
        try:
            c = stack.enter_context(slurm_cluster(cpus=CPUS))
        except ClusterUnavailable as e:
            pytest.skip(f"no SLURM test cluster: {e}")
        yield c


def sbatch(cluster, *args: str) -> str:
    return cluster.run("sbatch", "--parsable", *args).stdout.strip().split(";")[0]


def job_fields(cluster, job: str) -> dict[str, str]:
    """`scontrol show job` as a dict (it knows a job for MinJobAge after it ended, accounting or not)."""
    out = cluster.run("scontrol", "-o", "show", "job", job).stdout
    return dict(word.split("=", 1) for word in out.split() if "=" in word)


def states(cluster, jobs: list[str]) -> dict[str, str]:
    """Job id -> state, as squeue shows them (--states=all: finished ones too)."""
    out = cluster.run("squeue", "-h", "--states=all", "-o", "%i %T", "-j", ",".join(jobs)).stdout
    return dict(line.split() for line in out.splitlines())


def wait_for_state(cluster, job: str, wanted: set[str], timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = states(cluster, [job]).get(job, "")
        if state in wanted:
            return state
        time.sleep(0.2)
    raise AssertionError(f"job {job} not {wanted} within {timeout} s: {job_fields(cluster, job)}")


def test_batch_jobs_run_and_report_exit_codes(cluster, tmp_path):
    ok = sbatch(cluster, "-o", str(tmp_path / "ok.out"), "--wrap", "echo hello from $SLURM_JOB_ID")
    bad = sbatch(cluster, "-o", str(tmp_path / "bad.out"), "--wrap", "exit 3")
    assert wait_for_state(cluster, ok, {"COMPLETED", "FAILED"}) == "COMPLETED"
    assert wait_for_state(cluster, bad, {"COMPLETED", "FAILED"}) == "FAILED"
    assert job_fields(cluster, ok)["ExitCode"] == "0:0"
    assert job_fields(cluster, bad)["ExitCode"] == "3:0"
    assert (tmp_path / "ok.out").read_text() == f"hello from {ok}\n"
    # srun too (snakemake-executor-plugin-slurm runs each rule through srun inside its batch job), also
    # where SLURM_CONF was dropped (as that plugin does before its srun): the client shims on PATH help
    assert cluster.run("srun", "-n1", "hostname").stdout.strip() == cluster.node
    nested = sbatch(cluster, "-o", str(tmp_path / "nested.out"),
                    "--wrap", "env -u SLURM_CONF srun -n1 hostname")
    assert wait_for_state(cluster, nested, {"COMPLETED", "FAILED"}) == "COMPLETED"
    assert (tmp_path / "nested.out").read_text() == f"{cluster.node}\n"


def test_two_gpus_hold_back_the_third_and_fourth_gpu_job(cluster, tmp_path):
    gpu_jobs = [sbatch(cluster, "--gres=gpu:1", "-c1", "-o", str(tmp_path / f"gpu{i}.out"),
                       "--wrap", "echo CUDA_VISIBLE_DEVICES=$CUDA_VISIBLE_DEVICES; sleep 2")
                for i in range(4)]
    most_running, plain, seen = 0, None, {}
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        now = states(cluster, gpu_jobs)
        for job, state in now.items():
            seen.setdefault(job, []).append(state)
        running = [j for j, s in now.items() if s == "RUNNING"]
        most_running = max(most_running, len(running))
        if len(running) == 2 and plain is None and "PENDING" in now.values():
            # Two GPU jobs run and the others wait, yet CPUs are free: a job without a GPU starts at once.
            pending = next(j for j, s in now.items() if s == "PENDING")
            assert job_fields(cluster, pending)["Reason"] in ("Resources", "Priority")
            plain = sbatch(cluster, "-c1", "--wrap", "sleep 1")
            assert wait_for_state(cluster, plain, {"RUNNING", "COMPLETED"}, timeout=5)
        if all(s == "COMPLETED" for s in now.values()) and len(now) == 4:
            break
        time.sleep(0.1)
    print("states seen per GPU job:", {j: sorted(set(s)) for j, s in seen.items()})
    assert states(cluster, gpu_jobs) == {j: "COMPLETED" for j in gpu_jobs}, seen
    assert most_running == 2, seen
    assert plain is not None, f"never saw two GPU jobs running with others pending: {seen}"
    devices = sorted((tmp_path / f"gpu{i}.out").read_text().strip() for i in range(4))
    if (cluster.state / "gpu0").is_char_device():  # stand-in device nodes: SLURM hands out their indices
        assert devices == ["CUDA_VISIBLE_DEVICES=0"] * 2 + ["CUDA_VISIBLE_DEVICES=1"] * 2


def test_more_gpus_than_the_node_has_is_refused(cluster):
    done = cluster.run("sbatch", "--gres=gpu:3", "--wrap", "true", check=False)
    assert done.returncode != 0
    assert "Requested node configuration is not available" in done.stderr


def test_scancel_ends_a_running_job_as_cancelled(cluster):
    job = sbatch(cluster, "--wrap", "sleep 120")
    wait_for_state(cluster, job, {"RUNNING"})
    cluster.run("scancel", job)
    assert wait_for_state(cluster, job, {"CANCELLED"}, timeout=15) == "CANCELLED"
    fields = job_fields(cluster, job)
    assert fields["JobState"] == "CANCELLED"
    assert fields["ExitCode"] == "0:15"  # killed by SIGTERM


def _job_processes(cluster, job: str) -> list[int]:
    out = cluster.run("scontrol", "listpids", job, check=False).stdout
    return [int(line.split()[0]) for line in out.splitlines()[1:] if line.split()[0].isdigit()]


def test_stopping_ends_daemons_and_running_jobs():
    """A second cluster, stopped while a job runs: its daemons and the job's processes are gone after."""
    try:
        with slurm_cluster(cpus=CPUS) as c:
            job = sbatch(c, "--wrap", "sleep 300")
            wait_for_state(c, job, {"RUNNING"})
            pids = [*c.pids.values(), *_job_processes(c, job)]
            assert len(pids) > 3, "scontrol listpids found no processes of the running job"
    except ClusterUnavailable as e:
        pytest.skip(f"no SLURM test cluster: {e}")
    assert [pid for pid in pids if alive(pid)] == []
    assert not c.state.exists()


ORPHAN = """
import json, os, sys, time
sys.path.insert(0, sys.argv[1])
from slurm_cluster import slurm_cluster
with slurm_cluster() as c:
    job = c.run("sbatch", "--parsable", "--wrap", "sleep 300").stdout.strip()
    while c.run("squeue", "-h", "-j", job, "-o", "%T").stdout.strip() != "RUNNING":
        time.sleep(0.1)
    time.sleep(0.5)
    print(json.dumps({"daemons": c.pids, "state": str(c.state)}), flush=True)
    os._exit(0)  # dies without stopping its cluster
"""


def test_a_dead_owners_cluster_is_reaped(cluster):
    done = subprocess.run([sys.executable, "-c", ORPHAN, str(Path(__file__).parent)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    orphan = json.loads(done.stdout)
    state = Path(orphan["state"])
    procs = cluster_processes()[state]
    assert set(orphan["daemons"].values()) < set(procs)
    assert any(cmd.startswith("sleep 300") for cmd in procs.values())  # the job, and its slurmstepd
    assert any(cmd.startswith("slurmstepd") for cmd in procs.values())
    stopped = reap_leftovers()
    assert sorted(int(s.split()[0]) for s in stopped) == sorted(procs)
    assert not any(alive(pid) for pid in procs)
    assert not state.exists()
    # ... while the module's own cluster, whose owner (this process) lives, is untouched
    assert all(alive(pid) for pid in cluster.pids.values())
    assert cluster.run("sinfo", "-h", "-o", "%T").stdout.strip() == "idle"
