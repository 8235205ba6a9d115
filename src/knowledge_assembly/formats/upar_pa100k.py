"""PA-100K labelled by UPAR (``format: pa100k``): ``annotation.mat``'s train / val / test splits of the images under
the source's root, each image with the labels the UPAR release gives it under ``ingestion.upar.<source>_prefix``
(UPAR's 40 attributes, not annotation.mat's 26)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd

from ..config import ConfigError, closest
from ..tasks import TASKS
from ..tasks.attributes import MISSING
from . import pa100k
from .checks import warn_ignored
from .errors import RawDataError, summarise
from .upar_labels import UparLabels

logger = logging.getLogger(__name__)

SOURCE_SPLITS = {"train": "train", "val": "val", "attributes": "test"}  # a pa100k source's manifests: its split
UNLABELLED_CHOICES = ("leave_out", "train")  # ingestion.upar.unlabelled: what becomes of PA-100K images it lacks


def index_source(
    root: Path | None, labels: UparLabels, params: dict[str, Any], prefix: str, image_check: str, max_pixels: int
) -> dict[str, pd.DataFrame]:
    """A ``pa100k`` source, checked: the images of each split of ``params['annotation_file']`` (under
    ``params['image_dir']``) with their UPAR labels (``labels``' rows under ``prefix``), as ``train``, ``val`` and
    ``attributes`` (its test split); images without a label are left out (one warning), or with
    ``ingestion.upar.unlabelled=train`` the train split's join training without labels. A split left without a
    labelled image is an error naming ``annotation.mat``; every manifest is empty where the root is absent."""
    attribute_names = labels.names
    if root is None:
        empty = pd.DataFrame(columns=["path", "image", *attribute_names])
        return dict.fromkeys(SOURCE_SPLITS, empty.astype(dict.fromkeys(attribute_names, "uint8")))
    annotation = root / params["annotation_file"]
    index = pa100k.index_images(root, params["annotation_file"], params["image_dir"], image_check, max_pixels)
    par_labels = labels.under(prefix).drop(columns="split")
    files, join = labels.files, joins_training(labels.settings)
    par = join_unlabelled(index, par_labels, attribute_names) if join else index.merge(par_labels, on="path")
    left_out = _warn_unlabelled(index, par_labels, files, join)
    warn_ignored(par_labels["path"], index["path"], "UPAR PA-100K", "annotation.mat's splits")
    par = par.astype(dict.fromkeys(attribute_names, "uint8"))
    manifests = {
        name: par[par["split"] == split].drop(columns="split").reset_index(drop=True)
        for name, split in SOURCE_SPLITS.items()
    }
    for name, split in SOURCE_SPLITS.items():
        rows = manifests[name][attribute_names].to_numpy()
        if TASKS["par"].labelled_rows(rows).any():  # unlabelled rows (ingestion.upar.unlabelled=train): no size
            continue
        if left_out.get(split):
            raise RawDataError(
                annotation,
                f"its {split} split would be empty: none of PA-100K's {left_out[split]} {split} images has a UPAR "
                f"label in {files} (the UPAR 2027 challenge files label PA-100K's train and val splits "
                "only; the original release labels all: docs/data.md#upar-releases)",
            )
        raise RawDataError(annotation, f"its {split} split would be empty; check the raw data folders")
    logger.info("PA-100K %s: %s", root, {name: len(frame) for name, frame in manifests.items()})
    return manifests


def joins_training(params: dict[str, Any]) -> bool:
    """Whether the PA-100K train-split images the UPAR release does not label join ``par_train`` without labels
    (``ingestion.upar.unlabelled``: ``leave_out``, the default, or ``train``)."""
    choice = params.get("unlabelled", "leave_out")
    if choice not in UNLABELLED_CHOICES:
        raise ConfigError(
            f"ingestion.upar.unlabelled={choice!r}: expected one of {list(UNLABELLED_CHOICES)}"
            f"{closest(str(choice), UNLABELLED_CHOICES)}"
        )
    return choice == "train"


def join_unlabelled(index: pd.DataFrame, labels: pd.DataFrame, attribute_names: list[str]) -> pd.DataFrame:
    """PA-100K's labelled images and, in its train split, the unlabelled ones too, every attribute
    :data:`~knowledge_assembly.tasks.attributes.MISSING` (their source's supervised loss leaves them out; its SSL
    terms and BatchNorm statistics use them); annotation.mat's order."""
    joined = index.merge(labels, on="path", how="left")
    unlabelled = joined[attribute_names].isna().all(axis=1)
    joined = joined[~unlabelled | (joined["split"] == "train")].reset_index(drop=True)
    return joined.fillna({name: MISSING for name in attribute_names})


def _warn_unlabelled(
    pa100k_index: pd.DataFrame, par_labels: pd.DataFrame, files: str, join: bool = False
) -> dict[str, int]:
    """One warning counting, per split, the PA-100K images that the UPAR files do not label (they are left out of
    the labelled PAR manifests; with ``join`` the train split's join training without labels); returns those
    counts."""
    unlabelled = pa100k_index[~pa100k_index["path"].isin(par_labels["path"])]
    counts = {split: int((unlabelled["split"] == split).sum()) for split in pa100k.SPLITS}
    if len(unlabelled):
        fate = (
            "the train split's join par_train without labels (ingestion.upar.unlabelled=train), the others are left out"
            if join
            else "they are left out of the PAR manifests"
        )
        logger.warning(
            "%s: %d of %d PA-100K images have no UPAR label: %s (%s): %s",
            files, len(unlabelled), len(pa100k_index), fate,
            ", ".join(f"par_{split} {count}" for split, count in counts.items()),
            summarise(unlabelled["path"].tolist(), 3),
        )  # fmt: skip
    return counts
