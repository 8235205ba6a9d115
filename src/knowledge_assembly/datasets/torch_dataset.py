"""A trained :class:`~knowledge_assembly.models.bundle.ModelBundle` as a (versioned) Kedro dataset."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

from kedro.io import AbstractVersionedDataset, DatasetError, Version

from knowledge_assembly.files import latest_version
from knowledge_assembly.models.bundle import ModelBundle


class TorchBundleDataset(AbstractVersionedDataset[ModelBundle, ModelBundle]):
    """``save`` writes atomically (temporary file + rename); ``load`` reads with ``weights_only=True``
    (a file holding other pickled objects is refused; nothing in it runs).

    With ``versioned: true`` every run saves ``<filepath>/<version>/<name>`` and loads the latest (or the
    ``--load-versions`` one), as Kedro's own datasets do, so no run overwrites another's model."""

    def __init__(self, filepath: str, version: Version | None = None, metadata: dict[str, Any] | None = None):
        super().__init__(PurePosixPath(Path(filepath).as_posix()), version)
        self.metadata = metadata

    def load(self) -> ModelBundle:
        path = Path(self._get_load_path())
        if self._version is not None and self._version.load is None and Path(str(self._filepath)).is_dir():
            path = latest_version(Path(str(self._filepath)), accept=self._version.save)  # finished runs only
        if not path.is_file():
            raise DatasetError(f"'{path}' does not exist; train the model first")
        return ModelBundle.load(path)

    def save(self, data: ModelBundle) -> None:
        data.save(Path(self._get_save_path()))

    def _exists(self) -> bool:
        try:
            return Path(self._get_load_path()).is_file()
        except DatasetError:  # no version saved yet
            return False

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "version": self._version}
