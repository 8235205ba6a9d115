"""A working folder (e.g. for epoch checkpoints) handed to a node as a path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError


class FolderDataset(AbstractDataset[None, Path]):
    """``load`` creates the folder if needed and returns its :class:`~pathlib.Path`; nodes write inside it."""

    def __init__(self, path: str, metadata: dict[str, Any] | None = None):
        self._path = Path(path)
        self.metadata = metadata

    def load(self) -> Path:
        self._path.mkdir(parents=True, exist_ok=True)
        return self._path

    def save(self, data: None) -> None:
        raise DatasetError(f"'{self._path}' is a folder handed to nodes; it cannot be saved to")

    def _exists(self) -> bool:
        return self._path.is_dir()

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path)}
