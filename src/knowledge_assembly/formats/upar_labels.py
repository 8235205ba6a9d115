"""UPAR's labels as a release gives them: the 2027 challenge CSVs or the original ``dataset_all.pkl``; each source
of a UPAR-labelled format reads the rows under its own image folder (``<source>_prefix``); the images of a
``upar_release`` source (a dataset that only the release labels, e.g. RAPv2)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ..config import ConfigError, closest
from . import upar, upar_pickle
from .checks import check_by_suffix, require_labelled_files, warn_ignored
from .errors import RawDataError, summarise

logger = logging.getLogger(__name__)

RELEASES = ("challenge2027", "wacv2023")
SOURCE_SPLITS = {"train": "train", "attributes": "test"}  # a upar_release source's manifests: partition split


@dataclass(frozen=True, eq=False)
class UparLabels:
    """What a UPAR release labels (:func:`read_labels`): its attribute ``names``, every labelled image (``rows``:
    ``image`` as UPAR names it, ``split``, the attributes, ``source``: its file) and the release's ``settings``
    (``ingestion.upar``). Each source of a UPAR-labelled format reads the rows under its own prefix."""

    names: list[str]
    rows: pd.DataFrame
    settings: dict[str, Any]

    @property
    def files(self) -> str:
        """The release's files, for messages."""
        return ", ".join(label_files(self.settings))

    def under(self, prefix: str) -> pd.DataFrame:
        """Its rows whose image lies under ``prefix``, with ``path`` relative to it (:func:`under`)."""
        return under(self.rows, prefix)


def read_labels(root: Path, params: dict[str, Any]) -> UparLabels:
    """The attribute names and every labelled image of the release ``params['release']`` names: ``challenge2027``
    (the CSVs of ``csv_files``) or ``wacv2023`` (``pickle_file``, whose partition ``partition`` gives each image a
    ``split``). Rows under none of the sources' prefixes (``<source>_prefix``) are counted in one warning."""
    names, labels = _read_release(root, params)
    prefixes = [upar.folder(value) for key, value in params.items() if key.endswith("_prefix")]
    unused = labels.loc[~labels["image"].str.startswith(tuple(prefixes)), "image"]
    if len(unused):
        folders = unused.str.split("/").str[0].value_counts().sort_index()
        counted = ", ".join(f"{folder}/ {count}" for folder, count in folders.items())
        logger.warning(
            "%d UPAR rows are under none of %s and are not used (%s): %s",
            len(unused), ", ".join(prefixes), counted, summarise(unused.tolist(), 3),
        )  # fmt: skip
    return UparLabels(names, labels, params)


def label_files(params: dict[str, Any]) -> list[str]:
    """The UPAR files the chosen release reads (relative to the UPAR root)."""
    release = params.get("release", "challenge2027")
    if release not in RELEASES:
        raise ConfigError(
            f"ingestion.upar.release={release!r}: expected one of {list(RELEASES)}{closest(release, RELEASES)}"
        )
    return list(params["csv_files"]) if release == "challenge2027" else [params["pickle_file"]]


def _read_release(root: Path, params: dict[str, Any]) -> tuple[list[str], pd.DataFrame]:
    """Attribute names and every labelled image (``image``, the attributes, ``source``: its file, ``split``: the
    pickle partition's split, empty for the CSVs)."""
    if params.get("release", "challenge2027") == "wacv2023":
        names, frame = upar_pickle.read_pickle(root / params["pickle_file"], int(params["partition"]))
        return names, frame.assign(source=params["pickle_file"])
    frames, names = [], None
    for csv_name in label_files(params):
        csv_names, frame = upar.read_csv(root / csv_name)
        if names is not None and csv_names != names:
            raise RawDataError(root / csv_name, f"attribute header differs from {params['csv_files'][0]}")
        names = csv_names
        frames.append(frame.assign(source=csv_name, split=""))
    labels = pd.concat(frames, ignore_index=True)
    repeated = labels[labels["image"].duplicated()]
    if len(repeated):
        first = repeated.iloc[0]
        raise RawDataError(root / first["source"], f"image {first['image']} is labelled in more than one CSV")
    return names, labels


def under(labels: pd.DataFrame, prefix: str) -> pd.DataFrame:
    """Rows whose image lies under ``prefix``, with ``path`` relative to it."""
    prefix = upar.folder(prefix)
    rows = labels[labels["image"].str.startswith(prefix)]
    return (
        rows.assign(path=rows["image"].str.slice(len(prefix))).drop(columns=["image", "source"]).reset_index(drop=True)
    )


def index_release_source(
    root: Path | None, labels: UparLabels, prefix: str, image_check: str, max_pixels: int
) -> dict[str, pd.DataFrame]:
    """A ``upar_release`` source: the images under its root that the UPAR release labels under ``prefix``, by the
    partition's split: ``train`` (training) and ``attributes`` (its test split, evaluated in its domain); its val
    images are not used. Every manifest is empty where the root is absent, or (one warning) where the release
    labels none of its images; a release that labels them without a split, or a split left empty, is an error."""
    attribute_names = labels.names
    empty = pd.DataFrame(columns=["path", *attribute_names]).astype({name: "uint8" for name in attribute_names})
    rows, files = labels.under(prefix), labels.files
    if root is None or not len(rows):
        if root is not None:
            logger.warning("%s: no row under %s labels an image of %s; its manifests are empty", files, prefix, root)
        elif len(rows):
            logger.info("%d UPAR rows under %s not used: their root is absent", len(rows), prefix)
        return {name: empty for name in SOURCE_SPLITS}
    if (rows["split"] == "").all():
        raise RawDataError(
            files, f"labels {len(rows)} images under {prefix} but gives them no split; the original release's "
            "partition does (ingestion.upar.release=wacv2023)",
        )  # fmt: skip
    warn_ignored(rows.loc[rows["split"] == "", "path"], pd.Series([]), f"UPAR {prefix}", "the chosen partition")
    manifests = {}
    for name, split in SOURCE_SPLITS.items():
        part = rows[rows["split"] == split]
        if not len(part):
            raise RawDataError(
                files, f"partition {labels.settings['partition']} gives no image under {prefix} a {split} split"
            )
        manifests[name] = part[["path", *attribute_names]].astype({n: "uint8" for n in attribute_names})
    paths = [root / path for frame in manifests.values() for path in frame["path"]]
    require_labelled_files(paths)
    check_by_suffix(paths, image_check, max_pixels)
    logger.info(
        "UPAR source %s: train %d, test %d (its %d val images are not used)",
        root, len(manifests["train"]), len(manifests["attributes"]), int((rows["split"] == "val").sum()),
    )  # fmt: skip
    return {name: frame.reset_index(drop=True) for name, frame in manifests.items()}
