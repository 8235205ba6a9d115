"""The training loop: Adam, cosine schedule, per-epoch atomic checkpoints, exact resume."""
from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from .. import __version__
from ..models import KANet, build_model
from . import checkpoint
from .batches import TrainingData, epoch_plan, normalise, strong_view, to_float, weak_view
from .memory import retain_freed_memory
from .objective import Batch, Variant, ssl_ramp, step_losses, trunk_gradient_norms

logger = logging.getLogger(__name__)


class NonFiniteLossError(FloatingPointError):
    """A loss term became NaN or infinite."""


@dataclass
class TrainResult:
    models: list[KANet]
    history: list[dict[str, float]] = field(default_factory=list)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


RUN_ONLY_PARAMS = ("resume", "progress", "device", "node_rank", "master_addr", "master_port")


def config_digest(variant: Variant, params: dict, model_params: dict, data: TrainingData) -> str:
    """Fingerprint of everything that shapes the weights: parameters, labels and image shapes, and the
    model/training source code (so an edited package never resumes a checkpoint of the old code)."""
    keys = {k: v for k, v in params.items() if k not in RUN_ONLY_PARAMS}
    labels = hashlib.sha256(np.ascontiguousarray(data.reid_labels).tobytes() + np.ascontiguousarray(data.par_labels).tobytes())
    blob = json.dumps([variant.__dict__, keys, model_params, data.reid_images.shape, data.par_images.shape,
                       labels.hexdigest(), __version__, checkpoint.source_digest("models", "training")],
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _batch(data: TrainingData, reid_index: np.ndarray, par_index: np.ndarray, positive_ratio: torch.Tensor | None,
           device: torch.device) -> tuple[torch.Tensor, Batch]:
    reid_index, par_index = np.sort(reid_index), np.sort(par_index)  # sorted: sequential reads of the memory map
    images = np.concatenate([data.reid_images[reid_index], data.par_images[par_index]])
    labels = torch.from_numpy(data.reid_labels[reid_index].astype(np.int64))
    attributes = torch.from_numpy(data.par_labels[par_index].astype(np.float32))
    ratio = None if positive_ratio is None else positive_ratio.to(device)
    return to_float(images), Batch(len(reid_index), labels.to(device), attributes.to(device), ratio)


def forward_losses(models: list[torch.nn.Module], images: torch.Tensor, batch: Batch, variant: Variant, params: dict,
                   generator: torch.Generator, ramp: float = 1.0, rank: int = 0, world_size: int = 1) -> dict[str, torch.Tensor]:
    """Augment the global batch ``images`` ([0, 1] floats, CPU), keep this rank's share, run every network, return the loss terms.

    Every rank augments the whole global batch with the same generator, so a
    distributed run sees exactly the images a single process would.
    """
    device = next(models[0].parameters()).device
    weak = weak_view(images, generator)
    strong = strong_view(images, generator) if variant.views == "weak_strong" else None
    if world_size > 1:
        rows, batch = batch.shard(rank, world_size)
        weak, strong = weak[rows], None if strong is None else strong[rows]
    weak = normalise(weak).to(device)
    outputs = [model(weak, batch.n_reid) for model in models]
    strong_out = models[0](normalise(strong).to(device), batch.n_reid) if strong is not None else None
    return step_losses(outputs, batch, variant, params, strong_out, ramp)


def optimise(optimizer: torch.optim.Optimizer, total: torch.Tensor) -> None:
    optimizer.zero_grad(set_to_none=True)
    total.backward()
    optimizer.step()


def train(variant: Variant, data: TrainingData, params: dict[str, Any], model_params: dict[str, Any],
          checkpoint_dir: Path | None = None, rank: int = 0, world_size: int = 1) -> TrainResult:
    """Train ``variant``; with ``checkpoint_dir``, save after every epoch and resume if asked.

    Every epoch draws its batches and augmentations from generators seeded by
    (seed, epoch), so a resumed run ends with the same weights as an
    uninterrupted one. Each (variant, seed) has one checkpoint file (plus a
    spare of the epoch before while training); it carries a fingerprint of the
    parameters, data and code, so a run only ever resumes its own configuration.
    With ``world_size`` > 1 (inside an initialised process group) the networks
    are wrapped in DistributedDataParallel, each rank computes its share of
    every global batch, and only rank 0 writes checkpoints, logs and the bar.
    """
    device = resolve_device(params.get("device", "auto"))
    if device.type == "cpu":
        retain_freed_memory()
    models = [build_model(model_params, data.num_ids, data.par_labels.shape[1], params["seed"] + i).to(device)
              for i in range(variant.models)]
    replicas = models
    if world_size > 1:
        ids = [device.index] if device.type == "cuda" else None
        replicas = [DistributedDataParallel(m, device_ids=ids, find_unused_parameters=True) for m in models]
    parameters = [p for m in models for p in m.parameters()]
    optimizer = torch.optim.Adam(parameters, lr=params["lr"], weight_decay=params["weight_decay"], fused=True)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=params["epochs"], eta_min=params["lr"] * params["final_lr_ratio"])
    ratio = None
    if params["positive_ratio_weighting"] and len(data.par_labels):
        ratio = torch.from_numpy(data.par_labels.mean(axis=0).astype(np.float32))
    run_checkpoint = None if checkpoint_dir is None else checkpoint.RunCheckpoint(
        Path(checkpoint_dir) / f"{variant.name}-seed{params['seed']}.pt", config_digest(variant, params, model_params, data))
    result, start, main = TrainResult(models), 0, rank == 0
    state = run_checkpoint.resumable_state() if run_checkpoint is not None and params.get("resume") else None
    if state is not None:
        for model, weights in zip(models, state["models"]):
            model.load_state_dict(weights)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        result.history, start = state["history"], state["epoch"]
        if main:
            logger.info("Resuming %s from %s after epoch %d", variant.name, run_checkpoint.path, start)

    for epoch in range(start, params["epochs"]):
        for model in models:
            model.train()
        rng = np.random.default_rng([params["seed"], epoch])
        generator = torch.Generator().manual_seed(params["seed"] * 100_003 + epoch)
        plan = epoch_plan(data, params, variant.uses_reid_data, variant.uses_par_data, rng)
        sums: dict[str, float] = {}
        gradient_norms: dict[str, float] = {}
        seen, started = 0, time.perf_counter()
        bar = tqdm(plan, desc=f"{variant.name} epoch {epoch + 1}/{params['epochs']}",
                   disable=not (params.get("progress", True) and main), leave=False)
        for iteration, (reid_index, par_index) in enumerate(bar):
            images, batch = _batch(data, reid_index, par_index, ratio, device)
            terms = forward_losses(replicas, images, batch, variant, params, generator,
                                   ssl_ramp(epoch, params["ssl_warmup_epochs"]), rank, world_size)
            _check_finite(terms, variant, epoch, iteration)
            if iteration == 0 and world_size == 1:
                gradient_norms = trunk_gradient_norms(terms, list(models[0].trunk.parameters()))
            optimise(optimizer, terms["total"])
            seen += batch.size
            for key, value in _mean_over_ranks(terms, world_size).items():
                sums[key] = sums.get(key, 0.0) + value
            rate = seen / (time.perf_counter() - started)
            bar.set_postfix({**{k: f"{v / (iteration + 1):.3f}" for k, v in sums.items()}, "img/s": f"{rate:.0f}"})
        lr = optimizer.param_groups[0]["lr"]
        scheduler.step()
        seconds = time.perf_counter() - started
        record = {"epoch": epoch + 1, "lr": lr, "iterations": len(plan), "images_per_second": seen / seconds,
                  **{k: v / max(len(plan), 1) for k, v in sums.items()}, **gradient_norms}
        result.history.append(record)
        if main:
            logger.info("%s epoch %d/%d: %s", variant.name, epoch + 1, params["epochs"],
                        ", ".join(f"{k}={v:.4g}" for k, v in record.items() if k != "epoch"))
        if run_checkpoint is not None and main:
            run_checkpoint.save({"epoch": epoch + 1, "models": [m.state_dict() for m in models],
                                 "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                                 "history": result.history})
        if world_size > 1:
            torch.distributed.barrier()
    if run_checkpoint is not None and main:
        run_checkpoint.finish()
    return result


def _mean_over_ranks(terms: dict[str, torch.Tensor], world_size: int) -> dict[str, float]:
    """Loss terms for logging: this rank's values, averaged over ranks when distributed."""
    names = sorted(terms)
    values = torch.stack([terms[name].detach().float().cpu() for name in names])
    if world_size > 1:
        torch.distributed.all_reduce(values)
        values /= world_size
    return dict(zip(names, values.tolist()))


def _check_finite(terms: dict[str, torch.Tensor], variant: Variant, epoch: int, iteration: int) -> None:
    bad = [name for name, value in terms.items() if not torch.isfinite(value).all()]
    if bad:
        values = ", ".join(f"{k}={float(v.detach()):.4g}" for k, v in terms.items())
        raise NonFiniteLossError(
            f"{variant.name}: non-finite loss ({', '.join(bad)}) at epoch {epoch + 1}, iteration {iteration + 1}: {values}. "
            "Lower training.lr or check the inputs; the last checkpoint is from the previous epoch."
        )
