"""Nodes of the ``cross_domain`` pipeline: for each attribute source of ``cross_domain.source_set``, every variant of
``cross_domain.variants`` is trained on the other sources (each seed of ``paper.seeds``) and its PAR is measured on
the held-out source's test split, normalised as images of the attribute domain it was trained on."""

from __future__ import annotations

import dataclasses
from typing import Any

import pandas as pd

from knowledge_assembly.config import CrossDomainConfig, EvaluationConfig, ModelConfig, TrainingConfig, ValidationConfig
from knowledge_assembly.evaluation.evaluate import TEST_SPLIT_SECTIONS, domain_section
from knowledge_assembly.pipelines.paper.nodes import train_and_evaluate_seeds
from knowledge_assembly.pipelines.training.nodes import SourceTable
from knowledge_assembly.reports import tables
from knowledge_assembly.sources import SourceSet, cross_domain_plan

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
    is checked before the first trains. The weights are the last epoch's: validation reads the PAR validation
    split, which may be the held-out domain's, so it must not choose them. A held-out source's images are normalised
    as the attribute source the model was trained on (the second of its set)."""
    configs, held_out = cross_domain_plan(settings, chosen, variants)
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


def cross_domain_table(
    results: dict[str, dict[str, list[dict[str, Any]]]], sources: dict[str, Any]
) -> tuple[pd.DataFrame, str]:
    """Rows: variants; columns: the held-out source, its PAR mA (%) as mean ± std over seeds."""
    columns = {source: f"{source} held out {MEASURE}" for source in results}
    sections = {source: held_out_section(source, sources[source]) for source in results}
    variants = list(dict.fromkeys(name for runs in results.values() for name in runs))
    records = []
    for name in variants:
        values = {
            columns[source]: [100 * seed[sections[source]][MEASURE] for seed in runs.get(name, [])]
            for source, runs in results.items()
        }
        records.append(tables.mean_std_record(name, name, values))
    table = pd.DataFrame(records)
    title = "Leave-one-domain-out PAR: mA (%) on each attribute source when trained without it (mean ± std over seeds)"
    return table, tables.to_markdown(table, title, list(columns.values()))


def held_out_section(source: str, entry: dict[str, Any]) -> str:
    """The metrics section of a held-out source's PAR: its attribute test split's (``test``), else the section of
    its held-out attribute images (``evaluation.attributes``)."""
    return TEST_SPLIT_SECTIONS[entry["test"]] if entry.get("test") else domain_section(source, "par")
