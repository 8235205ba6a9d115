"""``model_input`` pipeline: one image cache per manifest that training or evaluation reads."""
from kedro.pipeline import Node, Pipeline

from .nodes import cache_images

CACHED = ("reid_train", "reid_query", "reid_gallery", "par_train", "par_test", "reid_attributes")


def create_pipeline(**kwargs) -> Pipeline:
    """One node decodes every cache, so a bad image leaves all caches as they were."""
    return Pipeline(
        [
            Node(
                cache_images,
                {"folder": "image_cache_folder", "size": "params:model_input.image_size",
                 "market1501_raw": "market1501_raw", "pa100k_raw": "pa100k_raw", **{name: name for name in CACHED}},
                [f"{name}_images" for name in CACHED],
                name="cache_images",
            ),
        ]
    )
