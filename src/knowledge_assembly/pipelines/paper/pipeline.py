"""``seeds_<variant>``: one variant for every seed of ``paper.seeds``; ``tables``: Tables 1-2 over all variants."""

from kedro.pipeline import Node, Pipeline

from knowledge_assembly.pipelines import for_variant

from .nodes import paper_tables, train_and_evaluate_seeds

SHARED_INPUTS = {"reid_train", "par_train", "reid_train_images", "par_train_images", "par_attributes", "checkpoints",
                 "reid_query", "reid_gallery", "reid_query_images", "reid_gallery_images", "par_test", "par_test_images",
                 "reid_attributes", "reid_attributes_images"}
PARAMETERS = {"params:paper.seeds", "params:training", "params:model", "params:variants", "params:evaluation"}


def create_seeds_pipeline(variant: str = "ka", **kwargs) -> Pipeline:
    run = for_variant(train_and_evaluate_seeds, variant)
    return Pipeline(
        [
            Node(
                run,
                ["params:paper.seeds", "reid_train", "par_train", "reid_train_images", "par_train_images", "par_attributes",
                 "checkpoints", "params:training", "params:model", "params:variants", "reid_query", "reid_gallery",
                 "reid_query_images", "reid_gallery_images", "par_test", "par_test_images", "reid_attributes",
                 "reid_attributes_images", "params:evaluation"],
                "seed_metrics",
                name="train_and_evaluate_seeds",
            )
        ],
        namespace=variant,
        inputs=SHARED_INPUTS,
        parameters=PARAMETERS,
    )


def create_tables_pipeline(variants: tuple[str, ...]) -> Pipeline:
    return Pipeline(
        [
            Node(
                paper_tables,
                {variant: f"{variant}.seed_metrics" for variant in variants},
                ["paper_table1", "paper_table1_markdown", "paper_table2", "paper_table2_markdown"],
                name="paper_tables",
            )
        ]
    )
