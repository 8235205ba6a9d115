"""Project pipelines. The variants, and so one pipeline per variant, come from ``variants`` in
``conf/base/parameters_training.yml``: the one place where a variant is named."""

from __future__ import annotations

from pathlib import Path

import yaml
from kedro.framework.project import settings
from kedro.pipeline import Pipeline
from kedro.utils import find_kedro_project

from knowledge_assembly.pipelines import (
    cross_domain,
    evaluation,
    ingestion,
    model_input,
    paper,
    reporting,
    synthetic,
    training,
)
from knowledge_assembly.sources import (
    TrainingManifests,
    evaluated_sources,
    source_formats,
    source_manifests,
    training_manifests,
)


def base_parameter(key: str, conf_source: str | Path | None = None) -> dict:
    """The top-level parameter ``key`` of ``conf/base`` (what the pipelines are wired from).

    Read as plain YAML (no config loader: its resolvers are process-wide and would shadow the run's environment)."""
    root = find_kedro_project(Path.cwd()) or Path.cwd()
    base = (Path(conf_source) if conf_source else root / settings.CONF_SOURCE) / "base"
    for file in sorted(base.glob("parameters*.yml")):
        value = (yaml.safe_load(file.read_text()) or {}).get(key)
        if value:
            return value
    raise ValueError(f"no {key!r} in {base}/parameters*.yml: define them there")


def configured_variants(conf_source: str | Path | None = None) -> dict[str, str]:
    """Every variant name with its parameter key (``variants.<group>.<name>``), in the order of the base parameters."""
    groups = base_parameter("variants", conf_source)
    return {name: f"variants.{group}.{name}" for group, members in groups.items() for name in members}


def configured_sources(conf_source: str | Path | None = None) -> dict[str, TrainingManifests]:
    """Every configured source with the catalog entries of its training and val manifests (``sources.<name>.train``,
    ``.val``)."""
    return training_manifests(base_parameter("sources", conf_source))


def configured_evaluation(conf_source: str | Path | None = None) -> dict[str, dict[str, str]]:
    """Every configured source's held-out test manifests (``sources.<name>.evaluation``)."""
    return evaluated_sources(base_parameter("sources", conf_source))


def configured_paper_runs(conf_source: str | Path | None = None) -> int:
    """How many seeds ``paper.seeds`` lists: the paper pipeline's runs of each variant (namespaces
    ``<variant>.run0`` ...), one per seed."""
    return len(base_parameter("paper", conf_source)["seeds"])


def configured_source_manifests(conf_source: str | Path | None = None) -> dict[str, dict[str, str]]:
    """Every configured source with its manifests' catalog names by split (each source is ingested by its format's
    reader in a pipeline of its own)."""
    return source_manifests(base_parameter("sources", conf_source))


def configured_formats(conf_source: str | Path | None = None) -> dict[str, str]:
    """The raw layout of every configured source."""
    return source_formats(base_parameter("sources", conf_source))


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines.

    ``synthetic`` writes the embedded default raw data. Each variant name (``ka``,
    ``mtl``, ``reid_only`` ...) is ingest → image cache → train → evaluate →
    figures for that variant (seed ``training.seed``); ``__default__`` is ``ka``;
    ``paper`` runs every variant, trains and evaluates each for every seed of
    ``paper.seeds`` (each seed the variant's training and evaluation pipelines in the namespace of its run,
    ``<variant>.run0`` ...) and writes Tables 1 and 2 (mean ± std). ``train_<variant>``,
    ``evaluate_<variant>``, ``seeds_<variant>`` and ``tables`` are the single steps that DVC
    stages run. ``cross_domain`` trains variants leaving one attribute source out at a time
    (leave-one-domain-out). Only ``synthetic`` writes raw data, and never under ``--env real``.
    """
    manifests, formats = configured_source_manifests(), configured_formats()
    prepared = model_input.create_pipeline(manifests, formats)  # ingestion + image caches, written together
    pipelines = {
        "synthetic": synthetic.create_pipeline(),
        "ingestion": ingestion.create_pipeline(source_manifests=manifests, formats=formats),
        "model_input": prepared,
    }
    variants, sources, evaluated = configured_variants(), configured_sources(), configured_evaluation()
    runs = configured_paper_runs()
    for variant, key in variants.items():
        pipelines[f"train_{variant}"] = training.create_pipeline(variant, key, sources)
        evaluate = evaluation.create_pipeline(variant, evaluated, sources)
        pipelines[f"evaluate_{variant}"] = evaluate + reporting.create_pipeline(variant)
        pipelines[variant] = prepared + pipelines[f"train_{variant}"] + pipelines[f"evaluate_{variant}"]
        pipelines[f"seeds_{variant}"] = paper.create_seeds_pipeline(variant, key, sources, evaluated, runs)
    pipelines["__default__"] = pipelines["ka"]
    pipelines["tables"] = paper.create_tables_pipeline(list(variants))
    pipelines["paper"] = (
        sum((pipelines[v] + pipelines[f"seeds_{v}"] for v in variants), Pipeline([])) + pipelines["tables"]
    )
    pipelines["cross_domain"] = prepared + cross_domain.create_pipeline(sources, evaluated)
    pipelines["all"] = pipelines["synthetic"] + pipelines["paper"]
    return pipelines
