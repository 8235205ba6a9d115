"""Task type ``attributes`` (pedestrian attribute recognition): BCE with positive-ratio weighting on
attribute-labelled rows; SSL: DICE against the other network's thresholded attributes, the cross-model triplet on
its feature, and (FixMatch-style) hard pseudo-labels where the teacher is confident."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..training import losses
from .base import Outputs, Protocol, TaskType, confident

# every attribute of a training row MISSING (uint8): an image of an attribute source that carries no label (one its
# release leaves unlabelled, ingestion.upar.unlabelled=train); its source's supervised loss leaves it out
MISSING = 255


@dataclass(frozen=True)
class Attributes(TaskType):
    name = "par"
    feature = "par_feature"
    logits = "attribute_logits"
    supervised_term = "attr"
    ssl_terms = ("dice", "par_triplet", "attribute_pseudo")
    label = "PAR"
    protocols = {
        # label-based mA, instance-based accuracy, precision, recall and F1 of the attribute-labelled images
        "attributes": Protocol(
            "attributes",
            {
                "mA": "mA",
                "accuracy": "Acc",
                "precision": "Prec",
                "recall": "Rec",
                "f1": "F1",
                "mA_colour": "mA colour",
                "mA_other": "mA other",
            },
            headline=("mA", "f1"),
            validated=("mA", "f1"),  # during training: its val split, else its held-out identities' labels
        ),
        # attribute-based person retrieval over them (or over a UPAR retrieval pair's gallery)
        "attribute_retrieval": Protocol("attributes", {"mAP": "mAP", "rank1": "R-1"}, ("mAP",)),
    }

    def label_count(self, labels) -> int:
        """One output per attribute column (none where no source is attribute-labelled)."""
        return labels.shape[1] if labels.ndim == 2 else 0

    def labelled_rows(self, labels) -> np.ndarray:
        """Rows with an attribute label: not every attribute :data:`MISSING`."""
        return ~(labels == MISSING).all(axis=1) if labels.ndim == 2 else np.ones(len(labels), dtype=bool)

    def supervised(self, out, batch, variant, config) -> Outputs:
        if self.name not in variant.supervised or not batch.labelled(self.name):
            return {}
        logits = out[self.logits][batch.rows[self.name]]
        return {self.supervised_term: losses.attribute_bce(logits, batch.labels[self.name], batch.positive_ratio)}

    def cross_terms(self, student, teacher, batch, variant, config, threshold) -> Outputs:
        terms = {}
        if "par_triplet" in variant.ssl:
            terms["par_triplet"] = losses.cross_model_triplet(
                student[self.feature], teacher[self.feature], config.triplet_margin
            )
        if "dice" in variant.ssl:
            mask = None if threshold is None else confident(torch.sigmoid(teacher[self.logits].detach()), threshold)
            terms["dice"] = losses.pseudo_dice(student[self.logits], teacher[self.logits], mask)
        if "attribute_pseudo" in variant.ssl:  # hard pseudo-labels: always only where the teacher is confident
            level = threshold if threshold is not None else config.confidence_threshold
            mask = confident(torch.sigmoid(teacher[self.logits].detach()), level)
            terms["attribute_pseudo"] = losses.pseudo_attribute_bce(student[self.logits], teacher[self.logits], mask)
        return terms

    def validate(self, network, data, batch_size, device) -> dict[str, float]:
        """mA and F1 of the entry's validation images, normalised as images of their training source; on a few
        held-out people (``data.seen_both_ways``: evaluation-only labels of held-out identities) the mA of the
        attributes seen both present and absent among them only."""
        from ..evaluation.par_metrics import attribute_metrics
        from ..models.prediction import predict  # here: the models import config, which imports the tasks

        probability = predict(network, data.images, batch_size, device, domain=data.domain)["attribute_probability"]
        metrics = attribute_metrics(probability, data.labels)
        if not data.seen_both_ways:
            return {"mA": metrics["mA"], "f1": metrics["f1"]}
        labels = data.labels.astype(bool)
        both = labels.any(0) & (~labels).any(0)
        return {"mA": float(np.mean(np.asarray(metrics["per_attribute_mA"])[both])) if both.any() else 0.5}
