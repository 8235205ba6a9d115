"""Validation during training: PAR on the PA-100K val split, reID on training identities held out of training.

Never the test splits. Held-out identities are searched all against all with the Market-1501 protocol (same
identity and camera removed per query), so every held-out image is a query once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from torch import nn

from ..config import PAR_SOURCE
from ..tasks import TASKS


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
    """Validation images (``(N, H, W, 3)`` uint8) and labels: held-out reID identities and the PAR val split, whose
    source is domain ``par_domain`` of the training sources. ``reid_attribute_labels``: the evaluation-only attribute
    labels of held-out reID images (rows ``reid_attribute_rows`` of ``reid_images``; none where that source has no
    such labels), read in the reID source's domain ``reid_domain``: how well PAR reads the reID cameras."""

    reid_images: np.ndarray
    reid_pids: np.ndarray
    reid_cameras: np.ndarray
    par_images: np.ndarray
    par_labels: np.ndarray
    par_domain: int = PAR_SOURCE
    reid_attribute_rows: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    reid_attribute_labels: np.ndarray = field(default_factory=lambda: np.empty((0, 0), dtype=np.uint8))
    reid_domain: int = 0


def validate(
    networks: list[nn.Module], data: ValidationSet, tasks: tuple[str, ...], batch_size: int, device
) -> dict[str, float]:
    """``val_<task>_<score>`` (e.g. ``val_reid_mAP``, ``val_par_mA``) of the ``tasks`` a variant learns, where
    there is validation data for them, the mean over ``networks``."""
    per_network = []
    for network in networks:
        scores = {}
        for name in (name for name in TASKS if name in tasks):
            task_scores = TASKS[name].validate(network, data, batch_size, device)
            scores.update({f"{name}_{score}": value for score, value in task_scores.items()})
        per_network.append(scores)
    return {f"val_{key}": float(np.mean([s[key] for s in per_network])) for key in per_network[0]}


def monitored_score(record: dict[str, float], monitor: str) -> float | None:
    """What "best" is measured by in an epoch's record: ``val_<monitor>``, or ``mean`` of every validated task's first
    score (reID mAP, PAR mA; also where the variant does not learn the monitored task); ``None`` if the epoch was
    not validated."""
    if f"val_{monitor}" in record:
        return float(record[f"val_{monitor}"])
    firsts = [f"val_{name}_{next(iter(task.validation_scores))}" for name, task in TASKS.items()]
    validated = [record[key] for key in firsts if key in record]
    return float(np.mean(validated)) if validated else None


def selected_validation(history: list[dict[str, float]], monitor: str, select: str) -> dict[str, float]:
    """The validation scores (``val_*``) of the epoch whose weights became the model: the last validated epoch
    (``select: last``, validation runs after the last epoch) or the first best-scoring one (``best``); empty
    without validation."""
    validated = [r for r in history if monitored_score(r, monitor) is not None]
    if not validated:
        return {}
    chosen = validated[-1] if select == "last" else max(validated, key=lambda r: monitored_score(r, monitor))
    return {key: float(value) for key, value in chosen.items() if key.startswith("val_")}
