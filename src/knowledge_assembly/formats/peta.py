"""PETA as UPAR lays it out: ``PETA/images/NNNNN.png`` rows of the UPAR CSV (UPAR's 40 attributes), the images PNG
crops of varying size under the PETA root's ``images/``.

UPAR's task-1 training CSV lists PETA training images only, so ingestion splits the labelled images into
train / val / test by a seeded permutation (PETA's own protocol is a random split as well); the images a UPAR
retrieval pair's gallery names are evaluation images and go to test.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import upar
from .checks import require_labelled_files, warn_ignored
from .errors import RawDataError
from .images import check_images
from .upar_labels import UparLabels
from .upar_retrieval import NO_PAIR, RetrievalPair

logger = logging.getLogger(__name__)

IMAGE_DIR = "images"
NAME = re.compile(r"images/\d{5}\.png")
SPLITS = ("train", "val", "test")
SOURCE_SPLITS = {"train": "train", "val": "val", "attributes": "test"}  # a upar_peta source's manifests: its split


def image_path(index: int) -> str:
    """``images/NNNNN.png`` of image ``index`` (1-based, as PETA numbers them)."""
    return f"{IMAGE_DIR}/{index:05d}.png"


def check_names(paths: pd.Series, source: str) -> None:
    """Refuse PETA rows whose image is not ``images/NNNNN.png``, naming ``source`` (the CSVs), the first such image
    and how many there are."""
    bad = paths[~paths.str.fullmatch(NAME.pattern)]
    if len(bad):
        raise RawDataError(source, f"PETA image {bad.iloc[0]!r} is not named images/NNNNN.png ({len(bad)} such rows)")


def split_of(paths: pd.Series, fractions: dict[str, float], seed: int) -> pd.Series:
    """``train`` / ``val`` / ``test`` per image: a permutation of the sorted paths seeded by ``seed``, cut at
    ``fractions['val']`` and ``fractions['test']`` (the rest is train), so the split does not depend on row order."""
    order = np.random.default_rng(seed).permutation(len(paths))
    ranked = np.empty(len(paths), dtype=np.int64)
    ranked[np.argsort(paths.to_numpy(), kind="stable")[order]] = np.arange(len(paths))
    n_val, n_test = (int(round(fractions[s] * len(paths))) for s in ("val", "test"))
    split = np.where(ranked < n_test, "test", np.where(ranked < n_test + n_val, "val", "train"))
    return pd.Series(split, index=paths.index)


def index_source(
    root: Path | None,
    labels: UparLabels,
    params: dict[str, Any],
    prefix: str,
    image_check: str,
    max_pixels: int,
    retrieval_pair: RetrievalPair = NO_PAIR,
) -> dict[str, pd.DataFrame]:
    """A ``upar_peta`` source, checked: the images UPAR's ``labels`` name under ``prefix`` (each must be
    ``images/NNNNN.png``), split by :func:`index_labelled` into ``train``, ``val`` and ``attributes`` (its test
    split); every manifest is empty where the root is absent."""
    rows = labels.under(prefix)
    check_names(rows["path"], labels.files)
    index = index_labelled(root, rows, params, image_check, max_pixels, retrieval_pair, prefix)
    index = index.astype(dict.fromkeys(labels.names, "uint8"))
    manifests = {
        name: index[index["split"] == split].drop(columns="split").reset_index(drop=True)
        for name, split in SOURCE_SPLITS.items()
    }
    if root is not None:
        logger.info("PETA %s: %s", root, {name: len(frame) for name, frame in manifests.items()})
    return manifests


def index_labelled(
    root: Path | None,
    labels: pd.DataFrame,
    params: dict[str, Any],
    image_check: str,
    max_pixels: int,
    retrieval_pair: RetrievalPair = NO_PAIR,
    prefix: str = "",
) -> pd.DataFrame:
    """The UPAR-labelled PETA images (``path``, ``split``, the attributes), split by the UPAR pickle's partition
    where ``labels`` carry one (images outside it are left out, one warning), else by :func:`split_of` with the
    ``params``' ``val_fraction``, ``test_fraction`` and ``split_seed``, and then every image of the gallery of
    ``retrieval_pair`` (UPAR task 2; named ``prefix`` + path) in test, never trained on; empty where the PETA root
    is absent (the source sets that train on PETA then refuse to start)."""
    if root is None:
        if len(labels):
            logger.info("%d UPAR PETA rows not used: the PETA root (globals raw.peta) is absent", len(labels))
        return labels.iloc[:0]
    if (labels["split"] != "").any():
        warn_ignored(labels.loc[labels["split"] == "", "path"], pd.Series([]), "UPAR PETA", "the chosen partition")
        labels = labels[labels["split"] != ""].reset_index(drop=True)
    else:
        fractions = {split: float(params[f"{split}_fraction"]) for split in ("val", "test")}
        labels = labels.assign(split=split_of(labels["path"], fractions, int(params["split_seed"])))
        labels = _retrieval_gallery_to_test(labels, retrieval_pair.images, prefix)
    paths = [root / path for path in labels["path"]]
    require_labelled_files(paths)
    check_images(paths, image_check, max_pixels, kind="PNG")
    return labels


def _retrieval_gallery_to_test(labels: pd.DataFrame, gallery: pd.Series, prefix: str) -> pd.DataFrame:
    """``labels`` with the images of a retrieval pair's ``gallery`` (UPAR's names: ``prefix`` + path) moved to
    test, counted in one log line."""
    named = (upar.folder(prefix) + labels["path"]).isin(set(gallery)) & (labels["split"] != "test")
    if named.any():
        logger.info(
            "%d PETA images of the UPAR retrieval gallery moved to peta_test (%d from train, %d from val)",
            int(named.sum()), int((named & (labels["split"] == "train")).sum()),
            int((named & (labels["split"] == "val")).sum()),
        )  # fmt: skip
    return labels.assign(split=labels["split"].where(~named, "test"))
