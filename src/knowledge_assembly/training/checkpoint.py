"""Model files: atomic writes, loading that never runs code, one resumable checkpoint per run."""
from __future__ import annotations

import hashlib
import logging
import os
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..files import atomic_write

logger = logging.getLogger(__name__)


class ModelFileError(ValueError):
    """A model bundle or checkpoint that cannot be loaded; the message is one line naming the file."""

    def __init__(self, path: str | Path, problem: str):
        super().__init__(f"{path}: {problem}")


def save_atomic(state: dict[str, Any], path: Path) -> None:
    """``torch.save`` to a temporary file in the same folder, fsync, then rename over ``path``."""
    with atomic_write(path) as file:
        torch.save(state, file)


def load(path: Path) -> dict[str, Any]:
    """Load a file written by :func:`save_atomic` with ``weights_only=True``: tensors, dicts, lists and plain
    values only, so a crafted pickle is refused before any of its code runs. Problems raise :class:`ModelFileError`."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(path, "file not found")
    if not zipfile.is_zipfile(path):
        raise ModelFileError(path, "unreadable: not a file written by torch.save (truncated, or another kind of file)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise ModelFileError(path, f"refused: not a plain PyTorch state file ({_first_line(err)})") from None
    except Exception as err:  # torch raises RuntimeError, EOFError, ... for truncated or foreign files
        raise ModelFileError(path, f"unreadable ({type(err).__name__}: {_first_line(err)})") from None
    if not isinstance(state, dict):
        raise ModelFileError(path, f"holds a {type(state).__name__}, expected a dict of state")
    return state


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    unsupported = [line.strip() for line in text.splitlines() if "Unsupported global" in line]
    return (unsupported or text.splitlines() or [""])[0][:200]


def source_digest(*packages: str) -> str:
    """Digest of the ``.py`` sources under the given sub-packages of ``knowledge_assembly`` (code that shapes weights)."""
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for package in packages:
        for file in sorted((root / package).rglob("*.py")):
            digest.update(file.relative_to(root).as_posix().encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class RunCheckpoint:
    """The one epoch checkpoint of a training run (``path``), with a spare copy of the epoch before.

    ``fingerprint`` identifies the run (parameters, data, code); a file with another
    fingerprint is never resumed, and is replaced by this run's first epoch.
    """

    path: Path
    fingerprint: str

    @property
    def spare(self) -> Path:
        return self.path.with_name(self.path.stem + ".previous.pt")

    def resumable_state(self) -> dict[str, Any] | None:
        """The latest good state of this run, or ``None`` (a warning says why when a file is skipped)."""
        for candidate in (self.path, self.spare):
            if not candidate.is_file():
                continue
            try:
                state = load(candidate)
            except ModelFileError as err:
                logger.warning("Skipping checkpoint %s", err)
                continue
            if state.get("digest") != self.fingerprint:
                logger.warning("%s: checkpoint of other parameters, data or code; training from scratch", candidate)
                return None
            return state
        return None

    def save(self, state: dict[str, Any]) -> None:
        """Keep the current file as the spare, then write ``state`` atomically."""
        if self.path.is_file():
            os.replace(self.path, self.spare)
        save_atomic({**state, "digest": self.fingerprint}, self.path)

    def finish(self) -> None:
        """The run is complete: its last checkpoint stays (a rerun resumes it at once); the spare goes."""
        self.spare.unlink(missing_ok=True)


BUNDLE_KEYS = ("variant", "model", "attributes", "num_ids", "image_size", "state_dicts")


def load_bundle(path: Path) -> dict[str, Any]:
    """A trained model bundle (``data/06_models/<dataset>/<variant>.pt``), checked to be one."""
    state = load(path)
    if "optimizer" in state and "epoch" in state:
        raise ModelFileError(path, "is a training checkpoint, not a model bundle; use data/06_models/<dataset>/<variant>.pt")
    missing = [key for key in BUNDLE_KEYS if key not in state]
    if missing:
        raise ModelFileError(path, f"not a model bundle of this project (missing {', '.join(missing)})")
    return state
