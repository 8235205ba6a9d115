"""Relative paths that must stay inside a raw-data root."""
from __future__ import annotations

import posixpath
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

