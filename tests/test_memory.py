"""glrm.resources: OOM recognition and the halve-and-retry back-off.

A fake GPU refuses any slice whose size len(slice) * (chunk or W) exceeds its budget, raising the error torch
raises (torch.OutOfMemoryError); the back-off logic under test is the real one.
"""

from __future__ import annotations

import logging

import pytest
import torch

from glrm.errors import GlrmError
from glrm.resources import BACKOFF_CHUNK_MIN, Backoff, GpuMemoryError, is_oom

LOGGER = "glrm.resources"


class FakeGpu:
    """A step that fails like a CUDA allocator when a slice needs more than `budget` token-units, and records
    what it completed: (items, chunk) per successful call."""

    def __init__(self, window: int, budget: int):
        self.window, self.budget = window, budget
        self.done: list[tuple[list, int | None]] = []
        self.attempts = 0

    def __call__(self, part: list, chunk: int | None) -> None:
        self.attempts += 1
        need = len(part) * (chunk or self.window)
        if need > self.budget:
            raise torch.OutOfMemoryError(f"CUDA out of memory. Tried to allocate {need} units")
        self.done.append((list(part), chunk))

    def processed(self) -> list:
        return [x for part, _ in self.done for x in part]


def test_is_oom():
    assert is_oom(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    assert is_oom(torch.cuda.OutOfMemoryError("CUDA out of memory."))
    assert is_oom(RuntimeError("CUDA out of memory. Tried to allocate 20.00 MiB (GPU 0; ...)"))
    assert not is_oom(RuntimeError("DefaultCPUAllocator: can't allocate memory: tried 8 bytes"))
    assert is_oom(RuntimeError("cuFFT error: CUFFT_ALLOC_FAILED"))
    assert is_oom(RuntimeError("CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`"))
    assert is_oom(RuntimeError("CUDA error: out of memory\nCUDA kernel errors might be reported later"))
    assert not is_oom(RuntimeError("CUDA error: device-side assert triggered"))
    assert not is_oom(RuntimeError("cuFFT error: CUFFT_INVALID_SIZE"))
    assert not is_oom(ValueError("CUDA out of memory"))   # only RuntimeErrors carry it
    assert not is_oom(MemoryError())


def test_a_real_cpu_allocation_failure_is_not_an_oom():
    with pytest.raises(RuntimeError) as info:
        torch.empty(1 << 62, dtype=torch.uint8)   # no machine has this much memory
    assert not is_oom(info.value)


def test_no_oom_runs_every_slice_once_in_order():
    gpu = FakeGpu(window=4096, budget=1 << 40)
    b = Backoff(4096, batch=3)
    b.run(list(range(10)), gpu)
    assert [p for p, _ in gpu.done] == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    assert gpu.attempts == 4 and b.changes == [] and (b.batch, b.chunk) == (3, None)


def test_halves_batch_then_chunk_and_keeps_every_item_once_in_order(caplog):
    w = 131072
    gpu = FakeGpu(window=w, budget=w // 4)          # fits only batch 1 at chunk W/4
    b = Backoff(w, batch=8, chunk=None)
    items = [f"pass{i}" for i in range(21)]
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        b.run(items, gpu)
    assert gpu.processed() == items                  # each item once, in order
    assert all(len(p) == 1 and c == w // 4 for p, c in gpu.done)
    assert (b.batch, b.chunk) == (1, w // 4)
    expected = [
        "CUDA out of memory at batch 8, chunk none (W=131072): retrying with batch 4",
        "CUDA out of memory at batch 4, chunk none (W=131072): retrying with batch 2",
        "CUDA out of memory at batch 2, chunk none (W=131072): retrying with batch 1",
        "CUDA out of memory at batch 1, chunk none (W=131072): retrying with chunk 65536",
        "CUDA out of memory at batch 1, chunk 65536 (W=131072): retrying with chunk 32768",
    ]
    assert b.changes == expected
    logged = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    assert logged == expected                        # one warning per change, nothing else
    assert all(r.levelno == logging.WARNING for r in caplog.records if r.name == LOGGER)
    assert gpu.attempts == len(items) + len(expected)   # only the failing slice was retried


def test_batch_only_backoff_retries_the_same_slice():
    gpu = FakeGpu(window=1000, budget=2500)          # batch 2 fits
    b = Backoff(1000, batch=5)
    b.run(list(range(7)), gpu)
    assert [p for p, _ in gpu.done] == [[0, 1], [2, 3], [4, 5], [6]]
    assert (b.batch, b.chunk) == (2, None)
    assert b.changes == ["CUDA out of memory at batch 5, chunk none (W=1000): retrying with batch 2"]


def test_sizes_persist_across_runs():
    gpu = FakeGpu(window=8192, budget=4096)
    b = Backoff(8192, batch=2)
    b.run([1, 2, 3], gpu)
    assert (b.batch, b.chunk) == (1, 4096) and len(b.changes) == 2
    gpu.attempts = 0
    b.run([4, 5, 6], gpu)                            # starts at the reduced sizes: no new failure
    assert gpu.attempts == 3 and len(b.changes) == 2
    assert gpu.processed() == [1, 2, 3, 4, 5, 6]


def test_chunk_floor_and_give_up_message():
    w = 131072
    gpu = FakeGpu(window=w, budget=1000)             # nothing fits, not even 1 x BACKOFF_CHUNK_MIN
    b = Backoff(w, batch=2, chunk=5000)
    with pytest.raises(GpuMemoryError) as info:
        b.run(["a", "b"], gpu)
    assert isinstance(info.value, GlrmError)         # the CLI prints it as one line, non-zero exit
    assert str(info.value) == (
        "out of GPU memory even at batch 1, chunk 1024 for window 131072; use a shorter --window, "
        "--precision bf16, or a GPU with more memory")
    assert "\n" not in str(info.value)
    # 5000 -> 2500 -> 1250 -> 1024 (the floor), never below
    assert [c.rsplit(" ", 1)[1] for c in b.changes] == ["1", "2500", "1250", "1024"]
    assert (b.batch, b.chunk) == (1, BACKOFF_CHUNK_MIN)
    assert gpu.done == []


def test_short_window_floor_is_the_window():
    gpu = FakeGpu(window=600, budget=100)
    b = Backoff(600, batch=1)                        # W < BACKOFF_CHUNK_MIN: the chunk cannot shrink below W
    with pytest.raises(GpuMemoryError, match="batch 1, chunk 600 for window 600"):
        b.run([0], gpu)
    assert b.changes == []


def test_chunk_larger_than_window_halves_from_the_window():
    gpu = FakeGpu(window=4096, budget=2048)
    b = Backoff(4096, batch=1, chunk=100_000)
    b.run([0, 1], gpu)
    assert b.chunk == 2048 and gpu.processed() == [0, 1]


def test_other_errors_propagate_untouched():
    err = ValueError("a bug in step")

    def step(part, chunk):
        if part[0] == 3:
            raise err

    b = Backoff(1024, batch=1)
    with pytest.raises(ValueError) as info:
        b.run(list(range(5)), step)
    assert info.value is err and b.changes == [] and (b.batch, b.chunk) == (1, None)

    cpu = RuntimeError("DefaultCPUAllocator: can't allocate memory")

    def host_oom(part, chunk):
        raise cpu

    with pytest.raises(RuntimeError) as info:
        Backoff(1024, batch=4).run([1], host_oom)
    assert info.value is cpu


def test_runtime_error_cuda_message_is_backed_off():
    calls = []

    def step(part, chunk):
        calls.append(len(part))
        if len(part) > 1:
            raise RuntimeError("CUDA out of memory. Tried to allocate 1.00 GiB")

    b = Backoff(2048, batch=2)
    b.run([1, 2, 3], step)
    assert calls == [2, 1, 1, 1] and b.batch == 1


def test_empty_and_bad_arguments():
    b = Backoff(1024, batch=4)
    b.run([], lambda part, chunk: pytest.fail("no slices for no items"))
    for args in ((0, 1, None), (1024, 0, None), (1024, 1, 0)):
        with pytest.raises(ValueError):
            Backoff(*args)


@pytest.mark.gpu
def test_real_cuda_oom_recovers():
    """A step that asks for twice the free GPU memory at batch 8 (a real CUDA OOM), fits at batch 2."""
    dev = torch.device("cuda")
    torch.cuda.empty_cache()
    free = torch.cuda.mem_get_info(dev)[0]
    w = 1024
    unit = 2 * free // (8 * w)        # bytes per token-unit: batch 8 asks for 2x free, batch 2 for 0.5x
    done = []

    def step(part, chunk):
        x = torch.empty(len(part) * (chunk or w) * unit, dtype=torch.uint8, device=dev)
        x.fill_(1)
        done.extend(part)
        del x

    b = Backoff(w, batch=8)
    b.run(list(range(16)), step)
    assert done == list(range(16))
    assert b.batch <= 2 and b.changes and b.changes[0].startswith("CUDA out of memory at batch 8")
    assert torch.cuda.memory_allocated(dev) < free // 4   # nothing from the failed tries is kept
