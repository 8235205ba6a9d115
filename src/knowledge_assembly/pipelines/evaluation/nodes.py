"""Nodes of the ``evaluation`` pipeline: outputs of the networks → reID / PAR metrics → summary; retrieval examples."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from knowledge_assembly.config import EvaluationConfig
from knowledge_assembly.evaluation import evaluate
from knowledge_assembly.formats.manifests import ATTRIBUTE_TESTS, OTHER_ATTRIBUTE_TESTS
from knowledge_assembly.models.bundle import ModelBundle
from knowledge_assembly.reports.tracking import log_final_metrics, run_folder
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


def attribute_tests(**tables: Any) -> evaluate.AttributeTests:
    """The other attribute test splits and every attribute dataset's validation images
    (:class:`~knowledge_assembly.evaluation.evaluate.AttributeTests`); ``tables`` holds ``<manifest>`` and
    ``<manifest>_images`` of each such split and ``<split>_images`` of each validation split (the pipeline wires
    them)."""
    return evaluate.AttributeTests(
        {test.manifest: tables[test.manifest] for test in OTHER_ATTRIBUTE_TESTS},
        {test.manifest: tables[f"{test.manifest}_images"] for test in OTHER_ATTRIBUTE_TESTS},
        {test.val_split: tables.get(f"{test.val_split}_images") for test in ATTRIBUTE_TESTS},
    )


def test_images(
    query: np.ndarray,
    gallery: np.ndarray,
    par_test: np.ndarray,
    reid_attributes: np.ndarray,
    tests: evaluate.AttributeTests,
    sources: dict[str, Any],
    domains: dict[str, evaluate.DomainTest] | None = None,
    retrieval_gallery: pd.DataFrame | None = None,
) -> evaluate.TestImages:
    """The test images, each attribute test split with its source (``sources.<name>.test``), every source's
    held-out test data and the validation images a UPAR retrieval gallery draws on."""
    return evaluate.TestImages(
        query,
        gallery,
        par_test,
        reid_attributes,
        attribute_tests=tests.images,
        sources=test_split_sources(sources),
        domains=domains or {},
        retrieval=evaluate.retrieval_images(retrieval_gallery, **tests.val_images),
    )


def network_outputs(
    bundle: ModelBundle,
    query_images: np.ndarray,
    gallery_images: np.ndarray,
    par_test_images: np.ndarray,
    reid_attribute_images: np.ndarray,
    tests: evaluate.AttributeTests,
    domains: dict[str, evaluate.DomainTest],
    config: EvaluationConfig,
    sources: dict[str, Any],
    retrieval_gallery: pd.DataFrame | None = None,
) -> list[evaluate.NetworkOutputs]:
    """Features and attribute probabilities of every network of the bundle on the test images (each attribute test
    split, and each source's held-out images, in its source's domain; the validation images a UPAR retrieval
    gallery draws on, in theirs)."""
    images = test_images(
        query_images, gallery_images, par_test_images, reid_attribute_images, tests, sources, domains,
        retrieval_gallery,
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
    tests: evaluate.AttributeTests,
    attribute_names: list[str],
    config: EvaluationConfig,
    retrieval_gallery: pd.DataFrame | None = None,
) -> list[dict[str, Any]]:
    """PAR metrics of every network on the attribute task's test split, on the UPAR-labelled images of the reID
    test dataset (the reID domain; never used for training) and on each other attribute test split that has images;
    attribute-based retrieval over a UPAR retrieval pair's gallery where ingestion read one."""
    return evaluate.par_metrics(
        outputs, par_test, reid_attributes, attribute_names, config, tests.manifests, retrieval_gallery
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
    seed: int | None = None,
) -> tuple[dict[str, Any], pd.DataFrame]:
    """The variant's metrics (mean over its networks) and its per-attribute table; logs one summary line and
    the headline numbers for DVC (``<tracking>/<variant>/eval``, or ``<tracking>/<variant>/seed<k>/eval`` for a
    seed of the paper pipeline)."""
    metrics, table = evaluate.summarise(bundle, reid, par, config, domains)
    logger.info(evaluate.summary_line(metrics))
    log_final_metrics(run_folder(tracking, bundle.variant, seed) / "eval", metrics)
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
