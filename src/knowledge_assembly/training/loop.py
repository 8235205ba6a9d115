"""The training loop: Adam, cosine schedule, epoch → step; checkpoints, logging and the distributed barrier
are hooks (:mod:`.hooks`)."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from .. import __version__
from ..config import ModelConfig, TrainingConfig, VariantConfig
from ..models import KANet, build_model
from ..models.preprocessing import normalise, to_float
from .batches import TrainingData, epoch_plan, strong_view, weak_view
from .checkpoint import source_digest
from .hooks import training_hooks
from .objective import Batch, ssl_ramp, step_losses, trunk_gradient_norms


class NonFiniteLossError(FloatingPointError):
    """A loss term became NaN or infinite."""


@dataclass
class TrainResult:
    networks: list[KANet]
    history: list[dict[str, float]] = field(default_factory=list)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


RUN_ONLY_SETTINGS = ("resume", "progress", "device", "node_rank", "master_addr", "master_port")


def config_digest(variant: VariantConfig, config: TrainingConfig, model: ModelConfig, data: TrainingData) -> str:
    """Fingerprint of everything that shapes the weights: settings, labels and image shapes, and the
    model/training source code (so an edited package never resumes a checkpoint of the old code)."""
    settings = {k: v for k, v in config.as_dict().items() if k not in RUN_ONLY_SETTINGS}
    learned = {k: v for k, v in variant.as_dict().items() if k != "rows"}  # table labels do not shape weights
    labels = hashlib.sha256(
        np.ascontiguousarray(data.reid_labels).tobytes() + np.ascontiguousarray(data.par_labels).tobytes()
    )
    blob = json.dumps(
        [
            learned,
            settings,
            model.as_dict(),
            data.reid_images.shape,
            data.par_images.shape,
            labels.hexdigest(),
            __version__,
            source_digest("models", "training"),
        ],
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


@dataclass
class TrainingRun:
    """What one run updates: the networks (and their DDP replicas), optimizer, schedule and loss history."""

    networks: list[KANet]
    replicas: list[nn.Module]
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    positive_ratio: torch.Tensor | None
    device: torch.device
    history: list[dict[str, float]] = field(default_factory=list)
    start_epoch: int = 0

    @classmethod
    def create(
        cls, variant: VariantConfig, data: TrainingData, config: TrainingConfig, model: ModelConfig, world_size: int = 1
    ) -> TrainingRun:
        device = resolve_device(config.device)
        networks = [
            build_model(model, data.num_ids, data.par_labels.shape[1], config.seed + i).to(device)
            for i in range(variant.networks)
        ]
        replicas: list[nn.Module] = list(networks)
        if world_size > 1:
            ids = [device.index] if device.type == "cuda" else None
            replicas = [DistributedDataParallel(n, device_ids=ids, find_unused_parameters=True) for n in networks]
        parameters = [p for network in networks for p in network.parameters()]
        optimizer = torch.optim.Adam(parameters, lr=config.lr, weight_decay=config.weight_decay, fused=True)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
            optimizer, T_max=config.epochs, eta_min=config.lr * config.final_lr_ratio
        )
        ratio = None
        if config.positive_ratio_weighting and len(data.par_labels):
            ratio = torch.from_numpy(data.par_labels.mean(axis=0).astype(np.float32))
        return cls(networks, replicas, optimizer, scheduler, ratio, device)

    def state(self) -> dict[str, Any]:
        return {
            "epoch": len(self.history),
            "models": [n.state_dict() for n in self.networks],
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "history": self.history,
        }

    def restore(self, state: dict[str, Any]) -> None:
        for network, weights in zip(self.networks, state["models"]):
            network.load_state_dict(weights)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.history, self.start_epoch = list(state["history"]), int(state["epoch"])


def gather_batch(
    data: TrainingData,
    reid_index: np.ndarray,
    par_index: np.ndarray,
    positive_ratio: torch.Tensor | None,
    device: torch.device,
) -> tuple[torch.Tensor, Batch]:
    """The images ([0, 1] floats, CPU) and labels of one mixed batch: reID rows first, then PAR rows."""
    reid_index, par_index = np.sort(reid_index), np.sort(par_index)  # sorted: sequential reads of the memory map
    images = np.concatenate([data.reid_images[reid_index], data.par_images[par_index]])
    labels = torch.from_numpy(data.reid_labels[reid_index].astype(np.int64))
    attributes = torch.from_numpy(data.par_labels[par_index].astype(np.float32))
    ratio = None if positive_ratio is None else positive_ratio.to(device)
    return to_float(images), Batch(len(reid_index), labels.to(device), attributes.to(device), ratio)


def forward_losses(
    networks: list[nn.Module],
    images: torch.Tensor,
    batch: Batch,
    variant: VariantConfig,
    config: TrainingConfig,
    generator: torch.Generator,
    ramp: float = 1.0,
    rank: int = 0,
    world_size: int = 1,
) -> dict[str, torch.Tensor]:
    """Augment the global batch ``images`` ([0, 1] floats, CPU), keep this rank's share, run every network and
    return the loss terms.

    Every rank augments the whole global batch with the same generator, so a
    distributed run sees exactly the images a single process would.
    """
    device = next(networks[0].parameters()).device
    weak = weak_view(images, generator)
    strong = strong_view(images, generator) if variant.views == "weak_strong" else None
    if world_size > 1:
        rows, batch = batch.shard(rank, world_size)
        weak, strong = weak[rows], None if strong is None else strong[rows]
    weak = normalise(weak).to(device)
    outputs = [network(weak, batch.n_reid) for network in networks]
    strong_out = networks[0](normalise(strong).to(device), batch.n_reid) if strong is not None else None
    return step_losses(outputs, batch, variant, config, strong_out, ramp)


def optimise(optimizer: torch.optim.Optimizer, total: torch.Tensor) -> None:
    optimizer.zero_grad(set_to_none=True)
    total.backward()
    optimizer.step()


@dataclass
class EpochMeter:
    """Running means of the loss terms, images per second and the trunk gradient norms of one epoch."""

    sums: dict[str, float] = field(default_factory=dict)
    gradient_norms: dict[str, float] = field(default_factory=dict)
    steps: int = 0
    images: int = 0
    started: float = field(default_factory=time.perf_counter)

    def add(self, terms: dict[str, float], images: int) -> dict[str, str]:
        """Count one step; return what the progress bar shows."""
        self.steps, self.images = self.steps + 1, self.images + images
        for key, value in terms.items():
            self.sums[key] = self.sums.get(key, 0.0) + value
        rate = self.images / (time.perf_counter() - self.started)
        return {**{k: f"{v / self.steps:.3f}" for k, v in self.sums.items()}, "img/s": f"{rate:.0f}"}

    def record(self, epoch: int, lr: float, iterations: int) -> dict[str, float]:
        seconds = time.perf_counter() - self.started
        return {
            "epoch": epoch + 1,
            "lr": lr,
            "iterations": iterations,
            "images_per_second": self.images / seconds,
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
    plan = epoch_plan(
        data,
        config.ids_per_batch,
        config.images_per_id,
        config.par_batch_size,
        variant.uses_reid_data,
        variant.uses_par_data,
        rng,
    )
    meter = EpochMeter()
    bar = tqdm(
        plan, desc=f"{name} epoch {epoch + 1}/{config.epochs}", disable=not (config.progress and rank == 0), leave=False
    )
    for iteration, (reid_index, par_index) in enumerate(bar):
        images, batch = gather_batch(data, reid_index, par_index, run.positive_ratio, run.device)
        terms = forward_losses(
            run.replicas,
            images,
            batch,
            variant,
            config,
            generator,
            ssl_ramp(epoch, config.ssl_warmup_epochs),
            rank,
            world_size,
        )
        check_finite(terms, name, epoch, iteration)
        if iteration == 0:
            meter.gradient_norms = trunk_gradient_norms(terms, list(run.networks[0].trunk.parameters()), world_size)
        optimise(run.optimizer, terms["total"])
        bar.set_postfix(meter.add(mean_over_ranks(terms, world_size), batch.size))
    lr = run.optimizer.param_groups[0]["lr"]
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
) -> TrainResult:
    """Train variant ``name``; with ``checkpoint_path``, save after every epoch and resume if asked.

    A resumed run ends with the same weights as an uninterrupted one. The checkpoint carries a
    fingerprint of the settings, data and code, so a run only ever resumes its own configuration.
    With ``world_size`` > 1 (inside an initialised process group) the networks are wrapped in
    DistributedDataParallel, each rank computes its share of every global batch, and only rank 0
    writes checkpoints, logs and the bar.
    """
    run = TrainingRun.create(variant, data, config, model, world_size)
    fingerprint = config_digest(variant, config, model, data)
    hooks = training_hooks(name, config, checkpoint_path, fingerprint, rank, world_size)
    for hook in hooks:
        hook.before_training(run)
    for epoch in range(run.start_epoch, config.epochs):
        run.history.append(train_epoch(run, name, variant, data, config, epoch, rank, world_size))
        for hook in hooks:
            hook.after_epoch(run)
    for hook in hooks:
        hook.after_training(run)
    return TrainResult(run.networks, run.history)


def mean_over_ranks(terms: dict[str, torch.Tensor], world_size: int) -> dict[str, float]:
    """Loss terms for logging: this rank's values, averaged over ranks when distributed."""
    names = sorted(terms)
    values = torch.stack([terms[name].detach().float().cpu() for name in names])
    if world_size > 1:
        torch.distributed.all_reduce(values)
        values /= world_size
    return dict(zip(names, values.tolist()))


def check_finite(terms: dict[str, torch.Tensor], name: str, epoch: int, iteration: int) -> None:
    bad = [term for term, value in terms.items() if not torch.isfinite(value).all()]
    if bad:
        values = ", ".join(f"{k}={float(v.detach()):.4g}" for k, v in terms.items())
        raise NonFiniteLossError(
            f"{name}: non-finite loss ({', '.join(bad)}) at epoch {epoch + 1}, iteration {iteration + 1}: {values}. "
            "Lower training.lr or check the inputs; the last checkpoint is from the previous epoch."
        )
