"""``seeds_<variant>``: one variant for every seed of ``paper.seeds``; ``tables``: Tables 1-2 over all variants."""

from kedro.pipeline import Node, Pipeline

from ..evaluation import pipeline as evaluation
from ..training import pipeline as training
from .nodes import paper_tables, train_and_evaluate_seeds

SHARED_INPUTS = training.SHARED_INPUTS | evaluation.SHARED_INPUTS


def create_seeds_pipeline(variant: str, parameters_key: str, **kwargs) -> Pipeline:
    """``parameters_key``: where the variant is defined, e.g. ``variants.ssl.ka``."""
    return Pipeline(
        [
            Node(
                train_and_evaluate_seeds,
                [
                    "variant_name",
                    "params:paper.seeds",
                    "reid_train",
                    "par_train",
                    "reid_train_images",
                    "par_train_images",
                    "par_attributes",
                    "checkpoints",
                    "params:training",
                    "params:model",
                    "params:variant",
                    "reid_query",
                    "reid_gallery",
                    "reid_query_images",
                    "reid_gallery_images",
                    "par_test",
                    "par_test_images",
                    "reid_attributes",
                    "reid_attributes_images",
                    "params:evaluation",
                ],
                "seed_metrics",
                name="train_and_evaluate_seeds",
            )
        ],
        namespace=variant,
        inputs=SHARED_INPUTS,
        parameters={
            "params:paper.seeds": "params:paper.seeds",
            "params:training": "params:training",
            "params:model": "params:model",
            "params:evaluation": "params:evaluation",
            "params:variant": f"params:{parameters_key}",
        },
    )


def create_tables_pipeline(variants: list[str]) -> Pipeline:
    return Pipeline(
        [
            Node(
                paper_tables,
                {"variants": "params:variants", **{variant: f"{variant}.seed_metrics" for variant in variants}},
                ["paper_table1", "paper_table1_markdown", "paper_table2", "paper_table2_markdown"],
                name="paper_tables",
            )
        ]
    )
