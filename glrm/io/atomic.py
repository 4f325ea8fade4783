"""Atomic output: write to a temporary file in the target's folder, rename into place on success.

A run that fails or is interrupted leaves no partial output behind: the temporary file is removed
and the target (if it existed) is untouched. `atomic_path` is the context-manager form; `TempOutput`
is the same thing as an object, for writers that commit several files (data, then index) in order.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

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
