"""Nodes of the ``training`` pipeline."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from knowledge_assembly.config import ModelConfig, TrainingConfig
from knowledge_assembly.training.batches import TrainingData
from knowledge_assembly.training.distributed import train_distributed
from knowledge_assembly.training.loop import train
from knowledge_assembly.training.objective import Variant


def resolve_variant(name: str, variants: dict[str, Any], model: ModelConfig) -> tuple[Variant, dict[str, Any]]:
    """The variant ``name`` and the model parameters it trains with (``domain_bn: true`` in the variant
    turns on domain-specific BatchNorm statistics, like ``model.domain_bn`` for every variant)."""
    if name not in variants:
        raise ValueError(f"unknown training variant {name!r}; defined: {sorted(variants)}")
    variant = Variant.from_params(name, variants[name])
    return variant, {**model.as_dict(), "domain_bn": model.domain_bn or variant.domain_bn}


def fix_threads(training: TrainingConfig) -> None:
    """Same thread count and deterministic kernels for every run, so results do not depend on the machine's load."""
    if training.num_threads > 0:
        torch.set_num_threads(training.num_threads)
    torch.use_deterministic_algorithms(training.deterministic, warn_only=True)


def train_variant(
    name: str, reid_train: pd.DataFrame, par_train: pd.DataFrame, reid_images: np.ndarray, par_images: np.ndarray,
    attribute_names: list[str], checkpoints: Path, training: TrainingConfig, model: ModelConfig, variants: dict[str, Any],
    seed: int | None = None,
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Train variant ``name`` (epoch checkpoints in ``checkpoints``); return the model bundle and loss history.

    ``seed`` replaces ``training.seed`` (the paper pipeline trains every seed of ``paper.seeds``).
    """
    variant, model_params = resolve_variant(name, variants, model)
    if seed is not None:
        training = dataclasses.replace(training, seed=int(seed))
    fix_threads(training)
    params = training.as_dict()
    data = TrainingData(reid_images, reid_train["label"].to_numpy(), par_images, par_train[attribute_names].to_numpy())
    if training.world_size > 1:
        result = train_distributed(variant, data, params, model_params, checkpoints)
    else:
        result = train(variant, data, params, model_params, checkpoints)
    bundle = {
        "variant": name, "spec": variants[name], "model": model_params, "attributes": list(attribute_names),
        "num_ids": data.num_ids, "image_size": list(reid_images.shape[2:0:-1]), "seed": training.seed,
        "state_dicts": [m.state_dict() for m in result.models], "history": result.history,
    }
    return bundle, pd.DataFrame(result.history)
