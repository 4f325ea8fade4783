"""Atomic output: write to a temporary file in the target's folder, rename into place on success.

A run that fails or is interrupted leaves no partial output behind: the temporary file is removed
and the target (if it existed) is untouched. `atomic_path` is the context-manager form; `TempOutput`
is the same thing as an object, for writers that commit several files (data, then index) in order.
`AtomicWriter` is the lifecycle the file writers (BED, VCF/BCF) share on top of it.

A write that fails (a full disk, a file-size limit, a folder whose permissions changed during the run) is an
`OutputError` naming the output, the cause and the fix (`write_error`), and the temporary file is removed.
"""

from __future__ import annotations

import errno
import logging
import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from glrm.errors import OutputError

log = logging.getLogger(__name__)

TBI_MAX_POS = 1 << 29   # tabix .tbi cannot index positions beyond this; CSI can


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


@dataclass(frozen=True)
class WriteFailure:
    """Why writing a file failed, and what to do, in words (see `write_failure`)."""

    reason: str
    fix_here: str     # what lets the same path be written again
    elsewhere: str    # the other way out
    no_room: bool     # a full disk, a quota or a file-size limit

    @property
    def fix(self) -> str:
        return f"{self.fix_here} or {self.elsewhere}"


def write_failure(path: str | os.PathLike, exc: BaseException,
                  written: str | os.PathLike | None = None) -> WriteFailure:
    """Why writing `path` failed. pysam's BGZF writer and the bcftools bundled with it report a failed write
    without its errno; the cause is then looked up: a file-size limit (ulimit -f) that `written` (the file
    being written; default `path`) has reached, or a (nearly) full disk."""
    folder = Path(os.path.abspath(path)).parent
    code = getattr(exc, "errno", None) or _guess_errno(Path(written or path), folder)
    other = "write to another file system"
    if code == errno.EFBIG:
        limit = _fsize_limit()
        if limit is not None:
            return WriteFailure(f"file too large: the file-size limit (ulimit -f) is {limit:,} bytes",
                                "raise the limit (ulimit -f unlimited)", other, True)
        return WriteFailure("file too large for its file system", "split the input (--shard)", other, True)
    if code == errno.ENOSPC:
        return WriteFailure(f"no space left on device, {_free(folder)} free in {folder}", "free some space",
                            other, True)
    if code == errno.EDQUOT:
        return WriteFailure(f"disk quota exceeded in {folder}", "free some space", other, True)
    if code in (errno.EACCES, errno.EPERM):
        return WriteFailure(f"{os.strerror(code)}: {folder} no longer lets glrm create, rename or delete "
                            "files (were its permissions changed during the run?)",
                            f"make {folder} writable again", "choose another output path", False)
    if code == errno.EROFS:
        return WriteFailure(f"read-only file system at {folder}", "remount it writable",
                            "choose an output path on a writable disk", False)
    detail = getattr(exc, "strerror", None) or str(exc).strip().split("\n")[0] or type(exc).__name__
    return WriteFailure(detail, "check the disk and the output folder", "choose another output path", False)


def write_error(target: str | os.PathLike, exc: BaseException,
                written: str | os.PathLike | None = None) -> OutputError:
    """The one-line error for a failed write to the output `target`."""
    why = write_failure(target, exc, written)
    return OutputError(f"{target}: cannot be written ({why.reason}); {why.fix}")


def _fsize_limit() -> int | None:
    """The soft file-size limit of this process in bytes (ulimit -f), or None when there is none."""
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    except (ImportError, OSError, ValueError):
        return None
    return None if soft == resource.RLIM_INFINITY else soft


def _free_bytes(folder: Path) -> int | None:
    try:
        st = os.statvfs(folder)
    except (OSError, AttributeError):
        return None
    return st.f_bavail * st.f_frsize


def _free(folder: Path) -> str:
    n = _free_bytes(folder)
    return "unknown" if n is None else f"{n:,} bytes"


def _guess_errno(written: Path, folder: Path) -> int | None:
    limit = _fsize_limit()
    if limit is not None:
        try:
            size = written.stat().st_size
        except OSError:
            size = 0
        if size + (1 << 17) >= limit:    # BGZF writes blocks of up to 64 KiB: a failed one stops short
            return errno.EFBIG
    free = _free_bytes(folder)
    if free is not None and free < (1 << 20):
        return errno.ENOSPC
    return None


NO_ROOM = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


def close_quietly(fh, paths: Sequence[str | os.PathLike] = ()) -> None:
    """Close the handle of a file that is being thrown away; errors are dropped. When the last write of a
    BGZF file fails (a full disk), htslib gives up before closing its descriptor, and the deleted file would
    keep its disk space until the process ends: the descriptors still open on `paths` are pointed at
    /dev/null (then closing again is harmless)."""
    with quiet_htslib():
        try:
            fh.close()
        except Exception:
            pass
        if any([_release(path) for path in paths]):
            try:
                fh.close()
            except Exception:
                pass


