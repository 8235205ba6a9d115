"""Nodes of the ``training`` pipeline."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from knowledge_assembly.training.batches import TrainingData
from knowledge_assembly.training.distributed import train_distributed
from knowledge_assembly.training.loop import train
from knowledge_assembly.training.objective import Variant


def train_variant(
    name: str, reid_train: pd.DataFrame, par_train: pd.DataFrame, reid_images: np.ndarray, par_images: np.ndarray,
    attribute_names: list[str], checkpoints: Path, training: dict[str, Any], model: dict[str, Any], variants: dict[str, Any],
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Train variant ``name`` (epoch checkpoints in ``checkpoints``); return the model bundle and loss history."""
    if name not in variants:
        raise ValueError(f"unknown training variant {name!r}; defined: {sorted(variants)}")
    variant = Variant.from_params(name, variants[name])
    data = TrainingData(reid_images, reid_train["label"].to_numpy(), par_images, par_train[attribute_names].to_numpy())
    if int(training.get("world_size", 1)) > 1:
        result = train_distributed(variant, data, training, model, checkpoints)
    else:
        result = train(variant, data, training, model, checkpoints)
    bundle = {
        "variant": name, "spec": variants[name], "model": model, "attributes": list(attribute_names),
        "num_ids": data.num_ids, "image_size": list(reid_images.shape[2:0:-1]),
        "state_dicts": [m.state_dict() for m in result.models], "history": result.history,
    }
    return bundle, pd.DataFrame(result.history)
