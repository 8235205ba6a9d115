"""Relative paths that must stay inside a raw-data root; image paths that must be regular files."""

from __future__ import annotations

import os
import posixpath
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .errors import RawDataError


def contained_relpath(relpath: str, source: str | Path) -> str:
    """Normalise ``relpath`` (POSIX) and refuse one that escapes its root.

    ``source`` is the file the path was read from, named in the error.
    """
    text = relpath.replace("\\", "/").strip()
    normal = posixpath.normpath(text)
    if not text or text.startswith("/") or normal == ".." or normal.startswith("../") or normal == ".":
        raise RawDataError(source, f"path {relpath!r} escapes the raw data root")
    return normal


def _not_regular(path: Path) -> str | None:
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "dangling symbolic link" if os.path.islink(path) else "file does not exist"
    except OSError as err:
        return f"cannot be read ({err.strerror})"
    if stat.S_ISDIR(mode):
        return "a directory named like an image"
    if not stat.S_ISREG(mode):
        return "not a regular file (a FIFO, socket or device named like an image)"
    return None


def require_regular_files(paths: list[Path]) -> None:
    """Raise :class:`RawDataError` naming the first of ``paths`` that is not a readable regular file
    (following symbolic links), before anything opens them: a FIFO would block a reader for ever."""
    with ThreadPoolExecutor(max_workers=8) as pool:
        problems = list(pool.map(_not_regular, paths, chunksize=256))
    for path, problem in zip(paths, problems):
        if problem:
            raise RawDataError(path, problem)
