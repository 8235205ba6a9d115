"""The one error type raised for bad raw data."""

from __future__ import annotations

from pathlib import Path


class RawDataError(ValueError):
    """Raw input is missing or malformed; the message names the file and the problem."""

    def __init__(self, path: str | Path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


def summarise(items: list[str], limit: int = 5) -> str:
    """``a, b, c (and 12 more)`` for error messages."""
    shown = ", ".join(items[:limit])
    rest = len(items) - limit
    return shown + (f" (and {rest} more)" if rest > 0 else "")
