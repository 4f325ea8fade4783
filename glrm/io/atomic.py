"""Atomic output: write to a temporary file in the target's folder, rename into place on success.

A run that fails or is interrupted leaves no partial output behind: the temporary file is removed
and the target (if it existed) is untouched.
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


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside `path`; on normal exit rename it onto `path`, else delete it.

    `suffix` is kept on the temporary name (some writers choose the format from the extension).
    """
    target = check_writable(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.tmp-", suffix=suffix, dir=target.parent or ".")
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o644 & ~_umask())
        os.replace(tmp_path, target)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
