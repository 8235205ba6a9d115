"""Nodes of the ``reporting`` pipelines."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from knowledge_assembly.reports import figures, tables


def plot_training_curves(history: pd.DataFrame, metrics: dict[str, Any]) -> Figure:
    """Loss terms per epoch."""
    return figures.training_curves(history, metrics["variant"])


def plot_cmc(metrics: dict[str, Any]) -> Figure:
    """CMC curve of query vs gallery."""
    return figures.cmc_curve(metrics["reid"]["cmc"], metrics["variant"])


def plot_attribute_bars(metrics: dict[str, Any]) -> Figure:
    """mA of every attribute."""
    return figures.attribute_bars(metrics["par"]["per_attribute_mA"], metrics["variant"])


def plot_retrieval(retrieval: dict[str, Any], query_images: np.ndarray, gallery_images: np.ndarray, metrics: dict[str, Any]) -> Figure:
    """Queries, their top-k gallery crops marked correct/incorrect, and predicted attributes."""
    return figures.retrieval(np.asarray(query_images[retrieval["query"]]), gallery_images, retrieval["top"],
                             retrieval["correct"], retrieval["attributes"], metrics["variant"])


def paper_tables(**metrics: dict[str, Any]) -> tuple[pd.DataFrame, str, pd.DataFrame, str]:
    """Table 1 (baselines vs KA) and Table 2 (ablations) as CSV frames and Markdown."""
    table1 = tables.metrics_table(metrics, tables.TABLE1_ROWS)
    table2 = tables.metrics_table(metrics, tables.TABLE2_ROWS)
    return (table1, tables.to_markdown(table1, "Table 1: baselines and Knowledge Assembly (%)"),
            table2, tables.to_markdown(table2, "Table 2: ablations of Knowledge Assembly (%)"))
