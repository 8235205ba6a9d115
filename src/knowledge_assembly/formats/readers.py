"""Which readers turn the raw releases into checked manifests, and what each reads: the registry the ``ingestion``
pipeline is built from. Plain data: nothing here knows about Kedro.

An input is a raw root (``<dataset>_raw``), a setting under ``ingestion`` (``setting:<key>``, nested keys with
dots), the image checks (:data:`CHECKS`: two inputs, the check mode and the largest image in pixels) or an earlier
reader's output. A template format is read once per source of that format, in the source's namespace: ``raw`` is
that source's root and ``{source}`` in a setting its name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import camera, manifests, market1501, pa100k, peta, reid_folders, upar_labels, upar_retrieval

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


ATTRIBUTE_NAMES = "upar_attribute_names"  # the attribute task's label space, as the UPAR release names it
READERS = (
    Reader("index_market1501", market1501.index_folders, ("market1501_raw", "setting:market1501.cameras", CHECKS),
           "market1501_index"),
    Reader("index_pa100k", pa100k.index_images,
           ("pa100k_raw", "setting:pa100k.annotation_file", "setting:pa100k.image_dir", CHECKS), "pa100k_index"),
    Reader("read_upar_labels", upar_labels.read_labels, ("upar_raw", "setting:upar"),
           ("upar_pa100k_labels", "upar_market1501_labels", "upar_peta_labels", ATTRIBUTE_NAMES, "upar_labels")),
    Reader("read_retrieval_pair", upar_retrieval.read_configured_pair, ("upar_raw", "setting:upar"),
           "upar_retrieval_pair"),
    Reader("index_peta", peta.index_labelled, ("peta_raw", "upar_peta_labels", "setting:peta", CHECKS,
                                               "upar_retrieval_pair", "setting:upar.peta_prefix"), "peta_index"),
    Reader("assemble_manifests", manifests.assemble,
           ("market1501_index", "pa100k_index", "upar_pa100k_labels", "upar_market1501_labels", "peta_index",
            ATTRIBUTE_NAMES, "setting:upar", "upar_retrieval_pair"), "checked_manifests"),
)  # fmt: skip
CHECKED = "checked_manifests"  # what the readers give: every manifest of manifests.MANIFESTS

# one reader per source of a template format; its output: the source's manifests (split -> manifest)
TEMPLATE_READERS = {
    "camera_folders": Reader("index", camera.index_source, ("raw", ATTRIBUTE_NAMES, "setting:{source}", CHECKS),
                             "checked"),
    "upar_release": Reader("index", upar_labels.index_release_source,
                           ("raw", "upar_labels", ATTRIBUTE_NAMES, "setting:upar", "setting:upar.{source}_prefix",
                            CHECKS), "checked"),
    "reid_folders": Reader("index", reid_folders.index_source, ("raw", "setting:{source}", CHECKS), "checked"),
}  # fmt: skip
TEMPLATE_MANIFESTS = {  # what each gives
    "camera_folders": camera.MANIFESTS,
    "upar_release": tuple(upar_labels.SOURCE_SPLITS),
    "reid_folders": reid_folders.MANIFESTS,
}
FORMATS = ("market1501", "pa100k", "upar_peta", *TEMPLATE_READERS)  # every raw layout a source may name
