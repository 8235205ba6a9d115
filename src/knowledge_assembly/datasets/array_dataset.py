"""A NumPy array stored as ``.npy``, loaded memory-mapped, and checked against the manifest it was made from."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from kedro.io import AbstractDataset, DatasetError

from knowledge_assembly.files import atomic_write


def manifest_record(manifest: Path) -> dict[str, Any]:
    """Row count and digest of a manifest's ``path`` column: which images, in which order."""
    paths = pd.read_parquet(manifest, columns=["path"])["path"]
    return {
        "manifest": manifest.name,
        "rows": len(paths),
        "digest": hashlib.sha256("\n".join(paths).encode()).hexdigest()[:16],
    }


class MemmapArrayDataset(AbstractDataset[np.ndarray, np.ndarray]):
    """``save`` writes ``.npy`` atomically; ``load`` memory-maps it read-only, so loading is free.

    A memory map already staged in the same folder (``np.memmap`` from ``np.lib.format.open_memmap``)
    is renamed into place instead of copied. With ``manifest`` (the Parquet file the rows were made
    from), ``save`` records that manifest's row count and digest beside the array and ``load`` refuses
    an array whose manifest has changed since, so images and labels can never be paired wrongly.
    """

    def __init__(self, filepath: str, manifest: str | None = None, metadata: dict[str, Any] | None = None):
        self._path = Path(filepath)
        self._manifest = None if manifest is None else Path(manifest)
        self.metadata = metadata

    @property
    def _record_path(self) -> Path:
        return self._path.with_suffix(".manifest.json")

    def load(self) -> np.ndarray:
        if not self._path.is_file():
            raise DatasetError(f"'{self._path}' does not exist")
        array = np.load(self._path, mmap_mode="r")
        if self._manifest is not None:
            self._check_manifest(len(array))
        return array

    def _check_manifest(self, rows: int) -> None:
        rerun = "rerun `kedro run --pipelines=model_input`"
        if not self._record_path.is_file():
            raise DatasetError(f"'{self._path}' has no record of the manifest it was made from; {rerun}")
        recorded = json.loads(self._record_path.read_text())
        current = manifest_record(self._manifest)
        if recorded["rows"] != rows or recorded != current:
            raise DatasetError(
                f"'{self._path}' ({rows} images) was made from another version of '{self._manifest}' "
                f"(now {current['rows']} rows, digest {current['digest']}; "
                f"recorded {recorded['rows']}, {recorded['digest']}); {rerun}"
            )

    def save(self, data: np.ndarray) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        staged = Path(data.filename) if isinstance(data, np.memmap) and data.filename else None
        if staged is not None and staged.parent.resolve() == self._path.parent.resolve():
            data.flush()
            with open(staged, "rb+") as file:
                os.fsync(file.fileno())
            os.replace(staged, self._path)
        else:
            with atomic_write(self._path) as file:
                np.save(file, np.ascontiguousarray(data))
        if self._manifest is not None:
            with atomic_write(self._record_path) as file:
                file.write(json.dumps(manifest_record(self._manifest)).encode())

    def _exists(self) -> bool:
        return self._path.is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._path), "manifest": None if self._manifest is None else str(self._manifest)}
