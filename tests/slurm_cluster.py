"""A throw-away, one-node SLURM cluster on this machine, for tests that submit real jobs.

`slurm_cluster()` installs Debian's `slurm-wlm` and `munge` when they are missing (root and a reachable apt
needed), writes a configuration for one node on localhost into a fresh temporary directory, starts `munged`,
`slurmctld` and `slurmd` from it, waits until the node is idle and yields a `SlurmCluster`, whose `env` the
SLURM client commands (`sbatch`, `srun`, `squeue`, ..., also when Snakemake calls them) must be run with.
On exit it cancels the cluster's jobs, stops the three daemons by PID and checks that they are gone. When
the machine cannot have the cluster (not root, apt-get failing) it raises `ClusterUnavailable`, whose message
says why (a test turns that into a skip); when the daemons do not come up, `ClusterStartFailed` with their
output (a test fails on that).

Everything the daemons write - state, spool, logs, PID files, munge socket, key and seed - lies in that
directory, and the daemons listen on free ports picked at start-up. So the cluster neither uses nor disturbs
what the packages set up in /etc, /run and /var, nor a munged or slurmd the system may already run. Clients
find the cluster's slurm.conf through `SLURM_CONF`, and through stand-ins for the client commands first on
PATH that set it (for a client run where SLURM_CONF was dropped, see `_client_shims`). They reach our munged
because slurm.conf names its socket (`AuthInfo=socket=...`, read by the auth/munge and cred/munge plugins of
every SLURM command and daemon).

The node has the machine's short hostname, its real CPU count (or `cpus`, declared with
`SlurmdParameters=config_overrides` when it exceeds the hardware), a RealMemory a little below what
`slurmd -C` measures, and two stand-in GPUs (`Gres=gpu:2`), so `--gres=gpu:1` jobs are scheduled and at
most two of them run at once. SLURM 22.05 (Debian 12) drops a GPU that gres.conf gives no device file
("Removing file-less GPU"), and then drains the node, so gres.conf names two files in the state directory:
character devices with /dev/null's numbers where mknod is allowed (jobs then get CUDA_VISIBLE_DEVICES=0 or 1,
as on a real GPU node), plain files otherwise (slurmd logs that they are no devices but counts them; jobs get
no CUDA_VISIBLE_DEVICES). Accounting is off (no slurmdbd):
`sacct` and `sacctmgr` do not work, and finished jobs stay visible to `squeue`/`scontrol` for MinJobAge.

Processes: package installation starts no daemon (a policy-rc.d that says "no" is in place while apt runs,
put there only if the machine has none). Should a package script start one anyway, it is stopped by PID
right after the install: it did not exist before apt-get ran, so nobody else relies on it. The processes of
a cluster left by an earlier run of this module whose owner died (e.g. a killed test session) are stopped
too; they are told by the state directory their environment points at (SLURM_CONF or PATH), which the
daemons pass on to their steps and jobs. Any other slurm or munge process on the machine is left alone.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

PACKAGES = ["slurm-wlm", "munge"]
DAEMONS = ("munged", "slurmctld", "slurmd")
SLURM_COMMS = (*DAEMONS, "slurmstepd", "slurmscriptd")  # slurmctld starts slurmscriptd, slurmd a slurmstepd
NEEDED = ("sbatch", "srun", "squeue", "sinfo", "scontrol", "scancel", *DAEMONS)
CLIENTS = ("sacct", "sacctmgr", "salloc", "sattach", "sbatch", "sbcast", "scancel", "scontrol", "sdiag",
           "sinfo", "sprio", "squeue", "sreport", "srun", "sshare", "sstat", "strigger")  # slurm-client's
STATE_PREFIX = "glrm-slurm-"  # the temporary state directory's name starts with this
POLICY_RC_D = Path("/usr/sbin/policy-rc.d")


class ClusterUnavailable(RuntimeError):
    """This machine cannot have the cluster (not root, no apt, apt-get failing); the message says why. A
    test skips on this."""


class ClusterStartFailed(RuntimeError):
    """The packages are there but the cluster did not come up (message with the daemons' output). A test
    fails on this: on a machine that allows the cluster, it is a bug here."""


@dataclass
class SlurmCluster:
    state: Path  # the temporary directory holding configuration, state and logs
    node: str
    partitions: tuple[str, ...]
    env: dict[str, str]  # os.environ, SLURM_CONF and the client shims first on PATH: run clients with it
    pids: dict[str, int] = field(default_factory=dict)
    install_seconds: float = 0.0  # 0 when the packages were already there
    start_seconds: float = 0.0  # from launching munged to the node being idle

    def run(self, *args: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess:
        """Run a SLURM client command against this cluster; returns its completed process (text output).
        It runs in the state directory, so that is where sbatch's default slurm-<job>.out files go."""
        return subprocess.run(args, env=self.env, cwd=self.state, capture_output=True, text=True,
                              check=check, timeout=timeout)

    def log(self, daemon: str) -> str:
        """The end of a daemon's log file (for failure messages)."""
        path = self.state / "log" / f"{daemon}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else f"(no {path})"


# ---------------------------------------------------------------------------------------------------------
# Processes


def _processes() -> Iterator[tuple[int, str, str, dict[bytes, bytes]]]:
    """(PID, name, command line, environment) of every live process but this one."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            name = (entry / "comm").read_text().strip()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
            pairs = (entry / "environ").read_bytes().split(b"\0")
        except OSError:  # it ended while we looked
            continue
        if alive(int(entry.name)):
            yield int(entry.name), name, cmdline, dict(pair.split(b"=", 1) for pair in pairs if b"=" in pair)


def _other_daemons() -> dict[int, str]:
    """PID -> command line of the munged, slurmctld and slurmd processes that are not a test cluster's."""
    return {pid: cmdline for pid, name, cmdline, environ in _processes()
            if name in DAEMONS and _state_of(environ) is None}


def _state_of(environ: dict[bytes, bytes]) -> Path | None:
    """The state directory of the cluster an environment points at: SLURM_CONF's directory, or that of the
    client shims on PATH (a job step run with SLURM_CONF removed still has those)."""
    conf = Path(os.fsdecode(environ.get(b"SLURM_CONF", b"")))
    if conf.name == "slurm.conf" and conf.parent.name.startswith(STATE_PREFIX):
        return conf.parent
    for directory in map(Path, os.fsdecode(environ.get(b"PATH", b"")).split(":")):
        if directory.name == "bin" and directory.parent.name.startswith(STATE_PREFIX):
            return directory.parent
    return None


def cluster_processes() -> dict[Path, dict[int, str]]:
    """State directory -> {PID: command line} of the live processes of each cluster this module started:
    its daemons, slurmstepd and slurmscriptd, and its jobs' processes. They are told by the SLURM_CONF or
    PATH in their environment (the daemons get both from us, and pass them on to steps and jobs) together
    with a SLURM daemon's name or a SLURM_JOB_ID (so a client such as Snakemake, run with the cluster's env,
    is not one of them)."""
    found: dict[Path, dict[int, str]] = {}
    for pid, name, cmdline, environ in _processes():
        state = _state_of(environ)
        if state is not None and (name in SLURM_COMMS or b"SLURM_JOB_ID" in environ):
            found.setdefault(state, {})[pid] = cmdline
    return found


def alive(pid: int) -> bool:
    """Whether the process runs (a zombie does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return False


def _stop(pid: int, name: str, popen: subprocess.Popen | None = None, grace: float = 10) -> None:
    """SIGTERM, then SIGKILL after `grace` seconds; raises if the process survives both."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5)):
        if not alive(pid):
            break
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if popen is not None:
                popen.poll()  # reaps our own child
            if not alive(pid):
                break
            time.sleep(0.1)
    if popen is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            popen.wait(timeout=1)
    if alive(pid):
        raise RuntimeError(f"{name} (PID {pid}) survived SIGKILL")


def _owner_alive(state: Path) -> bool:
    try:
        return alive(int((state / "owner.pid").read_text()))
    except (OSError, ValueError):
        return False


def reap_leftovers() -> list[str]:
    """Stop the processes of clusters whose owner (the process that started them) is gone, e.g. after a
    killed test session; returns "PID command line" of each. Clusters whose owner lives are left alone."""
    stopped = []
    for state, procs in cluster_processes().items():
        if not _owner_alive(state):
            if errors := _stop_all(procs):
                raise RuntimeError(f"leftover SLURM test cluster {state} not stopped: {errors}")
            stopped += [f"{pid} {cmdline}" for pid, cmdline in procs.items()]
            shutil.rmtree(state, ignore_errors=True)
    return stopped


def _stop_all(procs: dict[int, str]) -> list[str]:
    """Stop a cluster's processes: its jobs' first, then slurmstepd (SIGKILL after a second: it ignores
    SIGTERM), slurmd, slurmctld, slurmscriptd (normally gone with slurmctld) and munged - in that order each
    stops at once. Returns the errors."""
    order = {"slurmstepd": 1, "slurmd": 2, "slurmctld": 3, "slurmscriptd": 4, "munged": 5}

    def rank(pid):
        try:
            return order.get(Path(f"/proc/{pid}/comm").read_text().strip(), 0)
        except OSError:
            return 0

    errors = []
    for pid in sorted(procs, key=rank):
        try:
            _stop(pid, procs[pid], grace=1 if rank(pid) in (1, 4) else 10)
        except RuntimeError as e:
            errors.append(str(e))
    return errors


# ---------------------------------------------------------------------------------------------------------
# Installation


def _missing() -> list[str]:
    return [cmd for cmd in NEEDED if shutil.which(cmd) is None]


@contextlib.contextmanager
def _no_service_starts() -> Iterator[None]:
    """Keep package scripts from starting daemons: a policy-rc.d that denies every action (exit 101), which
    both invoke-rc.d and deb-systemd-invoke obey. An existing policy-rc.d is left as it is."""
    if POLICY_RC_D.exists():
        yield
        return
    POLICY_RC_D.write_text("#!/bin/sh\n# glrm's tests/slurm_cluster.py, during apt-get install\nexit 101\n")
    POLICY_RC_D.chmod(0o755)
    try:
        yield
    finally:
        POLICY_RC_D.unlink(missing_ok=True)


def _apt(*args: str, timeout: float) -> subprocess.CompletedProcess:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    return subprocess.run(["apt-get", *args], env=env, capture_output=True, text=True, timeout=timeout)


def ensure_installed(timeout: float = 600) -> float:
    """Install the SLURM and munge packages when a command is missing; returns the seconds it took (0 if
    nothing was missing). Raises ClusterUnavailable when it cannot."""
    missing = _missing()
    if not missing:
        return 0.0
    why = f"SLURM not installed ({', '.join(missing)} missing)"
    if os.geteuid() != 0:
        raise ClusterUnavailable(f"{why} and not root, so cannot apt-get install {' '.join(PACKAGES)}")
    if shutil.which("apt-get") is None:
        raise ClusterUnavailable(f"{why} and no apt-get here")
    t0 = time.monotonic()
    before = set(_other_daemons())
    with _no_service_starts():
        install = ("install", "-y", "-q", "--no-install-recommends", *PACKAGES)
        try:
            done = _apt(*install, timeout=timeout)
            if done.returncode != 0:  # perhaps no package lists yet, or stale ones: update once and retry
                update = _apt("update", "-q", timeout=timeout)
                if update.returncode != 0:
                    raise ClusterUnavailable(f"{why}; apt-get update failed: {update.stderr.strip()[-500:]}")
                done = _apt(*install, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            raise ClusterUnavailable(f"{why}; apt-get took over {timeout:.0f} s") from e
    # Daemons that did not exist before apt-get ran were started by a package script: not ours to keep.
    for pid, cmdline in _other_daemons().items():
        if pid not in before:
            _stop(pid, cmdline)
    if done.returncode != 0:
        raise ClusterUnavailable(f"{why}; apt-get install failed: {done.stderr.strip()[-500:]}")
    if still := _missing():
        raise ClusterUnavailable(f"apt-get installed {' '.join(PACKAGES)}, yet {', '.join(still)} missing")
    return time.monotonic() - t0


# ---------------------------------------------------------------------------------------------------------
# Configuration


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _measured_memory_mb() -> int:
    """RealMemory as `slurmd -C` measures it."""
    out = subprocess.run(["slurmd", "-C"], capture_output=True, text=True, timeout=30).stdout
    for word in out.split():
        if word.startswith("RealMemory="):
            return int(word.split("=")[1])
    raise ClusterStartFailed(f"`slurmd -C` reported no RealMemory: {out!r}")


def write_config(state: Path, node: str, cpus: int, memory_mb: int, partitions: tuple[str, ...]) -> Path:
    """slurm.conf and gres.conf for one node on localhost, all paths under `state`; returns slurm.conf."""
    ctld_port, slurmd_port = _free_ports(2)
    overrides = ("SlurmdParameters=config_overrides\n"
                 if cpus > os.cpu_count() or memory_mb > _measured_memory_mb() else "")
    parts = "".join(
        f"PartitionName={p} Nodes={node} Default={'YES' if i == 0 else 'NO'} MaxTime=INFINITE State=UP\n"
        for i, p in enumerate(partitions)
    )
    conf = state / "slurm.conf"
    conf.write_text(f"""\
# One-node test cluster written by glrm's tests/slurm_cluster.py
ClusterName=glrmtest
SlurmctldHost={node}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={state}/munge/munge.socket
StateSaveLocation={state}/ctld
SlurmdSpoolDir={state}/slurmd
SlurmctldPidFile={state}/run/slurmctld.pid
SlurmdPidFile={state}/run/slurmd.pid
SlurmctldLogFile={state}/log/slurmctld.log
SlurmdLogFile={state}/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
{overrides}MpiDefault=none
SwitchType=switch/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MailProg=/bin/true
SchedulerType=sched/backfill
ReturnToService=2
# Finished jobs stay visible to squeue/scontrol this long. With no accounting that is the only record of
# them; snakemake-executor-plugin-slurm falls back to (here broken) sacct when this is under 120 s.
MinJobAge=300
KillWait=5
GresTypes=gpu
NodeName={node} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory_mb} Gres=gpu:2 State=UNKNOWN
{parts}""")
    # Stand-in GPU devices (see the module's docstring). TaskPlugin=task/none: nothing restricts access.
    for i in range(2):
        gpu = state / f"gpu{i}"
        try:
            os.mknod(gpu, 0o600 | stat.S_IFCHR, os.makedev(1, 3))
        except OSError:
            gpu.touch(mode=0o600)
    (state / "gres.conf").write_text(f"NodeName={node} Name=gpu File={state}/gpu[0-1]\n")
    return conf


def _client_shims(state: Path, conf: Path) -> Path:
    """A directory of stand-ins for the SLURM client commands that set SLURM_CONF and run the real one.
    SLURM_CONF alone does not reach every client: snakemake-executor-plugin-slurm-jobstep (0.6.1) runs the
    rule's `srun` inside the job with every SLURM_* variable but the job's identity removed, so that srun
    would look for /etc/slurm/slurm.conf. PATH does get through (sbatch --export=ALL)."""
    shims = state / "bin"
    shims.mkdir(mode=0o755)
    for name in CLIENTS:
        if real := shutil.which(name):
            (shims / name).write_text(f'#!/bin/sh\nSLURM_CONF={conf} exec {real} "$@"\n')
            (shims / name).chmod(0o755)
    return shims


# ---------------------------------------------------------------------------------------------------------
# The cluster


def _wait_for(what: str, ok, timeout: float, failed=lambda: None) -> None:
    """Poll `ok()` until true; `failed()` may return a message that ends the wait at once."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ok():
            return
        if (msg := failed()) is not None:
            raise ClusterStartFailed(f"{what}: {msg}")
        time.sleep(0.2)
    raise ClusterStartFailed(f"{what}: not within {timeout:.0f} s")


def _node_state(env: dict[str, str], node: str) -> str:
    try:
        done = subprocess.run(["sinfo", "-h", "-n", node, "-o", "%T"], env=env, capture_output=True,
                              text=True, timeout=10)
    except subprocess.TimeoutExpired:
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


@contextlib.contextmanager
def slurm_cluster(cpus: int | None = None, partitions: tuple[str, ...] = ("debug",),
                  memory_mb: int | None = None, start_timeout: float = 60,
                  install_timeout: float = 600) -> Iterator[SlurmCluster]:
    """Install (if needed) and start a one-node SLURM, yield it, and stop its daemons by PID at the end.
    Raises ClusterUnavailable, saying why, when this machine cannot have it, ClusterStartFailed when it
    does not come up.

    `cpus`: the node's CPU count, the machine's by default; more than the hardware may be declared (jobs are
    not bound to cores). `memory_mb`: likewise the node's memory (a GPU node's, so a profile's requests
    fit). The first partition is the default one."""
    if os.geteuid() != 0:
        raise ClusterUnavailable("not root: SLURM's slurmd and the package install need root")
    install_seconds = ensure_installed(install_timeout)
    reap_leftovers()

    node = socket.gethostname().split(".")[0]
    cpus = cpus or os.cpu_count() or 1
    real = _measured_memory_mb()
    # by default a bit below the measured: slurmd drains a node that reports less memory than configured,
    # and the kernel's figure moves a little
    memory_mb = memory_mb or max(1, real - max(256, real // 20))

    state = Path(tempfile.mkdtemp(prefix=STATE_PREFIX))
    state.chmod(0o755)  # munged insists that everyone can reach its socket
    (state / "owner.pid").write_text(str(os.getpid()))
    for sub in ("munge", "ctld", "slurmd", "run", "log"):
        (state / sub).mkdir(mode=0o755)
    conf = write_config(state, node, cpus, memory_mb, partitions)
    shims = _client_shims(state, conf)
    env = {**os.environ, "SLURM_CONF": str(conf), "PATH": f"{shims}:{os.environ.get('PATH', '')}"}
    cluster = SlurmCluster(state, node, partitions, env, install_seconds=install_seconds)
    key = state / "munge" / "munge.key"
    key.write_bytes(os.urandom(128))  # what `mungekey` makes: 1024 random bits
    key.chmod(0o400)

    popens: dict[str, subprocess.Popen] = {}

    def launch(name: str, *args: str) -> None:
        with open(state / "log" / f"{name}.out", "wb") as out:  # the daemon's stdout and stderr
            popens[name] = subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        cluster.pids[name] = popens[name].pid

    def exited(name: str):
        def check():
            if popens[name].poll() is None:
                return None
            out = (state / "log" / f"{name}.out").read_text(errors="replace").strip()
            return f"{name} exited with {popens[name].returncode}: {out[-1500:]}"
        return check

    t0 = time.monotonic()
    try:
        # -F: foreground, so the PID is Popen's.
        launch("munged", "munged", "-F", f"--socket={state}/munge/munge.socket", f"--key-file={key}",
               f"--seed-file={state}/munge/munged.seed", f"--pid-file={state}/run/munged.pid",
               f"--log-file={state}/log/munged.log")
        _wait_for("munged did not open its socket", (state / "munge" / "munge.socket").exists, 15,
                  exited("munged"))
        # -D: foreground; -i: ignore state files (there are none yet); -f: the configuration (as SLURM_CONF).
        launch("slurmctld", "slurmctld", "-D", "-i", "-f", str(conf))
        launch("slurmd", "slurmd", "-D", "-f", str(conf))

        def failed():
            if (msg := exited("slurmctld")() or exited("slurmd")()) is not None:
                return msg
            now = _node_state(env, node)  # a drained or invalid node never becomes idle by itself
            return f"node is {now}" if now.startswith(("drain", "inval", "down")) else None

        try:
            _wait_for(f"node {node} did not become idle", lambda: _node_state(env, node) == "idle",
                      start_timeout, failed)
        except ClusterStartFailed as e:
            logs = "".join(f"\n--- {d} log:\n{cluster.log(d)[-1500:]}" for d in ("slurmctld", "slurmd"))
            raise ClusterStartFailed(f"{e}{logs}") from None
        cluster.start_seconds = time.monotonic() - t0
        yield cluster
    finally:
        _shutdown(cluster, popens)


def _shutdown(cluster: SlurmCluster, popens: dict[str, subprocess.Popen]) -> None:
    """Cancel the cluster's jobs, stop slurmd, slurmctld and munged by PID, then whatever of the cluster
    outlived them (slurmstepd runs detached from slurmd), and check that nothing of it is left."""
    errors = []
    if cluster.start_seconds and all(p.poll() is None for p in popens.values()):
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            cluster.run("scancel", f"--user={getpass.getuser()}", check=False, timeout=10)
            deadline = time.monotonic() + 15  # KillWait=5: the jobs should end well within this
            while time.monotonic() < deadline:
                running = cluster.run("squeue", "-h", "-t", "RUNNING,COMPLETING", "-o", "%i", check=False)
                if not running.stdout.strip():
                    break
                time.sleep(0.3)
    for name in ("slurmd", "slurmctld", "munged"):
        if name in popens:
            try:
                _stop(popens[name].pid, name, popens[name])
            except RuntimeError as e:
                errors.append(str(e))
    errors += _stop_all(cluster_processes().get(cluster.state, {}))
    left = [f"{pid} {cmd}" for pid, cmd in cluster_processes().get(cluster.state, {}).items()]
    if errors or left:
        raise RuntimeError(f"SLURM test cluster not stopped: {errors} {left}")
    shutil.rmtree(cluster.state, ignore_errors=True)
