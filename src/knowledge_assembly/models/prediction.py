"""Run a trained network over images: the graph used by evaluation, the inference command and ONNX export."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .ka_net import KANet
from .preprocessing import normalise, to_float


class InferenceModel(nn.Module):
    """Normalisation + network, returning (embedding, attribute probabilities, source probability).

    Input: RGB in [0, 1], ``(N, 3, H, W)``. This is also the graph that is exported to ONNX.
    ``domain``: with domain-specific BatchNorm, the index of the training source whose statistics normalise
    the images (default 0, the first source). The third output is the probability of the first source (two
    sources) or of each source (M > 2).
    """

    def __init__(self, network: KANet, domain: int = 0):
        super().__init__()
        self.network = network
        self.domain = domain

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        out = self.network(normalise(images), self.domain)
        source = torch.sigmoid(out["dataset_logit"]) if "dataset_logit" in out else out["source_logits"].softmax(1)
        return out["reid_feature"], torch.sigmoid(out["attribute_logits"]), source


OUTPUTS = ("reid_feature", "attribute_probability", "dataset_probability")


@torch.no_grad()
def predict(
    network: KANet,
    images: np.ndarray,
    batch_size: int = 128,
    device: str | torch.device = "cpu",
    domain: int = 0,
) -> dict[str, np.ndarray]:
    """reID features, attribute probabilities and source probability for ``(N, H, W, 3)`` uint8 images, normalised
    as images of training source ``domain``."""
    model = InferenceModel(network, domain).eval().to(device)
    parts: dict[str, list[np.ndarray]] = {name: [] for name in OUTPUTS}
    for start in range(0, len(images), batch_size):
        outputs = model(to_float(images[start : start + batch_size]).to(device))
        for name, value in zip(OUTPUTS, outputs):
            parts[name].append(value.cpu().numpy())
    return {k: np.concatenate(v) if v else np.empty((0,)) for k, v in parts.items()}
