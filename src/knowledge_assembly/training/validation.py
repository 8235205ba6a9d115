"""Validation during training, one score set per evaluation entry (``params:evaluation.entries``) whose source
the run trains on and has validation data: a ``cross_camera`` entry on the training identities of its source held out
of training, an ``attributes`` entry on its source's val split (``sources.<name>.val``), else on the evaluation-only
attribute labels of its held-out identities. Keys ``val/<entry>/<measure>`` (``val/reid/market1501/mAP``).

Never the test splits. Held-out identities are searched all against all with the Market-1501 protocol (same
identity and camera removed per query), so every held-out image is a query once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from torch import nn

from ..config import ConfigError
from ..tasks import PROTOCOLS, TASKS


@dataclass(frozen=True)
class Holdout:
    """Rows of the reID training manifest kept for training (``fit_rows``, with labels renumbered 0..N-1 in
    ``fit_labels``) and held out for validation (``held_rows``)."""

    fit_rows: np.ndarray
    fit_labels: np.ndarray
    held_rows: np.ndarray


def hold_out_identities(
    source: str,
    labels: np.ndarray,
    cameras: np.ndarray,
    count: int,
    keep_at_least: int,
    setting: str = "validation.reid_holdout_ids",
) -> Holdout:
    """Hold out ``count`` identities of ``source`` (the number ``setting`` gives), evenly spaced over the identities
    seen by two cameras or more (a query needs a match in another camera); the choice depends only on the labels,
    never on the training seed."""
    identities = np.unique(labels)
    if count == 0:
        return Holdout(np.arange(len(labels)), labels, np.empty(0, dtype=np.int64))
    seen_twice = [i for i in identities if len(np.unique(cameras[labels == i])) >= 2]
    if count > len(seen_twice) or len(identities) - count < keep_at_least:
        raise ConfigError(
            f"{setting}={count}: the reID training set of source {source} has {len(identities)} "
            f"identities ({len(seen_twice)} seen by two cameras or more), and training needs at least {keep_at_least} "
            "(training.ids_per_batch); hold out fewer"
        )
    held = np.asarray(seen_twice)[(np.arange(count) * len(seen_twice)) // count]
    out = np.isin(labels, held)
    fit_rows = np.flatnonzero(~out)
    return Holdout(fit_rows, np.unique(labels[fit_rows], return_inverse=True)[1], np.flatnonzero(out))


@dataclass(frozen=True)
class ValidationData:
    """What evaluation entry ``entry`` (of ``task``, on ``source``) is validated on: ``images`` (``(N, H, W, 3)``
    uint8) normalised as images of training source ``domain``; identities (``pids``, ``cameras``) of a
    ``cross_camera`` entry, attribute ``labels`` of an ``attributes`` one. ``monitored``: counts in the ``mean``
    monitor (the source's training labels teach the task; not where they are evaluation-only);
    ``seen_both_ways``: a few held-out people, whose mA is taken over the attributes seen present and absent."""

    entry: str
    task: str
    protocol: str
    source: str
    images: np.ndarray
    domain: int
    pids: np.ndarray | None = None
    cameras: np.ndarray | None = None
    labels: np.ndarray | None = None
    monitored: bool = True
    seen_both_ways: bool = False

    def key(self, measure: str) -> str:
        return f"val/{self.entry}/{measure}"

    @property
    def monitored_key(self) -> str:
        """The score the ``mean`` monitor averages: the first validated measure of its protocol."""
        return self.key(PROTOCOLS[self.protocol].validated[0])


@dataclass(frozen=True)
class ValidationSet:
    """Every entry's validation data, in the order of the evaluation entries."""

    entries: tuple[ValidationData, ...] = ()

    def of_tasks(self, tasks: tuple[str, ...]) -> tuple[ValidationData, ...]:
        """The entries of the ``tasks`` a variant learns."""
        return tuple(data for data in self.entries if data.task in tasks)

    def monitored(self, tasks: tuple[str, ...]) -> tuple[str, ...]:
        """The scores the ``mean`` monitor averages for a variant learning ``tasks``."""
        return tuple(data.monitored_key for data in self.of_tasks(tasks) if data.monitored)


def validate(
    networks: list[nn.Module], data: ValidationSet, tasks: tuple[str, ...], batch_size: int, device
) -> dict[str, float]:
    """``val/<entry>/<measure>`` (e.g. ``val/reid/market1501/mAP``, ``val/par/pa100k/mA``) of every entry of the
    ``tasks`` a variant learns, the mean over ``networks``."""
    per_network = []
    for network in networks:
        scores = {}
        for entry in data.of_tasks(tasks):
            measured = TASKS[entry.task].validate(network, entry, batch_size, device)
            scores.update({entry.key(measure): value for measure, value in measured.items()})
        per_network.append(scores)
    return {key: float(np.mean([s[key] for s in per_network])) for key in per_network[0]}


def monitored_score(record: dict[str, float], monitor: str, monitored: tuple[str, ...]) -> float | None:
    """What "best" is measured by in an epoch's record: ``val/<monitor>`` (``monitor``: ``<entry>/<measure>``), or
    the ``mean`` of the ``monitored`` scores (:meth:`ValidationSet.monitored`; also where the variant does not
    learn the monitored entry's task); ``None`` if the epoch was not validated."""
    if f"val/{monitor}" in record:
        return float(record[f"val/{monitor}"])
    validated = [record[key] for key in monitored if key in record]
    return float(np.mean(validated)) if validated else None


def selected_validation(
    history: list[dict[str, float]], monitor: str, select: str, monitored: tuple[str, ...]
) -> dict[str, float]:
    """The validation scores (``val/*``) of the epoch whose weights became the model: the last validated epoch
    (``select: last``, validation runs after the last epoch) or the first best-scoring one (``best``); empty
    without validation."""
    validated = [r for r in history if monitored_score(r, monitor, monitored) is not None]
    if not validated:
        return {}
    chosen = validated[-1] if select == "last" else max(validated, key=lambda r: monitored_score(r, monitor, monitored))
    return {key: float(value) for key, value in chosen.items() if key.startswith("val/")}
