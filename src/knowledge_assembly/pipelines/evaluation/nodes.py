"""Nodes of the ``evaluation`` pipeline: outputs of the networks → reID / PAR metrics → summary; retrieval examples."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from knowledge_assembly.config import EvaluationConfig
from knowledge_assembly.evaluation import evaluate
from knowledge_assembly.models.bundle import ModelBundle
from knowledge_assembly.reports.tracking import log_final_metrics
from knowledge_assembly.sources import EVALUATION_SPLITS, evaluated_sources, test_split_sources

logger = logging.getLogger(__name__)


def evaluation_domains(sources: dict[str, Any], **tables: Any) -> dict[str, evaluate.DomainTest]:
    """The held-out test data of every source that names some (``sources.<name>.evaluation``) and has any (a source
    whose raw root is absent has empty manifests and is left out). ``tables`` holds ``<manifest>`` and
    ``<manifest>_images`` of each such manifest (the pipeline wires them)."""
    domains = {}
    for source, names in evaluated_sources(sources).items():
        manifests = {split: tables[name] for split, name in names.items()}
        if any(len(frame) for frame in manifests.values()):
            images = {split: tables[f"{name}_images"] for split, name in names.items()}
            domains[source] = evaluate.DomainTest(
                *(manifests.get(split, pd.DataFrame()) for split in EVALUATION_SPLITS),
                *(images.get(split, NO_IMAGES) for split in EVALUATION_SPLITS),
            )
    return domains


NO_IMAGES = np.empty((0, 1, 1, 3), dtype=np.uint8)  # a split a source does not name


def test_images(
    query: np.ndarray,
    gallery: np.ndarray,
    par_test: np.ndarray,
    reid_attributes: np.ndarray,
    peta_test: np.ndarray,
    sources: dict[str, Any],
    domains: dict[str, evaluate.DomainTest] | None = None,
    retrieval: dict[str, np.ndarray] | None = None,
) -> evaluate.TestImages:
    """The test images, each attribute test split with its source (``sources.<name>.test``), every source's
    held-out test data and the validation images a UPAR retrieval gallery draws on."""
    return evaluate.TestImages(
        query,
        gallery,
        par_test,
        reid_attributes,
        peta_test,
        test_split_sources(sources),
        domains or {},
        retrieval or {},
    )


def network_outputs(
    bundle: ModelBundle,
    query_images: np.ndarray,
    gallery_images: np.ndarray,
    par_test_images: np.ndarray,
    reid_attribute_images: np.ndarray,
    peta_test_images: np.ndarray,
    domains: dict[str, evaluate.DomainTest],
    config: EvaluationConfig,
    sources: dict[str, Any],
    retrieval_gallery: pd.DataFrame | None = None,
    par_val_images: np.ndarray | None = None,
    peta_val_images: np.ndarray | None = None,
) -> list[evaluate.NetworkOutputs]:
    """Features and attribute probabilities of every network of the bundle on the test images (each attribute test
    split, and each source's held-out images, in its source's domain; the validation images a UPAR retrieval
    gallery draws on, in theirs)."""
    retrieval = evaluate.retrieval_images(retrieval_gallery, par_val=par_val_images, peta_val=peta_val_images)
    images = test_images(
        query_images, gallery_images, par_test_images, reid_attribute_images, peta_test_images, sources, domains,
        retrieval,
    )  # fmt: skip
    return evaluate.network_outputs(bundle, images, config.batch_size)


def reid_metrics(
    outputs: list[evaluate.NetworkOutputs],
    reid_query: pd.DataFrame,
    reid_gallery: pd.DataFrame,
    config: EvaluationConfig,
) -> list[dict[str, Any]]:
    """reID mAP and CMC of every network on query vs gallery."""
    return evaluate.reid_metrics(outputs, reid_query, reid_gallery, config)


def par_metrics(
    outputs: list[evaluate.NetworkOutputs],
    par_test: pd.DataFrame,
    reid_attributes: pd.DataFrame,
    peta_test: pd.DataFrame,
    attribute_names: list[str],
    config: EvaluationConfig,
    retrieval_gallery: pd.DataFrame | None = None,
) -> list[dict[str, Any]]:
    """PAR metrics of every network on the PA-100K test split, on the UPAR-labelled Market-1501 images (the reID
    domain; never used for training) and on PETA's test split where there is PETA; attribute-based retrieval over
    a UPAR retrieval pair's gallery where ingestion read one."""
    return evaluate.par_metrics(
        outputs, par_test, reid_attributes, attribute_names, config, peta_test, retrieval_gallery
    )


def domain_metrics(
    outputs: list[evaluate.NetworkOutputs],
    domains: dict[str, evaluate.DomainTest],
    attribute_names: list[str],
    config: EvaluationConfig,
) -> list[dict[str, Any]]:
    """reID and PAR metrics of every network on each source's held-out images (in that source's domain)."""
    return evaluate.domain_metrics(outputs, domains, attribute_names, config)


def summarise_metrics(
    bundle: ModelBundle,
    reid: list[dict[str, Any]],
    par: list[dict[str, Any]],
    domains: list[dict[str, Any]],
    config: EvaluationConfig,
    tracking: Path,
) -> tuple[dict[str, Any], pd.DataFrame]:
    """The variant's metrics (mean over its networks) and its per-attribute table; logs one summary line and
    the headline numbers for DVC (``<tracking>/<variant>/eval``)."""
    metrics, table = evaluate.summarise(bundle, reid, par, config, domains)
    logger.info(evaluate.summary_line(metrics))
    log_final_metrics(Path(tracking) / bundle.variant / "eval", metrics)
    return metrics, table


def retrieval_examples(
    outputs: list[evaluate.NetworkOutputs],
    reid_query: pd.DataFrame,
    reid_gallery: pd.DataFrame,
    reid_attributes: pd.DataFrame,
    attribute_names: list[str],
    config: EvaluationConfig,
) -> dict[str, Any]:
    """What the retrieval figure shows: a few queries of the first network with their top-k gallery items."""
    return evaluate.retrieval_examples(outputs[0], reid_query, reid_gallery, reid_attributes, attribute_names, config)


def attribute_retrieval_examples(
    outputs: list[evaluate.NetworkOutputs], par_test: pd.DataFrame, attribute_names: list[str], config: EvaluationConfig
) -> dict[str, Any]:
    """What the attribute retrieval figure shows: the commonest attribute queries and their top-k test images."""
    return evaluate.attribute_retrieval_examples(outputs[0], par_test, attribute_names, config)
