"""Nodes of the ``ingestion`` pipeline.

Every check runs before the manifests are written (by ``write_manifests``, or with the image caches by
``model_input``), so they are written only when all raw inputs are valid.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pandas as pd

from knowledge_assembly.config import ConfigError, closest
from knowledge_assembly.formats import camera, market1501, pa100k, peta, upar, upar_pickle, upar_retrieval
from knowledge_assembly.formats.errors import RawDataError, summarise
from knowledge_assembly.formats.images import check_images
from knowledge_assembly.formats.paths import require_regular_files
from knowledge_assembly.sources import template_sources
from knowledge_assembly.tasks import TASKS
from knowledge_assembly.tasks.attributes import MISSING

logger = logging.getLogger(__name__)

MANIFEST_NAMES = ("reid_train", "reid_query", "reid_gallery", "par_train", "par_val", "par_test")
PETA_MANIFESTS = tuple(f"peta_{split}" for split in peta.SPLITS)  # empty where PETA is not there
MANIFESTS = (*MANIFEST_NAMES, "reid_attributes", *PETA_MANIFESTS, "retrieval_gallery", "par_attributes")  # written
# the attribute splits a UPAR retrieval gallery may draw on (evaluation predicts them), with their UPAR prefix
RETRIEVAL_SPLITS = {
    "par_test": "pa100k_prefix",
    "reid_attributes": "market1501_prefix",
    "peta_test": "peta_prefix",
    "par_val": "pa100k_prefix",
    "peta_val": "peta_prefix",
}


def index_market1501(root: Path, params: dict[str, Any], image_check: str, max_pixels: int) -> pd.DataFrame:
    """Parse the three Market-1501 folders (``split`` column) and check their images."""
    cameras = int(params["cameras"])
    index = pd.concat(
        [market1501.index_split(root, split, cameras).assign(split=split) for split in market1501.SPLIT_FOLDERS],
        ignore_index=True,
    )
    check_images([root / path for path in index["path"]], image_check, max_pixels)
    return index


def index_pa100k(root: Path, params: dict[str, Any], image_check: str, max_pixels: int) -> pd.DataFrame:
    """List PA-100K's split images from ``annotation.mat``; check they exist and decode."""
    annotation = pa100k.read_annotation(root / params["annotation_file"])
    image_dir = params["image_dir"].strip("/")
    directory = root / image_dir
    if not directory.is_dir():
        raise RawDataError(directory, "PA-100K image folder is missing")
    present = {entry.name for entry in os.scandir(directory)}
    rows = [(f"{image_dir}/{name}", name, split) for split in pa100k.SPLITS for name in annotation.names[split]]
    index = pd.DataFrame(rows, columns=["path", "image", "split"])
    missing = [name for name in index["image"] if name not in present and not (directory / name).is_file()]
    if missing:
        raise RawDataError(
            directory / missing[0],
            f"listed in {params['annotation_file']} but missing ({len(missing)} missing: {summarise(missing)})",
        )
    require_regular_files([root / path for path in index["path"]])
    check_images([root / path for path in index["path"]], image_check, max_pixels)
    return index


UPAR_PREFIXES = ("pa100k_prefix", "market1501_prefix", "peta_prefix")  # UPAR's folder of each dataset's images


def read_upar_labels(
    root: Path, params: dict[str, Any]
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, list[str], pd.DataFrame]:
    """UPAR labels of PA-100K images (keyed by path relative to the PA-100K root), of Market-1501 images (relative
    to the Market-1501 root; for evaluation only) and of PETA images (relative to the PETA root), from the release
    ``params['release']`` names: ``challenge2027`` (the CSVs of ``csv_files``) or ``wacv2023`` (``pickle_file``,
    whose partition ``partition`` gives a ``split`` column: it splits PETA); then the attribute names and every row
    (``image`` as UPAR names it, ``split``, the attributes, ``source``: its file) for the ``upar_release`` sources,
    each under its own ``<source>_prefix``."""
    names, labels = _read_release(root, params)
    prefixes = [value.rstrip("/") + "/" for key, value in params.items() if key.endswith("_prefix")]
    unused = labels.loc[~labels["image"].str.startswith(tuple(prefixes)), "image"]
    if len(unused):
        folders = unused.str.split("/").str[0].value_counts().sort_index()
        counted = ", ".join(f"{folder}/ {count}" for folder, count in folders.items())
        logger.warning(
            "%d UPAR rows are under none of %s and are not used (%s): %s",
            len(unused), ", ".join(prefixes), counted, summarise(unused.tolist(), 3),
        )  # fmt: skip
    pa100k_labels, market_labels, peta_labels = (_under(labels, params[key]) for key in UPAR_PREFIXES)
    peta.check_names(peta_labels["path"], ", ".join(label_files(params)))
    return pa100k_labels.drop(columns="split"), market_labels.drop(columns="split"), peta_labels, names, labels


