"""A raw dataset folder (Market-1501, PA-100K, UPAR) as a Kedro dataset."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError

MARKER = ".synthetic.json"


class RawTreeDataset(AbstractDataset[dict[str, bytes], Path]):
    """A folder of raw files.

    ``load`` returns the folder's :class:`~pathlib.Path` after checking it exists;
    readers parse it. ``save`` takes ``{relative path: bytes}`` and replaces the
    folder atomically: files go to a temporary sibling that is renamed into
    place, so a failure leaves the previous folder untouched. A folder not
    written by ``save`` (a real dataset) is never overwritten, and an
    environment whose raw folders hold real data (``writable: false``, as in
    ``conf/real``) refuses every save.
    """

    def __init__(self, path: str, writable: bool = False, metadata: dict[str, Any] | None = None):
        self._path = Path(path)
        self._writable = bool(writable)
        self.metadata = metadata

    def load(self) -> Path:
        if not self._path.is_dir():
            raise DatasetError(
                f"Raw data folder '{self._path}' does not exist. Write the embedded synthetic "
                "default with `kedro run --pipelines=synthetic`, or point the raw roots in "
                "conf/<env>/globals.yml at the real dataset (see `kedro run --env real`)."
            )
        return self._path

    def save(self, data: dict[str, bytes]) -> None:
        target = self._path
        if not self._writable:
            raise DatasetError(
                f"Refusing to write synthetic data into '{target}': this environment's raw folders hold real data "
                "(globals raw_is_synthetic: false). Write the synthetic default without --env real."
            )
        if target.exists() and not (target / MARKER).is_file():
            raise DatasetError(f"Refusing to overwrite '{target}': it was not written by the synthetic generator")
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        try:
            for relpath, content in data.items():
                file = staging / relpath
                file.parent.mkdir(parents=True, exist_ok=True)
                file.write_bytes(content)
            (staging / MARKER).write_text(json.dumps({"files": len(data)}))
            staging.chmod(0o755)
            if target.exists():
                retired = target.with_name(f".{target.name}.old")
                shutil.rmtree(retired, ignore_errors=True)
                target.rename(retired)
                staging.rename(target)
                shutil.rmtree(retired)
            else:
                staging.rename(target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise

    def _exists(self) -> bool:
        return self._path.is_dir()

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path)}
