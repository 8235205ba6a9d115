"""The training loop: epoch → step (:mod:`.step`) over a :class:`.run.TrainingRun`; checkpoints, validation,
logging and the distributed barrier are hooks (:mod:`.hooks`)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..config import ModelConfig, TrainingConfig, ValidationConfig, VariantConfig
from ..models import KANet
from ..tasks import TASKS
from .batches import TrainingData, epoch_plan
from .hooks import Validation, training_hooks
from .input_pipeline import Prefetcher
from .objective import ssl_ramp
from .run import TrainingRun, config_digest, tracked_params
from .step import StepPosition, run_step
from .validation import ValidationSet


@dataclass
class TrainResult:
    networks: list[KANet]
    history: list[dict[str, float]] = field(default_factory=list)


# the progress line's main terms (every term is in the epoch log)
PROGRESS_TERMS = (*(task.supervised_term for task in TASKS.values()), "ssl")


@dataclass
class EpochMeter:
    """Running means of the loss terms, images per second and the trunk gradient norms of one epoch."""

    sums: dict[str, float] = field(default_factory=dict)
    gradient_norms: dict[str, float] = field(default_factory=dict)
    steps: int = 0
    images: int = 0
    data_wait_seconds: float = 0.0
    started: float = field(default_factory=time.perf_counter)

    def add(self, terms: dict[str, float], images: int) -> None:
        """Count one step."""
        self.steps, self.images = self.steps + 1, self.images + images
        for key, value in terms.items():
            self.sums[key] = self.sums.get(key, 0.0) + value

    def progress(self, lr: float) -> str:
        """What the progress line shows after the bar's counts and ETA: running mean of the total loss and
        of the main terms, the learning rate and images per second (fits 100 columns)."""
        means = {k: v / max(self.steps, 1) for k, v in self.sums.items()}
        terms = " ".join(f"{key} {means[key]:.4g}" for key in PROGRESS_TERMS if key in means and means[key])
        rate = self.images / (time.perf_counter() - self.started)
        return f"loss {means.get('total', 0.0):.4g} ({terms}) lr {lr:.1e} {rate:.0f} img/s"

    def record(self, epoch: int, lr: float, iterations: int) -> dict[str, float]:
        seconds = time.perf_counter() - self.started
        return {
            "epoch": epoch + 1,
            "lr": lr,
            "iterations": iterations,
            "images_per_second": self.images / seconds,
            "data_wait_share": self.data_wait_seconds / seconds,
            **{k: v / max(iterations, 1) for k, v in self.sums.items()},
            **self.gradient_norms,
        }


def train_epoch(
    run: TrainingRun,
    name: str,
    variant: VariantConfig,
    data: TrainingData,
    config: TrainingConfig,
    epoch: int,
    rank: int = 0,
    world_size: int = 1,
) -> dict[str, float]:
    """One pass of mixed batches; returns the epoch's record (mean loss terms, the lr it ran with, speed and
    trunk gradient norms).

    Batches and augmentations come from generators seeded by (seed, epoch), so a resumed run
    sees exactly what an uninterrupted one does."""
    for network in run.networks:
        network.train()
    rng = np.random.default_rng([config.seed, epoch])
    generator = torch.Generator().manual_seed(config.seed * 100_003 + epoch)
    plan = epoch_plan(data, data.used_by(variant.supervised, bool(variant.ssl)), rng, config.iterations_per_epoch)
    meter = EpochMeter()
    batches = Prefetcher(data, plan, config.prefetch_batches, run.device.type == "cuda", rank, world_size)
    bar = tqdm(
        batches,
        desc=f"{name} {epoch + 1}/{config.epochs}",
        disable=not (config.progress and rank == 0),
        leave=False,
        ncols=100,
        bar_format="{desc} {n_fmt}/{total_fmt} {elapsed}<{remaining}{postfix}",  # tqdm puts ", " before the postfix
    )
    lr = run.optimizer.param_groups[0]["lr"]  # the epoch's lr: the scheduler steps after it
    ramp = ssl_ramp(epoch, config.ssl_warmup_epochs)  # λ's warm-up factor, fixed for the epoch
    for iteration, host in enumerate(bar):
        where = StepPosition(name, epoch, iteration)
        step = run_step(run, host, variant, config, generator, ramp, where, world_size, gradient_norms=iteration == 0)
        meter.add(step.terms, host.global_size)
        if iteration == 0:
            meter.gradient_norms = step.gradient_norms
        bar.set_postfix_str(meter.progress(lr), refresh=False)
    meter.data_wait_seconds = batches.wait_seconds
    run.scheduler.step()
    return meter.record(epoch, lr, len(plan))


def train(
    name: str,
    variant: VariantConfig,
    data: TrainingData,
    config: TrainingConfig,
    model: ModelConfig,
    checkpoint_path: Path | None = None,
    rank: int = 0,
    world_size: int = 1,
    tracking_folder: Path | None = None,
    validation: ValidationConfig | None = None,
    validation_set: ValidationSet | None = None,
) -> TrainResult:
    """Train variant ``name``; with ``checkpoint_path``, save after every epoch and resume if asked; with
    ``tracking_folder``, log every epoch and the settings there with DVCLive; with ``validation`` and
    ``validation_set``, validate the epochs it names (scores in the history) and keep the best-scoring epoch's
    weights beside the checkpoint.

    A resumed run ends with the same weights as an uninterrupted one. The checkpoint carries a
    fingerprint of the settings, data and code, so a run only ever resumes its own configuration.
    With ``world_size`` > 1 (inside an initialised process group) the networks are wrapped in
    DistributedDataParallel, each rank computes its share of every global batch, and only rank 0
    writes checkpoints, logs and the bar.
    """
    run = TrainingRun.create(variant, data, config, model, world_size)
    fingerprint = config_digest(variant, config, model, data, validation)
    params = tracked_params(variant, config, model, validation)
    tracking = None if tracking_folder is None else (tracking_folder, params)
    validator = None
    if validation is not None and validation_set is not None:
        validator = Validation(validation, validation_set, variant.supervised, config.epochs)
    hooks = training_hooks(name, config, checkpoint_path, fingerprint, rank, world_size, tracking, validator)
    for hook in hooks:
        hook.before_training(run)
    for epoch in range(run.start_epoch, config.epochs):
        run.history.append(train_epoch(run, name, variant, data, config, epoch, rank, world_size))
        for hook in hooks:
            hook.after_epoch(run)
    for hook in hooks:
        hook.after_training(run)
    return TrainResult(run.networks, run.history)