RELEASES = ("challenge2027", "wacv2023")


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


def read_retrieval_pair(root: Path, params: dict[str, Any]) -> upar_retrieval.RetrievalPair:
    """The UPAR task-2 files named by ``params['retrieval']`` (gt, queries, ids; relative to the UPAR root), checked;
    :data:`~upar_retrieval.NO_PAIR` where none are named (retrieval is then built from the PA-100K test labels)."""
    files = params.get("retrieval") or {}
    if not any(files.values()):
        return upar_retrieval.NO_PAIR
    unnamed = [f"ingestion.upar.retrieval.{key}" for key in ("gt", "queries", "ids") if not files.get(key)]
    if unnamed:
        raise ConfigError(f"{', '.join(unnamed)}: name it too (UPAR retrieval reads gt, queries and ids together)")
    return upar_retrieval.read_pair(*(root / files[key] for key in ("gt", "queries", "ids")))


def retrieval_gallery(
    pair: upar_retrieval.RetrievalPair, evaluated: dict[str, pd.DataFrame], params: dict[str, Any]
) -> pd.DataFrame:
    """The gallery of a UPAR retrieval pair among the evaluated attribute splits: one row per image (``split``,
    ``row`` in that manifest, ``query`` row it matches or -1, and that query's attribute vector); images of the pair
    in no evaluated split are left out (one warning). Empty without a pair."""
    columns = ["split", "row", "query"]
    if not len(pair.images):
        return pd.DataFrame(
            {"split": pd.Series([], dtype=str), **{c: pd.Series([], dtype="int64") for c in columns[1:]}}
        )
    query_of = dict(zip(pair.images, pair.query_of))
    parts = []
    for split, prefix_key in RETRIEVAL_SPLITS.items():
        names = params[prefix_key].rstrip("/") + "/" + evaluated[split]["path"]
        found = names.isin(query_of).to_numpy()
        parts.append(pd.DataFrame({"split": split, "row": found.nonzero()[0], "query": names[found].map(query_of)}))
    gallery = pd.concat(parts, ignore_index=True).astype({"row": "int64", "query": "int64"})
    files = params["retrieval"]
    if gallery.empty:
        raise RawDataError(files["gt"], f"none of its images is in an evaluated split ({', '.join(RETRIEVAL_SPLITS)})")
    if len(gallery) < len(pair.images):
        logger.warning(
            "%s: %d of its %d images are in no evaluated split (%s) and are left out of attribute retrieval",
            files["gt"], len(pair.images) - len(gallery), len(pair.images), ", ".join(RETRIEVAL_SPLITS),
        )  # fmt: skip
    vectors = pair.vectors[gallery["query"].clip(lower=0)] * (gallery["query"].to_numpy() >= 0)[:, None]
    return pd.concat([gallery[columns], pd.DataFrame(vectors, columns=pair.names)], axis=1)


def _under(labels: pd.DataFrame, prefix: str) -> pd.DataFrame:
    """Rows whose image lies under ``prefix``, with ``path`` relative to it."""
    prefix = prefix.rstrip("/") + "/"
    rows = labels[labels["image"].str.startswith(prefix)]
    return (
        rows.assign(path=rows["image"].str.slice(len(prefix))).drop(columns=["image", "source"]).reset_index(drop=True)
    )


def index_peta(
    root: Path | None, labels: pd.DataFrame, params: dict[str, Any], image_check: str, max_pixels: int
) -> pd.DataFrame:
    """The UPAR-labelled PETA images (``path``, ``split``, the attributes), split by the UPAR pickle's partition
    where ``labels`` carry one (images outside it are left out, one warning), else by :func:`peta.split_of`; empty
    where the PETA root is absent (the source sets that train on PETA then refuse to start)."""
    if root is None:
        if len(labels):
            logger.info("%d UPAR PETA rows not used: the PETA root (globals raw.peta) is absent", len(labels))
        return labels.iloc[:0]
    if (labels["split"] != "").any():
        _warn_ignored(labels.loc[labels["split"] == "", "path"], pd.Series([]), "UPAR PETA", "the chosen partition")
        labels = labels[labels["split"] != ""].reset_index(drop=True)
    else:
        fractions = {split: float(params[f"{split}_fraction"]) for split in ("val", "test")}
        labels = labels.assign(split=peta.split_of(labels["path"], fractions, int(params["split_seed"])))
    paths = [root / path for path in labels["path"]]
    _require_labelled_files(paths)
    check_images(paths, image_check, max_pixels, kind="PNG")
    return labels


