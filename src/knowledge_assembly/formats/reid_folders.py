"""A reID dataset in Market-1501's folder layout (``format: reid_folders``), e.g. a team's labelled cameras
exported as torchreid and fast-reid read such folders: ``bounding_box_train/`` (training identities), ``query/`` and
``bounding_box_test/`` (held-out identities), each image named ``<pid>_c<camera>`` then anything
(``0005_c2_f0046985.jpg``). pid -1 boxes are junk (dropped), pid 0 distractors stay in the gallery, as in
Market-1501. One source of this format per such dataset (``sources.<name>``, its root ``raw.<name>``)."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import pandas as pd

from . import market1501
from .checks import check_by_suffix
from .errors import RawDataError, summarise

logger = logging.getLogger(__name__)

NAME_PATTERN = re.compile(r"^(-1|\d+)_c(\d+)(?:[^\d].*)?\.(?:jpe?g|png)$", re.IGNORECASE)
GRAMMAR = "'<pid>_c<camera>...jpg' (e.g. 0005_c2_f0046985.jpg)"
COLUMNS = ["path", "pid", "camid"]
MANIFESTS = ("train", "query", "gallery")  # what ingestion writes of a reid_folders source


def index_names(names: list[str], folder: str, source: str | Path, cameras: int) -> pd.DataFrame:
    """Manifest rows (``path`` = ``folder/name``, ``pid``, 0-based ``camid``) for the file ``names`` of one split
    folder; a name that breaks the grammar, or names a camera outside c1..c``cameras``, is an error naming it."""
    rows, bad = [], []
    for name in sorted(names):
        match = NAME_PATTERN.match(name)
        if match is None or int(match[2]) == 0:
            bad.append(name)
        else:
            rows.append((f"{folder}/{name}", int(match[1]), int(match[2]) - 1))
    if bad:
        raise RawDataError(
            Path(source) / bad[0], f"file name does not match {GRAMMAR} ({len(bad)} such: {summarise(bad)})"
        )
    frame = pd.DataFrame(rows, columns=COLUMNS).astype({"pid": "int64", "camid": "int64"})
    market1501.check_cameras(frame, cameras, source, "ingestion.<source>.cameras")
    return frame


def index_source(root: Path | None, params: dict[str, Any], image_check: str, max_pixels: int) -> dict[str, Any]:
    """A ``reid_folders`` source, checked: its training identities (``label``: pids numbered from 0), held-out
    query and gallery (``params['cameras']`` cameras), junk boxes dropped. Every manifest is empty where the root is
    absent."""
    if root is None:
        return {split: pd.DataFrame(columns=COLUMNS + (["label"] if split == "train" else [])) for split in MANIFESTS}
    manifests = {
        split: market1501.drop_junk(
            market1501.index_split(root, split, int(params["cameras"]), index_names, f"{root.name} (reid_folders)")
        )
        for split in MANIFESTS
    }
    check_by_suffix([root / path for frame in manifests.values() for path in frame["path"]], image_check, max_pixels)
    manifests["train"] = market1501.relabel(manifests["train"])
    logger.info("reID folders %s: %s", root, {name: len(frame) for name, frame in manifests.items()})
    return manifests
