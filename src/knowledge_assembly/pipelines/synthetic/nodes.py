"""Nodes of the ``synthetic`` pipeline."""

from __future__ import annotations

from typing import Any

from knowledge_assembly.synthetic.raw_formats import synthetic_raw_data


def generate_raw_data(params: dict[str, Any], upar: dict[str, Any]) -> tuple[dict[str, bytes], ...]:
    """Render the Market-1501, PA-100K, PETA, UPAR, night-camera, RAPv2 and campus-camera raw trees
    (``{relative path: bytes}``); the UPAR labels in the layout of the release that ingestion reads
    (``ingestion.upar.release``)."""
    return synthetic_raw_data(params, upar.get("release", "challenge2027"))
