"""``model_input`` pipeline: the manifests and one image cache for each that training or evaluation reads."""

from kedro.pipeline import Node, Pipeline

from knowledge_assembly.formats.manifests import CACHED, MANIFESTS, RAW_ROOTS

from ..ingestion import pipeline as ingestion
from .nodes import cache_images


def create_pipeline(
    camera_sources: dict[str, dict[str, str]] | None = None, formats: dict[str, str] | None = None, **kwargs
) -> Pipeline:
    """Ingestion, then one node that decodes every cache and hands the catalog all manifests and caches
    together: a bad image leaves every manifest and cache as it was. ``camera_sources``: each template source
    with its manifests' catalog names (split -> name), cached by the same node; ``formats``: their raw layouts."""
    cameras = camera_sources or {}
    written = [*MANIFESTS, *ingestion.camera_manifest_names(cameras)]
    cached = [*CACHED, *ingestion.camera_manifest_names(cameras)]
    decode = Node(
        cache_images,
        {
            "folder": "image_cache_folder",
            "size": "params:model_input.image_size",
            "max_pixels": "params:ingestion.image_max_pixels",
            "checked_manifests": "checked_manifests",
            **{f"{dataset}_raw": f"{dataset}_raw" for dataset in RAW_ROOTS.values()},
            **ingestion.camera_inputs(cameras),
        },
        # manifests first: the catalog saves outputs in this order, and each cache records its manifest when saved
        {**{name: name for name in written}, **{f"{name}_images": f"{name}_images" for name in cached}},
        name="cache_images",
    )
    return ingestion.create_pipeline(write=False, camera_sources=cameras, formats=formats) + Pipeline([decode])
