"""The error types of the data steps: bad raw data, and a disk too full for their output."""

from __future__ import annotations

import errno
from pathlib import Path


class RawDataError(ValueError):
    """Raw input is missing or malformed; the message names the file and the problem."""

    def __init__(self, path: str | Path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class NoSpaceLeftError(OSError):
    """A data step's output does not fit on its disk; the message is one line naming the folder."""

    def __init__(self, folder: str | Path, what: str):
        super().__init__(errno.ENOSPC, f"no space left on {folder}: {what}")

    def __str__(self) -> str:
        return self.strerror


def summarise(items: list[str], limit: int = 5) -> str:
    """``a, b, c (and 12 more)`` for error messages."""
    shown = ", ".join(items[:limit])
    rest = len(items) - limit
    return shown + (f" (and {rest} more)" if rest > 0 else "")
