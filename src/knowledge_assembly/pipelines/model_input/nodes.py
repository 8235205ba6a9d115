"""Nodes of the ``model_input`` pipeline."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from knowledge_assembly.formats.images import decode_to_file

logger = logging.getLogger(__name__)

STAGING_PREFIX = ".staging-"
CACHED = (
    "reid_train",
    "reid_query",
    "reid_gallery",
    "par_train",
    "par_val",
    "par_test",
    "reid_attributes",
    "peta_train",
    "peta_val",
    "peta_test",
)  # what training (with its validation) and evaluation read


def cache_images(
    folder: Path,
    size: list[int],
    max_pixels: int,
    market1501_raw: Path,
    pa100k_raw: Path,
    peta_raw: Path | None,
    checked_manifests: dict[str, Any],
) -> dict[str, Any]:
    """Decode every image of the :data:`CACHED` manifests once, resized to ``size`` = [width, height], into
    memory-mapped files staged in ``folder``; return every checked manifest and every cache (``<name>_images``)
    for the catalog to write (the caches are renamed into place).

    All or nothing: any image that fails to decode raises (naming it) before a single manifest or cache is
    replaced, and the staged files are removed. Manifests named ``par_*`` list PA-100K images, ``peta_*`` PETA's
    (empty where there is no PETA root), the others Market-1501's.
    """
    manifests = checked_manifests
    roots = {"par": pa100k_raw, "peta": peta_raw, "reid": market1501_raw}
    for leftover in folder.glob(f"{STAGING_PREFIX}*"):  # from a run that was killed
        leftover.unlink()
    staged: dict[str, np.memmap] = {}
    try:
        for name in CACHED:
            root = roots[name.partition("_")[0]]
            file = folder / f"{STAGING_PREFIX}{name}.npy"
            paths = [Path(root) / path for path in manifests[name]["path"]]
            staged[f"{name}_images"] = decode_to_file(paths, (int(size[0]), int(size[1])), file, max_pixels)
            logger.info("Decoded %d images of %s", len(paths), name)
    except BaseException:
        for cache in staged.values():
            Path(cache.filename).unlink(missing_ok=True)
        raise
    return {**manifests, **staged}
