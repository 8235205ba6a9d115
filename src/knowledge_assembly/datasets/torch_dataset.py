"""A trained :class:`~knowledge_assembly.models.bundle.ModelBundle` as a Kedro dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError

from knowledge_assembly.models.bundle import ModelBundle


class TorchBundleDataset(AbstractDataset[ModelBundle, ModelBundle]):
    """``save`` writes atomically (temporary file + rename); ``load`` reads with ``weights_only=True``
    (a file holding other pickled objects is refused; nothing in it runs)."""

    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None):
        self._path = Path(filepath)
        self.metadata = metadata

    def load(self) -> ModelBundle:
        if not self._path.is_file():
            raise DatasetError(f"'{self._path}' does not exist; train the model first")
        return ModelBundle.load(self._path)

    def save(self, data: ModelBundle) -> None:
        data.save(self._path)

    def _exists(self) -> bool:
        return self._path.is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._path)}
