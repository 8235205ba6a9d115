"""Files written so that readers see the old content or the new, never half of one; PyTorch state files
read without running code."""

from __future__ import annotations

import fcntl
import logging
import os
import pickle
import re
import tempfile
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, TextIO

import torch

logger = logging.getLogger(__name__)


class OutputNotWritableError(PermissionError):
    """A folder that a run writes cannot be written; the message is one line naming it."""


def check_writable(folder: Path) -> None:
    """Raise :class:`OutputNotWritableError` unless a file can be created in ``folder`` (or, where it does not exist
    yet, in the nearest folder above it that does): tried with a real file, as permissions alone do not tell (root,
    read-only mounts)."""
    existing = Path(folder)
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as err:
        raise OutputNotWritableError(f"cannot write {folder}: {err.strerror} ({existing}); no node ran") from None


class RunLockedError(RuntimeError):
    """Another process holds the lock of a folder that this run writes; the message is one line naming both."""


def hold_run_lock(folder: Path) -> TextIO:
    """Take the exclusive lock ``<folder>.lock`` (beside the folder, so the folder holds only outputs) for this
    process, released when the returned file is closed or the process ends, however it ends; or raise
    :class:`RunLockedError` at once naming the holder."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    path = folder.parent / f"{folder.name}.lock"
    handle = open(path, "a+")  # noqa: SIM115 - held open for the whole run
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "(no details)"
        handle.close()
        raise RunLockedError(f"another run holds {path} {holder}; wait for it to finish or stop it") from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"since {time.strftime('%Y-%m-%d %H:%M:%S %Z')}, pid {os.getpid()}\n")
    handle.flush()
    return handle


class ModelFileError(ValueError):
    """A model bundle or checkpoint that cannot be loaded; the message is one line naming the file."""

    def __init__(self, path: str | Path, problem: str):
        super().__init__(f"{path}: {problem}")


@contextmanager
def atomic_write(path: Path) -> Iterator[BinaryIO]:
    """Yield a binary file in ``path``'s folder; on success fsync it and rename it over ``path``, else delete it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


RUNNING_MARKER = ".running"  # in a version folder from before its run's first save there until the run finished


def unfinished(version_folder: Path) -> bool:
    """Whether the run that saved this Kedro version folder did not finish (failed, killed, or still running)."""
    return (Path(version_folder) / RUNNING_MARKER).exists()


def latest_version(path: Path, accept: str | None = None) -> Path:
    """``path`` itself, or, where it is a folder of Kedro versions (``<path>/<version>/<name>``), the newest
    finished version's file (Kedro's order: version names sorted, last first); versions of runs that did not
    finish are skipped with a warning naming them, except the version ``accept`` (the current run's own)."""
    path = Path(path)
    if not path.is_dir():
        return path
    versions = sorted((p for p in path.glob(f"*/{path.name}") if p.is_file()), key=str, reverse=True)
    finished = [p for p in versions if p.parent.name == accept or not unfinished(p.parent)]
    skipped = versions[: versions.index(finished[0])] if finished else versions
    if skipped:
        logger.warning("Skipping %s: saved by a run that did not finish", ", ".join(str(p.parent) for p in skipped))
    if not finished:
        raise FileNotFoundError(f"{path}: no finished version (<version>/{path.name}) saved yet")
    return finished[0]


def save_state(state: dict[str, Any], path: Path) -> None:
    """``torch.save`` ``state`` (tensors, dicts, lists and plain values only) atomically."""
    with atomic_write(path) as file:
        torch.save(state, file)


def load_state(path: Path) -> dict[str, Any]:
    """Load a file written by :func:`save_state` with ``weights_only=True``: tensors, dicts, lists and plain
    values only, so a crafted pickle is refused before any of its code runs. Problems raise :class:`ModelFileError`."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(path, "file not found")
    if not zipfile.is_zipfile(path):
        raise ModelFileError(path, "unreadable: not a file written by torch.save (truncated, or another kind of file)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise ModelFileError(path, f"refused: not a plain PyTorch state file ({_refusal(err)})") from None
    except Exception as err:  # torch raises RuntimeError, EOFError, ... for truncated or foreign files
        raise ModelFileError(path, f"unreadable ({type(err).__name__}: {_first_line(err)})") from None
    if not isinstance(state, dict):
        raise ModelFileError(path, f"holds a {type(state).__name__}, expected a dict of state")
    return state


def _refusal(err: pickle.UnpicklingError) -> str:
    """Why torch refused the file, without torch's advice to load it unsafely: the global it would have loaded."""
    text = str(err)
    found = re.search(r"(?:Unsupported global: GLOBAL|unsupported GLOBAL) ([\w.]+)", text)
    if found:
        return f"Unsupported global: {found.group(1)}; the file is not trusted and nothing in it ran"
    safe = [line.strip() for line in text.splitlines() if line.strip() and "weights_only" not in line]
    return f"{(safe or ['not a weights-only file'])[0][:200]}; the file is not trusted and nothing in it ran"


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [""])[0][:200]
