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
from ..config import ModelConfig, TrainingConfig, ValidationConfig, VariantConfig
from ..models import KANet, build_model
from ..models.preprocessing import normalise
from .batches import TrainingData, epoch_plan, strong_view, weak_view
from .checkpoint import source_digest
from .hooks import Validation, training_hooks
from .input_pipeline import Prefetcher, device_images
from .objective import Batch, ssl_ramp, step_losses, trunk_gradient_norms
from .validation import ValidationSet


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


RUN_ONLY_SETTINGS = ("resume", "progress", "device", "prefetch_batches", "node_rank", "master_addr", "master_port")


def learned_settings(variant: VariantConfig) -> dict[str, Any]:
    """What of a variant shapes its weights: everything but its table labels (``rows``)."""
    return {k: v for k, v in variant.as_dict().items() if k != "rows"}


def validation_settings(validation: ValidationConfig | None) -> dict[str, Any] | None:
    """What of the validation settings shapes a run's weights and its best checkpoint: all but ``select``, which
    only picks between the last and the best weights after training (so changing it resumes a finished run)."""
    return None if validation is None else {k: v for k, v in validation.as_dict().items() if k != "select"}


def config_digest(
    variant: VariantConfig,
    config: TrainingConfig,
    model: ModelConfig,
    data: TrainingData,
    validation: ValidationConfig | None = None,
) -> str:
    """Fingerprint of everything that shapes the weights (and the best checkpoint): settings, labels, the training
    rows and image shapes, and the model/training source code (so an edited package never resumes a checkpoint of
    the old code)."""
    settings = {k: v for k, v in config.as_dict().items() if k not in RUN_ONLY_SETTINGS}
    learned = learned_settings(variant)
    labels = hashlib.sha256(
        np.ascontiguousarray(data.reid_labels).tobytes() + np.ascontiguousarray(data.par_labels).tobytes()
    )
    if data.reid_rows is not None:
        labels.update(np.ascontiguousarray(data.reid_rows, dtype=np.int64).tobytes())
    blob = json.dumps(
        [
            learned,
            settings,
            validation_settings(validation),
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
        if config.channels_last:
            networks = [network.to(memory_format=torch.channels_last) for network in networks]
        replicas: list[nn.Module] = list(networks)
        if world_size > 1:
            replicas = [distributed_replica(network, device, config.sync_batch_norm) for network in networks]
        if config.compile:
            replicas = [torch.compile(replica) for replica in replicas]
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


def distributed_replica(network: KANet, device: torch.device, sync_batch_norm: bool) -> nn.Module:
    """``network`` wrapped in DistributedDataParallel; on CUDA with ``sync_batch_norm`` its BatchNorm layers
    compute batch statistics over the global batch (torch's SyncBatchNorm, same parameters and buffers)."""
    if device.type == "cuda" and sync_batch_norm:
        network = nn.SyncBatchNorm.convert_sync_batchnorm(network)
    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(network, device_ids=ids, find_unused_parameters=True)


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
        outputs = [network(weak.contiguous(memory_format=layout), batch.n_reid) for network in networks]
        strong_out = None
        if strong is not None:
            strong_out = networks[0](normalise(strong).contiguous(memory_format=layout), batch.n_reid)
    outputs = [_float32(out) for out in outputs]
    return step_losses(outputs, batch, variant, config, None if strong_out is None else _float32(strong_out), ramp)


def _float32(outputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Network outputs in float32 (losses are computed outside autocast, in full precision)."""
    return {key: value.float() for key, value in outputs.items()}


def optimise(optimizer: torch.optim.Optimizer, total: torch.Tensor) -> None:
    optimizer.zero_grad(set_to_none=True)
    total.backward()
    optimizer.step()


PROGRESS_TERMS = ("id", "attr", "ssl")  # the progress line's main terms; every term is in the epoch log


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
    plan = epoch_plan(
        data,
        config.ids_per_batch,
        config.images_per_id,
        config.par_batch_size,
        variant.uses_reid_data,
        variant.uses_par_data,
        rng,
        config.iterations_per_epoch,
    )
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
    ratio = None if run.positive_ratio is None else run.positive_ratio.to(run.device)
    ramp = ssl_ramp(epoch, config.ssl_warmup_epochs)  # λ's warm-up factor, fixed for the epoch
    for iteration, host in enumerate(bar):
        images = device_images(host.images, run.device)
        batch = Batch(
            host.n_reid,
            host.id_labels.to(run.device, non_blocking=True),
            host.attributes.to(run.device, non_blocking=True),
            ratio,
        )
        terms = forward_losses(
            run.replicas, images, batch, variant, config, generator, ramp, host.rows, host.global_size
        )
        check_finite(terms, name, epoch, iteration)
        if iteration == 0:
            meter.gradient_norms = trunk_gradient_norms(terms, list(run.networks[0].trunk.parameters()), world_size)
        optimise(run.optimizer, terms["total"])
        meter.add(mean_over_ranks(terms, world_size), host.global_size)
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


def tracked_params(
    variant: VariantConfig, config: TrainingConfig, model: ModelConfig, validation: ValidationConfig | None = None
) -> dict[str, Any]:
    """The settings a run is tracked with (plain JSON types)."""
    settings = {"variant": learned_settings(variant), "training": config.as_dict(), "model": model.as_dict()}
    if validation is not None:
        settings["validation"] = validation.as_dict()
    return json.loads(json.dumps(settings, default=list))


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
