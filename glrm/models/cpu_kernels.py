"""glrm's CPU kernels (selective scan, depthwise conv + SiLU): build, load, call. Optional: never needed for
correctness; the pure-PyTorch twins in glrm.models.scan are the reference and the fallback.

The kernels are plain C (`_cpu_kernels.c`, no torch headers), compiled once with the system C compiler
(`$CC`, else `cc`/`gcc`/`clang`) into a shared library cached under `$GLRM_KERNEL_CACHE` (default
`~/.cache/glrm/kernels`), named by a hash of the source, the compiler flags and this CPU's feature flags
(the build is -march=native, so a node with other CPU features builds its own copy), and called through
ctypes (float32 tensors on the CPU, by data pointer and strides). `make install` builds it
(`python -m glrm.models.cpu_kernels`); otherwise the first forward that needs it builds it (about a second).

Whether they are used is decided in ONE place, `available()`: `GLRM_CPU_KERNELS` is not 0, and the library
builds and loads. If it cannot (no compiler, a failed build, a read-only cache), glrm warns once and uses the
pure-PyTorch scan. The per-call condition is `usable(x)` (CPU, float32) plus each caller's shape limits
(`glrm.models.scan.use_cpu_kernel`: d_state <= NMAX; `glrm.models.hyenadna.use_cpu_kernels`).

ctypes releases the GIL during a call, so the channels of one call are split across
`torch.get_num_threads()` Python threads (each channel's recurrence is independent).
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

log = logging.getLogger(__name__)

SOURCE = Path(__file__).with_name("_cpu_kernels.c")
FLAGS = ["-O3", "-march=native", "-fno-math-errno", "-fPIC", "-shared", "-std=c99"]
ABI = 3
NMAX = 64          # as in _cpu_kernels.c
MIN_CHANNELS_PER_THREAD = 64

_lib = None
_tried = False
_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_pool_size = 0

_i64, _f32p, _int = ctypes.c_int64, ctypes.c_void_p, ctypes.c_int


def enabled_by_env() -> bool:
    return os.environ.get("GLRM_CPU_KERNELS", "1").strip().lower() not in ("0", "false", "no", "off")


def _cpu_flags() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _compiler() -> str | None:
    for cc in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if cc and shutil.which(cc):
            return cc
    return None


def cache_dir() -> Path:
    env = os.environ.get("GLRM_KERNEL_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "glrm" / "kernels"


def library_path(cc: str) -> Path:
    h = hashlib.sha256()
    for part in (SOURCE.read_bytes(), " ".join(FLAGS).encode(), cc.encode(), _cpu_flags().encode(),
                 platform.machine().encode()):
        h.update(part)
        h.update(b"\0")
    return cache_dir() / f"glrm_cpu_kernels_{h.hexdigest()[:16]}.so"


def build() -> Path:
    """Compile the kernels (if not cached) and return the library's path; raises on failure."""
    cc = _compiler()
    if cc is None:
        raise RuntimeError("no C compiler found (set CC, or install gcc)")
    path = library_path(cc)
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=path.parent)
    os.close(fd)
    try:
        res = subprocess.run([cc, *FLAGS, "-o", tmp, str(SOURCE)], capture_output=True, text=True,
                             timeout=300)
        if res.returncode != 0:
            raise RuntimeError(f"{cc} failed: {res.stderr.strip()[-2000:]}")
        os.replace(tmp, path)  # atomic: concurrent builders (several glrm processes) all end with one file
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _load():
    path = build()
    lib = ctypes.CDLL(str(path))
    if lib.glrm_kernels_abi() != ABI:
        raise RuntimeError(f"{path}: kernel ABI {lib.glrm_kernels_abi()}, expected {ABI}")
    lib.glrm_scan_f32.restype = None
    lib.glrm_scan_f32.argtypes = ([_i64] * 4 + [_f32p, _i64, _i64] * 4 + [_f32p, _f32p, _f32p]
                                  + [_f32p, _i64, _i64] * 2 + [_i64, _i64, _int, _int, _int])
    lib.glrm_gelu_tanh_f32.restype = None
    lib.glrm_gelu_tanh_f32.argtypes = [_f32p, _f32p, _i64, _i64]
    lib.glrm_hyena_short_conv_f32.restype = None
    lib.glrm_hyena_short_conv_f32.argtypes = ([_i64] * 3 + [_f32p, _i64, _i64, _f32p, _f32p, _f32p, _i64]
                                              + [_f32p, _i64, _i64, _i64])
    lib.glrm_hyena_filter_f32.restype = None
    lib.glrm_hyena_filter_f32.argtypes = [_i64, _i64, _f32p, _i64, _f32p, _f32p, _f32p, ctypes.c_float, _f32p,
                                          _i64, _i64, _i64]
    lib.glrm_conv_silu_f32.restype = None
    lib.glrm_conv_silu_f32.argtypes = [_i64] * 4 + [_f32p, _i64, _i64, _f32p, _f32p, _f32p, _f32p, _i64,
                                                    _i64, _int]
    return lib


