"""``seeds_<variant>``: the variant's training and evaluation pipelines once per seed of ``paper.seeds``, each in the
namespace of its run (``<variant>.run0``, ``<variant>.run1`` ...); ``tables``: Tables 1-2 over all variants."""

from kedro.pipeline import Node, Pipeline

from knowledge_assembly.sources import TrainingManifests

from ..evaluation import pipeline as evaluation
from ..training import pipeline as training
from .nodes import paper_seed, paper_tables, plot_paper_cmc, seed_headlines

SEED_TAG = "paper_seed"  # the node of each run that picks its seed of paper.seeds


def seed_metrics(variant: str) -> str:
    """The dataset of a variant's per-seed metrics (``seeds/<variant>.json``)."""
    return f"{variant}_seed_metrics"


def run_namespace(variant: str, run: int) -> str:
    """The namespace of the variant's run ``run`` in the paper pipeline (its seed is ``paper.seeds[run]``)."""
    return f"{variant}.run{run}"


def create_run_pipeline(variant: str, parameters_key: str, run: int) -> Pipeline:
    """The variant's training and evaluation pipelines (up to its metrics), seeded with ``paper.seeds[run]``, in the
    namespace :func:`run_namespace`."""
    namespace = run_namespace(variant, run)
    seed = Node(paper_seed(run), "params:paper.seeds", "seed", name="seed", tags=SEED_TAG)
    return (
        Pipeline([seed], namespace=namespace, parameters={"params:paper.seeds"})
        + training.create_training_pipeline(variant, parameters_key, seeded=True, namespace=namespace)
        + evaluation.create_variant_pipeline(variant, seeded=True, namespace=namespace)
    ).to_outputs(f"{namespace}.metrics")


def create_seeds_pipeline(
    variant: str,
    parameters_key: str,
    sources: dict[str, TrainingManifests],
    evaluated: dict[str, dict[str, str]],
    runs: int,
) -> Pipeline:
    """``parameters_key``: where the variant is defined, e.g. ``variants.ssl.ka``; ``sources``: every configured
    source's training and val manifests; ``evaluated``: every source's held-out test manifests; ``runs``: how many seeds
    ``paper.seeds`` lists (the pipelines are built before the run's parameters are read)."""
    shared = training.create_sources_pipeline(sources) + evaluation.create_shared_pipeline(evaluated, sources)
    seeded = sum((create_run_pipeline(variant, parameters_key, run) for run in range(runs)), Pipeline([]))
    metrics = [f"{run_namespace(variant, run)}.metrics" for run in range(runs)]
    collect = Node(seed_headlines, metrics, seed_metrics(variant), name="seed_metrics", namespace=variant)
    return shared + seeded + Pipeline([collect])


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
