"""UPAR attribute-based person retrieval files (the 2027 challenge's task 2, ``task2/<split>/``): ``gt.csv`` (the
gallery: images and their attributes, as task 1's), ``queries.csv`` (``# <attributes>`` header as gt.csv's without
``image``; one 0/1 row per query: each distinct attribute vector of the gallery) and ``ids.csv`` (no header;
``image,query_row``: the zero-based row of queries.csv whose vector the image carries, i.e. the query it is a true
match of). Every problem is one :class:`RawDataError` line naming the file and its line."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..config import ConfigError
from . import upar
from .errors import RawDataError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetrievalPair:
    """Query vectors (Q, A) uint8 over ``names``, and each gallery image (UPAR name, gt.csv's order) with the query
    row it matches (-1: listed in gt.csv but in no ids.csv row)."""

    names: list[str]
    vectors: np.ndarray
    images: pd.Series
    query_of: np.ndarray


NO_PAIR = RetrievalPair([], np.zeros((0, 0), dtype=np.uint8), pd.Series([], dtype=str), np.zeros(0, dtype=np.int64))


def read_pair(gt: Path, queries: Path, ids: Path) -> RetrievalPair:
    """The checked task-2 files of one split."""
    names, gallery = upar.read_csv(gt)
    vectors = read_queries(queries, names, gt)
    rows = read_ids(ids, len(vectors), set(gallery["image"]), gt)
    query_of = gallery["image"].map(rows).fillna(-1).astype(np.int64).to_numpy()
    return RetrievalPair(names, vectors, gallery["image"], query_of)


def read_queries(path: Path, names: list[str], gt: Path) -> np.ndarray:
    """queries.csv's vectors; its header must name ``names`` (gt.csv's attributes) in the same order."""
    lines = _lines(path)
    if not lines or not lines[0].startswith("#"):
        raise RawDataError(path, "first line must be a '# <attributes>' header (gt.csv's, without image)")
    header = [name.strip() for name in lines[0].lstrip("#").split(",")]
    if header != names:
        raise RawDataError(path, f"header differs from {gt.name}'s: {_difference(header, names)}")
    vectors = np.zeros((len(lines) - 1, len(names)), dtype=np.uint8)
    for number, line in enumerate(lines[1:], start=2):
        values = line.split(",")
        if len(values) != len(names) or any(value not in ("0", "1") for value in values):
            raise RawDataError(path, f"line {number}: expected {len(names)} values of 0 or 1, got {line[:60]!r}")
        vectors[number - 2] = np.array(values, dtype=np.uint8)
    if not len(vectors):
        raise RawDataError(path, "holds no query")
    return vectors


def read_ids(path: Path, queries: int, gallery: set[str], gt: Path) -> dict[str, int]:
    """ids.csv as image -> query row; each row must name an image of gt.csv (once) and an existing query row."""
    rows: dict[str, int] = {}
    for number, line in enumerate(_lines(path), start=1):
        image, _, row = line.rpartition(",")
        if not image or not row.strip().isdigit():
            raise RawDataError(path, f"line {number}: expected 'image,query_row', got {line[:80]!r}")
        if int(row) >= queries:
            raise RawDataError(path, f"line {number}: query row {int(row)} does not exist (queries.csv has {queries})")
        if image not in gallery:
            raise RawDataError(path, f"line {number}: image {image} is not in {gt.name}")
        if image in rows:
            raise RawDataError(path, f"line {number}: image {image} is listed twice")
        rows[image] = int(row)
    if not rows:
        raise RawDataError(path, "names no image")
    return rows


def _lines(path: Path) -> list[str]:
    """The file's non-blank lines (CRLF or LF)."""
    text = upar.read_text(path, "UPAR retrieval file")
    return [line.rstrip("\r") for line in text.split("\n") if line.strip()]


def _difference(header: list[str], names: list[str]) -> str:
    missing = [name for name in names if name not in header]
    extra = [name for name in header if name not in names]
    if missing or extra:
        return "; ".join(([f"lacks {missing[:3]}"] if missing else []) + ([f"adds {extra[:3]}"] if extra else []))
    first = next(i for i, (a, b) in enumerate(zip(header, names)) if a != b)
    return f"column {first + 1} is {header[first]!r}, gt.csv has {names[first]!r} (same names, another order)"


