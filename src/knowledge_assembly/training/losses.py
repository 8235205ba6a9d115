"""Supervised and cross-pseudo-supervision losses of Knowledge Assembly.

Cross-model terms take model A's output and model B's; B's side is always
detached, so B only supervises A (call twice, swapped, for both directions).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def id_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, smoothing: float = 0.0) -> torch.Tensor:
    """Identity classification loss."""
    return F.cross_entropy(logits, labels, label_smoothing=smoothing)


def positive_ratio_weights(targets: torch.Tensor, positive_ratio: torch.Tensor) -> torch.Tensor:
    """Per-element weights exp(1 - r) for positives and exp(r) for negatives (Li et al., DeepMAR)."""
    return torch.where(targets > 0.5, torch.exp(1.0 - positive_ratio), torch.exp(positive_ratio))


def attribute_bce(
    logits: torch.Tensor,
    targets: torch.Tensor,
    positive_ratio: torch.Tensor | None = None,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Binary cross-entropy summed over attributes and averaged over images (Rethinking_of_PAR's convention).

    Averaging over attributes as well would divide the PAR gradient by the number
    of attributes (40) and let the ID cross-entropy (~log(num_ids)) dominate a
    shared trunk. Optionally positive-ratio weighted and ``mask``-ed (masked
    elements count as absent; images still count in the mean).
    """
    weight = None if positive_ratio is None else positive_ratio_weights(targets, positive_ratio)
    loss = F.binary_cross_entropy_with_logits(logits, targets.float(), weight=weight, reduction="none")
    if mask is not None:
        loss = loss * mask.float()
    return loss.sum(dim=1).mean() if len(loss) else loss.sum()


def cross_model_triplet(
    anchor: torch.Tensor, other: torch.Tensor, margin: float, labels: torch.Tensor | None = None, normalize: bool = True
) -> torch.Tensor:
    """Triplet with anchor ``anchor[i]``, positive ``other[i]`` and the hardest in-batch negative from ``other``.

    Negatives are ``other[j]``, j != i (and ``labels[j] != labels[i]`` when labels are
    given), closest to the anchor; ``other`` is detached. With ``normalize`` the
    distance is the squared Euclidean distance of L2-normalised features
    (2 - 2 cos, in [0, 4]): bounded, and smooth where features coincide (plain
    Euclidean distance has an infinite gradient there, which collapses features
    of a network trained from scratch). Without it, plain Euclidean distance.
    """
    other = other.detach()
    if normalize:
        anchor, other = F.normalize(anchor, dim=1), F.normalize(other, dim=1)
        distance = (2.0 - 2.0 * anchor @ other.T).clamp_min(0.0)
    else:
        distance = torch.cdist(anchor, other)
    same = torch.eye(len(anchor), dtype=torch.bool, device=anchor.device)
    if labels is not None:
        same = same | (labels[:, None] == labels[None, :])
    negative = distance.masked_fill(same, float("inf")).min(dim=1).values
    valid = torch.isfinite(negative)
    if not valid.any():
        return anchor.sum() * 0.0
    return F.relu(distance.diagonal() - negative + margin)[valid].mean()


def dice_loss(
    probabilities: torch.Tensor, targets: torch.Tensor, smooth: float = 1.0, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """1 - soft DICE per sample (over attributes, only where ``mask``), averaged over the batch."""
    if mask is not None:
        probabilities, targets = probabilities * mask, targets * mask
    overlap = (probabilities * targets).sum(dim=1)
    total = probabilities.sum(dim=1) + targets.sum(dim=1)
    return (1.0 - (2.0 * overlap + smooth) / (total + smooth)).mean()


def pseudo_dice(logits: torch.Tensor, other_logits: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """DICE of this model's attribute probabilities against the other's thresholded (>0.5) output."""
    return dice_loss(torch.sigmoid(logits), (other_logits.detach() > 0).float(), mask=mask)


def pseudo_attribute_bce(
    logits: torch.Tensor, other_logits: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Attribute BCE (summed over attributes, averaged over images, as the supervised term) against the other
    model's hard decisions (>0.5): cross pseudo-supervision on the supervised term's scale (Chen et al., CPS)."""
    return attribute_bce(logits, (other_logits.detach() > 0).float(), mask=mask)


def pseudo_bce(logit: torch.Tensor, other_logit: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """BCE of this model's dataset logit against the other model's hard decision (>0.5)."""
    loss = F.binary_cross_entropy_with_logits(logit, (other_logit.detach() > 0).float(), reduction="none")
    if mask is None:
        return loss.mean()
    return (loss * mask).sum() / mask.sum().clamp_min(1.0)


def pseudo_cross_entropy(logits: torch.Tensor, other_logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """CE against the other output's arg-max class, on ``mask``-ed samples (FixMatch)."""
    loss = F.cross_entropy(logits, other_logits.detach().argmax(dim=1), reduction="none")
    return (loss * mask).sum() / mask.sum().clamp_min(1.0)
