"""Task type ``identity`` (person reID): ID cross-entropy on identity-labelled rows; SSL: the cross-model triplet
on its feature. Its head's classifier also classifies the source (domain) of each image: one logit "from the first
source" for two sources (the paper's dataset logit), M logits for M > 2 sources, with its own supervised term
(``dataset``) and SSL term (``dataset_bce``)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..training import losses
from .base import Outputs, Protocol, TaskType, confident, confident_classes

SOURCE_TERM = "dataset"  # the source classifier's supervised term


def source_logit_count(num_sources: int) -> int:
    """Source-classifier outputs: one logit for two sources (as the paper's dataset logit), else one per source."""
    return 1 if num_sources <= 2 else num_sources


@dataclass(frozen=True)
class Identity(TaskType):
    name = "reid"
    feature = "reid_feature"
    logits = "id_logits"
    supervised_term = "id"
    ssl_terms = ("reid_triplet", "dataset_bce", "id_pseudo")
    label = "reID"
    # the source's query images ranked against its gallery, a query's same-identity same-camera gallery images left
    # out (Market-1501's protocol, as torchreid and fast-reid): mAP and the CMC
    protocols = {
        "cross_camera": Protocol(
            "query",
            {"mAP": "mAP", "rank1": "R-1", "rank5": "R-5", "rank10": "R-10"},
            headline=("mAP", "rank1"),
            validated=("mAP", "rank1"),  # during training: the source's held-out training identities
        )
    }

    def label_count(self, labels) -> int:
        """Identities are numbered 0..N-1 (one class where no source is identity-labelled)."""
        return int(labels.max()) + 1 if len(labels) else 1

    def head_outputs(self, num_labels: int, num_sources: int) -> int:
        return num_labels + source_logit_count(num_sources)

    def outputs(self, feature: torch.Tensor, logits: torch.Tensor, num_labels: int) -> Outputs:
        source = logits[:, num_labels:]
        return {
            self.feature: feature,
            self.logits: logits[:, :num_labels],
            **({"dataset_logit": source[:, 0]} if source.shape[1] == 1 else {"source_logits": source}),
        }

    def supervised(self, out, batch, variant, config) -> Outputs:
        """ID cross-entropy; with ``dataset_logit_supervision``, a variant that pseudo-supervises the source
        classifier also learns it from the true source of each image of a batch of several sources (the paper
        does not say how it is trained)."""
        terms = {}
        if self.name in variant.supervised and batch.labelled(self.name):
            logits = out[self.logits][batch.rows[self.name]]
            labels = batch.labels[self.name]
            terms[self.supervised_term] = losses.id_cross_entropy(logits, labels, config.label_smoothing)
        present = sum(size > 0 for size in batch.blocks)
        if config.dataset_logit_supervision and "dataset_bce" in variant.ssl and present > 1:
            source = batch.source_index(out[self.logits].device)
            if "dataset_logit" in out:  # two sources: one logit, "from the first source"
                first = (source == 0).float()
                terms[SOURCE_TERM] = torch.nn.functional.binary_cross_entropy_with_logits(out["dataset_logit"], first)
            else:
                terms[SOURCE_TERM] = torch.nn.functional.cross_entropy(out["source_logits"], source)
        return terms

    def cross_terms(self, student, teacher, batch, variant, config, threshold) -> Outputs:
        terms = {}
        if "reid_triplet" in variant.ssl:  # rows without an identity label are negatives of every other row
            labels = -1 - torch.arange(batch.size, device=student[self.feature].device)
            if batch.labelled(self.name):
                labels[batch.rows[self.name]] = batch.labels[self.name]
            terms["reid_triplet"] = losses.cross_model_triplet(
                student[self.feature], teacher[self.feature], config.triplet_margin, labels
            )
        if "dataset_bce" in variant.ssl and "dataset_logit" in student:  # two sources: the dataset logit
            mask = None if threshold is None else confident(torch.sigmoid(teacher["dataset_logit"].detach()), threshold)
            terms["dataset_bce"] = losses.pseudo_bce(student["dataset_logit"], teacher["dataset_logit"], mask)
        elif "dataset_bce" in variant.ssl:  # M > 2 sources: the source classifier against the teacher's arg-max
            mask = confident_classes(teacher["source_logits"], threshold)
            terms["dataset_bce"] = losses.pseudo_cross_entropy(student["source_logits"], teacher["source_logits"], mask)
        if "id_pseudo" in variant.ssl:
            mask = confident_classes(teacher[self.logits], threshold)
            terms["id_pseudo"] = losses.pseudo_cross_entropy(student[self.logits], teacher[self.logits], mask)
        return terms

    def validate(self, network, data, batch_size, device) -> dict[str, float]:
        """mAP and rank-1 of the held-out training identities searched all against all."""
        from ..evaluation.reid_metrics import distance_matrix, evaluate_rank
        from ..models.prediction import predict  # here: the models import config, which imports the tasks

        features = predict(network, data.images, batch_size, device, domain=data.domain)["reid_feature"]
        pids, cameras = data.pids, data.cameras
        cmc, mean_ap = evaluate_rank(distance_matrix(features, features), pids, pids, cameras, cameras, 1)
        return {"mAP": mean_ap, "rank1": float(cmc[0])}
