"""What glrm may use of the machine, and the sizes it derives from it, in one place. No torch at import
time (the CLI imports this first thing; functions that need torch import it when called).

CPUs and threads. `usable_cpus()` is the smallest of the limits that apply to this process: its CPU affinity
(cpusets, `taskset`, Slurm's task binding), `SLURM_CPUS_PER_TASK`, and a CFS quota of its cgroup (v2
`cpu.max`, v1 `cpu.cfs_quota_us` / `cpu.cfs_period_us`, read up the hierarchy; what Docker `--cpus` and
Kubernetes CPU limits set). torch alone counts the affinity only, so on a cluster node without a cpuset it
would start a thread per core of the node. `passive_openmp()` makes idle OpenMP threads sleep instead of
spinning. It must run before torch is first imported (the OpenMP runtime reads its settings when it loads);
the CLI calls it first thing. Spinning threads compete with every other process for the cores: beside two
busy loops on the 2-core machine the demo took 3.2x as long with torch's libgomp spinning
(docs/performance.md, "Threads on a shared machine"). `keep_freed_memory()` stops glibc's malloc from
handing every forward's buffers back to the kernel (and faulting them in again on the next).

Memory and sizes. `free_memory_bytes(device)` is the one memory probe (tests patch it here, once: every
caller reads it through this module when it runs). From it and a model's (H, V) (`model_dims`): the bytes
one pass keeps alive (`pass_bytes`, the model `glrm plan` prints, docs/plan.md "Memory model"), the
automatic batch (`auto_batch`, `auto_batch_size`), the automatic chunk (`auto_chunk_size`, score-vcf and
score-sv `--chunk-size auto`) and the share of it causal prefix reuse may keep (`PREFIX_KEEP_FRACTION`,
glrm.scoring.prefix).

Out of memory. `Backoff` runs passes in slices and, on a CUDA out-of-memory error (`is_oom`), retries the
same slice with the batch halved (while it is above 1), else with the chunk halved (None, i.e. the whole
window, -> W // 2 -> W // 4 ..., never below `BACKOFF_CHUNK_MIN` or W when W is shorter); the reduced sizes
stay for the rest of the run. When neither can shrink, `GpuMemoryError` (a one-line `GlrmError`: the CLI
prints it and exits non-zero) names what to change (docs/plan.md, "Out of memory during a run")::

    backoff = Backoff(window=W, batch=8, chunk=None)   # one per window length; keep it for the whole run
    backoff.run(passes, step)      # step(passes[i:i + backoff.batch], backoff.chunk), re-run after an OOM
    backoff.changes                # the warnings logged, one per size change

Two chunk floors, on purpose: `--chunk-size auto` never picks less than AUTO_CHUNK_MIN (4,096; smaller chunks
only add per-chunk overhead), even where the free memory asks for less, and the back-off takes over from
there, down to BACKOFF_CHUNK_MIN (1,024).
"""

from __future__ import annotations

import gc
import logging
import math
import os
import sys
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from glrm.errors import GlrmError

if TYPE_CHECKING:
    import torch

    from glrm.models.base import GenomicLM

log = logging.getLogger(__name__)

# --- CPUs and threads ----------------------------------------------------------------------------------

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


# glibc malloc: blocks below the mmap threshold come from the heap, and freed heap memory above the trim
# threshold goes back to the kernel. Its defaults (a dynamic threshold of at most 32 MiB, trim at twice that)
# return and re-fault the memory of every model forward: the FFT outputs of a 1M-token HyenaDNA layer are
# 64 MiB each, the blocks of position-wise work a few MiB, and each fresh 4 KiB page costs a fault (measured
# on the development VM: a 1M-token forward made 2.2M faults, 4.5 s of its 31 s in the kernel).
MMAP_THRESHOLD_BYTES = 256 * 2**20
TRIM_THRESHOLD_BYTES = 2 * 2**30
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3        # glibc's mallopt parameter numbers (malloc.h)


