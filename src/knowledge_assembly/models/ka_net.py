"""ResNet backbone with a reID head and a PAR head.

Each head is conv → two FC → classifier and returns a feature vector and a
classification vector. The reID classifier has one extra logit: "this image is
from the reID dataset".
"""
from __future__ import annotations

from typing import Any

import torch
import torchvision
from torch import nn

from .weights import load_backbone_weights

BACKBONE_CHANNELS = {"resnet18": 512, "resnet34": 512, "resnet50": 2048, "resnet101": 2048, "resnet152": 2048}


class TaskHead(nn.Module):
    """conv(1x1) + BN + ReLU → global pool → FC → ReLU → FC (feature) → BN → classifier.

    The BN before the classifier is the "BNNeck" of Luo et al. (Bag of Tricks for
    reID); the returned feature is taken before it.
    """

    def __init__(self, in_channels: int, hidden: int, feature_dim: int, num_classes: int):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(in_channels, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU(inplace=True))
        self.fc = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, feature_dim))
        self.neck = nn.BatchNorm1d(feature_dim)
        self.classifier = nn.Linear(feature_dim, num_classes)

    def forward(self, feature_map: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pooled = self.conv(feature_map).mean(dim=(2, 3))
        feature = self.fc(pooled)
        return feature, self.classifier(self.neck(feature))


class KANet(nn.Module):
    """Shared ResNet trunk + reID head (``num_ids`` + 1 logits) + PAR head (``num_attributes`` logits)."""

    def __init__(self, backbone: str, num_ids: int, num_attributes: int, hidden: int = 256, feature_dim: int = 128):
        super().__init__()
        if backbone not in BACKBONE_CHANNELS:
            raise ValueError(f"backbone must be one of {sorted(BACKBONE_CHANNELS)}, got {backbone!r}")
        resnet = getattr(torchvision.models, backbone)(weights=None)
        self.backbone_name = backbone
        self.trunk = nn.Sequential(*list(resnet.children())[:-2])
        channels = BACKBONE_CHANNELS[backbone]
        self.reid = TaskHead(channels, hidden, feature_dim, num_ids + 1)
        self.par = TaskHead(channels, hidden, feature_dim, num_attributes)

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        feature_map = self.trunk(images)
        reid_feature, reid_logits = self.reid(feature_map)
        par_feature, par_logits = self.par(feature_map)
        return {
            "reid_feature": reid_feature,
            "id_logits": reid_logits[:, :-1],
            "dataset_logit": reid_logits[:, -1],
            "par_feature": par_feature,
            "attribute_logits": par_logits,
        }


def build_model(params: dict[str, Any], num_ids: int, num_attributes: int, seed: int) -> KANet:
    """A seeded :class:`KANet`; ``params['pretrained']`` picks backbone weights (see :mod:`.weights`).

    The two KA instances differ only in ``seed`` (head initialisation), as in the paper.
    """
    torch.manual_seed(seed)
    model = KANet(params["backbone"], num_ids, num_attributes, params["hidden_dim"], params["feature_dim"])
    load_backbone_weights(model.trunk, params["backbone"], params.get("pretrained"))
    return model


def restore_network(params: dict[str, Any], num_ids: int, num_attributes: int, state_dict: dict[str, torch.Tensor]) -> KANet:
    """A :class:`KANet` with trained weights (no pretrained download: the weights are all given)."""
    model = KANet(params["backbone"], num_ids, num_attributes, params["hidden_dim"], params["feature_dim"])
    model.load_state_dict(state_dict)
    return model
