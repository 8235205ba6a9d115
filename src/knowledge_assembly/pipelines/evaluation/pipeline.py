"""``evaluation`` pipeline of one variant, in the variant's namespace."""

from kedro.pipeline import Node, Pipeline

from .nodes import network_outputs, par_metrics, reid_metrics, retrieval_examples, summarise_metrics

SHARED_INPUTS = {
    "reid_query",
    "reid_gallery",
    "reid_query_images",
    "reid_gallery_images",
    "par_test",
    "par_test_images",
    "reid_attributes",
    "reid_attributes_images",
    "peta_test",
    "peta_test_images",
    "par_attributes",
    "tracking",
}


def create_pipeline(variant: str, **kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                network_outputs,
                [
                    "model",
                    "reid_query_images",
                    "reid_gallery_images",
                    "par_test_images",
                    "reid_attributes_images",
                    "peta_test_images",
                    "params:evaluation",
                    "params:sources",
                ],
                "network_outputs",
                name="network_outputs",
            ),
            Node(
                reid_metrics,
                ["network_outputs", "reid_query", "reid_gallery", "params:evaluation"],
                "reid_metrics",
                name="reid_metrics",
            ),
            Node(
                par_metrics,
                ["network_outputs", "par_test", "reid_attributes", "peta_test", "par_attributes", "params:evaluation"],
                "par_metrics",
                name="par_metrics",
            ),
            Node(
                summarise_metrics,
                ["model", "reid_metrics", "par_metrics", "params:evaluation", "tracking"],
                ["metrics", "attribute_table"],
                name="summarise_metrics",
            ),
            Node(
                retrieval_examples,
                [
                    "network_outputs",
                    "reid_query",
                    "reid_gallery",
                    "reid_attributes",
                    "par_attributes",
                    "params:evaluation",
                ],
                "retrieval",
                name="retrieval_examples",
            ),
        ],
        namespace=variant,
        inputs=SHARED_INPUTS,
        parameters={"params:evaluation", "params:sources"},
    )
