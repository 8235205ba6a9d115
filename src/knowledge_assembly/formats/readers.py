"""Which readers turn the raw releases into checked manifests, and what each reads: the registry the ``ingestion``
pipeline is built from. Plain data: nothing here knows about Kedro.

:data:`READERS` run once (the UPAR release); :data:`SOURCE_READERS` once per source of their format, in the source's
namespace. An input is a raw root (``<dataset>_raw``; a source reader's ``raw`` is its source's root), a setting under
``ingestion`` (``setting:<key>``, nested keys with dots; ``{source}`` in it is the source's name), the image checks
(:data:`CHECKS`: two inputs, the check mode and the largest image in pixels) or an earlier reader's output.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import camera, market1501, peta, reid_folders, upar_labels, upar_pa100k, upar_retrieval

CHECKS = "checks"
SETTING = "setting:"


@dataclass(frozen=True)
class Reader:
    """``function`` applied to ``inputs`` gives ``outputs`` (one name, or one per returned item); ``name`` names
    the step."""

    name: str
    function: Callable[..., Any]
    inputs: tuple[str, ...]
    outputs: str | tuple[str, ...]


# what the UPAR release labels (UparLabels): each UPAR-labelled source reads its rows; its attribute names are the
# attribute task's label space
RELEASE_LABELS = "upar_labels"
RETRIEVAL_PAIR = "upar_retrieval_pair"  # the UPAR retrieval pair whose gallery is found among every source's splits
ATTRIBUTES_FILE = "par_attributes"  # where the attribute names are written (par_attributes.json)
RETRIEVAL_GALLERY = "retrieval_gallery"  # the retrieval pair's gallery among every source's splits (manifest)
READERS = (
    Reader("read_upar_labels", upar_labels.read_labels, ("upar_raw", "setting:upar"), RELEASE_LABELS),
    Reader("read_retrieval_pair", upar_retrieval.read_configured_pair, ("upar_raw", "setting:upar"), RETRIEVAL_PAIR),
)  # fmt: skip

# a source's raw format -> the reader of each such source; its output: the source's manifests (split -> manifest)
SOURCE_READERS = {
    "market1501": Reader("index", market1501.index_source,
                         ("raw", RELEASE_LABELS, "setting:{source}", "setting:upar.{source}_prefix", CHECKS),
                         "checked"),
    "pa100k": Reader("index", upar_pa100k.index_source,
                     ("raw", RELEASE_LABELS, "setting:{source}", "setting:upar.{source}_prefix", CHECKS), "checked"),
    "upar_peta": Reader("index", peta.index_source,
                        ("raw", RELEASE_LABELS, "setting:{source}", "setting:upar.{source}_prefix", CHECKS,
                         RETRIEVAL_PAIR), "checked"),
    "camera_folders": Reader("index", camera.index_source, ("raw", RELEASE_LABELS, "setting:{source}", CHECKS),
                             "checked"),
    "upar_release": Reader("index", upar_labels.index_release_source,
                           ("raw", RELEASE_LABELS, "setting:upar.{source}_prefix", CHECKS), "checked"),
    "reid_folders": Reader("index", reid_folders.index_source, ("raw", "setting:{source}", CHECKS), "checked"),
}  # fmt: skip
SOURCE_MANIFESTS = {  # what each gives
    "market1501": market1501.MANIFESTS,
    "pa100k": tuple(upar_pa100k.SOURCE_SPLITS),
    "upar_peta": tuple(peta.SOURCE_SPLITS),
    "camera_folders": camera.MANIFESTS,
    "upar_release": tuple(upar_labels.SOURCE_SPLITS),
    "reid_folders": reid_folders.MANIFESTS,
}
FORMATS = tuple(SOURCE_READERS)  # every raw layout a source may name


def with_gallery_and_names(
    manifests: dict[str, Any], labels: upar_labels.UparLabels, pair: upar_retrieval.RetrievalPair
) -> dict[str, Any]:
    """Every source's ``manifests`` (by catalog name) and what ingestion writes beside them: the gallery of the UPAR
    retrieval ``pair`` among their evaluated attribute splits (:data:`~.upar_retrieval.GALLERY_SPLITS`; empty
    without a pair) and the attribute names."""
    evaluated = {split: manifests[split] for split in upar_retrieval.GALLERY_SPLITS}
    gallery = upar_retrieval.gallery_of(pair, evaluated, labels.settings)
    return manifests | {RETRIEVAL_GALLERY: gallery, ATTRIBUTES_FILE: list(labels.names)}
