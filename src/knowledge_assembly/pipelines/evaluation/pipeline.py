"""``evaluation`` pipeline of one variant, in the variant's namespace."""
from kedro.pipeline import Node, Pipeline

from .nodes import evaluate_variant

SHARED_INPUTS = {"reid_query", "reid_gallery", "reid_query_images", "reid_gallery_images", "par_test", "par_test_images",
                 "reid_attributes", "reid_attributes_images"}


def create_pipeline(variant: str = "ka", **kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                evaluate_variant,
                ["model", "reid_query", "reid_gallery", "reid_query_images", "reid_gallery_images",
                 "par_test", "par_test_images", "reid_attributes", "reid_attributes_images", "params:evaluation"],
                ["metrics", "attribute_table", "retrieval"],
                name="evaluate",
            )
        ],
        namespace=variant,
        inputs=SHARED_INPUTS,
        parameters={"params:evaluation"},
    )
