"""What every task type provides: its head's outputs, its supervised loss, its cross pseudo-supervision (SSL)
terms, its validation scores, its evaluation protocols and its headline names. A task is a type plus its label
space (the number of classes its head predicts, taken from the training data)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import torch

if TYPE_CHECKING:
    from ..config import TrainingConfig, VariantConfig
    from ..training.objective import Batch
    from ..training.validation import ValidationData

Outputs = dict[str, torch.Tensor]


@dataclass(frozen=True)
class Protocol:
    """How an evaluation entry (``params:evaluation.entries``) measures a task on a source's held-out images: the
    ``split`` it reads (``query``: ranked against the source's gallery), the measures it gives (metric key: the
    label in summaries and tables), its default headline measures and the measures validation during training
    reports for an entry of it (``val/<entry>/<measure>``; none: not validated; the first is what the ``mean``
    monitor averages)."""

    split: str
    measures: dict[str, str]
    headline: tuple[str, ...]
    validated: tuple[str, ...] = ()

    @property
    def splits(self) -> tuple[str, ...]:
        """Every held-out split of its source it reads."""
        return ("query", "gallery") if self.split == "query" else (self.split,)


@dataclass(frozen=True)
class TaskType:
    """One task of the network. ``name`` is its key in configuration (variants' ``supervised``, sources'
    ``tasks``), in batches' labels and in metric names; ``feature`` and ``logits`` are its head's outputs."""

    name: ClassVar[str]
    feature: ClassVar[str]
    logits: ClassVar[str]
    supervised_term: ClassVar[str]  # its supervised loss term
    ssl_terms: ClassVar[tuple[str, ...]]  # the cross pseudo-supervision terms it owns
    label: ClassVar[str]  # in figures and messages
    protocols: ClassVar[dict[str, Protocol]]  # how evaluation entries may measure it, by name

    def label_count(self, labels: np.ndarray) -> int:
        """Classes of the task's label space, from every training label of it (``labels``: one row per image)."""
        raise NotImplementedError

    def labelled_rows(self, labels: np.ndarray) -> np.ndarray:
        """Which training rows carry a label of the task (``labels``: one row per image); all by default."""
        return np.ones(len(labels), dtype=bool)

    def head_outputs(self, num_labels: int, num_sources: int) -> int:
        """Outputs of the head's classifier for a label space of ``num_labels`` classes."""
        return num_labels

    def outputs(self, feature: torch.Tensor, logits: torch.Tensor, num_labels: int) -> Outputs:
        """The head's named outputs."""
        return {self.feature: feature, self.logits: logits}

    def supervised(self, out: Outputs, batch: Batch, variant: VariantConfig, config: TrainingConfig) -> Outputs:
        """Supervised loss terms on the rows labelled for this task."""
        raise NotImplementedError

    def cross_terms(
        self,
        student: Outputs,
        teacher: Outputs,
        batch: Batch,
        variant: VariantConfig,
        config: TrainingConfig,
        threshold: float | None,
    ) -> Outputs:
        """The variant's SSL terms of this task: ``student`` pseudo-supervised by the detached ``teacher``."""
        raise NotImplementedError

    def validate(self, network: torch.nn.Module, data: ValidationData, batch_size: int, device) -> dict[str, float]:
        """One network's validation scores on one entry's validation data, by measure."""
        raise NotImplementedError


def confident(probability: torch.Tensor, threshold: float) -> torch.Tensor:
    """1 where a binary probability is further than ``threshold`` from undecided, else 0."""
    return (torch.maximum(probability, 1 - probability) > threshold).float()


def confident_classes(logits: torch.Tensor, threshold: float | None) -> torch.Tensor:
    """1 where the soft-max of ``logits`` exceeds ``threshold`` (0 without one), else 0."""
    confidence = torch.softmax(logits.detach(), dim=1).max(dim=1).values
    return (confidence > (threshold or 0.0)).float()
