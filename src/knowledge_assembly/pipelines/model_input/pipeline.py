"""``model_input`` pipeline: the manifests and one image cache for each that training or evaluation reads."""

from kedro.pipeline import Node, Pipeline

from ..ingestion import pipeline as ingestion
from .nodes import cache_images


def create_pipeline(
    source_manifests: dict[str, dict[str, str]] | None = None, formats: dict[str, str] | None = None, **kwargs
) -> Pipeline:
    """Ingestion, then one node that decodes every cache and hands the catalog all manifests and caches
    together: a bad image leaves every manifest and cache as it was. ``source_manifests``: each source with its
    manifests' catalog names (split -> name), each cached from its raw root ``<source>_raw``; ``formats``: their
    raw layouts."""
    sources = source_manifests or {}
    cached = [name for names in sources.values() for name in names.values()]
    decode = Node(
        cache_images,
        {
            "folder": "image_cache_folder",
            "size": "params:model_input.image_size",
            "max_pixels": "params:ingestion.image_max_pixels",
            "checked_manifests": ingestion.CHECKED,
            "sources": "params:sources",
            **{f"{source}_raw": f"{source}_raw" for source in sources},
        },
        # manifests first: the catalog saves outputs in this order, and each cache records its manifest when saved
        {
            **{name: name for name in ingestion.written_names(sources)},
            **{f"{name}_images": f"{name}_images" for name in cached},
        },
        name="cache_images",
    )
    return ingestion.create_pipeline(write=False, source_manifests=sources, formats=formats) + Pipeline([decode])