def to_files(labels: pd.DataFrame, names: list[str]) -> tuple[bytes, bytes, bytes]:
    """gt.csv, queries.csv and ids.csv bytes (CRLF) for a labelled gallery (``image`` + ``names``): each distinct
    attribute vector one query, in order of first appearance."""
    vectors = labels[names].to_numpy(dtype=np.uint8)
    unique, first, inverse = np.unique(vectors, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first)
    row_of = np.empty(len(order), dtype=np.int64)
    row_of[order] = np.arange(len(order))
    queries = ["# " + ",".join(names), *(",".join(map(str, vector)) for vector in unique[order])]
    ids = [f"{image},{row_of[query]}" for image, query in zip(labels["image"], inverse.reshape(-1))]
    return upar.to_csv_bytes(labels, names), upar.crlf_bytes(queries), upar.crlf_bytes(ids)


# the attribute splits a UPAR retrieval gallery may draw on (evaluation predicts them), with their UPAR prefix
GALLERY_SPLITS = {
    "par_test": "pa100k_prefix",
    "reid_attributes": "market1501_prefix",
    "peta_test": "peta_prefix",
    "par_val": "pa100k_prefix",
    "peta_val": "peta_prefix",
}


def read_configured_pair(root: Path, params: dict[str, Any]) -> RetrievalPair:
    """The task-2 files named by ``params['retrieval']`` (gt, queries, ids; relative to the UPAR root), checked;
    :data:`NO_PAIR` where none are named (retrieval is then built from the PA-100K test labels)."""
    files = params.get("retrieval") or {}
    if not any(files.values()):
        return NO_PAIR
    unnamed = [f"ingestion.upar.retrieval.{key}" for key in ("gt", "queries", "ids") if not files.get(key)]
    if unnamed:
        raise ConfigError(f"{', '.join(unnamed)}: name it too (UPAR retrieval reads gt, queries and ids together)")
    return read_pair(*(root / files[key] for key in ("gt", "queries", "ids")))


def gallery_of(pair: RetrievalPair, evaluated: dict[str, pd.DataFrame], params: dict[str, Any]) -> pd.DataFrame:
    """The gallery of a retrieval pair among the evaluated attribute splits (:data:`GALLERY_SPLITS`): one row per
    image (``split``, ``row`` in that manifest, ``query`` row it matches or -1, and that query's attribute vector);
    images of the pair in no evaluated split are left out (one warning). Empty without a pair."""
    columns = ["split", "row", "query"]
    if not len(pair.images):
        return pd.DataFrame(
            {"split": pd.Series([], dtype=str), **{c: pd.Series([], dtype="int64") for c in columns[1:]}}
        )
    query_of = dict(zip(pair.images, pair.query_of))
    parts = []
    for split, prefix_key in GALLERY_SPLITS.items():
        names = upar.folder(params[prefix_key]) + evaluated[split]["path"]
        found = names.isin(query_of).to_numpy()
        parts.append(pd.DataFrame({"split": split, "row": found.nonzero()[0], "query": names[found].map(query_of)}))
    gallery = pd.concat(parts, ignore_index=True).astype({"row": "int64", "query": "int64"})
    files = params["retrieval"]
    if gallery.empty:
        raise RawDataError(files["gt"], f"none of its images is in an evaluated split ({', '.join(GALLERY_SPLITS)})")
    if len(gallery) < len(pair.images):
        logger.warning(
            "%s: %d of its %d images are in no evaluated split (%s) and are left out of attribute retrieval",
            files["gt"], len(pair.images) - len(gallery), len(pair.images), ", ".join(GALLERY_SPLITS),
        )  # fmt: skip
    vectors = pair.vectors[gallery["query"].clip(lower=0)] * (gallery["query"].to_numpy() >= 0)[:, None]
    return pd.concat([gallery[columns], pd.DataFrame(vectors, columns=pair.names)], axis=1)
