"""Nodes of the ``cross_domain`` pipeline: for each attribute source of ``cross_domain.source_set``, every variant of
``cross_domain.variants`` is trained on the other sources (each seed of ``paper.seeds``) and its PAR is measured on
the held-out source's test split, normalised as images of the attribute domain it was trained on."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from knowledge_assembly.config import (
    ConfigError,
    CrossDomainConfig,
    EvaluationConfig,
    ModelConfig,
    TrainingConfig,
    ValidationConfig,
    VariantConfig,
    evaluation_entries,
)
from knowledge_assembly.evaluation.evaluate import EvaluationData, HeldOut, entries_of, evaluate_bundle, summary_line
from knowledge_assembly.pipelines.paper.nodes import headline
from knowledge_assembly.pipelines.training.nodes import SourceTable, train_variant
from knowledge_assembly.reports import tables
from knowledge_assembly.reports.tracking import log_final_metrics, run_folder
from knowledge_assembly.sources import SourceSet, cross_domain_plan

logger = logging.getLogger(__name__)

MEASURE = "mA"


def cross_domain_runs(
    settings: CrossDomainConfig,
    chosen: SourceSet,
    tables: dict[str, SourceTable],
    variants: dict[str, dict[str, Any]],
    validation: ValidationConfig,
    training: TrainingConfig,
    model: ModelConfig,
    evaluation: EvaluationConfig,
    **inputs: Any,
) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """held-out source -> variant -> the metrics of each seed, trained without that source (run
    ``<variant>_without_<source>``); ``inputs``: the rest of :func:`train_and_evaluate_seeds`' arguments. Every run
    is checked before the first trains. The weights are the last epoch's whatever ``validation.select`` says (every
    run of the table trains equally long; validation reads only the val splits of the sources a run trains on,
    never the held-out domain's). A held-out source's images are normalised
    as the attribute source the model was trained on (the second of its set)."""
    configs, held_out = cross_domain_plan(settings, chosen, variants)
    check_held_out_entries(held_out, evaluation, inputs["sources"])
    validation = dataclasses.replace(validation, select="last")
    results: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for source, remaining in held_out.items():
        kept = {name: tables[name] for name in remaining.names}
        for name, config in configs.items():
            results.setdefault(source, {})[name] = train_and_evaluate_seeds(
                name=f"{name}_without_{source}",
                chosen=remaining,
                tables=kept,
                validation=validation,
                variant=config,
                training=training,
                model=model,
                evaluation=evaluation,
                **inputs,
            )
    return results


def train_and_evaluate_seeds(
    name: str,
    seeds: list[int],
    chosen: SourceSet,
    tables: dict[str, SourceTable],
    attribute_names: list[str],
    checkpoints: Path,
    tracking: Path,
    training: TrainingConfig,
    validation: ValidationConfig,
    model: ModelConfig,
    variant: VariantConfig,
    held_out: dict[str, HeldOut],
    retrieval: dict[str, tuple[str, np.ndarray]],
    evaluation: EvaluationConfig,
    sources: dict[str, Any],
    retrieval_gallery: pd.DataFrame | None = None,
) -> list[dict[str, Any]]:
    """Train and evaluate variant ``name`` once per seed; a seed already trained resumes its finished checkpoint."""
    data = EvaluationData(held_out, list(attribute_names), evaluation, retrieval_gallery)
    entries = evaluation_entries(evaluation.entries, sources)
    results = []
    for seed in seeds:
        bundle, _ = train_variant(
            name,
            chosen,
            tables,
            entries,
            attribute_names,
            checkpoints,
            tracking,
            training,
            validation,
            model,
            variant,
            seed=seed,
        )
        metrics = evaluate_bundle(bundle, data, entries, retrieval)
        log_final_metrics(run_folder(tracking, name, seed) / "eval", metrics)
        results.append(headline(metrics))
        logger.info(summary_line(metrics))
    return results


def cross_domain_table(results: dict[str, dict[str, list[dict[str, Any]]]]) -> tuple[pd.DataFrame, str]:
    """Rows: variants; columns: the held-out source, its PAR mA (%) as mean ± std over seeds (its attributes
    entry's)."""
    columns = {source: f"{source} held out {MEASURE}" for source in results}
    variants = list(dict.fromkeys(name for runs in results.values() for name in runs))
    records = []
    for name in variants:
        values = {
            columns[source]: [100 * seed[held_out_section(source, seed)][MEASURE] for seed in runs.get(name, [])]
            for source, runs in results.items()
        }
        records.append(tables.mean_std_record(name, name, values))
    table = pd.DataFrame(records)
    title = "Leave-one-domain-out PAR: mA (%) on each attribute source when trained without it (mean ± std over seeds)"
    return table, tables.to_markdown(table, title, list(columns.values()))


def held_out_section(source: str, metrics: dict[str, Any]) -> str:
    """The metrics section of a held-out source's PAR: the first attributes entry of that source."""
    return next(key for key, entry in entries_of(metrics, "attributes").items() if entry["source"] == source)


def check_held_out_entries(held_out: dict[str, Any], evaluation: EvaluationConfig, sources: dict[str, Any]) -> None:
    """Every held-out source needs an attributes entry (its column of the table), checked before any run trains."""
    entries = evaluation_entries(evaluation.entries, sources)
    for source in held_out:
        if not any(e.source == source and e.protocol == "attributes" for e in entries.values()):
            raise ConfigError(
                f"evaluation.entries: no attributes entry evaluates source {source}, which cross_domain holds out; "
                f"add e.g. par/{source}: {{task: par, source: {source}, split: attributes, protocol: attributes}}"
            )
