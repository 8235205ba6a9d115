"""The manifests of the UPAR-labelled datasets, assembled from their indexes: Market-1501's reID splits, PA-100K's
attribute splits with UPAR's labels, the UPAR-labelled Market-1501 images (evaluation only), PETA's splits and the
gallery of a UPAR retrieval pair; and which raw root each cached manifest's images lie under."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from ..config import ConfigError, closest
from ..tasks import TASKS
from ..tasks.attributes import MISSING
from . import market1501, pa100k, peta, upar_retrieval
from .checks import warn_ignored
from .errors import RawDataError, summarise
from .upar_labels import label_files

logger = logging.getLogger(__name__)

MANIFEST_NAMES = ("reid_train", "reid_query", "reid_gallery", "par_train", "par_val", "par_test")
PETA_MANIFESTS = tuple(f"peta_{split}" for split in peta.SPLITS)  # empty where PETA is not there
MANIFESTS = (*MANIFEST_NAMES, "reid_attributes", *PETA_MANIFESTS, "retrieval_gallery", "par_attributes")  # written
CACHED = (*MANIFEST_NAMES, "reid_attributes", *PETA_MANIFESTS)  # what training (with validation) and evaluation read
RAW_ROOTS = {"reid": "market1501", "par": "pa100k", "peta": "peta"}  # manifest name's first word: its images' dataset
UNLABELLED_CHOICES = ("leave_out", "train")  # ingestion.upar.unlabelled: what becomes of PA-100K images it lacks


def raw_root_of(manifest: str) -> str:
    """The dataset whose raw root holds the images of ``manifest`` (one of :data:`CACHED`)."""
    return RAW_ROOTS[manifest.partition("_")[0]]


def assemble(
    market_index: pd.DataFrame,
    pa100k_index: pd.DataFrame,
    par_labels: pd.DataFrame,
    market_labels: pd.DataFrame,
    peta_index: pd.DataFrame,
    attribute_names: list[str],
    params: dict[str, Any],
    retrieval_pair: upar_retrieval.RetrievalPair = upar_retrieval.NO_PAIR,
) -> dict[str, Any]:
    """Every manifest of :data:`MANIFESTS`, checked, in memory until written: reID train/query/gallery and PAR
    train/val/test, the UPAR-labelled Market-1501 images (``reid_attributes``: evaluation only, never a training
    input), PETA train/val/test (empty without PETA), the gallery of a UPAR retrieval pair among the evaluated
    splits (``retrieval_gallery``; empty without one), plus the attribute names (``par_attributes``)."""
    reid = {split: market1501.drop_junk(frame.drop(columns="split")) for split, frame in market_index.groupby("split")}
    reid["train"] = market1501.relabel(reid["train"])
    files, join = label_files(params), joins_training(params)
    par = (
        join_unlabelled(pa100k_index, par_labels, attribute_names)
        if join
        else pa100k_index.merge(par_labels, on="path")
    )
    left_out = _warn_unlabelled(pa100k_index, par_labels, files, join)
    warn_ignored(par_labels["path"], pa100k_index["path"], "UPAR PA-100K", "annotation.mat's splits")
    par = par.astype({name: "uint8" for name in attribute_names})
    manifests = [reid.get(split, pd.DataFrame(columns=market1501.COLUMNS)) for split in ("train", "query", "gallery")]
    manifests += [par[par["split"] == s].drop(columns="split").reset_index(drop=True) for s in pa100k.SPLITS]
    sizes = dict(zip(MANIFEST_NAMES, map(len, manifests)))
    par_train = manifests[MANIFEST_NAMES.index("par_train")][attribute_names].to_numpy()
    labelled = {**sizes, "par_train": int(TASKS["par"].labelled_rows(par_train).sum())}  # unlabelled rows: no size
    for name, size in labelled.items():
        split = name.removeprefix("par_")
        if not size and left_out.get(split):
            raise RawDataError(
                name,
                f"manifest would be empty: none of PA-100K's {left_out[split]} {split} images has a UPAR label in "
                f"{', '.join(files)} (the UPAR 2027 challenge files label PA-100K's train and val splits only; the "
                "original release labels all: docs/data.md#upar-releases)",
            )
        if not size:
            raise RawDataError(name, "manifest would be empty; check the raw data folders")
    reid_attributes = market1501.attribute_labels(
        market_index, market_labels, attribute_names, "UPAR Market-1501", "the Market-1501 folders"
    )
    peta_index = peta_index.astype({name: "uint8" for name in attribute_names})
    petas = [peta_index[peta_index["split"] == s].drop(columns="split").reset_index(drop=True) for s in peta.SPLITS]
    logger.info(
        "Manifests: %s; UPAR-labelled Market-1501 images (evaluation only): %d; PETA: %s",
        sizes, len(reid_attributes), dict(zip(PETA_MANIFESTS, map(len, petas))),
    )  # fmt: skip
    written = dict(zip((*MANIFEST_NAMES, "reid_attributes", *PETA_MANIFESTS), (*manifests, reid_attributes, *petas)))
    evaluated = {split: written[split] for split in upar_retrieval.GALLERY_SPLITS}
    gallery = upar_retrieval.gallery_of(retrieval_pair, evaluated, params)
    return dict(zip(MANIFESTS, (*manifests, reid_attributes, *petas, gallery, list(attribute_names)), strict=True))


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
    pa100k_index: pd.DataFrame, par_labels: pd.DataFrame, files: list[str], join: bool = False
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
            ", ".join(files), len(unlabelled), len(pa100k_index), fate,
            ", ".join(f"par_{split} {count}" for split, count in counts.items()),
            summarise(unlabelled["path"].tolist(), 3),
        )  # fmt: skip
    return counts
