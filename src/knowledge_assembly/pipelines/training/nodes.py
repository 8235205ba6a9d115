"""Nodes of the ``training`` pipeline."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from knowledge_assembly.config import ModelConfig, TrainingConfig, VariantConfig
from knowledge_assembly.models.bundle import ModelBundle
from knowledge_assembly.training.batches import TrainingData
from knowledge_assembly.training.distributed import train_distributed
from knowledge_assembly.training.loop import train


def fix_threads(training: TrainingConfig) -> None:
    """Same thread count and deterministic kernels for every run, so results do not depend on the machine's load."""
    if training.num_threads > 0:
        torch.set_num_threads(training.num_threads)
    torch.use_deterministic_algorithms(training.deterministic, warn_only=True)
    torch.backends.cudnn.benchmark = not training.deterministic  # autotuned convolutions when allowed


def train_variant(
    name: str,
    reid_train: pd.DataFrame,
    par_train: pd.DataFrame,
    reid_images: np.ndarray,
    par_images: np.ndarray,
    attribute_names: list[str],
    checkpoints: Path,
    tracking: Path,
    training: TrainingConfig,
    model: ModelConfig,
    variant: VariantConfig,
    seed: int | None = None,
) -> tuple[ModelBundle, pd.DataFrame]:
    """Train variant ``name`` (its epoch checkpoint in ``checkpoints``, its DVCLive curves and settings in
    ``tracking/<name>/train``, or ``tracking/<name>/seed<k>/train`` for a seed of the paper pipeline); return the
    model bundle and loss history.

    ``seed`` replaces ``training.seed`` (the paper pipeline trains every seed of ``paper.seeds``);
    ``domain_bn: true`` in the variant turns on domain-specific BatchNorm like ``model.domain_bn``.
    """
    if seed is not None:
        training = dataclasses.replace(training, seed=int(seed))
    model = dataclasses.replace(model, domain_bn=model.domain_bn or variant.domain_bn)
    fix_threads(training)
    data = TrainingData(reid_images, reid_train["label"].to_numpy(), par_images, par_train[attribute_names].to_numpy())
    checkpoint = Path(checkpoints) / f"{name}-seed{training.seed}.pt"
    live = Path(tracking) / name / ("train" if seed is None else f"seed{training.seed}/train")
    if training.world_size > 1:
        result = train_distributed(name, variant, data, training, model, checkpoint, live)
    else:
        result = train(name, variant, data, training, model, checkpoint, tracking_folder=live)
    bundle = ModelBundle(
        variant=name,
        model=model,
        attributes=tuple(attribute_names),
        num_ids=data.num_ids,
        image_size=(int(reid_images.shape[2]), int(reid_images.shape[1])),
        seed=training.seed,
        trained_tasks=tuple(variant.supervised),
        state_dicts=tuple(n.state_dict() for n in result.networks),
    )
    return bundle, pd.DataFrame(result.history)