def _release(path: str | os.PathLike) -> bool:
    """Point every descriptor of this process that is open on `path` at /dev/null (Linux: /proc/self/fd);
    True if there was one."""
    fd_dir = "/proc/self/fd"
    if not os.path.isdir(fd_dir):
        return False
    real = os.path.realpath(path)
    found = False
    for name in os.listdir(fd_dir):
        try:
            if os.readlink(f"{fd_dir}/{name}") not in (real, f"{real} (deleted)"):
                continue
            null = os.open(os.devnull, os.O_WRONLY)
        except OSError:
            continue
        try:
            os.dup2(null, int(name))
            found = True
        finally:
            os.close(null)
    return found


@contextmanager
def quiet_htslib() -> Iterator[None]:
    """htslib prints a line of its own on stderr when a BGZF write or close fails ('[E::bgzf_close] File
    write failed'); glrm's one-line error says it all, so htslib is silenced around those calls."""
    pysam = sys.modules.get("pysam")
    if pysam is None:
        yield
        return
    level = pysam.set_verbosity(0)
    try:
        yield
    finally:
        pysam.set_verbosity(level)


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
        """Delete the temporary file (safe to call more than once, and after commit). A file that cannot be
        deleted (its folder was made read-only) stays: `left` says so."""
        if not self.done:
            try:
                self.path.unlink(missing_ok=True)
            except OSError:
                return
            self.done = True

    @property
    def left(self) -> bool:
        """The temporary file is still there after `discard` (it could not be deleted)."""
        return not self.done and self.path.exists()


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

    def _index_kind(self, max_pos: int, what: str, advice: str) -> str | None:
        """'tbi', or 'csi' past TBI_MAX_POS; None (with a warning) when the `what` (rows, records) were not
        sorted. `advice` says how the user sorts and indexes the file themselves."""
        if not self._sorted:
            log.warning("%s: %s are not sorted, so no index was written; %s", self.out, what, advice)
            return None
        return "csi" if max_pos > TBI_MAX_POS else "tbi"

    def _index_or_warn(self, data: TempOutput, kind: str | None, build, errors: tuple, advice: str
                       ) -> tuple[TempOutput | None, str | None]:
        """Index the finished temporary data file with `build(data_path, index_path)`; an error in `errors`
        costs the index only, with a warning that ends in `advice`, except a full disk, which fails the run
        (its other outputs are not in place yet). Returns (index, kind), (None, None) without one."""
        if kind is None:
            return None, None
        index = self._temp(f"{self.out}.{kind}", f".{kind}")
        try:
            build(str(data.path), str(index.path))
        except errors as e:
            index.discard()
            if write_failure(index.target, e, index.path).no_room:
                raise write_error(index.target, e, index.path) from None
            log.warning("%s: the file is complete but could not be indexed (%s); %s", self.out,
                        str(e).strip().replace(str(data.path), self.out), advice)
            return None, None
        return index, kind

    def _write(self, data: bytes) -> None:
        """Write `data` to the open handle; a failed write (full disk, file-size limit) is an OutputError."""
        try:
            with quiet_htslib():
                self._fh.write(data)
        except OSError as e:
            if self.out == "-":
                raise
            raise self._write_error(e) from None

    def _write_error(self, exc: BaseException) -> OutputError:
        written = getattr(getattr(self, "_fh", None), "name", None)
        written = os.fsdecode(written) if isinstance(written, (str, bytes)) else None
        return write_error(self.out, exc, written)

    def flush(self) -> None:
        """Write out everything buffered. A run calls it on each of its writers before the first of them
        is renamed into place, so that a full disk fails the run while none of its outputs exists yet."""
        if self._closed:
            return
        self._flush()
        try:
            with quiet_htslib():
                self._fh.flush()
        except OSError as e:
            if self.out == "-":
                raise
            raise self._write_error(e) from None

    def close(self) -> None:
        """Finish the file: flush, close the handle, then `_finish()` (index, rename into place)."""
        if self._closed:
            return
        self._closed = True
        try:
            self._flush()
            with quiet_htslib():
                if self._fh is sys.stdout.buffer:
                    self._fh.flush()
                else:
                    self._fh.close()
            self._finish()
        except OSError as e:
            if self.out == "-":
                raise
            raise self._failed(self._write_error(e)) from None
        except OutputError as e:
            raise self._failed(e) from None
        finally:
            self._cleanup()

    def _failed(self, err: OutputError) -> OutputError:
        """`err`, after cleaning up; it names the temporary files that could not be removed."""
        self._cleanup()
        left = [t.path for t in self._temps if t.left]
        left += [p for p in getattr(self, "_scratch", []) if p.exists()]   # VcfAnnotator's BCF scratch files
        if not left:
            return err
        if len(left) == 1:
            return OutputError(f"{err}; then delete the temporary file {left[0]} (it could not be removed)")
        names = ", ".join(map(str, left))
        return OutputError(f"{err}; then delete the temporary files {names} (they could not be removed)")

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
    except OSError as e:
        tmp.discard()
        if e.errno in NO_ROOM:    # a full disk or a file-size limit: never a reading error
            raise write_error(path, e, tmp.path) from None
        raise
    except BaseException:
        tmp.discard()
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
