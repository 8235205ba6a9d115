"""Checks every raw format's reader shares: labelled images that must exist, images checked by their suffix, and
one warning for label rows that name images outside what is kept."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from .errors import RawDataError, summarise
from .images import check_images
from .paths import require_regular_files

logger = logging.getLogger(__name__)


def require_labelled_files(paths: list[Path]) -> None:
    """Every image a UPAR release labels must be a regular file under its root; the first missing one is named."""
    missing = [str(path) for path in paths if not path.is_file()]
    if missing:
        raise RawDataError(missing[0], f"labelled in UPAR but missing ({len(missing)} missing: {summarise(missing)})")
    require_regular_files(paths)


def check_by_suffix(paths: list[Path], image_check: str, max_pixels: int) -> None:
    """:func:`check_images` on the JPEG and the PNG files of ``paths``."""
    for kind, suffixes in (("JPEG", (".jpg", ".jpeg")), ("PNG", (".png",))):
        check_images([path for path in paths if path.suffix.lower() in suffixes], image_check, max_pixels, kind=kind)


def warn_ignored(labelled: pd.Series, kept: pd.Series, labels_of: str, where: str) -> None:
    """One warning naming the first few rows of ``labels_of`` (``UPAR PA-100K`` ...) whose image is not among
    ``kept``."""
    outside = sorted(set(labelled) - set(kept))
    if outside:
        logger.warning(
            "%d %s rows name images outside %s; ignored: %s", len(outside), labels_of, where, summarise(outside, 3)
        )
