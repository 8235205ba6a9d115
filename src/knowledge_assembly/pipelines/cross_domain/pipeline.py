"""``cross_domain``: leave-one-domain-out over the attribute sources of ``cross_domain.source_set`` (default
``upar``), for the variants of ``cross_domain.variants``, every seed of ``paper.seeds``; one table."""

import inspect

from kedro.pipeline import Node, Pipeline

from knowledge_assembly.sources import TrainingManifests

from ..evaluation import pipeline as evaluation
from ..training import pipeline as training
from .nodes import cross_domain_runs, cross_domain_table, train_and_evaluate_seeds

# what evaluating a seed reads, in the order of train_and_evaluate_seeds' last arguments
EVALUATION_INPUTS = ["held_out_data", "retrieval_images", "params:evaluation", "params:sources", "retrieval_gallery"]

# train_and_evaluate_seeds' inputs that every run shares (its source set, tables, validation and variant differ)
SHARED = {
    "seeds": "params:paper.seeds",
    "attribute_names": "par_attributes",
    "checkpoints": "checkpoints",
    "tracking": "tracking",
    **dict(
        zip(list(inspect.signature(train_and_evaluate_seeds).parameters)[-len(EVALUATION_INPUTS) :], EVALUATION_INPUTS)
    ),
}


def create_pipeline(sources: dict[str, TrainingManifests], evaluated: dict[str, dict[str, str]], **kwargs) -> Pipeline:
    """``sources``: every configured source's training and val manifests (each one's image cache is
    ``<manifest>_images``); ``evaluated``: every source's held-out test manifests."""
    chosen = training.create_sources_pipeline(sources, prefix="cross_domain_", source_set="cross_domain.source_set")
    return (
        evaluation.create_shared_pipeline(evaluated, sources)
        + chosen
        + Pipeline(
            [
                Node(
                    cross_domain_runs,
                    {
                        "settings": "params:cross_domain",
                        "chosen": "cross_domain_chosen_sources",
                        "tables": "cross_domain_training_tables",
                        "variants": "params:variants",
                        "validation": "params:validation",
                        "training": "params:training",
                        "model": "params:model",
                        "evaluation": "params:evaluation",
                        **SHARED,
                    },
                    "cross_domain_metrics",
                    name="cross_domain_runs",
                ),
                Node(
                    cross_domain_table,
                    "cross_domain_metrics",
                    ["cross_domain_table", "cross_domain_table_markdown"],
                    name="cross_domain_table",
                ),
            ]
        )
    )
