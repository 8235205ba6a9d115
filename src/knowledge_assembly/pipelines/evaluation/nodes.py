"""Nodes of the ``evaluation`` pipeline."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from knowledge_assembly.config import EvaluationConfig
from knowledge_assembly.evaluation.evaluate import EvaluationData, evaluate_bundle


def evaluate_variant(
    bundle: dict[str, Any], reid_query: pd.DataFrame, reid_gallery: pd.DataFrame, query_images: np.ndarray,
    gallery_images: np.ndarray, par_test: pd.DataFrame, par_test_images: np.ndarray, reid_attributes: pd.DataFrame,
    reid_attribute_images: np.ndarray, params: EvaluationConfig,
) -> tuple[dict[str, Any], pd.DataFrame, dict[str, Any]]:
    """reID mAP / CMC on query vs gallery, PAR metrics on the PA-100K test split and on UPAR-labelled
    Market-1501 images (the reID domain; never used for training), averaged over the bundle's networks.

    Also returns the per-attribute table and what the retrieval figure shows.
    """
    data = EvaluationData(reid_query, reid_gallery, query_images, gallery_images, par_test, par_test_images,
                          reid_attributes, reid_attribute_images)
    return evaluate_bundle(bundle, data, params.as_dict())
