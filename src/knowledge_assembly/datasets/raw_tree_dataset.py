"""A raw dataset folder (Market-1501, PA-100K, PETA, UPAR) as a Kedro dataset."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError

MARKER = ".synthetic.json"


class MissingRawDataError(DatasetError):
    """Raw folders a run reads do not exist; the message names each one and what belongs there."""


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

    def __init__(
        self,
        path: str,
        writable: bool = False,
        expects: str = "",
        optional: bool = False,
        metadata: dict[str, Any] | None = None,
    ):
        self._path = Path(path)
        self._writable = bool(writable)
        self.expects = expects  # what belongs in the folder, for the message when it is missing
        self.optional = bool(optional)  # a missing folder loads as None (a dataset only some source sets use)
        self.metadata = metadata

    def load(self) -> Path | None:
        if not self._path.is_dir():
            if self.optional:
                return None
            raise missing_raw_data({"": self})
        return self._path

    @property
    def missing_line(self) -> str:
        return f"{self._path}: missing; put {self.expects or 'the dataset'} there"

    @property
    def writable(self) -> bool:
        return self._writable

    def save(self, data: dict[str, bytes]) -> None:
        target = self._path
        if not self._writable:
            raise DatasetError(
                f"Refusing to write synthetic data into '{target}': this environment's raw folders hold real data "
                "(globals raw_is_synthetic: false). Write the synthetic default without --env real."
            )
        if target.exists() and not (target / MARKER).is_file():
            raise DatasetError(f"Refusing to overwrite '{target}': it was not written by the synthetic generator")
        if not data:  # a dataset the parameters leave out: no folder (an optional source is then absent)
            if target.exists():
                shutil.rmtree(target)
            return
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


def missing_raw_data(missing: dict[str, RawTreeDataset]) -> MissingRawDataError:
    """One error for every missing raw folder: each on its own line with what belongs there, then how to fill them
    (the synthetic default where this environment may write it, else the roots in its globals.yml)."""
    lines = [dataset.missing_line for dataset in missing.values()]
    if all(dataset.writable for dataset in missing.values()):
        advice = "write the embedded synthetic default with `kedro run --pipelines=synthetic`"
    else:
        advice = "point the raw roots in conf/<env>/globals.yml at your copies (or link them to these paths)"
    return MissingRawDataError("raw data not found:\n  " + "\n  ".join(lines) + f"\n{advice}")
