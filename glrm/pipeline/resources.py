"""The CPUs glrm may use, and torch's thread settings from them.

`usable_cpus()` is the smallest of the limits that apply to this process: its CPU affinity (cpusets,
`taskset`, Slurm's task binding), `SLURM_CPUS_PER_TASK`, and a CFS quota of its cgroup (v2 `cpu.max`, v1
`cpu.cfs_quota_us` / `cpu.cfs_period_us`, read up the hierarchy; what Docker `--cpus` and Kubernetes CPU
limits set). torch alone counts the affinity only, so on a cluster node without a cpuset it would start a
thread per core of the node.

`passive_openmp()` makes idle OpenMP threads sleep instead of spinning. It must run before torch is first
imported (the OpenMP runtime reads its settings when it loads); the CLI calls it first thing. Spinning threads
compete with every other process for the cores: beside two busy loops on the 2-core machine the demo took
3.2x as long with torch's libgomp spinning (docs/performance.md, "Threads on a shared machine").

No torch at import time: `set_threads` imports it when called.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Mapping, MutableMapping
from pathlib import Path

CGROUP_ROOT = "/sys/fs/cgroup"
PROC_CGROUP = "/proc/self/cgroup"

# Any of these set by the user means they chose how OpenMP threads wait: leave it.
WAIT_VARS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")


def passive_openmp(env: MutableMapping[str, str] | None = None) -> bool:
    """Set OMP_WAIT_POLICY=PASSIVE in `env` (os.environ) unless the user set a wait variable or torch is
    already imported (too late to matter). Honoured by libgomp (torch's Linux wheels) and by Intel's libiomp,
    where PASSIVE also means KMP_BLOCKTIME=0. Returns whether it set it."""
    env = os.environ if env is None else env
    if "torch" in sys.modules or any(name in env for name in WAIT_VARS):
        return False
    env["OMP_WAIT_POLICY"] = "PASSIVE"
    return True


def _positive_int(text: str | None) -> int | None:
    text = (text or "").strip()
    return int(text) if text.isascii() and text.isdigit() and int(text) > 0 else None


def affinity_cpus() -> int:
    """CPUs this process may run on (its affinity mask; the CPU count where there is none)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None


def _quota_v2(folder: Path) -> float | None:
    """CPUs allowed by `cpu.max` ('QUOTA PERIOD' or 'max PERIOD') in `folder`, None without a limit."""
    parts = (_read(folder / "cpu.max") or "").split()
    if len(parts) != 2 or parts[0] == "max":
        return None
    try:
        quota, period = int(parts[0]), int(parts[1])
    except ValueError:
        return None
    return quota / period if quota > 0 and period > 0 else None


def _quota_v1(folder: Path) -> float | None:
    """CPUs allowed by `cpu.cfs_quota_us` / `cpu.cfs_period_us` in `folder` (quota -1: no limit)."""
    try:
        quota = int(_read(folder / "cpu.cfs_quota_us") or "-1")
        period = int(_read(folder / "cpu.cfs_period_us") or "0")
    except ValueError:
        return None
    return quota / period if quota > 0 and period > 0 else None


def _walk_up(base: Path, rel: str):
    """The cgroup folder of `rel` under `base` and its parents up to `base`. When `rel` is not there (a
    container sees its own cgroup at the mount point), `base` alone."""
    leaf = base / rel.strip("/")
    if not leaf.is_dir():
        leaf = base
    while True:
        yield leaf
        if leaf == base or base not in leaf.parents:
            return
        leaf = leaf.parent


def cgroup_cpus(cgroup_root: str | os.PathLike = CGROUP_ROOT, proc_cgroup: str | os.PathLike = PROC_CGROUP
                ) -> float | None:
    """CPUs allowed by the CFS quota of this process's cgroup (the smallest along its path up the
    hierarchy, v2 and v1 both), or None when no quota applies or nothing can be read.

    `proc_cgroup` is the membership file (lines 'ID:CONTROLLERS:PATH'); `cgroup_root` is where the cgroup
    file systems are mounted: v2 at the root itself or at `unified/` (hybrid), v1's cpu controller at `cpu/`
    or `cpu,cpuacct/`."""
    root = Path(cgroup_root)
    limits: list[float] = []
    for line in (_read(Path(proc_cgroup)) or "").splitlines():
        ident, _, rest = line.partition(":")
        controllers, _, rel = rest.partition(":")
        if ident == "0" and controllers == "":
            base = root if (root / "cgroup.controllers").exists() else root / "unified"
            limits += [q for d in _walk_up(base, rel) if (q := _quota_v2(d)) is not None]
        elif "cpu" in controllers.split(","):
            for name in ("cpu", "cpu,cpuacct", "cpuacct,cpu"):
                if (root / name).is_dir():
                    limits += [q for d in _walk_up(root / name, rel) if (q := _quota_v1(d)) is not None]
                    break
    return min(limits) if limits else None


def usable_cpus(env: Mapping[str, str] | None = None, cgroup_root: str | os.PathLike = CGROUP_ROOT,
                proc_cgroup: str | os.PathLike = PROC_CGROUP) -> int:
    """The CPUs this process may use: the smallest of its affinity, SLURM_CPUS_PER_TASK (from `env`,
    default os.environ) and its cgroup's CPU quota (rounded down: a thread beyond the quota only gets the
    whole group throttled), at least 1."""
    env = os.environ if env is None else env
    limits = [affinity_cpus()]
    slurm = _positive_int(env.get("SLURM_CPUS_PER_TASK"))
    if slurm is not None:
        limits.append(slurm)
    quota = cgroup_cpus(cgroup_root, proc_cgroup)
    if quota is not None:
        limits.append(max(1, math.floor(quota)))
    return max(1, min(limits))


def default_threads(env: Mapping[str, str] | None = None, cgroup_root: str | os.PathLike = CGROUP_ROOT,
                    proc_cgroup: str | os.PathLike = PROC_CGROUP) -> int:
    """The thread count without --threads: OMP_NUM_THREADS when the user set it (torch reads it too), else
    `usable_cpus()`."""
    env = os.environ if env is None else env
    omp = _positive_int((env.get("OMP_NUM_THREADS") or "").split(",")[0])
    return omp if omp is not None else usable_cpus(env, cgroup_root, proc_cgroup)


def set_threads(n: int | None) -> int:
    """torch's intra-op threads, and inter-op threads where torch still allows setting them: `n` (--threads),
    or `default_threads()` when None. Returns the count set."""
    import torch

    n = default_threads() if n is None else n
    torch.set_num_threads(n)
    try:
        torch.set_num_interop_threads(n)
    except RuntimeError:  # only settable before the first parallel work of this process
        pass
    return n
