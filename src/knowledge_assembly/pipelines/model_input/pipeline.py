"""``model_input`` pipeline: one image cache per manifest that training or evaluation reads."""
from kedro.pipeline import Node, Pipeline

from .nodes import cache_images

CACHED = {"reid_train": "market1501_raw", "reid_query": "market1501_raw", "reid_gallery": "market1501_raw",
          "par_train": "pa100k_raw", "par_test": "pa100k_raw", "reid_attributes": "market1501_raw"}


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(cache_images, [manifest, raw, "params:model_input.image_size"], f"{manifest}_images", name=f"cache_{manifest}_images")
            for manifest, raw in CACHED.items()
        ]
    )
