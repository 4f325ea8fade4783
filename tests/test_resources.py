"""The CPUs glrm may use (glrm.resources): the affinity mask, SLURM_CPUS_PER_TASK and cgroup v1/v2
CPU quotas (cgroup trees written under tmp_path), the smallest wins; OMP_NUM_THREADS and --threads come
first; OMP_WAIT_POLICY=PASSIVE is set before torch loads unless the user chose a wait policy."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from glrm.resources import (
    WAIT_VARS,
    cgroup_cpus,
    default_threads,
    passive_openmp,
    set_threads,
    usable_cpus,
)

AFFINITY = len(os.sched_getaffinity(0))


def tree(root, files: dict[str, str]):
    """Write {relative path: text} under `root`; return `root` as a string."""
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return str(root)


def membership(tmp_path, text: str) -> str:
    path = tmp_path / "proc_self_cgroup"
    path.write_text(text)
    return str(path)


def test_no_limits_is_the_affinity(tmp_path):
    none = membership(tmp_path, "")
    assert usable_cpus({}, tmp_path / "empty", none) == AFFINITY
    assert cgroup_cpus(tmp_path / "empty", none) is None
    assert cgroup_cpus(tmp_path / "empty", tmp_path / "missing") is None


def test_affinity_of_a_pinned_process(tmp_path):
    """A child pinned to one CPU (as taskset or a Slurm binding would) counts one."""
    cpu = min(os.sched_getaffinity(0))
    code = (f"import os, sys; os.sched_setaffinity(0, {{{cpu}}}); "
            "from glrm.resources import usable_cpus; "
            "print(usable_cpus({}, sys.argv[1], sys.argv[2]))")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path), membership(tmp_path, "")],
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "1"


@pytest.mark.parametrize("value, expected", [("1", 1), ("1000", AFFINITY), ("0", AFFINITY), ("two", AFFINITY),
                                             ("", AFFINITY)])
def test_slurm_cpus_per_task(tmp_path, value, expected):
    assert usable_cpus({"SLURM_CPUS_PER_TASK": value}, tmp_path, membership(tmp_path, "")) == expected


def test_cgroup_v2_smallest_quota_up_the_path(tmp_path):
    root = tree(tmp_path / "cg", {
        "cgroup.controllers": "cpu memory\n",
        "cpu.max": "max 100000\n",
        "job/cpu.max": "150000 100000\n",          # 1.5 CPUs for the job
        "job/step/cpu.max": "max 100000\n",        # no limit of its own
    })
    proc = membership(tmp_path, "0::/job/step\n")
    assert cgroup_cpus(root, proc) == pytest.approx(1.5)
    assert usable_cpus({}, root, proc) == 1        # rounded down
    tree(tmp_path / "cg", {"job/step/cpu.max": "50000 100000\n"})
    assert cgroup_cpus(root, proc) == pytest.approx(0.5)
    assert usable_cpus({}, root, proc) == 1        # never below 1


def test_cgroup_v2_no_limit(tmp_path):
    root = tree(tmp_path / "cg", {"cgroup.controllers": "", "cpu.max": "max 100000\n"})
    assert cgroup_cpus(root, membership(tmp_path, "0::/\n")) is None


def test_cgroup_v2_namespaced_path_reads_the_mount_point(tmp_path):
    """Inside a container /proc/self/cgroup may name a host path that the container's mount does not have;
    the mount point is then the container's own cgroup."""
    root = tree(tmp_path / "cg", {"cgroup.controllers": "", "cpu.max": "100000 100000\n"})
    assert cgroup_cpus(root, membership(tmp_path, "0::/kubepods/pod1/abc\n")) == pytest.approx(1.0)


def test_cgroup_v2_hybrid_under_unified(tmp_path):
    root = tree(tmp_path / "cg", {"unified/cgroup.controllers": "", "unified/app/cpu.max": "100000 100000\n"})
    assert cgroup_cpus(root, membership(tmp_path, "0::/app\n")) == pytest.approx(1.0)