def keep_freed_memory() -> bool:
    """Ask glibc's malloc to keep memory a process frees for its next allocations (blocks up to
    MMAP_THRESHOLD_BYTES from the heap; up to TRIM_THRESHOLD_BYTES of free heap kept), so repeated model
    forwards reuse pages instead of faulting in fresh ones. RSS then stays near its peak between forwards,
    which a scoring run reaches anyway. Returns whether it took effect (glibc only; elsewhere a no-op).
    The trim threshold is set only once the mmap one is: setting it alone would freeze the mmap threshold
    at 128 KiB, and every buffer above that would then be a fresh mapping."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):   # not glibc (musl has no mallopt)
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    if mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) != 1:
        return False
    return mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES) == 1


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


# --- memory and sizes -----------------------------------------------------------------------------------

FLOAT = 4                  # bytes per float32 value: outputs and activations are float32 (bf16 runs too)
# auto_batch_size: B = clamp(MEM_FRACTION * free // pass_bytes(W, H, V).total, 1, MAX_AUTO_BATCH)
MEM_FRACTION = 0.5         # of the free memory (`free_memory_bytes`)
ACT_FACTOR = 16            # float32 activations per position, in units of H, alive at once in one forward
MAX_AUTO_BATCH = 64        # larger batches gain nothing measurable and delay the first results
# auto_chunk_size: C = clamp((CHUNK_MEM_FRACTION * free - W * (V + RESIDENT_FACTOR * H) * 4)
#                            // (CHUNK_ACT_FACTOR * H * 4), AUTO_CHUNK_MIN, AUTO_CHUNK_MAX), a multiple of
#                            CHUNK_STEP, <= W
CHUNK_MEM_FRACTION = 0.5   # of the free memory
RESIDENT_FACTOR = 4        # float32 values per position per H alive for the whole pass (streams, outputs)
CHUNK_ACT_FACTOR = 32      # float32 values per position per H inside one chunk (in_proj, conv, gates)
AUTO_CHUNK_MIN = 4096      # the smallest automatic chunk: smaller chunks only add per-chunk overhead
AUTO_CHUNK_MAX = 262_144   # larger chunks gain nothing measurable
CHUNK_STEP = 1024          # automatic chunks are multiples of this
PREFIX_KEEP_FRACTION = 0.25  # of the free memory: what HyenaDNA ref passes may keep for alt suffixes
SPECTRUM_CACHE_FRACTION = 0.25  # of the free memory when an engine starts: HyenaDNA's kept filter spectra
# CPU: batching does not pay. Measured on 2 cores (benchmarks/bench_batch.py, docs/performance.md): at 1, 4
# and 16k tokens per window, HyenaDNA d64 L2 and a Mamba LM d64 L2 run fastest per window at batch 1 (16k
# tokens, 2 threads: 58 and 101 ms at batch 1, 110 and 193 ms at batch 4), so the automatic CPU batch is 1.


def free_memory_bytes(device: torch.device) -> int:
    """Free memory on `device`: torch.cuda.mem_get_info on CUDA; MemAvailable from /proc/meminfo on CPU,
    else the available physical pages from os.sysconf; 4 GiB when neither can be read."""
    if device.type == "cuda":
        import torch

        return int(torch.cuda.mem_get_info(device)[0])
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 4 << 30


def size_model_caches(model: GenomicLM, device: torch.device) -> int | None:
    """Let a model keep what repeated windows reuse in SPECTRUM_CACHE_FRACTION of the free memory (HyenaDNA:
    its filter spectra, `set_spectrum_cache`); the bytes allowed, or None for a model without such a cache."""
    setter = getattr(model, "set_spectrum_cache", None)
    if setter is None:
        return None
    allowed = int(SPECTRUM_CACHE_FRACTION * free_memory_bytes(device))
    setter(allowed)
    return allowed


def model_dims(model: GenomicLM) -> tuple[int, int]:
    """(H, V) of a model without running it: the token embedding's width (doubled for RC-equivariant
    checkpoints, whose hidden states hold both strands) and its vocabulary rows."""
    import torch

    emb = next((m for m in model.modules() if isinstance(m, torch.nn.Embedding)), None)
    if emb is None:
        raise ValueError(f"{type(model).__name__} has no token embedding")
    return emb.embedding_dim * (2 if model.info.rc_equivariant else 1), emb.num_embeddings


@dataclass(frozen=True)
class PassBytes:
    """Bytes one pass keeps alive at its peak, by part (`pass_bytes`)."""

    logits: int
    hidden: int
    activations: int

    @property
    def total(self) -> int:
        return self.logits + self.hidden + self.activations


def pass_bytes(w: int, hidden: int, vocab: int, chunk: int | None = None) -> PassBytes:
    """The float32 bytes one pass of `w` tokens keeps alive: its (W, V) logits, its (W, H) hidden states and
    the layers' activations, (W, (ACT_FACTOR - 1) H) when it runs whole (`chunk` None or >= w), else
    (W, (RESIDENT_FACTOR - 1) H) for the whole pass plus (C, CHUNK_ACT_FACTOR H) inside one chunk of C."""
    if chunk is None or chunk >= w:
        act = w * (ACT_FACTOR - 1) * hidden
    else:
        act = w * (RESIDENT_FACTOR - 1) * hidden + chunk * CHUNK_ACT_FACTOR * hidden
    return PassBytes(w * vocab * FLOAT, w * hidden * FLOAT, act * FLOAT)


def auto_batch_size(w: int, hidden: int, vocab: int, free_bytes: int) -> int:
    """Passes per batch: MEM_FRACTION of the free memory over the bytes one whole pass keeps alive,
    `pass_bytes(w, hidden, vocab).total` = W * (V + ACT_FACTOR * H) * 4, between 1 and MAX_AUTO_BATCH.
    E.g. W = 131072, H = 512 (Caduceus-ps), 40 GiB free -> 4."""
    per_pass = pass_bytes(w, hidden, vocab).total
    return max(1, min(MAX_AUTO_BATCH, int(MEM_FRACTION * free_bytes) // max(per_pass, 1)))


def auto_batch(model: GenomicLM, w: int, device: torch.device) -> int:
    """The automatic batch size for `w`-token passes: 1 on CPU (batching does not pay there, see above), else
    `auto_batch_size` from the free memory."""
    if device.type == "cpu":
        return 1
    hidden, vocab = model_dims(model)
    return auto_batch_size(w, hidden, vocab, free_memory_bytes(device))


def auto_chunk_size(model: GenomicLM, window: int, device) -> int:
    """A chunk length for `window`-token passes from the free memory of `device` (`--chunk-size auto`):
    C = (0.5 * free - W * (V + 4H) * 4 bytes) // (32 * H * 4 bytes), clamped to [AUTO_CHUNK_MIN,
    AUTO_CHUNK_MAX] = [4096, 262144], rounded down to a multiple of 1024 and at most W (H, V: `model_dims`):
    the largest C with `pass_bytes(W, H, V, C).total` within CHUNK_MEM_FRACTION of the free memory. The first
    term is what one pass keeps for its whole length (residual and hidden streams, outputs); the divisor is
    what one chunk position costs (in_proj's 2*expand*H outputs, conv, gates, scan segment). E.g. H = 256,
    V = 16, W = 1,000,000: 16 GiB free -> 135168 (the formula gives 135,190), 8 GiB -> 4096 (the floor),
    24 GiB -> 262144."""
    import torch

    hidden, vocab = model_dims(model)
    free = free_memory_bytes(torch.device(device))
    spare = CHUNK_MEM_FRACTION * free - window * (vocab + RESIDENT_FACTOR * hidden) * FLOAT
    c = int(spare // (CHUNK_ACT_FACTOR * hidden * FLOAT)) if spare > 0 else 0
    c = max(AUTO_CHUNK_MIN, min(AUTO_CHUNK_MAX, c)) // CHUNK_STEP * CHUNK_STEP
    return max(1, min(window, c))


# --- out of memory: halve and retry ---------------------------------------------------------------------

BACKOFF_CHUNK_MIN = 1024   # the smallest chunk the back-off goes down to (W itself when W is shorter)
# RuntimeError messages that mean a CUDA allocation failed: the caching allocator's (older code paths and
# extensions), and cuFFT / cuBLAS failing to get workspace (HyenaDNA's FFTs, matmuls) when memory is short
OOM_MESSAGES = ("CUDA out of memory", "cuFFT error: CUFFT_ALLOC_FAILED")
# and a cudaMalloc outside the caching allocator (extensions, cuDNN/cuFFT plans): "CUDA error: out of memory"
OOM_SUBSTRINGS = ("CUBLAS_STATUS_ALLOC_FAILED", "CUDA error: out of memory")

T = TypeVar("T")


class GpuMemoryError(GlrmError):
    """The GPU ran out of memory even at the smallest batch and chunk."""


def is_oom(exc: BaseException) -> bool:
    """True for a CUDA out-of-memory error: torch.OutOfMemoryError (torch.cuda.OutOfMemoryError is the same
    class; torch raises it from its CUDA caching allocator), or a RuntimeError whose message starts with
    "CUDA out of memory" or "cuFFT error: CUFFT_ALLOC_FAILED", or names CUBLAS_STATUS_ALLOC_FAILED or "CUDA
    error: out of memory". A failed CPU allocation is a plain RuntimeError ("DefaultCPUAllocator: can't
    allocate memory") and is not one: it propagates."""
    import torch

    if isinstance(exc, torch.OutOfMemoryError):
        return True
    if not isinstance(exc, RuntimeError):
        return False
    text = str(exc)
    return text.startswith(OOM_MESSAGES) or any(s in text for s in OOM_SUBSTRINGS)


def _name(chunk: int | None) -> str:
    return "none" if chunk is None else str(chunk)


class Backoff:
    """The batch and chunk sizes for passes of `window` tokens, halved on CUDA OOM (see the module docstring).

    `batch` (>= 1) and `chunk` (None = the whole window in one chunk, else >= 1) are public and change only
    through `run`. `changes` lists the warnings logged, in order.
    """

    def __init__(self, window: int, batch: int, chunk: int | None = None):
        if window < 1 or batch < 1 or (chunk is not None and chunk < 1):
            raise ValueError(f"Backoff needs window >= 1, batch >= 1, chunk None or >= 1 "
                             f"(got {window}, {batch}, {chunk})")
        self.window = window
        self.batch = batch
        self.chunk = chunk
        self.changes: list[str] = []

    @property
    def floor(self) -> int:
        """The smallest chunk the back-off will use."""
        return min(BACKOFF_CHUNK_MIN, self.window)

    def run(self, items: Sequence[T], step: Callable[[list[T], int | None], None]) -> None:
        """step(items[i:i + batch], chunk) over consecutive slices, in order, each item once (a slice that
        ran out of memory is run again, from its first item, at the reduced size). Exceptions other than a
        CUDA OOM propagate unchanged; an OOM with nothing left to halve raises GpuMemoryError."""
        items = list(items)
        i = 0
        while i < len(items):
            part = items[i:i + self.batch]
            try:
                step(part, self.chunk)
            except Exception as exc:  # everything but an OOM is re-raised as is
                if not is_oom(exc):
                    raise
                failed = (self.batch, self.chunk)
                cause = exc
            else:
                i += len(part)
                continue
            # out of the except block: the failed step's frames (and their tensors) are released with the
            # exception's traceback, so the memory can go back before the retry
            cause.__traceback__ = None
            del cause
            self._shrink(*failed)
            gc.collect()
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()

    def _shrink(self, batch: int, chunk: int | None) -> None:
        if batch > 1:
            self.batch = batch // 2
            change = f"batch {self.batch}"
        else:
            current = self.window if chunk is None else min(chunk, self.window)
            smaller = max(self.floor, current // 2)
            if smaller >= current:
                raise GpuMemoryError(
                    f"out of GPU memory even at batch 1, chunk {current} for window {self.window}; "
                    "use a shorter --window, --precision bf16, or a GPU with more memory")
            self.chunk = smaller
            change = f"chunk {self.chunk}"
        msg = (f"CUDA out of memory at batch {batch}, chunk {_name(chunk)} (W={self.window}): "
               f"retrying with {change}")
        log.warning(msg)
        self.changes.append(msg)
