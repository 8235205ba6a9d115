"""Nodes of the ``evaluation`` pipeline: outputs of the networks → metrics of every evaluation entry → summary;
retrieval examples."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from knowledge_assembly.config import EvaluationConfig, evaluation_entries
from knowledge_assembly.evaluation import evaluate
from knowledge_assembly.models.bundle import ModelBundle
from knowledge_assembly.reports.tracking import log_final_metrics, run_folder
from knowledge_assembly.sources import evaluated_sources, training_manifests

logger = logging.getLogger(__name__)


def held_out_data(sources: dict[str, Any], **tables: Any) -> dict[str, evaluate.HeldOut]:
    """The held-out test data of every source that names some (``sources.<name>.evaluation``) and has any (a source
    whose raw root is absent has empty manifests and is left out). ``tables`` holds ``<manifest>`` and
    ``<manifest>_images`` of each such manifest (the pipeline wires them)."""
    data = {}
    for source, names in evaluated_sources(sources).items():
        manifests = {split: tables[name] for split, name in names.items()}
        if any(len(frame) for frame in manifests.values()):
            images = {split: tables[f"{name}_images"] for split, name in names.items()}
            data[source] = evaluate.HeldOut(names, manifests, images)
    return data


def retrieval_images(
    retrieval_gallery: pd.DataFrame, sources: dict[str, Any], **split_images: np.ndarray
) -> dict[str, tuple[str, np.ndarray]]:
    """The val splits of the configured ``sources`` (``sources.<name>.val``; ``split_images``: ``<split>_images``
    of each, as the pipeline wires them) that the gallery of a UPAR retrieval pair (from ingestion; empty without
    one) has rows of, each with its source: only those are predicted."""
    used = evaluate.gallery_manifests(retrieval_gallery)
    return {
        manifests.val: (source, split_images[f"{manifests.val}_images"])
        for source, manifests in training_manifests(sources).items()
        if manifests.val in used and f"{manifests.val}_images" in split_images
    }


def network_outputs(
    bundle: ModelBundle,
    held_out: dict[str, evaluate.HeldOut],
    retrieval: dict[str, tuple[str, np.ndarray]],
    config: EvaluationConfig,
    sources: dict[str, Any],
    retrieval_gallery: pd.DataFrame | None = None,
) -> list[evaluate.NetworkOutputs]:
    """Features and attribute probabilities of every network of the bundle on the held-out splits the evaluation
    entries read, each source's in its domain (and on every image a UPAR retrieval gallery draws on)."""
    entries = evaluation_entries(config.entries, sources)
    gallery = evaluate.gallery_manifests(retrieval_gallery)
    return evaluate.network_outputs(bundle, held_out, entries, config.batch_size, retrieval, gallery)


def evaluation_data(
    held_out: dict[str, evaluate.HeldOut],
    attribute_names: list[str],
    config: EvaluationConfig,
    retrieval_gallery: pd.DataFrame | None = None,
) -> evaluate.EvaluationData:
    """What every entry's metrics are computed from."""
    return evaluate.EvaluationData(held_out, list(attribute_names), config, retrieval_gallery)


def entry_metrics(
    outputs: list[evaluate.NetworkOutputs],
    held_out: dict[str, evaluate.HeldOut],
    attribute_names: list[str],
    config: EvaluationConfig,
    sources: dict[str, Any],
    retrieval_gallery: pd.DataFrame | None = None,
) -> list[dict[str, Any]]:
    """The metrics of every evaluation entry whose source has the images it reads, per network."""
    data = evaluation_data(held_out, attribute_names, config, retrieval_gallery)
    return evaluate.entry_metrics(outputs, evaluation_entries(config.entries, sources), data)


def summarise_metrics(
    bundle: ModelBundle,
    metrics: list[dict[str, Any]],
    config: EvaluationConfig,
    sources: dict[str, Any],
    tracking: Path,
    seed: int | None = None,
) -> tuple[dict[str, Any], pd.DataFrame]:
    """The variant's metrics (mean over its networks) and its per-attribute table; logs one summary line and
    the headline numbers for DVC (``<tracking>/<variant>/eval``, or ``<tracking>/<variant>/seed<k>/eval`` for a
    seed of the paper pipeline)."""
    summary, table = evaluate.summarise(bundle, metrics, evaluation_entries(config.entries, sources))
    logger.info(evaluate.summary_line(summary))
    log_final_metrics(run_folder(tracking, bundle.variant, seed) / "eval", summary)
    return summary, table


def retrieval_examples(
    outputs: list[evaluate.NetworkOutputs],
    held_out: dict[str, evaluate.HeldOut],
    attribute_names: list[str],
    config: EvaluationConfig,
    sources: dict[str, Any],
) -> dict[str, Any]:
    """What the retrieval figure shows: a few queries of the first network with their top-k gallery items."""
    data = evaluation_data(held_out, attribute_names, config)
    return evaluate.retrieval_examples(outputs[0], data, evaluation_entries(config.entries, sources))


def attribute_retrieval_examples(
    outputs: list[evaluate.NetworkOutputs],
    held_out: dict[str, evaluate.HeldOut],
    attribute_names: list[str],
    config: EvaluationConfig,
    sources: dict[str, Any],
) -> dict[str, Any]:
    """What the attribute retrieval figure shows: the commonest attribute queries and their top-k images."""
    data = evaluation_data(held_out, attribute_names, config)
    return evaluate.attribute_retrieval_examples(outputs[0], data, evaluation_entries(config.entries, sources))
