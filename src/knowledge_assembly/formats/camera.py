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

import os
from pathlib import Path

import pandas as pd

from . import market1501
from .errors import RawDataError, summarise
from .paths import require_regular_files

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
