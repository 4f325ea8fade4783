"""Atomic output: write to a temporary file in the target's folder, rename into place on success.

A run that fails or is interrupted leaves no partial output behind: the temporary file is removed
and the target (if it existed) is untouched. `atomic_path` is the context-manager form; `TempOutput`
is the same thing as an object, for writers that commit several files (data, then index) in order.
`AtomicWriter` is the lifecycle the file writers (BED, VCF/BCF) share on top of it.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from glrm.errors import OutputError


def check_writable(path: str | os.PathLike) -> Path:
    """Fail early (before any model loads) when `path` cannot be created or replaced."""
    p = Path(path)
    folder = p.parent if str(p.parent) else Path(".")
    if p.is_dir():
        raise OutputError(f"{p}: is a folder; give a file name for the output")
    if not folder.is_dir():
        raise OutputError(f"{p}: folder {folder} does not exist; create it first")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"{p}: folder {folder} is not writable; choose another output path")
    return p


class TempOutput:
    """A temporary file beside `target`: `commit()` renames it onto the target, `discard()` deletes it.

    `suffix` is kept last on the temporary name (some writers choose the format from the extension).
    """

    def __init__(self, target: str | os.PathLike, suffix: str = "") -> None:
        self.target = check_writable(target)
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{self.target.name}.tmp-", suffix=suffix,
                                       dir=self.target.parent or ".")
        except OSError as e:
            raise OutputError(f"{self.target}: cannot create a temporary file beside it ({e.strerror}); "
                              "choose another output path") from e
        os.close(fd)
        self.path = Path(tmp)
        self.done = False

    def commit(self) -> Path:
        """Move the finished temporary file onto the target (atomic on one file system)."""
        os.chmod(self.path, 0o644 & ~_umask())
        os.replace(self.path, self.target)
        self.done = True
        return self.target

    def discard(self) -> None:
        """Delete the temporary file (safe to call more than once, and after commit)."""
        if not self.done:
            self.path.unlink(missing_ok=True)
            self.done = True


_W = TypeVar("_W", bound="AtomicWriter")


class AtomicWriter:
    """Base of the file writers: temporary outputs, sort tracking, and close-or-abort as a context manager.

    A subclass sets `self.out` (the target, `-` for stdout) and `self._fh` (its open handle, or stdout's
    buffer), calls `AtomicWriter.__init__` before anything that can leave files behind, and defines
    `_flush()` (write buffered data to `_fh`), `_finish()` (after `_fh` is closed: index and rename into
    place) and `_cleanup()` (close handles, delete every temporary file; safe to call more than once).
    """

    out: str

    def __init__(self) -> None:
        self._temps: list[TempOutput] = []
        self._last: tuple[str, int] | None = None
        self._seen_contigs: set[str] = set()
        self._sorted = True
        self._closed = False

    def _temp(self, target: str, suffix: str) -> TempOutput:
        t = TempOutput(target, suffix)
        self._temps.append(t)
        return t

    def _note_position(self, chrom: str, pos: int) -> None:
        """Track sortedness: a contig seen before, or a position going back on one, makes it unsorted."""
        if self._last is not None and chrom != self._last[0]:
            if chrom in self._seen_contigs:
                self._sorted = False
            self._seen_contigs.add(self._last[0])
        elif self._last is not None and pos < self._last[1]:
            self._sorted = False
        self._last = (chrom, pos)

    def _commit_with_index(self, data: TempOutput, index: TempOutput | None, kind: str | None) -> None:
        """Rename the data file into place, drop a stale index of the other kind, then place `index`."""
        data.commit()
        for stale in ("tbi", "csi"):
            if stale != kind:
                Path(f"{self.out}.{stale}").unlink(missing_ok=True)
        if index is not None:
            index.commit()

    def close(self) -> None:
        """Finish the file: flush, close the handle, then `_finish()` (index, rename into place)."""
        if self._closed:
            return
        self._closed = True
        try:
            self._flush()
            if self._fh is sys.stdout.buffer:
                self._fh.flush()
            else:
                self._fh.close()
            self._finish()
        finally:
            self._cleanup()

    def _flush(self) -> None:
        raise NotImplementedError

    def _finish(self) -> None:
        raise NotImplementedError

    def _cleanup(self) -> None:
        raise NotImplementedError

    def __enter__(self: _W) -> _W:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def abort(self) -> None:
        """Drop everything written so far; an existing target stays as it was."""
        self._closed = True
        self._cleanup()

    def __del__(self) -> None:  # dropped without close(): never leave temporary files behind
        if not getattr(self, "_closed", True):
            self.abort()


def remove_stale_temps(target: str | os.PathLike) -> list[Path]:
    """Delete the temporary files an earlier, killed run left beside `target` (and its index).

    Only for a caller that owns `target` (e.g. `--resume` of the same run): a SIGKILL cannot be caught,
    so its `.NAME.tmp-*` files stay until the next run of the same job removes them.
    """
    p = Path(target)
    folder = p.parent if str(p.parent) else Path(".")
    gone = []
    for name in (p.name, p.name + ".tbi", p.name + ".csi"):
        for stale in folder.glob(f".{name}.tmp-*"):
            stale.unlink(missing_ok=True)
            gone.append(stale)
    return gone


def check_not_input(output: str | os.PathLike | None, *inputs: str | os.PathLike | None) -> None:
    """Refuse an output path that names one of the inputs (it would be replaced by the output)."""
    if output in (None, "-") or not os.path.exists(output):
        return
    for given in inputs:
        if given not in (None, "-") and os.path.exists(given) and os.path.samefile(output, given):
            raise OutputError(f"{output}: is an input file ({given}); write the output to another file")


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside `path`; on normal exit rename it onto `path`, else delete it."""
    tmp = TempOutput(path, suffix)
    try:
        yield tmp.path
        tmp.commit()
    except BaseException:
        tmp.discard()
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