def available() -> bool:
    """The one decision whether the CPU kernels are used at all (built and loaded once per process)."""
    global _lib, _tried
    if not enabled_by_env():
        return False
    if _tried:
        return _lib is not None
    with _lock:
        if not _tried:
            try:
                _lib = _load()
            except Exception as exc:  # noqa: BLE001 - any failure means: use the pure-PyTorch scan
                _lib = None
                log.warning("glrm's CPU scan kernel could not be built or loaded (%s); using the "
                            "pure-PyTorch scan (slower, same results). GLRM_CPU_KERNELS=0 silences this.",
                            exc)
            _tried = True
    return _lib is not None


def usable(x: torch.Tensor) -> bool:
    """The kernels can take x: a float32 CPU tensor, and the library built and loaded (`available()`).
    Each caller adds its own shape limits (glrm.models.scan.use_cpu_kernel, glrm.models.hyenadna
    .use_cpu_kernels)."""
    return x.device.type == "cpu" and x.dtype == torch.float32 and available()


def _splits(channels: int) -> list[tuple[int, int]]:
    """Channel ranges, one per worker thread (multiples of 16, the kernel's block)."""
    n = max(1, min(torch.get_num_threads(), channels // MIN_CHANNELS_PER_THREAD))
    if n == 1:
        return [(0, channels)]
    step = -(-channels // n)
    step = -(-step // 16) * 16
    return [(a, min(channels, a + step)) for a in range(0, channels, step)]


def _run_split(fn, channels: int) -> None:
    global _pool, _pool_size
    if not available():
        raise RuntimeError("glrm's CPU kernels are not available (glrm.models.cpu_kernels.available())")
    parts = _splits(channels)
    if len(parts) == 1:
        fn(*parts[0])
        return
    if _pool is None or _pool_size < len(parts):
        _pool = ThreadPoolExecutor(max_workers=len(parts), thread_name_prefix="glrm-kernel")
        _pool_size = len(parts)
    for f in [_pool.submit(fn, a, b) for a, b in parts]:
        f.result()


def _ptr(t: torch.Tensor | None) -> int | None:
    return None if t is None else t.data_ptr()


def _rows(t: torch.Tensor) -> torch.Tensor:
    """(Bt, L, X) float32 whose last dim is contiguous (a view when possible)."""
    return t if t.stride(-1) == 1 else t.contiguous()


def scan(u, delta, A, B, C, D, h, y, *, z=None, reverse: bool = False, accumulate: bool = False,
         softplus: bool = False) -> None:
    """In place: y (Bt, L, E) <- ((y if accumulate) + scan output with D u) * (silu(z) if z is given);
    h (Bt, E, N) contiguous: the entering state in, the final state out. u, delta, z (Bt, L, E); B, C
    (Bt, L, N); A (E, N); D (E,) or None; float32 on the CPU. `softplus`: delta is the dt_proj output and
    the kernel applies softplus (threshold 20) itself. `reverse`: sweep right to left."""
    bt, L, e = u.shape
    n = A.shape[1]
    u, delta, B, C = _rows(u), _rows(delta), _rows(B), _rows(C)
    z = None if z is None else _rows(z)
    A = A.contiguous()
    D = None if D is None else D.contiguous()
    assert h.is_contiguous() and y.stride(-1) == 1 and n <= NMAX
    zs = (0, 0) if z is None else (z.stride(0), z.stride(1))

    def run(e0, e1):
        _lib.glrm_scan_f32(bt, L, e, n, _ptr(u), u.stride(0), u.stride(1), _ptr(delta), delta.stride(0),
                           delta.stride(1), _ptr(B), B.stride(0), B.stride(1), _ptr(C), C.stride(0),
                           C.stride(1), _ptr(A), _ptr(D), _ptr(h), _ptr(z), *zs, _ptr(y), y.stride(0),
                           y.stride(1), e0, e1, int(reverse), int(accumulate), int(softplus))

    _run_split(run, e)


def conv_silu(x, weight, bias, state, *, reverse: bool = False) -> torch.Tensor:
    """silu(depthwise conv) of x (Bt, l, E) in sweep order (right to left when `reverse`), continuing from
    `state` (Bt, K-1, E): the last K-1 inputs in sweep order (None: zeros). weight (E, 1, K). Returns
    out (Bt, l, E) in x's position order."""
    bt, L, e = x.shape
    k = weight.shape[-1]
    x = _rows(x)
    w = weight.reshape(e, k).t().contiguous()  # (K, E)
    b = None if bias is None else bias.contiguous()
    st = None if state is None or k == 1 else state.contiguous()
    out = torch.empty(bt, L, e, dtype=torch.float32)

    def run(e0, e1):
        _lib.glrm_conv_silu_f32(bt, L, e, k, _ptr(x), x.stride(0), x.stride(1), _ptr(w), _ptr(b), _ptr(st),
                                _ptr(out), e0, e1, int(reverse))

    _run_split(run, e)
    return out


def gelu_tanh_(x: torch.Tensor) -> torch.Tensor:
    """In place: x <- gelu(x, approximate="tanh") for a contiguous float32 CPU tensor; returns x."""
    assert x.is_contiguous() and x.dtype == torch.float32
    n = x.numel()

    def run(i0, i1):
        _lib.glrm_gelu_tanh_f32(_ptr(x), _ptr(x), i0, i1)

    _run_split(run, n)
    return x


HYENA_MAX_D = 1024   # as the tile in glrm_hyena_short_conv_f32


def hyena_short_conv(u: torch.Tensor, off: int, weight: torch.Tensor, bias: torch.Tensor, gates: torch.Tensor,
                     vx: torch.Tensor) -> None:
    """HyenaDNA's short causal conv fused with its gates (glrm_hyena_short_conv_f32): u (B, off + n, W)
    the in_proj output for positions a - off .. a + n - 1 (rows before the sequence start are absent: off
    is then a), weight (W, 1, K), bias (W,); writes gates (B, n, G D), rows contiguous, and the long-conv
    input vx (D, B, n), channels first (each (d, b) row contiguous; any row stride)."""
    B, rows, W = u.shape
    D = vx.shape[0]
    n = rows - off
    G = W // D - 2
    K = weight.shape[-1]
    assert u.stride(-1) == 1 and gates.stride(-1) == 1 and vx.stride(-1) == 1 and D % 16 == 0
    assert K <= 16 and D <= HYENA_MAX_D and gates.shape[:2] == (B, n) and vx.shape[1:] == (B, n)
    w = weight.reshape(W, K).t().contiguous()                 # (K, W)
    b = bias.contiguous()
    for i in range(B):
        ub, gb, vb = u[i], gates[i], vx[:, i]

        def run(p0, p1, ub=ub, gb=gb, vb=vb):
            _lib.glrm_hyena_short_conv_f32(D, G, K, _ptr(ub), ub.stride(0), off, _ptr(w), _ptr(b), _ptr(gb),
                                           gb.stride(0), _ptr(vb), vb.stride(0), p0, p1)

        _run_split(run, n)


def hyena_filter(feats: torch.Tensor, weight: torch.Tensor, decay: torch.Tensor | None, t: torch.Tensor,
                 shift: float, out: torch.Tensor) -> None:
    """out (G, L) rows (any row stride) <- (weight (G, F) @ feats (F, L)) * (exp(decay[:, None] t) + shift),
    the window left out when decay is None (glrm_hyena_filter_f32). feats rows contiguous, t (L,)."""
    G, L = out.shape
    F = feats.shape[0]
    assert feats.stride(-1) == 1 and out.stride(-1) == 1 and weight.shape == (G, F)
    w = weight.contiguous()
    d2 = (torch.zeros(G) if decay is None else decay * math.log2(math.e)).contiguous()   # base 2
    tt = t.contiguous()

    def run(t0, t1):
        _lib.glrm_hyena_filter_f32(G, F, _ptr(feats), feats.stride(0), _ptr(w), _ptr(d2), _ptr(tt),
                                   -1.0 if decay is None else shift, _ptr(out), out.stride(0), t0, t1)

    _run_split(run, L)


if __name__ == "__main__":  # `make install`: build now, so the first forward does not pay for it
    try:
        print(f"glrm CPU kernels: {build()}")
    except Exception as exc:  # noqa: BLE001 - a failed build never fails the install
        print(f"glrm CPU kernels not built ({exc}); glrm will use the pure-PyTorch scan", file=sys.stderr)
