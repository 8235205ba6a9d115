"""Market-1501 (v15.09.15): file-name grammar and split folders.

Names are ``{pid:04d}_c{cam}s{seq}_{frame:06d}_{bb:02d}.jpg`` with ``pid`` -1 for
junk boxes and 0000 for distractors; a few real files end in ``.jpg.jpg``.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from .checks import warn_ignored
from .errors import RawDataError, summarise
from .images import check_images
from .paths import require_regular_files
from .upar_labels import UparLabels

logger = logging.getLogger(__name__)

SPLIT_FOLDERS = {"train": "bounding_box_train", "query": "query", "gallery": "bounding_box_test"}
IGNORED_FILES = frozenset({"Thumbs.db", ".DS_Store", "desktop.ini"})
NAME_PATTERN = re.compile(r"^(-1|\d{4})_c(\d)s(\d)_(\d{6})_(\d{2})\.jpg(?:\.jpg)?$")
COLUMNS = ["path", "pid", "camid", "seq", "frame", "bbox"]
MANIFESTS = ("train", "query", "gallery", "attributes")  # what ingestion writes of a market1501 source


@dataclass(frozen=True)
class MarketName:
    """The parts of one Market-1501 file name; ``camid`` is 0-based."""

    pid: int
    camid: int
    seq: int
    frame: int
    bbox: int


def parse_name(name: str) -> MarketName | None:
    """Parse a file name, or ``None`` when it does not follow the grammar."""
    match = NAME_PATTERN.match(name)
    if match is None:
        return None
    pid, cam, seq, frame, bbox = match.groups()
    if cam == "0":
        return None
    return MarketName(int(pid), int(cam) - 1, int(seq), int(frame), int(bbox))


def format_name(pid: int, cam: int, seq: int, frame: int, bbox: int) -> str:
    """Inverse of :func:`parse_name` (``cam`` is 1-based, as in the file name)."""
    pid_text = "-1" if pid == -1 else f"{pid:04d}"
    return f"{pid_text}_c{cam}s{seq}_{frame:06d}_{bbox:02d}.jpg"


def index_names(names: list[str], folder: str, source: str | Path, cameras: int = 6) -> pd.DataFrame:
    """Manifest rows for the file ``names`` of one split folder.

    System files (``Thumbs.db`` ...) are skipped; any other name that breaks the
    grammar, or names a camera outside c1..c``cameras``, raises :class:`RawDataError`
    naming it. ``path`` is ``folder/name``.
    """
    rows, bad = [], []
    for name in sorted(names):
        if name in IGNORED_FILES:
            continue
        parsed = parse_name(name)
        if parsed is None:
            bad.append(name)
            continue
        rows.append((f"{folder}/{name}", parsed.pid, parsed.camid, parsed.seq, parsed.frame, parsed.bbox))
    if bad:
        raise RawDataError(
            Path(source) / bad[0],
            "file name does not match the Market-1501 grammar "
            f"'PPPP_cCsS_FFFFFF_BB.jpg' ({len(bad)} such: {summarise(bad)})",
        )
    frame = pd.DataFrame(rows, columns=COLUMNS).astype({c: "int64" for c in COLUMNS[1:]})
    check_cameras(frame, cameras, source, "ingestion.<source>.cameras")
    return frame


def check_cameras(frame: pd.DataFrame, cameras: int, source: str | Path, setting: str) -> None:
    """Every row's 0-based ``camid`` is one of ``cameras`` cameras, else an error naming the first file outside."""
    outside = frame["path"][frame["camid"] >= cameras].tolist()
    if outside:
        raise RawDataError(
            Path(source) / Path(outside[0]).name,
            f"camera outside c1-c{cameras} ({len(outside)} such; {setting} sets the number of cameras)",
        )


