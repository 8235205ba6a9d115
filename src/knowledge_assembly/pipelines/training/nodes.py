"""Nodes of the ``training`` pipeline."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from knowledge_assembly.training.batches import TrainingData
from knowledge_assembly.training.distributed import train_distributed
from knowledge_assembly.training.loop import train
from knowledge_assembly.training.objective import Variant


def resolve_variant(name: str, variants: dict[str, Any], model: dict[str, Any]) -> tuple[Variant, dict[str, Any]]:
    """The variant ``name`` and the model parameters it trains with (``domain_bn: true`` in the variant
    turns on domain-specific BatchNorm statistics, like ``model.domain_bn`` for every variant)."""
    if name not in variants:
        raise ValueError(f"unknown training variant {name!r}; defined: {sorted(variants)}")
    variant = Variant.from_params(name, variants[name])
    return variant, {**model, "domain_bn": True} if variant.domain_bn else model


def fix_threads(training: dict[str, Any]) -> None:
    """Same thread count and deterministic kernels for every run, so results do not depend on the machine's load."""
    threads = int(training.get("num_threads") or 0)
    if threads > 0:
        torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(bool(training.get("deterministic", True)), warn_only=True)


def train_variant(
    name: str, reid_train: pd.DataFrame, par_train: pd.DataFrame, reid_images: np.ndarray, par_images: np.ndarray,
    attribute_names: list[str], checkpoints: Path, training: dict[str, Any], model: dict[str, Any], variants: dict[str, Any],
    seed: int | None = None,
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Train variant ``name`` (epoch checkpoints in ``checkpoints``); return the model bundle and loss history.

    ``seed`` replaces ``training.seed`` (the paper pipeline trains every seed of ``paper.seeds``).
    """
    variant, model = resolve_variant(name, variants, model)
    if seed is not None:
        training = {**training, "seed": int(seed)}
    fix_threads(training)
    data = TrainingData(reid_images, reid_train["label"].to_numpy(), par_images, par_train[attribute_names].to_numpy())
    if int(training.get("world_size", 1)) > 1:
        result = train_distributed(variant, data, training, model, checkpoints)
    else:
        result = train(variant, data, training, model, checkpoints)
    bundle = {
        "variant": name, "spec": variants[name], "model": model, "attributes": list(attribute_names),
        "num_ids": data.num_ids, "image_size": list(reid_images.shape[2:0:-1]), "seed": int(training["seed"]),
        "state_dicts": [m.state_dict() for m in result.models], "history": result.history,
    }
    return bundle, pd.DataFrame(result.history)
