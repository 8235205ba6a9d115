"""The original UPAR release (WACV'23): one ``dataset_all.pkl``, an EasyDict with ``image_name`` (N paths under the
datasets root, e.g. ``PA100k/...``), ``label`` (N×40, 0/1), ``attr_name`` (UPAR's 40 attributes), ``dataset_ids``
and ``partition[split][k]`` (split: train, val, trainval, test; k: one of 10 partitions; an entry is an index array
or a list of them, one per sub-dataset).

A pickle can run any code when it is read, so it is read by :class:`RestrictedUnpickler`: dicts, lists, strings,
numbers, numpy arrays and dtypes, and EasyDict (read as a dict) only; anything else is refused, naming the file.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import RawDataError
from .upar import UPAR_ATTRIBUTES, header_differences

SPLITS = ("train", "val", "test")  # trainval is train + val
KEYS = ("image_name", "label", "attr_name", "partition")


class _EasyDict(dict):
    """What ``easydict.EasyDict`` is read as: a dict (its attribute copy of the keys is dropped)."""


_NUMPY_CORE = ("numpy.core.multiarray", "numpy._core.multiarray")
ALLOWED = {
    **{(core, "_reconstruct"): None for core in _NUMPY_CORE},
    **{(core, "scalar"): None for core in _NUMPY_CORE},
    **{(numeric, "_frombuffer"): None for numeric in ("numpy.core.numeric", "numpy._core.numeric")},
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("easydict", "EasyDict"): _EasyDict,
    ("copyreg", "_reconstructor"): None,
    **{("builtins", name): None for name in ("dict", "list", "str", "int", "float", "bool")},
}


class RestrictedUnpickler(pickle.Unpickler):
    """Admits only the globals of :data:`ALLOWED`; any other raises :class:`pickle.UnpicklingError`."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in ALLOWED:
            raise pickle.UnpicklingError(f"refused to load {module}.{name}")
        found = ALLOWED[(module, name)]
        return found if found is not None else super().find_class(module, name)


def restricted_load(path: Path) -> Any:
    """The pickle at ``path`` read by :class:`RestrictedUnpickler`, EasyDicts turned into plain dicts; a refused
    class or an unreadable file is a :class:`RawDataError` naming the file."""
    try:
        data = RestrictedUnpickler(io.BytesIO(path.read_bytes())).load()
    except pickle.UnpicklingError as err:
        raise RawDataError(
            path, f"{err}: a UPAR pickle may hold only dicts, lists, strings, numbers, numpy arrays and EasyDict"
        ) from None
    except (OSError, EOFError, ValueError, TypeError, AttributeError, IndexError) as err:
        raise RawDataError(path, f"not a readable pickle ({type(err).__name__}: {err})") from None
    return _plain(data)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def read_pickle(path: Path, partition: int) -> tuple[list[str], pd.DataFrame]:
    """Attribute names and a frame ``image`` + one uint8 column per attribute + ``split`` (train / val / test of
    partition ``partition``; empty where the partition does not use the image), checked like the CSVs."""
    if not path.is_file():
        raise RawDataError(path, "UPAR pickle is missing")
    data = restricted_load(path)
    if not isinstance(data, dict) or any(key not in data for key in KEYS):
        found = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise RawDataError(path, f"expected a dict with keys {list(KEYS)}, found {found}")
    names = [str(name) for name in data["attr_name"]]
    differences = header_differences(names)
    if differences or len(names) != len(UPAR_ATTRIBUTES):
        raise RawDataError(
            path, f"attr_name must list exactly the {len(UPAR_ATTRIBUTES)} UPAR attributes: {differences}"
        )
    images = [str(name) for name in data["image_name"]]
    labels = np.asarray(data["label"])
    if labels.shape != (len(images), len(names)):
        raise RawDataError(path, f"label has shape {labels.shape}, expected ({len(images)}, {len(names)})")
    invalid = ~np.isin(labels, (0, 1))
    if invalid.any():
        row, col = np.argwhere(invalid)[0]
        raise RawDataError(
            path, f"image {images[row]}: label {labels[row, col].item()!r} for '{names[col]}' is not 0 or 1"
        )
    duplicated = pd.Series(images)[pd.Series(images).duplicated()]
    if len(duplicated):
        raise RawDataError(path, f"image {duplicated.iloc[0]} is listed twice in image_name")
    frame = pd.DataFrame(labels.astype(np.uint8), columns=names)
    frame.insert(0, "image", images)
    frame["split"] = partition_splits(data["partition"], partition, len(images), path)
    return names, frame


def partition_splits(partitions: Any, partition: int, count: int, path: Path) -> np.ndarray:
    """``train`` / ``val`` / ``test`` / ``""`` for each of ``count`` images in partition ``partition``; an index out
    of range or an image in two splits is a :class:`RawDataError`."""
    split_of = np.full(count, "", dtype=object)
    for split in SPLITS:
        entries = partitions.get(split) if isinstance(partitions, dict) else None
        if not isinstance(entries, list) or not 0 <= partition < len(entries):
            size = len(entries) if isinstance(entries, list) else 0
            raise RawDataError(
                path, f"partition[{split!r}] has {size} partitions; ingestion.upar.partition={partition}"
            )
        entry = entries[partition]
        rows = np.hstack(entry).astype(np.int64) if isinstance(entry, list) else np.asarray(entry, dtype=np.int64)
        outside = rows[(rows < 0) | (rows >= count)]
        if len(outside):
            raise RawDataError(path, f"partition[{split!r}][{partition}] has index {outside[0]}, not in 0..{count - 1}")
        twice = rows[split_of[rows] != ""]
        if len(twice):
            raise RawDataError(
                path, f"partition {partition}: image index {twice[0]} is in both {split_of[twice[0]]} and {split}"
            )
        split_of[rows] = split
    return split_of


def to_pickle_bytes(labels: pd.DataFrame, names: list[str], partitions: list[dict[str, list[np.ndarray]]]) -> bytes:
    """``dataset_all.pkl`` as UPAR releases it: an EasyDict of ``image_name``, ``label``, ``attr_name``,
    ``dataset_ids`` (each image's folder, numbered in order of appearance) and ``partition`` (from ``partitions``:
    per partition, each split's index arrays, one per sub-dataset)."""
    from easydict import EasyDict  # the class the release is pickled with

    folders = labels["image"].str.split("/").str[0]
    dataset = EasyDict()
    dataset.image_name = labels["image"].tolist()
    dataset.label = labels[names].to_numpy(dtype=np.int64)
    dataset.attr_name = list(names)
    dataset.dataset_ids = pd.factorize(folders)[0].astype(np.int64)
    dataset.partition = EasyDict()
    for split in ("train", "val", "trainval", "test"):
        per_partition = [_split_arrays(p, split) for p in partitions]
        dataset.partition[split] = per_partition if split == "test" else [np.hstack(a) for a in per_partition]
    return pickle.dumps(dataset, protocol=4)


def _split_arrays(partition: dict[str, list[np.ndarray]], split: str) -> list[np.ndarray]:
    if split == "trainval":
        return [*partition["train"], *partition["val"]]
    return [np.asarray(rows, dtype=np.int64) for rows in partition[split]]
