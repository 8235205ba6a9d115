"""A NumPy array stored as ``.npy`` and loaded memory-mapped."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from kedro.io import AbstractDataset, DatasetError


class MemmapArrayDataset(AbstractDataset[np.ndarray, np.ndarray]):
    """``save`` writes ``.npy`` atomically; ``load`` memory-maps it read-only, so loading is free."""

    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None):
        self._path = Path(filepath)
        self.metadata = metadata

    def load(self) -> np.ndarray:
        if not self._path.is_file():
            raise DatasetError(f"'{self._path}' does not exist")
        return np.load(self._path, mmap_mode="r")

    def save(self, data: np.ndarray) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{self._path.name}.", suffix=".npy", dir=self._path.parent)
        try:
            with os.fdopen(handle, "wb") as file:
                np.save(file, np.ascontiguousarray(data))
            os.replace(temporary, self._path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def _exists(self) -> bool:
        return self._path.is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._path)}
