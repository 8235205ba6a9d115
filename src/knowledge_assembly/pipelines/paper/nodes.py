"""Nodes of the ``paper`` pipeline."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from knowledge_assembly.config import EvaluationConfig, ModelConfig, TrainingConfig, ValidationConfig, VariantConfig
from knowledge_assembly.evaluation.evaluate import AttributeTests, DomainTest, evaluate_bundle, summary_line
from knowledge_assembly.pipelines.evaluation.nodes import test_images
from knowledge_assembly.pipelines.training.nodes import SourceTable, train_variant
from knowledge_assembly.reports import figures, tables
from knowledge_assembly.reports.tracking import log_final_metrics
from knowledge_assembly.sources import SourceSet

logger = logging.getLogger(__name__)

HEADLINE_DROPPED = ("per_attribute_mA", "per_attribute_tpr", "per_attribute_tnr", "per_attribute_positives")


def _headline(metrics: dict[str, Any]) -> dict[str, Any]:
    """Metrics without the per-attribute lists (the CMC stays, for the overlaid CMC figure)."""
    return {
        key: {k: v for k, v in value.items() if k not in HEADLINE_DROPPED} if isinstance(value, dict) else value
        for key, value in metrics.items()
    }


def train_and_evaluate_seeds(
    name: str,
    seeds: list[int],
    chosen: SourceSet,
    tables: dict[str, SourceTable],
    par_val: pd.DataFrame,
    par_val_images: np.ndarray,
    attribute_names: list[str],
    checkpoints: Path,
    tracking: Path,
    training: TrainingConfig,
    validation: ValidationConfig,
    model: ModelConfig,
    variant: VariantConfig,
    reid_query: pd.DataFrame,
    reid_gallery: pd.DataFrame,
    query_images: np.ndarray,
    gallery_images: np.ndarray,
    par_test: pd.DataFrame,
    par_test_images: np.ndarray,
    reid_attributes: pd.DataFrame,
    reid_attribute_images: np.ndarray,
    tests: AttributeTests,
    domains: dict[str, DomainTest],
    evaluation: EvaluationConfig,
    sources: dict[str, Any],
    retrieval_gallery: pd.DataFrame | None = None,
) -> list[dict[str, Any]]:
    """Train and evaluate variant ``name`` once per seed; a seed already trained resumes its finished checkpoint."""
    images = test_images(
        query_images, gallery_images, par_test_images, reid_attribute_images, tests, sources, domains,
        retrieval_gallery,
    )  # fmt: skip
    results = []
    for seed in seeds:
        bundle, _ = train_variant(
            name,
            chosen,
            tables,
            par_val,
            par_val_images,
            attribute_names,
            checkpoints,
            tracking,
            training,
            validation,
            model,
            variant,
            seed=seed,
        )
        metrics = evaluate_bundle(
            bundle,
            images,
            reid_query,
            reid_gallery,
            par_test,
            reid_attributes,
            evaluation,
            tests.manifests,
            retrieval_gallery,
        )
        log_final_metrics(Path(tracking) / name / f"seed{seed}" / "eval", metrics)
        results.append(_headline(metrics))
        logger.info(summary_line(metrics))
    return results


def table_rows(variants: dict[str, dict[str, VariantConfig]]) -> dict[str, dict[str, str]]:
    """Every variant's ``rows`` (its label in Table 1 / Table 2), in parameter order."""
    return {
        name: (spec if isinstance(spec, VariantConfig) else VariantConfig(**spec)).rows
        for group in variants.values()
        for name, spec in group.items()
    }


def paper_tables(
    variants: dict[str, dict[str, VariantConfig]], **runs: list[dict[str, Any]]
) -> tuple[pd.DataFrame, str, pd.DataFrame, str]:
    """Table 1 (baselines vs KA) and Table 2 (ablations), mean ± std over seeds, as CSV frames and Markdown.
    Each variant's ``rows`` says in which table it appears, under which label."""
    rows = table_rows(variants)
    table1, table2 = (
        tables.metrics_table(runs, [(name, labels[table]) for name, labels in rows.items() if table in labels])
        for table in ("table1", "table2")
    )
    return (
        table1,
        tables.to_markdown(table1, "Table 1: baselines and Knowledge Assembly (%, mean ± std over seeds)"),
        table2,
        tables.to_markdown(table2, "Table 2: ablations of Knowledge Assembly (%, mean ± std over seeds)"),
    )


def plot_paper_cmc(variants: dict[str, dict[str, VariantConfig]], **runs: list[dict[str, Any]]) -> Figure:
    """CMC of every variant that learns reID, mean over its seeds, overlaid; mAP and R-1 in the legend."""
    curves = {}
    for name, labels in table_rows(variants).items():
        seeds = [m for m in runs.get(name, []) if m.get("reid") and "cmc" in m["reid"]]
        if seeds:
            cmc = np.mean([m["reid"]["cmc"] for m in seeds], axis=0)
            mean_ap = float(np.mean([m["reid"]["mAP"] for m in seeds]))
            label = next(iter(labels.values()), name)
            curves[f"{label} ({len(seeds)} seed{'s' if len(seeds) > 1 else ''})"] = (cmc, mean_ap)
    return figures.cmc_curves(curves, "All variants")
