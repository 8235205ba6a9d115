"""Project pipelines."""
from __future__ import annotations

from kedro.pipeline import Pipeline

from knowledge_assembly.pipelines import evaluation, ingestion, model_input, paper, reporting, synthetic, training

VARIANTS = ("reid_only", "par_only", "reid_ssl", "par_ssl", "mtl", "ka_imgaug", "ka_netaug", "ka", "mtl_dsbn", "ka_dsbn")


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines.

    ``synthetic`` writes the embedded default raw data. Each variant name (``ka``,
    ``mtl``, ``reid_only`` ...) is ingest → image cache → train → evaluate →
    figures for that variant (seed ``training.seed``); ``__default__`` is ``ka``;
    ``paper`` runs every variant, trains and evaluates each for every seed of
    ``paper.seeds`` and writes Tables 1 and 2 (mean ± std). ``train_<variant>``,
    ``evaluate_<variant>``, ``seeds_<variant>`` and ``tables`` are the single steps that DVC stages run. None of them writes raw data, so
    ``kedro run --env real`` never touches the real folders.
    """
    raw_data = synthetic.create_pipeline()
    prepared = ingestion.create_pipeline() + model_input.create_pipeline()
    pipelines = {"synthetic": raw_data, "ingestion": ingestion.create_pipeline(), "model_input": prepared}
    for variant in VARIANTS:
        pipelines[f"train_{variant}"] = training.create_pipeline(variant)
        pipelines[f"evaluate_{variant}"] = evaluation.create_pipeline(variant) + reporting.create_pipeline(variant)
        pipelines[variant] = prepared + pipelines[f"train_{variant}"] + pipelines[f"evaluate_{variant}"]
        pipelines[f"seeds_{variant}"] = paper.create_seeds_pipeline(variant)
    pipelines["__default__"] = pipelines["ka"]
    pipelines["tables"] = paper.create_tables_pipeline(VARIANTS)
    pipelines["paper"] = sum((pipelines[v] + pipelines[f"seeds_{v}"] for v in VARIANTS), Pipeline([])) + pipelines["tables"]
    pipelines["all"] = raw_data + pipelines["paper"]
    return pipelines
