"""Nodes of the ``ingestion`` pipeline: the readers themselves are the raw formats' (:mod:`..formats.readers`).

Every check runs before the manifests are written (by ``write_manifests``, or with the image caches by
``model_input``), so they are written only when all raw inputs are valid.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from knowledge_assembly.sources import template_sources


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
