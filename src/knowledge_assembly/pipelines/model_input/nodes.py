"""Nodes of the ``model_input`` pipeline."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from knowledge_assembly.formats.images import decode_to_file

logger = logging.getLogger(__name__)

STAGING_PREFIX = ".staging-"


def cache_images(folder: Path, size: list[int], market1501_raw: Path, pa100k_raw: Path,
                 **manifests: pd.DataFrame) -> list[np.memmap]:
    """Decode every image of every manifest once, resized to ``size`` = [width, height], into memory-mapped
    files staged in ``folder``; the catalog then renames each into place.

    All or nothing: any image that fails to decode raises (naming it) before a single cache is replaced,
    and the staged files are removed. Manifests named ``par_*`` list PA-100K images, the others Market-1501's.
    """
    for leftover in folder.glob(f"{STAGING_PREFIX}*"):  # from a run that was killed
        leftover.unlink()
    staged: list[np.memmap] = []
    try:
        for name, manifest in manifests.items():
            root = pa100k_raw if name.startswith("par_") else market1501_raw
            file = folder / f"{STAGING_PREFIX}{name}.npy"
            staged.append(decode_to_file([root / path for path in manifest["path"]], (int(size[0]), int(size[1])), file))
            logger.info("Decoded %d images of %s", len(manifest), name)
    except BaseException:
        for cache in staged:
            Path(cache.filename).unlink(missing_ok=True)
        raise
    return staged
