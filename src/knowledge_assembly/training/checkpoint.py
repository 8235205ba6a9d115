"""One resumable epoch checkpoint per training run, fingerprinted by what shapes the weights."""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..files import ModelFileError, load_state, save_state

logger = logging.getLogger(__name__)


def source_digest(*packages: str, root: Path | None = None) -> str:
    """Digest of the ``.py`` sources under the given sub-packages of ``knowledge_assembly`` (the code that
    shapes the weights)."""
    root = Path(__file__).resolve().parents[1] if root is None else root
    digest = hashlib.sha256()
    for package in packages:
        for file in sorted((root / package).rglob("*.py")):
            digest.update(file.relative_to(root).as_posix().encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class RunCheckpoint:
    """The one epoch checkpoint of a training run (``path``), with a spare copy of the epoch before, and the weights
    of its best-scoring validated epoch (``best``).

    ``fingerprint`` identifies the run (parameters, data, code); a file with another
    fingerprint is never resumed, and is replaced by this run's first epoch.
    """

    path: Path
    fingerprint: str

    @property
    def spare(self) -> Path:
        return self.path.with_name(self.path.stem + ".previous.pt")

    def resumable_state(self) -> tuple[dict[str, Any], Path] | None:
        """The latest good state of this run and the file it is in (the checkpoint, else its spare), or ``None``
        (a warning says why when a file is skipped)."""
        for candidate in (self.path, self.spare):
            if not candidate.is_file():
                continue
            try:
                state = load_state(candidate)
            except ModelFileError as err:
                logger.warning("Skipping checkpoint %s", err)
                continue
            if state.get("digest") != self.fingerprint:
                logger.warning("%s: checkpoint of other parameters, data or code; training from scratch", candidate)
                return None
            return state, candidate
        return None

    def drop_unusable(self, resumed_from: Path | None) -> None:
        """Before the first epoch of the writing process: remove the temporary files of writes that were killed and,
        when the run resumes from the spare, the unreadable checkpoint, so that the spare stays the spare until a
        new good checkpoint is written."""
        for path in (self.path, self.spare, self.best):
            for leftover in path.parent.glob(f".{path.name}.*.tmp"):
                logger.warning("Removing %s: the temporary file of a write that was killed", leftover)
                leftover.unlink(missing_ok=True)
        if resumed_from == self.spare and self.path.is_file():
            logger.warning("Removing %s: unreadable; the run resumes from its spare %s", self.path, self.spare)
            self.path.unlink()

    def save(self, state: dict[str, Any]) -> None:
        """Keep the current file as the spare, then write ``state`` atomically."""
        if self.path.is_file():
            os.replace(self.path, self.spare)
        save_state({**state, "digest": self.fingerprint}, self.path)

    @property
    def best(self) -> Path:
        """The weights of the best-scoring validated epoch, kept beside the last checkpoint."""
        return self.path.with_name(self.path.stem + ".best.pt")

    def save_best(self, models: list[dict[str, Any]], epoch: int, score: float, monitor: str) -> None:
        save_state(
            {"models": models, "epoch": epoch, "score": score, "monitor": monitor, "digest": self.fingerprint},
            self.best,
        )

    def best_state(self) -> dict[str, Any]:
        """The best epoch's weights of this run (``models``, ``epoch``, ``score``, ``monitor``)."""
        state = load_state(self.best)
        if state.get("digest") != self.fingerprint:
            raise ModelFileError(self.best, "best checkpoint of other parameters, data or code")
        return state

    def finish(self) -> None:
        """The run is complete: its last checkpoint stays (a rerun resumes it at once); the spare goes, once that
        checkpoint exists."""
        if self.path.is_file():
            self.spare.unlink(missing_ok=True)
