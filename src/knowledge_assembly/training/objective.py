"""The loss of one step for every variant: L = L_sup + λ·L_ssl."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..config import TrainingConfig, VariantConfig
from ..tasks import SOURCE_TERM, SSL_TERMS, TASKS


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
        label_rows: dict[str, torch.Tensor] | None = None,
    ) -> Batch:
        """The batch whose task labels come from the blocks of ``labelled_sources[task]`` (from the rows of
        ``label_rows[task]`` only, where given: some rows of those blocks carry no label of it)."""
        rows = {t: block_rows(blocks, labelled_sources[t]) for t in labels} | (label_rows or {})
        return cls(blocks, labels, rows, positive_ratio)

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
    """Every task's supervised terms on the rows labelled for it (the paper's L_A + L_B, and the source
    classifier's; see :mod:`knowledge_assembly.tasks`)."""
    terms = {}
    for task in TASKS.values():
        terms.update(task.supervised(out, batch, variant, config))
    return terms


def cross_terms(
    student: dict, teacher: dict, batch: Batch, variant: VariantConfig, config: TrainingConfig, threshold: float | None
) -> dict[str, torch.Tensor]:
    """Pseudo-supervision of ``student`` by (detached) ``teacher`` on every row of the batch: every task's SSL
    terms the variant names. With a confidence ``threshold`` (FixMatch), only confident teacher outputs count."""
    terms = {}
    for task in TASKS.values():
        terms.update(task.cross_terms(student, teacher, batch, variant, config, threshold))
    return terms


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
    sup = sum((terms[k] for k in supervised_order(variant) if k in terms), zero)
    ssl = sum((terms[k] for k in variant.ssl if k in terms), zero)
    weighted_ssl = config.ssl_weight * ramp * ssl
    return {**terms, "sup": sup, "ssl": ssl, "weighted_ssl": weighted_ssl, "total": sup + weighted_ssl}


def supervised_order(variant: VariantConfig) -> tuple[str, ...]:
    """The supervised terms in the order they are summed: the variant's tasks' in its order, then the source
    classifier's (the SSL terms are summed in the variant's ``ssl`` order)."""
    return (*(TASKS[task].supervised_term for task in variant.supervised), SOURCE_TERM)


GRADIENT_TERMS = {  # logged name: the term whose gradient on the trunk it measures
    **{f"grad_{name}": task.supervised_term for name, task in TASKS.items()},
    "grad_dataset": SOURCE_TERM,
    "grad_ssl": "weighted_ssl",
}


def trunk_gradient_norms(
    terms: dict[str, torch.Tensor], trunk: list[torch.nn.Parameter], world_size: int = 1
) -> dict[str, float]:
    """L2 norm of each task's gradient on the shared trunk (reID CE, attribute BCE, dataset BCE, λ·L_ssl).

    Makes an imbalance between the tasks visible: a task whose gradient is far
    smaller than the others' barely shapes the shared features. With ``world_size`` > 1
    the gradients of the ranks' shards are averaged first (the gradient of the global batch).
    """
    norms = {}
    for name, key in _measured_terms(terms).items():
        grads = torch.autograd.grad(terms[key], trunk, retain_graph=True, allow_unused=True)
        norms[name] = _global_norm(grads, trunk, world_size)
    return norms


def source_gradient_norms(
    terms: dict[str, torch.Tensor],
    feature_maps: list[torch.Tensor],
    trunk: list[torch.nn.Parameter],
    sources: torch.Tensor,
    names: tuple[str, ...],
    world_size: int = 1,
) -> dict[str, float]:
    """The part of each term's trunk gradient that flows through the images of each source: ``grad_<term>_<source>``.

    ``feature_maps``: the trunk's outputs in the step's forward passes (rows in batch order), ``sources``: the
    source index of every row. Each term's gradient on the feature maps is split by rows and sent back through the
    trunk one source at a time (the parts add up to :func:`trunk_gradient_norms`' gradient). Shows where a term's
    signal comes from, e.g. how much of the SSL gradient the images without any label give."""
    norms = {}
    rows_of = [(sources == index).view(-1, 1, 1, 1) for index in range(len(names))]  # each source's rows
    for name, key in _measured_terms(terms).items():
        on_maps = torch.autograd.grad(terms[key], feature_maps, retain_graph=True, allow_unused=True)
        for source, rows in zip(names, rows_of):
            parts = [(grad * rows, fmap) for grad, fmap in zip(on_maps, feature_maps) if grad is not None]
            if not parts:
                continue
            grads = torch.autograd.grad(
                [fmap for _, fmap in parts], trunk, [grad for grad, _ in parts], retain_graph=True, allow_unused=True
            )
            norms[f"{name}_{source}"] = _global_norm(grads, trunk, world_size)
    return norms


def _measured_terms(terms: dict[str, torch.Tensor]) -> dict[str, str]:
    """The terms of :data:`GRADIENT_TERMS` this step has (λ·L_ssl only where the variant has SSL terms)."""
    has_ssl = any(k in terms for k in SSL_TERMS)
    return {
        name: key
        for name, key in GRADIENT_TERMS.items()
        if key in terms and terms[key].requires_grad and (key != "weighted_ssl" or has_ssl)
    }


def _global_norm(grads: tuple[torch.Tensor | None, ...], trunk: list[torch.nn.Parameter], world_size: int) -> float:
    """L2 norm of one gradient over the trunk's parameters (of the global batch: averaged over ranks)."""
    flat = torch.cat(
        [(torch.zeros_like(p) if g is None else g.detach()).float().flatten() for g, p in zip(grads, trunk)]
    )
    if world_size > 1:
        torch.distributed.all_reduce(flat)
        flat /= world_size
    return float(flat.norm())
