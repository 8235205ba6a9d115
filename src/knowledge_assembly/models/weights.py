"""ImageNet weights for the backbone: torchvision's weights API or a local file."""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torchvision
from torch import nn


class WeightsUnavailableError(RuntimeError):
    """Pretrained weights were asked for but cannot be loaded."""


def _torchvision_weights(backbone: str) -> torchvision.models.WeightsEnum:
    return torchvision.models.get_model_weights(backbone).IMAGENET1K_V1


def cached_weights_path(backbone: str) -> Path:
    """Where torchvision keeps ``backbone``'s ImageNet file (``$TORCH_HOME/hub/checkpoints``)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(_torchvision_weights(backbone).url)


def _trunk_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map a torchvision ResNet state dict onto ``nn.Sequential(children[:-2])`` keys."""
    order = ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"]
    mapped = {}
    for key, value in state.items():
        head, _, rest = key.partition(".")
        if head in order:
            mapped[f"{order.index(head)}.{rest}"] = value
    return mapped


def load_backbone_weights(
    trunk: nn.Module, backbone: str, pretrained: str | None, allow_download: bool = False
) -> None:
    """Load ImageNet weights into ``trunk``.

    ``pretrained``: ``None``/``"none"`` (random init), ``"imagenet"`` (torchvision's
    weights from its cache; downloaded only with ``allow_download``, i.e.
    ``model.allow_weight_download: true``), or a path to a ``.pth`` state dict of a torchvision ResNet.
    """
    if pretrained in (None, "none", False):
        return
    if pretrained == "imagenet":
        path = cached_weights_path(backbone)
        if not path.is_file() and not allow_download:
            raise WeightsUnavailableError(
                f"ImageNet weights for {backbone} are not in torchvision's cache ({path}) and this run may not "
                f"download them. Copy {os.path.basename(path)} there, set model.pretrained to a local .pth file, "
                "set model.allow_weight_download: true on a machine with internet, or use model.pretrained: none."
            )
        try:
            state = _torchvision_weights(backbone).get_state_dict(progress=False)
        except Exception as err:  # network errors come in many types
            raise WeightsUnavailableError(f"could not load ImageNet weights for {backbone}: {err}") from err
    else:
        path = Path(str(pretrained))
        if not path.is_file():
            raise WeightsUnavailableError(f"{path}: pretrained weights file not found (model.pretrained)")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:
            raise WeightsUnavailableError(f"{path}: not a loadable PyTorch state dict ({err})") from err
        state = state.get("state_dict", state)
    missing, _ = trunk.load_state_dict(_trunk_state(state), strict=False)
    if missing:
        raise WeightsUnavailableError(
            f"weights for {backbone} lack {len(missing)} backbone tensors, e.g. {missing[:3]}"
        )
