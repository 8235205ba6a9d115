"""Nodes of the ``reporting`` pipelines."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from knowledge_assembly.reports import figures


def plot_training_curves(history: pd.DataFrame, variant: str) -> Figure:
    """Loss terms per epoch."""
    return figures.training_curves(history, variant)


def plot_cmc(metrics: dict[str, Any]) -> Figure:
    """CMC curve of query vs gallery, mAP and R-1 in the legend."""
    name = metrics["variant"]
    return figures.cmc_curves({name: (metrics["reid"]["cmc"], metrics["reid"]["mAP"])}, name)


def plot_attribute_bars(attribute_table: pd.DataFrame, variant: str) -> Figure:
    """mA of every attribute on PA-100K and, where UPAR labels Market-1501 images, on the reID domain."""
    return figures.attribute_bars(attribute_table, variant)


def plot_attribute_retrieval(retrieval: dict[str, Any], images: np.ndarray, variant: str) -> Figure:
    """The commonest attribute queries of the PAR test split, each with its top-k test images marked ✓ where the
    image has exactly the query's attributes."""
    queries = [[name for name, bit in zip(retrieval["names"], vector) if bit] for vector in retrieval["vectors"]]
    return figures.attribute_retrieval(queries, images, retrieval["top"], retrieval["correct"], variant)


def plot_retrieval(
    retrieval: dict[str, Any], query_images: np.ndarray, gallery_images: np.ndarray, variant: str
) -> Figure:
    """Queries, their top-k gallery crops marked correct/incorrect, and predicted attributes."""
    lines = [
        figures.attribute_lines(retrieval["names"], probabilities, truth, retrieval["threshold"])
        for probabilities, truth in zip(retrieval["probabilities"], retrieval["truth"])
    ]
    return figures.retrieval(
        np.asarray(query_images[retrieval["query"]]),
        gallery_images,
        retrieval["top"],
        retrieval["correct"],
        lines,
        variant,
        labelled=any(truth is not None for truth in retrieval["truth"]),
    )
