"""Validation during training: PAR on the PA-100K val split, reID on training identities held out of training.

Never the test splits. Held-out identities are searched all against all with the Market-1501 protocol (same
identity and camera removed per query), so every held-out image is a query once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from torch import nn

from ..config import PAR_SOURCE
from ..evaluation.par_metrics import attribute_metrics
from ..evaluation.reid_metrics import distance_matrix, evaluate_rank
from ..models.prediction import predict


@dataclass(frozen=True)
class Holdout:
    """Rows of the reID training manifest kept for training (``fit_rows``, with labels renumbered 0..N-1 in
    ``fit_labels``) and held out for validation (``held_rows``)."""

    fit_rows: np.ndarray
    fit_labels: np.ndarray
    held_rows: np.ndarray


def hold_out_identities(labels: np.ndarray, cameras: np.ndarray, count: int, keep_at_least: int) -> Holdout:
    """Hold out ``count`` identities, evenly spaced over the identities seen by two cameras or more (a query needs a
    match in another camera); the choice depends only on the labels, never on the training seed."""
    identities = np.unique(labels)
    if count == 0:
        return Holdout(np.arange(len(labels)), labels, np.empty(0, dtype=np.int64))
    seen_twice = [i for i in identities if len(np.unique(cameras[labels == i])) >= 2]
    if count > len(seen_twice) or len(identities) - count < keep_at_least:
        raise ValueError(
            f"validation.reid_holdout_ids={count}: the reID training set has {len(identities)} identities "
            f"({len(seen_twice)} seen by two cameras or more), and training needs at least {keep_at_least} "
            "(training.ids_per_batch); hold out fewer"
        )
    held = np.asarray(seen_twice)[(np.arange(count) * len(seen_twice)) // count]
    out = np.isin(labels, held)
    fit_rows = np.flatnonzero(~out)
    return Holdout(fit_rows, np.unique(labels[fit_rows], return_inverse=True)[1], np.flatnonzero(out))


@dataclass(frozen=True)
class ValidationSet:
    """Validation images (``(N, H, W, 3)`` uint8) and labels: held-out reID identities and the PAR val split."""

    reid_images: np.ndarray
    reid_pids: np.ndarray
    reid_cameras: np.ndarray
    par_images: np.ndarray
    par_labels: np.ndarray


def validate(
    networks: list[nn.Module], data: ValidationSet, tasks: tuple[str, ...], batch_size: int, device
) -> dict[str, float]:
    """``val_reid_mAP`` / ``val_reid_rank1`` and ``val_par_mA`` / ``val_par_f1`` (the ``tasks`` a variant learns,
    where it has validation data), the mean over ``networks``."""
    per_network = []
    for network in networks:
        scores = {}
        if "reid" in tasks and len(data.reid_pids):
            features = predict(network, data.reid_images, batch_size, device)["reid_feature"]
            pids, cameras = data.reid_pids, data.reid_cameras
            cmc, mean_ap = evaluate_rank(distance_matrix(features, features), pids, pids, cameras, cameras, 1)
            scores.update(reid_mAP=mean_ap, reid_rank1=float(cmc[0]))
        if "par" in tasks and len(data.par_labels):
            probability = predict(network, data.par_images, batch_size, device, domain=PAR_SOURCE)
            metrics = attribute_metrics(probability["attribute_probability"], data.par_labels)
            scores.update(par_mA=metrics["mA"], par_f1=metrics["f1"])
        per_network.append(scores)
    return {f"val_{key}": float(np.mean([s[key] for s in per_network])) for key in per_network[0]}


def monitored_score(record: dict[str, float], monitor: str) -> float | None:
    """What "best" is measured by in an epoch's record: ``val_<monitor>``, or ``mean`` of the validated reID mAP and
    PA-100K mA (also where the variant does not learn the monitored task); ``None`` if the epoch was not validated."""
    if f"val_{monitor}" in record:
        return float(record[f"val_{monitor}"])
    validated = [record[key] for key in ("val_reid_mAP", "val_par_mA") if key in record]
    return float(np.mean(validated)) if validated else None
