"""Memory safety for model passes: recognise a CUDA out-of-memory error, and back off (halve the batch, then
the chunk) and retry instead of failing a long run. No file I/O.

    from glrm.scoring.memory import Backoff
    backoff = Backoff(window=W, batch=8, chunk=None)   # one per window length; keep it for the whole run
    backoff.run(passes, step)      # step(passes[i:i + backoff.batch], backoff.chunk), re-run after an OOM
    backoff.changes                # the warnings logged, one per size change

On a CUDA OOM the same slice is retried with the batch halved (while it is above 1), else with the chunk
halved (None, i.e. the whole window, -> W // 2 -> W // 4 ..., never below `MIN_CHUNK` or W when W is
shorter). The reduced sizes stay for the rest of the run. When neither can shrink, `GpuMemoryError` (a
one-line `GlrmError`: the CLI prints it and exits non-zero) names what to change.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable, Sequence
from typing import TypeVar

import torch

from glrm.errors import GlrmError

log = logging.getLogger(__name__)

MIN_CHUNK = 1024   # the smallest chunk the back-off goes down to (W itself when W is shorter)

T = TypeVar("T")


class GpuMemoryError(GlrmError):
    """The GPU ran out of memory even at the smallest batch and chunk."""


# RuntimeError messages that mean a CUDA allocation failed: the caching allocator's (older code paths and
# extensions), and cuFFT / cuBLAS failing to get workspace (HyenaDNA's FFTs, matmuls) when memory is short
OOM_MESSAGES = ("CUDA out of memory", "cuFFT error: CUFFT_ALLOC_FAILED")
# and a cudaMalloc outside the caching allocator (extensions, cuDNN/cuFFT plans): "CUDA error: out of memory"
OOM_SUBSTRINGS = ("CUBLAS_STATUS_ALLOC_FAILED", "CUDA error: out of memory")


def is_oom(exc: BaseException) -> bool:
    """True for a CUDA out-of-memory error: torch.OutOfMemoryError (torch.cuda.OutOfMemoryError is the same
    class; torch raises it from its CUDA caching allocator), or a RuntimeError whose message starts with
    "CUDA out of memory" or "cuFFT error: CUFFT_ALLOC_FAILED", or names CUBLAS_STATUS_ALLOC_FAILED or "CUDA
    error: out of memory". A failed CPU allocation is a plain RuntimeError ("DefaultCPUAllocator: can't
    allocate memory") and is not one: it propagates."""
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
        return min(MIN_CHUNK, self.window)

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
