"""Pedestrian attribute metrics (Rethinking_of_PAR semantics)."""

from __future__ import annotations

import numpy as np

EPS = 1e-20


def attribute_metrics(probabilities: np.ndarray, labels: np.ndarray, threshold: float = 0.5) -> dict[str, object]:
    """mA, instance accuracy/precision/recall/F1 and per-attribute mA.

    Predictions are ``probability > threshold`` (strict). mA is the mean over
    attributes of (TPR + TNR) / 2; instance precision and recall are computed per
    image (0 when empty) and averaged; F1 = 2PR / (P + R) of those means.
    """
    if np.shape(probabilities) != np.shape(labels) or np.ndim(labels) != 2:
        raise ValueError(
            f"probabilities {np.shape(probabilities)} and labels {np.shape(labels)} must both be "
            "(images x attributes) of the same shape"
        )
    predicted = probabilities > threshold
    truth = labels.astype(bool)
    positives, negatives = truth.sum(0), (~truth).sum(0)
    tpr = (predicted & truth).sum(0) / (positives + EPS)
    tnr = (~predicted & ~truth).sum(0) / (negatives + EPS)
    per_attribute = (tpr + tnr) / 2
    overlap = (predicted & truth).sum(1)
    union = (predicted | truth).sum(1)
    precision = float(np.mean(overlap / (predicted.sum(1) + EPS)))
    recall = float(np.mean(overlap / (truth.sum(1) + EPS)))
    return {
        "mA": float(per_attribute.mean()),
        "accuracy": float(np.mean(overlap / (union + EPS))),
        "precision": precision,
        "recall": recall,
        "f1": 2 * precision * recall / (precision + recall + EPS),
        "per_attribute_mA": per_attribute.tolist(),
        "per_attribute_tpr": tpr.tolist(),
        "per_attribute_tnr": tnr.tolist(),
        "per_attribute_positives": positives.astype(int).tolist(),
    }
