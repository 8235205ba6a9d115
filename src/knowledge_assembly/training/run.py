"""A training run's identity and state: the fingerprint of what shapes its weights, the networks (and their DDP
replicas), optimiser, schedule and loss history that the loop updates and the hooks save and restore."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from .. import __version__
from ..config import ModelConfig, TrainingConfig, ValidationConfig, VariantConfig
from ..models import KANet, build_model
from ..tasks import TASKS
from .batches import TrainingData
from .checkpoint import source_digest


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


RUN_ONLY_SETTINGS = (
    *("resume", "progress", "source_gradient_norms", "device", "prefetch_batches"),
    *("node_rank", "master_addr", "master_port"),
)


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
    digest = hashlib.sha256()
    for source in data.sources:
        digest.update(source.name.encode())
        for task in sorted(source.labels):
            digest.update(task.encode() + np.ascontiguousarray(source.labels[task]).tobytes())
        if source.rows is not None:
            digest.update(np.ascontiguousarray(source.rows, dtype=np.int64).tobytes())
    blob = json.dumps(
        [
            learned,
            settings,
            validation_settings(validation),
            model.as_dict(),
            [(source.images.shape, source.sampler) for source in data.sources],
            digest.hexdigest(),
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
    positive_ratio: torch.Tensor | None  # of each attribute in the PAR training labels, on ``device``
    device: torch.device
    labelled_sources: dict[str, tuple[int, ...]]  # task -> the sources labelled for it
    source_names: tuple[str, ...] = ()  # in batch block order
    history: list[dict[str, float]] = field(default_factory=list)
    start_epoch: int = 0

    @classmethod
    def create(
        cls, variant: VariantConfig, data: TrainingData, config: TrainingConfig, model: ModelConfig, world_size: int = 1
    ) -> TrainingRun:
        device = resolve_device(config.device)
        networks = [
            build_model(model, data.label_counts, config.seed + i, len(data.sources)).to(device)
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
        attributes = data.task_labels("par")
        attributes = attributes[TASKS["par"].labelled_rows(attributes)] if len(attributes) else attributes
        if config.positive_ratio_weighting and len(attributes):
            ratio = torch.from_numpy(attributes.mean(axis=0).astype(np.float32)).to(device)
        labelled = {task: data.labelled_for(task) for task in data.tasks}
        names = tuple(source.name for source in data.sources)
        return cls(networks, replicas, optimizer, scheduler, ratio, device, labelled, names)

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


def tracked_params(
    variant: VariantConfig, config: TrainingConfig, model: ModelConfig, validation: ValidationConfig | None = None
) -> dict[str, Any]:
    """The settings a run is tracked with (plain JSON types)."""
    settings = {"variant": learned_settings(variant), "training": config.as_dict(), "model": model.as_dict()}
    if validation is not None:
        settings["validation"] = validation.as_dict()
    return json.loads(json.dumps(settings, default=list))
