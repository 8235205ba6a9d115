"""A versioned matplotlib figure that also keeps an unversioned copy of its latest save."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from kedro_datasets.matplotlib import MatplotlibDataset

from knowledge_assembly.files import atomic_write


class FigureDataset(MatplotlibDataset):
    """``MatplotlibDataset`` (one PNG per run's version folder) plus a copy of each save at ``latest_filepath``:
    a stable path that ``dvc plots`` and a file browser can open, where the versioned one is a folder of runs."""

    def __init__(self, *, latest_filepath: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._latest_filepath = Path(latest_filepath)

    @property
    def latest_filepath(self) -> Path:
        return self._latest_filepath

    def _save_to_fs(self, full_key_path: str, plot) -> None:
        super()._save_to_fs(full_key_path=full_key_path, plot=plot)
        with open(full_key_path, "rb") as saved, atomic_write(self._latest_filepath) as latest:
            shutil.copyfileobj(saved, latest)
        self._latest_filepath.chmod(0o644)  # readable like the versioned file (the atomic write's is private)

    def _describe(self) -> dict[str, Any]:
        return {**super()._describe(), "latest_filepath": str(self._latest_filepath)}
