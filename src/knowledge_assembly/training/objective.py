"""The loss of one step for every variant: L = L_sup + λ·L_ssl."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..config import SSL_TERMS, TrainingConfig, VariantConfig
from . import losses

SUPERVISED_TERMS = ("id", "attr", "dataset")


@dataclass
class Batch:
    """One batch on the training device: a contiguous block of rows per source (``blocks``: rows of each, in source
    order), and per task the labels of the rows of the sources labelled for it (``labels``), which sit at
    ``rows[task]`` (a slice where those sources are adjacent, else row indices)."""

    blocks: tuple[int, ...]
    labels: dict[str, torch.Tensor]
    rows: dict[str, slice | torch.Tensor]
    positive_ratio: torch.Tensor | None

    @classmethod
    def of(
        cls,
        blocks: tuple[int, ...],
        labels: dict[str, torch.Tensor],
        labelled_sources: dict[str, tuple[int, ...]],
        positive_ratio: torch.Tensor | None = None,
    ) -> Batch:
        """The batch whose task labels come from the blocks of ``labelled_sources[task]``."""
        return cls(blocks, labels, {t: block_rows(blocks, labelled_sources[t]) for t in labels}, positive_ratio)

    @property
    def size(self) -> int:
        return sum(self.blocks)

    def labelled(self, task: str) -> int:
        """Rows of the batch labelled for ``task``."""
        return len(self.labels[task]) if task in self.labels else 0

    def source_index(self, device: torch.device) -> torch.Tensor:
        """The source of every row."""
        return torch.repeat_interleave(
            torch.arange(len(self.blocks), device=device), torch.tensor(self.blocks, device=device)
        )


def block_rows(blocks: tuple[int, ...], chosen: tuple[int, ...]) -> slice | torch.Tensor:
    """The rows of the ``chosen`` blocks: one slice where they are adjacent, else their row indices."""
    starts = [sum(blocks[:i]) for i in range(len(blocks) + 1)]
    if chosen and list(chosen) == list(range(chosen[0], chosen[-1] + 1)):
        return slice(starts[chosen[0]], starts[chosen[-1] + 1])
    return torch.cat([torch.arange(starts[i], starts[i + 1]) for i in chosen] or [torch.empty(0, dtype=torch.long)])


def shard_rows(blocks: tuple[int, ...], rank: int, world_size: int) -> list[torch.Tensor]:
    """This rank's equal share of each block of a batch's rows (each counted from the block's first row)."""
    if any(size % world_size for size in blocks):
        sizes = " + ".join(map(str, blocks))
        raise ValueError(f"batch of {sizes} images (per source) cannot be split evenly over {world_size} processes")
    return [torch.arange(rank * (size // world_size), (rank + 1) * (size // world_size)) for size in blocks]


def supervised_terms(
    out: dict[str, torch.Tensor], batch: Batch, variant: VariantConfig, config: TrainingConfig
) -> dict[str, torch.Tensor]:
    """ID cross-entropy on the identity-labelled rows and attribute BCE on the attribute-labelled rows (the paper's
    L_A + L_B).

    With ``dataset_logit_supervision`` a variant that pseudo-supervises the source classifier
    (``dataset_bce``) also learns it from the true source of each image of a batch of several sources,
    which anchors it (the paper does not say how it is trained).
    """
    terms = {}
    if "reid" in variant.supervised and batch.labelled("reid"):
        logits = out["id_logits"][batch.rows["reid"]]
        terms["id"] = losses.id_cross_entropy(logits, batch.labels["reid"], config.label_smoothing)
    if "par" in variant.supervised and batch.labelled("par"):
        logits = out["attribute_logits"][batch.rows["par"]]
        terms["attr"] = losses.attribute_bce(logits, batch.labels["par"], batch.positive_ratio)
    present = sum(size > 0 for size in batch.blocks)
    if config.dataset_logit_supervision and "dataset_bce" in variant.ssl and present > 1:
        source = batch.source_index(out["id_logits"].device)
        if "dataset_logit" in out:  # two sources: one logit, "from the first source"
            first = (source == 0).float()
            terms["dataset"] = torch.nn.functional.binary_cross_entropy_with_logits(out["dataset_logit"], first)
        else:
            terms["dataset"] = torch.nn.functional.cross_entropy(out["source_logits"], source)
    return terms


def cross_terms(
    student: dict, teacher: dict, batch: Batch, variant: VariantConfig, config: TrainingConfig, threshold: float | None
) -> dict[str, torch.Tensor]:
    """Pseudo-supervision of ``student`` by (detached) ``teacher`` on every row of the batch.

    With a confidence ``threshold`` (FixMatch), only confident teacher outputs count.
    """
    terms = {}
    margin = config.triplet_margin
    if "reid_triplet" in variant.ssl:  # rows without an identity label are negatives of every other row
        device = student["reid_feature"].device
        labels = -1 - torch.arange(batch.size, device=device)
        if batch.labelled("reid"):
            labels[batch.rows["reid"]] = batch.labels["reid"]
        terms["reid_triplet"] = losses.cross_model_triplet(
            student["reid_feature"], teacher["reid_feature"], margin, labels
        )
    if "par_triplet" in variant.ssl:
        terms["par_triplet"] = losses.cross_model_triplet(student["par_feature"], teacher["par_feature"], margin)
    if "dataset_bce" in variant.ssl and "dataset_logit" in student:  # two sources: the dataset logit
        mask = None if threshold is None else _confident(torch.sigmoid(teacher["dataset_logit"].detach()), threshold)
        terms["dataset_bce"] = losses.pseudo_bce(student["dataset_logit"], teacher["dataset_logit"], mask)
    elif "dataset_bce" in variant.ssl:  # M > 2 sources: the source classifier against the teacher's arg-max
        confidence = torch.softmax(teacher["source_logits"].detach(), dim=1).max(dim=1).values
        mask = (confidence > (threshold or 0.0)).float()
        terms["dataset_bce"] = losses.pseudo_cross_entropy(student["source_logits"], teacher["source_logits"], mask)
    if "dice" in variant.ssl:
        mask = None if threshold is None else _confident(torch.sigmoid(teacher["attribute_logits"].detach()), threshold)
        terms["dice"] = losses.pseudo_dice(student["attribute_logits"], teacher["attribute_logits"], mask)
    if "attribute_pseudo" in variant.ssl:  # hard pseudo-labels: always only where the teacher is confident
        confidence = threshold if threshold is not None else config.confidence_threshold
        mask = _confident(torch.sigmoid(teacher["attribute_logits"].detach()), confidence)
        terms["attribute_pseudo"] = losses.pseudo_attribute_bce(
            student["attribute_logits"], teacher["attribute_logits"], mask
        )
    if "id_pseudo" in variant.ssl:
        confidence = torch.softmax(teacher["id_logits"].detach(), dim=1).max(dim=1).values
        mask = (confidence > (threshold or 0.0)).float()
        terms["id_pseudo"] = losses.pseudo_cross_entropy(student["id_logits"], teacher["id_logits"], mask)
    return terms


def _confident(probability: torch.Tensor, threshold: float) -> torch.Tensor:
    return (torch.maximum(probability, 1 - probability) > threshold).float()


def ssl_ramp(epoch: int, warmup_epochs: int) -> float:
    """Sigmoid-shaped ramp-up of the SSL weight, exp(-5 (1 - t)^2) (Laine & Aila), 1 after warm-up."""
    if warmup_epochs <= 0 or epoch >= warmup_epochs:
        return 1.0
    return math.exp(-5.0 * (1.0 - epoch / warmup_epochs) ** 2)


def step_losses(
    outputs: list[dict],
    batch: Batch,
    variant: VariantConfig,
    config: TrainingConfig,
    strong_view: dict | None = None,
    ramp: float = 1.0,
) -> dict[str, torch.Tensor]:
    """All loss terms of one step plus ``sup``, ``ssl`` and ``total``.

    ``outputs``: one dict per network (two for NetAug variants); supervised terms
    of the networks are summed and each supervises the other. For the
    weak/strong (ImgAug) variant, ``outputs[0]`` is the weak view, which carries
    the supervised terms and, where confident, teaches ``strong_view``.
    """
    terms: dict[str, torch.Tensor] = {}

    def add(new: dict[str, torch.Tensor]) -> None:
        for key, value in new.items():
            terms[key] = terms[key] + value if key in terms else value

    for out in outputs:
        add(supervised_terms(out, batch, variant, config))
    if variant.ssl and variant.networks == 2:
        add(cross_terms(outputs[0], outputs[1], batch, variant, config, None))
        add(cross_terms(outputs[1], outputs[0], batch, variant, config, None))
    elif variant.ssl:
        add(cross_terms(strong_view, outputs[0], batch, variant, config, config.confidence_threshold))
    zero = next(iter(outputs[0].values())).sum() * 0.0
    sup = sum((terms[k] for k in SUPERVISED_TERMS if k in terms), zero)
    ssl = sum((terms[k] for k in SSL_TERMS if k in terms), zero)
    weighted_ssl = config.ssl_weight * ramp * ssl
    return {**terms, "sup": sup, "ssl": ssl, "weighted_ssl": weighted_ssl, "total": sup + weighted_ssl}


GRADIENT_TERMS = {"grad_reid": "id", "grad_par": "attr", "grad_dataset": "dataset", "grad_ssl": "weighted_ssl"}


def trunk_gradient_norms(
    terms: dict[str, torch.Tensor], trunk: list[torch.nn.Parameter], world_size: int = 1
) -> dict[str, float]:
    """L2 norm of each task's gradient on the shared trunk (reID CE, attribute BCE, dataset BCE, λ·L_ssl).

    Makes an imbalance between the tasks visible: a task whose gradient is far
    smaller than the others' barely shapes the shared features. With ``world_size`` > 1
    the gradients of the ranks' shards are averaged first (the gradient of the global batch).
    """
    norms = {}
    has_ssl = any(k in terms for k in SSL_TERMS)
    for name, key in GRADIENT_TERMS.items():
        if key not in terms or not terms[key].requires_grad or (key == "weighted_ssl" and not has_ssl):
            continue
        grads = torch.autograd.grad(terms[key], trunk, retain_graph=True, allow_unused=True)
        flat = torch.cat(
            [(torch.zeros_like(p) if g is None else g.detach()).float().flatten() for g, p in zip(grads, trunk)]
        )
        if world_size > 1:
            torch.distributed.all_reduce(flat)
            flat /= world_size
        norms[name] = float(flat.norm())
    return norms