@pytest.mark.parametrize("mount", ["cpu", "cpu,cpuacct"])
def test_cgroup_v1_cfs_quota(tmp_path, mount):
    root = tree(tmp_path / "cg", {
        f"{mount}/cpu.cfs_quota_us": "-1\n", f"{mount}/cpu.cfs_period_us": "100000\n",
        f"{mount}/slurm/uid_1/job_7/cpu.cfs_quota_us": "100000\n",
        f"{mount}/slurm/uid_1/job_7/cpu.cfs_period_us": "100000\n",
    })
    proc = membership(tmp_path, "9:memory:/slurm/uid_1/job_7\n4:cpu,cpuacct:/slurm/uid_1/job_7\n"
                                "1:name=systemd:/\n")
    assert cgroup_cpus(root, proc) == pytest.approx(1.0)
    assert usable_cpus({}, root, proc) == 1


def test_cgroup_v1_no_quota(tmp_path):
    root = tree(tmp_path / "cg", {"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"})
    assert cgroup_cpus(root, membership(tmp_path, "4:cpu,cpuacct:/\n")) is None


def test_smallest_limit_wins(tmp_path):
    proc = membership(tmp_path, "0::/\n")
    one = tree(tmp_path / "one", {"cgroup.controllers": "", "cpu.max": "100000 100000\n"})
    assert usable_cpus({"SLURM_CPUS_PER_TASK": "8"}, one, proc) == 1          # the quota
    many = tree(tmp_path / "many", {"cgroup.controllers": "", "cpu.max": "6400000 100000\n"})
    assert usable_cpus({"SLURM_CPUS_PER_TASK": "1"}, many, proc) == 1         # Slurm
    assert usable_cpus({"SLURM_CPUS_PER_TASK": "128"}, many, proc) == AFFINITY   # the affinity


def test_omp_num_threads_comes_first(tmp_path):
    proc = membership(tmp_path, "")
    assert default_threads({"OMP_NUM_THREADS": "3", "SLURM_CPUS_PER_TASK": "1"}, tmp_path, proc) == 3
    assert default_threads({"OMP_NUM_THREADS": "x", "SLURM_CPUS_PER_TASK": "1"}, tmp_path, proc) == 1


def test_set_threads_default_and_override():
    import torch

    before = torch.get_num_threads()
    try:
        assert set_threads(1) == 1 and torch.get_num_threads() == 1
        n = set_threads(None)
        assert n == default_threads() and torch.get_num_threads() == n
    finally:
        torch.set_num_threads(before)


def test_passive_openmp_respects_the_user():
    import torch  # noqa: F401

    env = {"GOMP_SPINCOUNT": "10000"}
    assert not passive_openmp(env) and "OMP_WAIT_POLICY" not in env
    assert not passive_openmp({})                  # torch is loaded: too late, leaves it alone


@pytest.mark.parametrize("preset, expected", [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")])
def test_cli_sets_passive_before_torch(preset, expected):
    """`glrm` sets OMP_WAIT_POLICY before torch loads, unless the user set it."""
    env = {k: v for k, v in os.environ.items() if k not in WAIT_VARS}
    if preset:
        env["OMP_WAIT_POLICY"] = preset
    code = ("import os; from glrm.cli.main import main; main(['--version']); "
            "import torch; print(os.environ.get('OMP_WAIT_POLICY'))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split()[-1] == expected


FAULTS_CODE = """
import ctypes, resource, sys
libc = ctypes.CDLL(None)
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
if sys.argv[1] == "keep":
    from glrm.resources import keep_freed_memory
    assert keep_freed_memory()
def touch():   # what torch's CPU allocator does for a 48 MiB tensor: malloc, write, free
    p = libc.malloc(48 << 20)
    ctypes.memset(p, 1, 48 << 20)
    libc.free(p)
touch()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    touch()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _glibc() -> bool:
    try:
        return sys.platform.startswith("linux") and os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc")
    except (ValueError, OSError):
        return False


@pytest.mark.skipif(not _glibc(), reason="glibc's malloc only")
def test_keep_freed_memory_makes_repeated_buffers_reuse_pages():
    """A buffer freed and allocated again (every forward's whole-sequence tensors) is faulted in afresh by
    default; after keep_freed_memory() the process reuses its pages."""
    def faults(mode):
        out = subprocess.run([sys.executable, "-c", FAULTS_CODE, mode], capture_output=True, text=True,
                             check=True)
        return int(out.stdout.strip())

    pages = 5 * (48 << 20) // 4096
    assert faults("default") > pages // 2          # each round faults its 12,288 pages in again
    assert faults("keep") < pages // 20            # reused
