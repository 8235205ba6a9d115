"""PA-100K ``annotation.mat``: split image names and 26 binary labels."""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.io

from .errors import RawDataError, summarise
from .images import check_images
from .paths import contained_relpath, require_regular_files

SPLITS = ("train", "val", "test")
REQUIRED_KEYS = ("attributes",) + tuple(f"{s}_{k}" for s in SPLITS for k in ("images_name", "label"))
PA100K_ATTRIBUTES = (
    "Female",
    "AgeOver60",
    "Age18-60",
    "AgeLess18",
    "Front",
    "Side",
    "Back",
    "Hat",
    "Glasses",
    "HandBag",
    "ShoulderBag",
    "Backpack",
    "HoldObjectsInFront",
    "ShortSleeve",
    "LongSleeve",
    "UpperStride",
    "UpperLogo",
    "UpperPlaid",
    "UpperSplice",
    "LowerStripe",
    "LowerPattern",
    "LongCoat",
    "Trousers",
    "Shorts",
    "Skirt&Dress",
    "boots",
)


@dataclass(frozen=True)
class PA100KAnnotation:
    """Contents of ``annotation.mat``: attribute names, and per split names + labels."""

    attributes: list[str]
    names: dict[str, list[str]]
    labels: dict[str, np.ndarray]


def _cell(value: object) -> str:
    array = np.asarray(value).ravel()
    if array.size != 1 or not isinstance(array[0], str):
        raise ValueError(f"expected one string, found {value!r}")
    return str(array[0])


def _cell_column(value: np.ndarray, key: str, path: Path) -> list[str]:
    if value.ndim != 2 or value.shape[1] != 1 or value.dtype != object:
        raise RawDataError(path, f"'{key}' must be an (N, 1) cell array, found shape {value.shape} dtype {value.dtype}")
    try:
        return [_cell(item) for item in value[:, 0]]
    except ValueError as err:
        raise RawDataError(path, f"'{key}': {err}") from None


def read_annotation(path: Path) -> PA100KAnnotation:
    """Load and validate ``annotation.mat``; any problem raises :class:`RawDataError`."""
    if not path.is_file():
        raise RawDataError(path, "PA-100K annotation file is missing")
    try:
        mat = scipy.io.loadmat(path)
    except Exception as err:  # scipy raises several types for bad files
        raise RawDataError(path, f"not a readable MATLAB .mat file ({err})") from None
    missing = [key for key in REQUIRED_KEYS if key not in mat]
    if missing:
        raise RawDataError(path, f"missing key(s) {missing}; expected {list(REQUIRED_KEYS)}")
    attributes = _cell_column(mat["attributes"], "attributes", path)
    names, labels = {}, {}
    for split in SPLITS:
        names[split] = _cell_column(mat[f"{split}_images_name"], f"{split}_images_name", path)
        label = np.asarray(mat[f"{split}_label"])
        expected = (len(names[split]), len(attributes))
        if label.shape != expected:
            raise RawDataError(
                path,
                f"'{split}_label' has shape {label.shape}, expected {expected} "
                f"({len(names[split])} images x {len(attributes)} attributes)",
            )
        outside = ~np.isin(label, (0, 1))
        if outside.any():
            row, col = np.argwhere(outside)[0]
            raise RawDataError(
                path,
                f"'{split}_label' has value {label[row, col].item()!r} outside {{0, 1}} "
                f"(image {names[split][row]}, attribute {attributes[col]})",
            )
        for name in names[split]:
            contained_relpath(name, path)
        labels[split] = label.astype(np.uint8)
    seen: dict[str, str] = {}
    for split in SPLITS:
        if not names[split]:
            raise RawDataError(path, f"'{split}_images_name' lists no images (empty {split} split)")
        for name in names[split]:
            if seen.get(name) == split:
                raise RawDataError(path, f"image {name} is listed twice in '{split}_images_name'")
            if name in seen:
                raise RawDataError(path, f"image {name} is listed in both '{seen[name]}' and '{split}'")
            seen[name] = split
    return PA100KAnnotation(attributes, names, labels)


def _cells(strings: list[str]) -> np.ndarray:
    cells = np.empty((len(strings), 1), dtype=object)
    for i, text in enumerate(strings):
        cells[i, 0] = np.array([text])
    return cells


MAT_HEADER = b"MATLAB 5.0 MAT-file, written by knowledge_assembly".ljust(116)


def annotation_bytes(annotation: PA100KAnnotation) -> bytes:
    """``annotation.mat`` content with the real keys, shapes and dtypes.

    scipy stamps the creation time into the 116-byte text header; a fixed
    header keeps the file byte-for-byte reproducible.
    """
    content = {"attributes": _cells(annotation.attributes)}
    for split in SPLITS:
        content[f"{split}_images_name"] = _cells(annotation.names[split])
        content[f"{split}_label"] = np.asarray(annotation.labels[split], dtype=np.uint8)
    buffer = io.BytesIO()
    scipy.io.savemat(buffer, content, format="5")
    return MAT_HEADER + buffer.getvalue()[len(MAT_HEADER) :]


def index_images(root: Path, annotation_file: str, image_dir: str, image_check: str, max_pixels: int) -> pd.DataFrame:
    """The split images ``annotation_file`` lists (``path`` under ``image_dir``, ``image``, ``split``), checked: each
    must exist and decode."""
    annotation = read_annotation(root / annotation_file)
    image_dir = image_dir.strip("/")
    directory = root / image_dir
    if not directory.is_dir():
        raise RawDataError(directory, "PA-100K image folder is missing")
    present = {entry.name for entry in os.scandir(directory)}
    rows = [(f"{image_dir}/{name}", name, split) for split in SPLITS for name in annotation.names[split]]
    index = pd.DataFrame(rows, columns=["path", "image", "split"])
    missing = [name for name in index["image"] if name not in present and not (directory / name).is_file()]
    if missing:
        raise RawDataError(
            directory / missing[0],
            f"listed in {annotation_file} but missing ({len(missing)} missing: {summarise(missing)})",
        )
    require_regular_files([root / path for path in index["path"]])
    check_images([root / path for path in index["path"]], image_check, max_pixels)
    return index
