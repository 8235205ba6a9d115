"""Nodes of the ``reporting`` pipelines."""

from __future__ import annotations

from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from knowledge_assembly.evaluation.evaluate import entries_of, shown_entries
from knowledge_assembly.reports import figures


def plot_training_curves(history: pd.DataFrame, variant: str) -> Figure:
    """Loss terms per epoch."""
    return figures.training_curves(history, variant)


def plot_cmc(metrics: dict[str, Any]) -> Figure:
    """CMC of query vs gallery of every reID entry evaluated, mAP and R-1 in the legend."""
    name = metrics["variant"]
    curves = {
        f"{name} {key}": (metrics[key]["cmc"], metrics[key]["mAP"]) for key in entries_of(metrics, "cross_camera")
    }
    return figures.cmc_curves(curves, name)


def plot_attribute_bars(attribute_table: pd.DataFrame, metrics: dict[str, Any]) -> Figure:
    """mA of every attribute on the images of each attribute entry the tables show (e.g. PA-100K's test split and
    the reID cameras; every attribute entry where the tables show none)."""
    return figures.attribute_bars(attribute_table, metrics["variant"], shown_entries(metrics, "attributes"))


def plot_attribute_retrieval(retrieval: dict[str, Any], variant: str) -> Figure:
    """The commonest attribute queries of an attribute entry's images, each with its top-k images marked ✓ where
    the image has exactly the query's attributes."""
    queries = [[name for name, bit in zip(retrieval["names"], vector) if bit] for vector in retrieval["vectors"]]
    top, correct = retrieval["top_images"], retrieval["correct"]
    return figures.attribute_retrieval(queries, top, correct, variant, retrieval["entry"])


def plot_retrieval(retrieval: dict[str, Any], variant: str) -> Figure:
    """Queries, their top-k gallery crops marked correct/incorrect, and predicted attributes."""
    lines = [
        figures.attribute_lines(retrieval["names"], probabilities, truth, retrieval["threshold"])
        for probabilities, truth in zip(retrieval["probabilities"], retrieval["truth"])
    ]
    return figures.retrieval(
        retrieval["query_images"],
        retrieval["top_images"],
        retrieval["correct"],
        lines,
        f"{variant} {retrieval['entry']}",
        labelled=any(truth is not None for truth in retrieval["truth"]),
    )
