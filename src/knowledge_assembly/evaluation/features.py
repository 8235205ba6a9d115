"""Run a trained network over cached images."""
from __future__ import annotations

import numpy as np
import torch

from ..training.batches import normalise, to_float


@torch.no_grad()
def predict(model: torch.nn.Module, images: np.ndarray, batch_size: int = 128, device: str | torch.device = "cpu") -> dict[str, np.ndarray]:
    """reID features, attribute probabilities and dataset probability for ``(N, H, W, 3)`` uint8 images."""
    model.eval().to(device)
    parts: dict[str, list[np.ndarray]] = {"reid_feature": [], "attribute_probability": [], "dataset_probability": []}
    for start in range(0, len(images), batch_size):
        out = model(normalise(to_float(images[start:start + batch_size])).to(device))
        parts["reid_feature"].append(out["reid_feature"].cpu().numpy())
        parts["attribute_probability"].append(torch.sigmoid(out["attribute_logits"]).cpu().numpy())
        parts["dataset_probability"].append(torch.sigmoid(out["dataset_logit"]).cpu().numpy())
    return {k: np.concatenate(v) if v else np.empty((0,)) for k, v in parts.items()}
