"""``seeds_<variant>``: one variant for every seed of ``paper.seeds``; ``tables``: Tables 1-2 over all variants."""

from kedro.pipeline import Node, Pipeline

from ..evaluation import pipeline as evaluation
from ..training import pipeline as training
from .nodes import paper_tables, plot_paper_cmc, train_and_evaluate_seeds

SHARED_INPUTS = training.SHARED_INPUTS | evaluation.SHARED_INPUTS


# what evaluating a seed reads, in the order of train_and_evaluate_seeds' arguments after the training inputs
EVALUATION_INPUTS = [
    "reid_query",
    "reid_gallery",
    "reid_query_images",
    "reid_gallery_images",
    "par_test",
    "par_test_images",
    "reid_attributes",
    "reid_attributes_images",
    "attribute_tests",
    "evaluation_domains",
    "params:evaluation",
    "params:sources",
    "retrieval_gallery",
]


def seed_metrics(variant: str) -> str:
    """The dataset of a variant's per-seed metrics (``seeds/<variant>.json``)."""
    return f"{variant}_seed_metrics"


def create_seeds_pipeline(
    variant: str, parameters_key: str, sources: dict[str, str], evaluated: dict[str, dict[str, str]], **kwargs
) -> Pipeline:
    """``parameters_key``: where the variant is defined, e.g. ``variants.ssl.ka``; ``sources``: every configured
    source's training manifest; ``evaluated``: every source's held-out test manifests."""
    inputs = ["variant_name", "params:paper.seeds", *training.TRAINING_INPUTS, *EVALUATION_INPUTS]
    shared = training.create_sources_pipeline(sources) + evaluation.create_shared_pipeline(evaluated)
    return shared + Pipeline(
        [Node(train_and_evaluate_seeds, inputs, "seed_metrics", name="train_and_evaluate_seeds")],
        namespace=variant,
        inputs=SHARED_INPUTS,
        outputs={"seed_metrics": seed_metrics(variant)},  # read by the tables node, outside the namespace
        parameters={
            **training.parameter_mapping(parameters_key),
            "params:paper.seeds": "params:paper.seeds",
            "params:evaluation": "params:evaluation",
            "params:sources": "params:sources",
        },
    )


def create_tables_pipeline(variants: list[str]) -> Pipeline:
    inputs = {"variants": "params:variants", **{variant: seed_metrics(variant) for variant in variants}}
    return Pipeline(
        [
            Node(
                paper_tables,
                inputs,
                ["paper_table1", "paper_table1_markdown", "paper_table2", "paper_table2_markdown"],
                name="paper_tables",
            ),
            Node(plot_paper_cmc, inputs, "paper_cmc_plot", name="plot_paper_cmc"),
        ]
    )
