"""A team's own cameras (``format: camera_folders``): unlabelled crops for training, and a small held-out test set
labelled for evaluation only.

Layout under the source's root:

- ``images/``: the training crops (JPEG or PNG, any file names, no label of any task);
- ``query/`` and ``bounding_box_test/``: held-out identities named as in Market-1501
  (``PPPP_cCsS_FFFFFF_BB.jpg``), for reID evaluation on the cameras;
- ``attributes.csv``: UPAR's CSV format (``# image,<40 attributes>``), rows naming held-out images relative to the
  root (``query/...``, ``bounding_box_test/...``), for attribute evaluation on the cameras.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pandas as pd

from . import market1501, upar
from .checks import check_by_suffix
from .errors import RawDataError, summarise
from .paths import require_regular_files
from .upar_labels import UparLabels

logger = logging.getLogger(__name__)

TRAIN_FOLDER = "images"
ATTRIBUTES_FILE = "attributes.csv"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
EVALUATION_SPLITS = ("query", "gallery")  # market1501.SPLIT_FOLDERS: query/, bounding_box_test/


def index_training_images(root: Path) -> pd.DataFrame:
    """The crops of ``images/`` (``path`` relative to the root, sorted); a missing or empty folder, or a file that
    is not an image, is an error naming it."""
    directory = root / TRAIN_FOLDER
    if not directory.is_dir():
        raise RawDataError(directory, f"camera folder '{TRAIN_FOLDER}' is missing")
    names = sorted(entry.name for entry in os.scandir(directory) if entry.name not in market1501.IGNORED_FILES)
    foreign = [name for name in names if not name.lower().endswith(IMAGE_SUFFIXES)]
    if foreign:
        raise RawDataError(
            directory / foreign[0], f"not a JPEG or PNG image ({len(foreign)} such: {summarise(foreign)})"
        )
    if not names:
        raise RawDataError(directory, f"camera folder '{TRAIN_FOLDER}' holds no images")
    paths = [f"{TRAIN_FOLDER}/{name}" for name in names]
    require_regular_files([root / path for path in paths])
    return pd.DataFrame({"path": paths})


def index_evaluation_images(root: Path, cameras: int) -> dict[str, pd.DataFrame]:
    """The held-out identities: ``query`` and ``gallery`` manifests in Market-1501's columns, junk boxes dropped."""
    return {split: market1501.drop_junk(market1501.index_split(root, split, cameras)) for split in EVALUATION_SPLITS}


MANIFESTS = ("train", "query", "gallery", "attributes")  # what ingestion writes of a camera_folders source


def index_source(
    root: Path | None, labels: UparLabels, params: dict[str, Any], image_check: str, max_pixels: int
) -> dict[str, pd.DataFrame]:
    """A ``camera_folders`` source, checked: its unlabelled training crops, held-out query and gallery
    (``params['cameras']`` cameras), and the held-out images' attributes (evaluation only; their header must be the
    attribute task's, UPAR's: ``labels.names``). Every manifest is empty where the root is absent."""
    attribute_names = labels.names
    if root is None:
        columns = {"train": ["path"], "query": market1501.COLUMNS, "gallery": market1501.COLUMNS}
        columns["attributes"] = ["path", "pid", "camid", "split", *attribute_names]
        return {name: pd.DataFrame(columns=columns[name]) for name in MANIFESTS}
    manifests = {"train": index_training_images(root), **index_evaluation_images(root, params["cameras"])}
    check_by_suffix([root / path for frame in manifests.values() for path in frame["path"]], image_check, max_pixels)
    file = root / ATTRIBUTES_FILE
    _, labels = upar.read_csv(file)  # its header must be UPAR's 40 attributes, the attribute task's
    held = pd.concat([manifests[split].assign(split=split) for split in EVALUATION_SPLITS], ignore_index=True)
    attributes = market1501.attribute_labels(
        held, labels.rename(columns={"image": "path"}), attribute_names, str(file), "query/ and bounding_box_test/"
    )
    manifests["attributes"] = attributes[["path", "pid", "camid", "split", *attribute_names]]
    logger.info("Camera source %s: %s", root, {name: len(frame) for name, frame in manifests.items()})
    return manifests