def assemble_manifests(
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
    _warn_ignored(par_labels["path"], pa100k_index["path"], "UPAR PA-100K", "annotation.mat's splits")
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
    reid_attributes = reid_domain_labels(market_index, market_labels, attribute_names)
    peta_index = peta_index.astype({name: "uint8" for name in attribute_names})
    petas = [peta_index[peta_index["split"] == s].drop(columns="split").reset_index(drop=True) for s in peta.SPLITS]
    logger.info(
        "Manifests: %s; UPAR-labelled Market-1501 images (evaluation only): %d; PETA: %s",
        sizes, len(reid_attributes), dict(zip(PETA_MANIFESTS, map(len, petas))),
    )  # fmt: skip
    written = dict(zip((*MANIFEST_NAMES, "reid_attributes", *PETA_MANIFESTS), (*manifests, reid_attributes, *petas)))
    evaluated = {split: written[split] for split in RETRIEVAL_SPLITS}
    gallery = retrieval_gallery(retrieval_pair, evaluated, params)
    return dict(zip(MANIFESTS, (*manifests, reid_attributes, *petas, gallery, list(attribute_names)), strict=True))


UNLABELLED_CHOICES = ("leave_out", "train")  # ingestion.upar.unlabelled: what becomes of PA-100K images it lacks


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


def reid_domain_labels(
    market_index: pd.DataFrame,
    market_labels: pd.DataFrame,
    attribute_names: list[str],
    labels_of: str = "UPAR Market-1501",
    where: str = "the Market-1501 folders",
) -> pd.DataFrame:
    """The attribute labels (UPAR's, or a camera source's ``attributes.csv``: ``labels_of``) of the reID images that
    are in the reID manifests (``split``: train/query/gallery; rows naming other images: one warning)."""
    images = market1501.drop_junk(market_index)[["path", "pid", "camid", "split"]]
    labelled = images.merge(market_labels, on="path", how="inner")
    _warn_ignored(market_labels["path"], labelled["path"], labels_of, where)
    return labelled.astype({name: "uint8" for name in attribute_names}).reset_index(drop=True)


UPAR_SOURCE_SPLITS = {"train": "train", "attributes": "test"}  # a upar_release source's manifests: partition split


def index_upar_source(
    root: Path | None,
    labels: pd.DataFrame,
    attribute_names: list[str],
    upar_params: dict[str, Any],
    prefix: str,
    image_check: str,
    max_pixels: int,
) -> dict[str, pd.DataFrame]:
    """A ``upar_release`` source: the images under its root that the UPAR release labels under ``prefix``, by the
    partition's split: ``train`` (training) and ``attributes`` (its test split, evaluated in its domain); its val
    images are not used. Every manifest is empty where the root is absent, or (one warning) where the release
    labels none of its images; a release that labels them without a split, or a split left empty, is an error."""
    empty = pd.DataFrame(columns=["path", *attribute_names]).astype({name: "uint8" for name in attribute_names})
    rows = _under(labels, prefix)
    files = ", ".join(label_files(upar_params))
    if root is None or not len(rows):
        if root is not None:
            logger.warning("%s: no row under %s labels an image of %s; its manifests are empty", files, prefix, root)
        elif len(rows):
            logger.info("%d UPAR rows under %s not used: their root is absent", len(rows), prefix)
        return {name: empty for name in UPAR_SOURCE_SPLITS}
    if (rows["split"] == "").all():
        raise RawDataError(
            files, f"labels {len(rows)} images under {prefix} but gives them no split; the original release's "
            "partition does (ingestion.upar.release=wacv2023)",
        )  # fmt: skip
    _warn_ignored(rows.loc[rows["split"] == "", "path"], pd.Series([]), f"UPAR {prefix}", "the chosen partition")
    manifests = {}
    for name, split in UPAR_SOURCE_SPLITS.items():
        part = rows[rows["split"] == split]
        if not len(part):
            raise RawDataError(
                files, f"partition {upar_params['partition']} gives no image under {prefix} a {split} split"
            )
        manifests[name] = part[["path", *attribute_names]].astype({n: "uint8" for n in attribute_names})
    paths = [root / path for frame in manifests.values() for path in frame["path"]]
    _require_labelled_files(paths)
    _check_by_suffix(paths, image_check, max_pixels)
    logger.info(
        "UPAR source %s: train %d, test %d (its %d val images are not used)",
        root, len(manifests["train"]), len(manifests["attributes"]), int((rows["split"] == "val").sum()),
    )  # fmt: skip
    return {name: frame.reset_index(drop=True) for name, frame in manifests.items()}


def _require_labelled_files(paths: list[Path]) -> None:
    """Every image a UPAR release labels must be a regular file under its root; the first missing one is named."""
    missing = [str(path) for path in paths if not path.is_file()]
    if missing:
        raise RawDataError(missing[0], f"labelled in UPAR but missing ({len(missing)} missing: {summarise(missing)})")
    require_regular_files(paths)


def _check_by_suffix(paths: list[Path], image_check: str, max_pixels: int) -> None:
    """:func:`check_images` on the JPEG and the PNG files of ``paths``."""
    for kind, suffixes in (("JPEG", (".jpg", ".jpeg")), ("PNG", (".png",))):
        check_images([path for path in paths if path.suffix.lower() in suffixes], image_check, max_pixels, kind=kind)


CAMERA_MANIFESTS = ("train", "query", "gallery", "attributes")  # what a camera_folders source's ingestion writes


def index_camera_source(
    root: Path | None, attribute_names: list[str], params: dict[str, Any], image_check: str, max_pixels: int
) -> dict[str, pd.DataFrame]:
    """A ``camera_folders`` source (:mod:`~knowledge_assembly.formats.camera`), checked: its unlabelled training
    crops, held-out query and gallery, and the held-out images' attributes (evaluation only; their header must be
    the attribute task's, UPAR's). Every manifest is empty where the root is absent."""
    if root is None:
        columns = {"train": ["path"], "query": market1501.COLUMNS, "gallery": market1501.COLUMNS}
        columns["attributes"] = ["path", "pid", "camid", "split", *attribute_names]
        return {name: pd.DataFrame(columns=columns[name]) for name in CAMERA_MANIFESTS}
    manifests = {"train": camera.index_training_images(root), **camera.index_evaluation_images(root, params["cameras"])}
    _check_by_suffix([root / path for frame in manifests.values() for path in frame["path"]], image_check, max_pixels)
    file = root / camera.ATTRIBUTES_FILE
    _, labels = upar.read_csv(file)  # its header must be UPAR's 40 attributes, the attribute task's
    held = pd.concat([manifests[split].assign(split=split) for split in camera.EVALUATION_SPLITS], ignore_index=True)
    attributes = reid_domain_labels(
        held, labels.rename(columns={"image": "path"}), attribute_names, str(file), "query/ and bounding_box_test/"
    )
    manifests["attributes"] = attributes[["path", "pid", "camid", "split", *attribute_names]]
    logger.info("Camera source %s: %s", root, {name: len(frame) for name, frame in manifests.items()})
    return manifests


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


def _warn_ignored(labelled: pd.Series, kept: pd.Series, labels_of: str, where: str) -> None:
    """One warning naming the first few rows of ``labels_of`` (``UPAR PA-100K`` ...) whose image is not among
    ``kept``."""
    outside = sorted(set(labelled) - set(kept))
    if outside:
        logger.warning(
            "%d %s rows name images outside %s; ignored: %s", len(outside), labels_of, where, summarise(outside, 3)
        )


def camera_tables(
    sources: dict[str, Any] | None, camera_sources: dict[str, Any]
) -> dict[str, tuple[Any, pd.DataFrame]]:
    """Every template source's (``camera_folders``, ``upar_release``) checked manifests under their catalog names
    (``sources.<name>``), each with the source's raw root: ``camera_sources`` holds ``<source>_raw`` and
    ``<source>_checked`` (split -> manifest)."""
    return {
        name: (camera_sources[f"{source}_raw"], camera_sources[f"{source}_checked"][split])
        for source, names in template_sources(sources or {}).items()
        for split, name in names.items()
    }


def write_manifests(
    checked_manifests: dict[str, Any], sources: dict[str, Any] | None = None, **camera_sources: Any
) -> dict[str, Any]:
    """The checked manifests, unchanged, and every camera source's (:func:`camera_tables`), for the catalog to
    write (ingestion without image caches)."""
    cameras = camera_tables(sources, camera_sources)
    return {**checked_manifests, **{name: manifest for name, (_, manifest) in cameras.items()}}
