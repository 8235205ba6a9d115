"""Nodes of the ``model_input`` pipeline."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from knowledge_assembly.formats.images import decode_to_file
from knowledge_assembly.sources import source_manifests

logger = logging.getLogger(__name__)

STAGING_PREFIX = ".staging-"


def cache_images(
    folder: Path,
    size: list[int],
    max_pixels: int,
    checked_manifests: dict[str, Any],
    sources: dict[str, Any],
    **roots: Any,
) -> dict[str, Any]:
    """Decode every image of every source's manifests (``sources.<name>`` names them) once, resized to ``size`` =
    [width, height], into memory-mapped files staged in ``folder``; return every checked manifest and every cache
    (``<name>_images``) for the catalog to write (the caches are renamed into place). ``roots``: each source's raw
    root ``<source>_raw`` (``None`` where absent).

    All or nothing: any image that fails to decode raises (naming it) before a single manifest or cache is
    replaced, and the staged files are removed.
    """
    jobs = {
        name: (roots[f"{source}_raw"], checked_manifests[name])
        for source, names in source_manifests(sources).items()
        for name in names.values()
    }
    return checked_manifests | decode_staged(folder, size, max_pixels, jobs)


def decode_staged(
    folder: Path, size: list[int], max_pixels: int, jobs: dict[str, tuple[Path | None, Any]]
) -> dict[str, np.memmap]:
    """For each ``name: (root, manifest)``, the manifest's images decoded and resized to ``size`` = [width, height]
    into a memory-mapped file staged in ``folder`` (``<name>_images``; the catalog renames it into place). Any image
    that fails removes every file staged so far and raises, naming it."""
    for name in jobs:  # left by a run that was killed
        (folder / f"{STAGING_PREFIX}{name}.npy").unlink(missing_ok=True)
    staged: dict[str, np.memmap] = {}
    try:
        for name, (root, manifest) in jobs.items():
            file = folder / f"{STAGING_PREFIX}{name}.npy"
            paths = [Path(root) / path for path in manifest["path"]]
            staged[f"{name}_images"] = decode_to_file(paths, (int(size[0]), int(size[1])), file, max_pixels)
            logger.info("Decoded %d images of %s", len(paths), name)
    except BaseException:
        for cache in staged.values():
            Path(cache.filename).unlink(missing_ok=True)
        raise
    return staged
