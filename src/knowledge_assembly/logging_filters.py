"""Logging filters of the project's commands (attached in ``settings.py``)."""

from __future__ import annotations

import logging


class MissingPreviewFilter(logging.Filter):
    """Drops kedro-viz's "'<dataset>' could not be previewed" warning where the dataset was simply never written
    (a variant never run): the file is missing, or a versioned dataset has no version yet. Other preview failures
    (an unreadable file) still show."""

    MISSING = ("FileNotFoundError", "VersionNotFoundError", "DatasetNotFoundError")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not ("could not be previewed" in message and any(kind in message for kind in self.MISSING))
