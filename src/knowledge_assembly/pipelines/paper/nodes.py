"""Nodes of the ``paper`` pipeline."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from knowledge_assembly.config import VariantConfig
from knowledge_assembly.evaluation.evaluate import shown_entries
from knowledge_assembly.reports import figures, tables

HEADLINE_DROPPED = ("per_attribute_mA", "per_attribute_tpr", "per_attribute_tnr", "per_attribute_positives")


def headline(metrics: dict[str, Any]) -> dict[str, Any]:
    """Metrics without the per-attribute lists (the CMC stays, for the overlaid CMC figure)."""
    return {
        key: {k: v for k, v in value.items() if k not in HEADLINE_DROPPED} if isinstance(value, dict) else value
        for key, value in metrics.items()
    }


def paper_seed(run: int) -> Callable[[list[int]], int]:
    """The node function of the paper pipeline's run ``run``: its seed is the ``run``-th of ``paper.seeds``. A
    function of its own, not a ``functools.partial``: Kedro reads a node function's type hints on every run and
    warns about a partial's."""

    def seed(seeds: list[int]) -> int:
        return int(seeds[run])

    seed.__name__ = seed.__qualname__ = f"paper_seed_{run}"
    return seed


def seed_headlines(*metrics: dict[str, Any]) -> list[dict[str, Any]]:
    """A variant's metrics of every seed, in the order of ``paper.seeds``, without the per-attribute lists."""
    return [headline(m) for m in metrics]


def table_rows(variants: dict[str, dict[str, VariantConfig]]) -> dict[str, dict[str, str]]:
    """Every variant's ``rows`` (its label in Table 1 / Table 2), in parameter order."""
    return {name: VariantConfig.of(spec).rows for group in variants.values() for name, spec in group.items()}


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
    """CMC of every variant that learns reID, mean over its seeds, overlaid, on each reID entry the figures show
    (:func:`~knowledge_assembly.evaluation.evaluate.shown_entries`); mAP and R-1 in the legend."""
    curves = {}
    for name, labels in table_rows(variants).items():
        seeds = [m for m in runs.get(name, []) if "reid" in m["trained_tasks"]]
        shown = shown_entries(seeds[0], "cross_camera") if seeds else []
        for key in shown:
            cmc = np.mean([m[key]["cmc"] for m in seeds], axis=0)
            mean_ap = float(np.mean([m[key]["mAP"] for m in seeds]))
            label = next(iter(labels.values()), name)
            entry = f" {key}" if len(shown) > 1 else ""
            curves[f"{label}{entry} ({len(seeds)} seed{'s' if len(seeds) > 1 else ''})"] = (cmc, mean_ap)
    return figures.cmc_curves(curves, "All variants")
