"""What every network input goes through: uint8 HWC images → float NCHW in [0, 1] → ImageNet-normalised."""

from __future__ import annotations

import numpy as np
import torch

IMAGENET_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
IMAGENET_STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def to_float(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """``(B, H, W, 3)`` uint8 → ``(B, 3, H, W)`` float in [0, 1], on the device of a tensor given (an array is
    copied, so a memory map is never held)."""
    if not isinstance(images, torch.Tensor):
        images = torch.from_numpy(np.array(images, copy=True))
    return images.permute(0, 3, 1, 2).float().div_(255.0)


def normalise(images: torch.Tensor) -> torch.Tensor:
    return (images - IMAGENET_MEAN.to(images.device)) / IMAGENET_STD.to(images.device)
