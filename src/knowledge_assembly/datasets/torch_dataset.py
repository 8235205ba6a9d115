"""A trained model bundle (state dicts + metadata) stored with ``torch.save``."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError

from knowledge_assembly.training.checkpoint import load_bundle, save_atomic


class TorchBundleDataset(AbstractDataset[dict, dict]):
    """``save`` writes atomically (temporary file + rename); ``load`` returns the dict on CPU, loaded with
    ``weights_only=True`` (a file holding other pickled objects is refused; nothing in it runs)."""

    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None):
        self._path = Path(filepath)
        self.metadata = metadata

    def load(self) -> dict:
        if not self._path.is_file():
            raise DatasetError(f"'{self._path}' does not exist; train the model first")
        return load_bundle(self._path)

    def save(self, data: dict) -> None:
        save_atomic(data, self._path)

    def _exists(self) -> bool:
        return self._path.is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._path)}
