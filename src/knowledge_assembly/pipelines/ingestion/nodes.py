"""Nodes of the ``ingestion`` pipeline: the readers themselves are the raw formats' (:mod:`..formats.readers`).

Every check runs before the manifests are written (by ``write_manifests``, or with the image caches by
``model_input``), so they are written only when all raw inputs are valid.
"""

from __future__ import annotations

from typing import Any

from knowledge_assembly.formats.readers import with_gallery_and_names
from knowledge_assembly.sources import source_manifests


def collect_manifests(labels: Any, retrieval_pair: Any, sources: dict[str, Any], **checked: Any) -> dict[str, Any]:
    """Every checked manifest under its catalog name: each source's (``checked`` holds ``<source>_checked``, split
    -> manifest; ``sources.<name>`` names them), then the retrieval pair's gallery among them and the attribute names
    of the release's ``labels`` (:func:`~knowledge_assembly.formats.readers.with_gallery_and_names`)."""
    manifests = {
        name: checked[f"{source}_checked"][split]
        for source, names in source_manifests(sources).items()
        for split, name in names.items()
    }
    return with_gallery_and_names(manifests, labels, retrieval_pair)


def write_manifests(checked_manifests: dict[str, Any]) -> dict[str, Any]:
    """The checked manifests, unchanged, for the catalog to write (ingestion without image caches)."""
    return checked_manifests
