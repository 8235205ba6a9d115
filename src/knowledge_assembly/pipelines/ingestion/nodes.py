"""Nodes of the ``ingestion`` pipeline: the readers themselves are the raw formats' (:mod:`..formats.readers`).

Every check runs before the manifests are written (by ``write_manifests``, or with the image caches by
``model_input``), so they are written only when all raw inputs are valid.
"""

from __future__ import annotations

from typing import Any

from knowledge_assembly.formats.readers import ATTRIBUTES_FILE, RETRIEVAL_GALLERY, RetrievalPair, retrieval_gallery
from knowledge_assembly.sources import source_manifests


def collect_manifests(
    attribute_names: list[str],
    retrieval_pair: RetrievalPair,
    gallery_settings: dict[str, Any],
    sources: dict[str, Any],
    **checked: Any,
) -> dict[str, Any]:
    """Every checked manifest under its catalog name: each source's (``checked`` holds ``<source>_checked``, split
    -> manifest; ``sources.<name>`` names them), the gallery of the retrieval pair among them (``gallery_settings``:
    the release's), and the attribute names."""
    manifests = {
        name: checked[f"{source}_checked"][split]
        for source, names in source_manifests(sources).items()
        for split, name in names.items()
    }
    gallery = retrieval_gallery(retrieval_pair, manifests, gallery_settings)
    return manifests | {RETRIEVAL_GALLERY: gallery, ATTRIBUTES_FILE: list(attribute_names)}


def write_manifests(checked_manifests: dict[str, Any]) -> dict[str, Any]:
    """The checked manifests, unchanged, for the catalog to write (ingestion without image caches)."""
    return checked_manifests