def index_split(
    root: Path,
    split: str,
    cameras: int = 6,
    names_index: Callable[[list[str], str, Path, int], pd.DataFrame] = index_names,
    dataset: str = "Market-1501",
) -> pd.DataFrame:
    """Index one split folder of a Market-1501 root (``train``, ``query``, ``gallery``); ``names_index``: the
    grammar of another ``dataset`` in the same layout (default: Market-1501's, :func:`index_names`).

    Every entry but system files must be a regular file (a directory, FIFO or dangling
    link named like an image is an error, not skipped); an empty folder is an error."""
    folder = SPLIT_FOLDERS[split]
    directory = root / folder
    if not directory.is_dir():
        raise RawDataError(directory, f"{dataset} folder '{folder}' is missing")
    names = [entry.name for entry in os.scandir(directory) if entry.name not in IGNORED_FILES]
    frame = names_index(names, folder, directory, cameras)
    if frame.empty:
        raise RawDataError(directory, f"{dataset} folder '{folder}' holds no images")
    require_regular_files([root / path for path in frame["path"]])
    return frame


def drop_junk(frame: pd.DataFrame) -> pd.DataFrame:
    """Drop pid -1 boxes (junk); pid 0 distractors stay."""
    return frame[frame["pid"] != -1].reset_index(drop=True)


def relabel(frame: pd.DataFrame) -> pd.DataFrame:
    """Add ``label``: pids mapped to 0..N-1 in ascending pid order."""
    pids = sorted(frame["pid"].unique())
    mapping = {pid: label for label, pid in enumerate(pids)}
    return frame.assign(label=frame["pid"].map(mapping).astype("int64"))


def index_folders(root: Path, cameras: int, image_check: str, max_pixels: int) -> pd.DataFrame:
    """Parse the three split folders (``split`` column) and check their images."""
    index = pd.concat(
        [index_split(root, split, int(cameras)).assign(split=split) for split in SPLIT_FOLDERS], ignore_index=True
    )
    check_images([root / path for path in index["path"]], image_check, max_pixels)
    return index


def index_source(
    root: Path | None, labels: UparLabels, params: dict[str, Any], prefix: str, image_check: str, max_pixels: int
) -> dict[str, pd.DataFrame]:
    """A ``market1501`` source, checked: its training identities (``label``: pids numbered from 0), held-out
    ``query`` and ``gallery`` (``params['cameras']`` cameras), junk boxes dropped, and the ``attributes`` of its
    images that the UPAR release labels under ``prefix`` (evaluation only; empty where it labels none). Every
    manifest is empty where the root is absent; a split left empty (only junk) is an error naming its folder."""
    if root is None:
        empty = pd.DataFrame(columns=COLUMNS)
        attributes = pd.DataFrame(columns=["path", "pid", "camid", "split", *labels.names])
        return {"train": empty.assign(label=pd.Series(dtype="int64")), "query": empty, "gallery": empty,
                "attributes": attributes}  # fmt: skip
    index = index_folders(root, int(params["cameras"]), image_check, max_pixels)
    manifests = {}
    for split, folder in SPLIT_FOLDERS.items():
        kept = drop_junk(index[index["split"] == split].drop(columns="split"))
        if kept.empty:
            raise RawDataError(root / folder, "holds only junk boxes (pid -1): its manifest would be empty")
        manifests[split] = kept
    manifests["train"] = relabel(manifests["train"])
    upar_rows = labels.under(prefix).drop(columns="split")
    where = "the Market-1501 folders"
    manifests["attributes"] = attribute_labels(index, upar_rows, labels.names, "UPAR Market-1501", where)
    logger.info("Market-1501 %s: %s", root, {name: len(frame) for name, frame in manifests.items()})
    return manifests


def attribute_labels(
    index: pd.DataFrame, labels: pd.DataFrame, attribute_names: list[str], labels_of: str, where: str
) -> pd.DataFrame:
    """The attribute labels (``labels_of``: UPAR's, or a camera source's ``attributes.csv``) of the images of
    ``index`` (``split``: train/query/gallery) that are kept for reID (not junk); rows naming other images of
    ``where``: one warning."""
    images = drop_junk(index)[["path", "pid", "camid", "split"]]
    labelled = images.merge(labels, on="path", how="inner")
    warn_ignored(labels["path"], labelled["path"], labels_of, where)
    return labelled.astype({name: "uint8" for name in attribute_names}).reset_index(drop=True)
