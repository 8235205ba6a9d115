"""One optimiser step: augment, forward every network, the loss terms, backward and update, the finite check."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn

from ..config import TrainingConfig, VariantConfig
from ..models.preprocessing import normalise
from .batches import strong_view, weak_view
from .input_pipeline import HostBatch, device_images
from .objective import Batch, source_gradient_norms, step_losses, trunk_gradient_norms
from .run import TrainingRun


class NonFiniteLossError(FloatingPointError):
    """A loss term became NaN or infinite."""


@dataclass(frozen=True)
class StepPosition:
    """Where a step is, for messages: the variant, and the zero-based epoch and iteration."""

    name: str
    epoch: int
    iteration: int


@dataclass(frozen=True)
class StepResult:
    """One step's loss terms (averaged over ranks) and, where asked, each task's trunk gradient norm (also split
    by the source of the images it flows through)."""

    terms: dict[str, float]
    gradient_norms: dict[str, float]


def run_step(
    run: TrainingRun,
    host: HostBatch,
    variant: VariantConfig,
    config: TrainingConfig,
    generator: torch.Generator,
    ramp: float,
    where: StepPosition,
    world_size: int = 1,
    gradient_norms: bool = False,
) -> StepResult:
    """One optimiser step on ``host`` (this rank's share of a global batch): to the device, augment, forward,
    loss terms, (the trunk gradient norm of each task), backward and update, then the terms to the host in one copy
    (the step's one wait for the device) and their finite check: a non-finite term stops the run after the update,
    and in a distributed run every rank stops at the same step (the terms are averaged over ranks first)."""
    images = device_images(host.images, run.device)
    labels = {task: value.to(run.device, non_blocking=True) for task, value in host.labels.items()}
    label_rows = {task: rows.to(run.device) for task, rows in host.label_rows.items()}
    batch = Batch.of(host.blocks, labels, run.labelled_sources, run.positive_ratio, label_rows)
    per_source = gradient_norms and config.source_gradient_norms and not config.compile
    with trunk_outputs(run.networks[0].trunk, per_source) as feature_maps:
        terms = forward_losses(
            run.replicas, images, batch, variant, config, generator, ramp, host.rows, host.global_size
        )
    norms = {}
    if gradient_norms:
        trunk = list(run.networks[0].trunk.parameters())
        norms = trunk_gradient_norms(terms, trunk, world_size)
        if feature_maps and len(host.blocks) > 1:
            sources = batch.source_index(run.device)
            norms |= source_gradient_norms(terms, feature_maps, trunk, sources, run.source_names, world_size)
    optimise(run.optimizer, terms["total"])
    logged = mean_over_ranks(terms, world_size)
    check_finite(logged, where.name, where.epoch, where.iteration)
    return StepResult(logged, norms)


@contextlib.contextmanager
def trunk_outputs(trunk: nn.Module, keep: bool) -> Iterator[list[torch.Tensor]]:
    """The outputs of ``trunk`` in the forward passes inside the block, where ``keep`` (not for a compiled trunk: a
    hook would make it recompile)."""
    outputs: list[torch.Tensor] = []
    hook = trunk.register_forward_hook(lambda _, __, output: outputs.append(output)) if keep else None
    try:
        yield outputs
    finally:
        if hook is not None:
            hook.remove()


def forward_losses(
    networks: list[nn.Module],
    images: torch.Tensor,
    batch: Batch,
    variant: VariantConfig,
    config: TrainingConfig,
    generator: torch.Generator,
    ramp: float = 1.0,
    rows: torch.Tensor | None = None,
    global_size: int = 0,
) -> dict[str, torch.Tensor]:
    """Augment ``images`` ([0, 1] floats on the training device) as batched tensor ops, run every network
    and return the loss terms.

    In a distributed run ``images`` and ``batch`` are this rank's ``rows`` of the global batch; the
    augmentations are drawn for the whole global batch, so every rank sees exactly the images a
    single process would. With ``precision: bf16`` the networks run under autocast; with
    ``channels_last`` their inputs are NHWC.
    """
    pad = config.crop_padding
    weak = normalise(weak_view(images, generator, rows, global_size, pad))
    strong = strong_view(images, generator, rows, global_size, pad) if variant.views == "weak_strong" else None
    layout = torch.channels_last if config.channels_last else torch.contiguous_format
    with torch.autocast(images.device.type, dtype=torch.bfloat16, enabled=config.precision == "bf16"):
        outputs = [network(weak.contiguous(memory_format=layout), batch.blocks) for network in networks]
        strong_out = None
        if strong is not None:
            strong_out = networks[0](normalise(strong).contiguous(memory_format=layout), batch.blocks)
    outputs = [_float32(out) for out in outputs]
    return step_losses(outputs, batch, variant, config, None if strong_out is None else _float32(strong_out), ramp)


def _float32(outputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Network outputs in float32 (losses are computed outside autocast, in full precision)."""
    return {key: value.float() for key, value in outputs.items()}


def optimise(optimizer: torch.optim.Optimizer, total: torch.Tensor) -> None:
    optimizer.zero_grad(set_to_none=True)
    total.backward()
    optimizer.step()


def check_finite(terms: dict[str, float], name: str, epoch: int, iteration: int) -> None:
    bad = [term for term, value in terms.items() if not math.isfinite(value)]
    if bad:
        values = ", ".join(f"{k}={v:.4g}" for k, v in terms.items())
        raise NonFiniteLossError(
            f"{name}: non-finite loss ({', '.join(bad)}) at epoch {epoch + 1}, iteration {iteration + 1}: {values}. "
            "Lower training.lr or check the inputs; the last checkpoint is from the previous epoch."
        )


def mean_over_ranks(terms: dict[str, torch.Tensor], world_size: int) -> dict[str, float]:
    """Loss terms for logging: this rank's values, averaged over ranks when distributed (on the training device, so
    NCCL reduces them on GPUs), copied to the host at once."""
    names = sorted(terms)
    values = torch.stack([terms[name].detach().float() for name in names])
    if world_size > 1:
        torch.distributed.all_reduce(values)
        values /= world_size
    return dict(zip(names, values.cpu().tolist()))
