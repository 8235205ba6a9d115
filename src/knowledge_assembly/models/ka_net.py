"""ResNet backbone with a reID head and a PAR head.

Each head is conv → two FC → classifier and returns a feature vector and a
classification vector. The reID classifier has one extra logit: "this image is
from the reID dataset".
"""

from __future__ import annotations

import copy

import torch
import torchvision
from torch import nn

from ..config import ModelConfig
from .weights import load_backbone_weights

BACKBONE_CHANNELS = {"resnet18": 512, "resnet34": 512, "resnet50": 2048, "resnet101": 2048, "resnet152": 2048}


class TaskHead(nn.Module):
    """conv(1x1) + BN + ReLU → global pool → FC → ReLU → FC (feature) → BN → classifier.

    The BN before the classifier is the "BNNeck" of Luo et al. (Bag of Tricks for
    reID); the returned feature is taken before it.
    """

    def __init__(self, in_channels: int, hidden: int, feature_dim: int, num_classes: int, bnneck: bool = True):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(in_channels, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU(inplace=True)
        )
        self.fc = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, feature_dim))
        self.neck = nn.BatchNorm1d(feature_dim) if bnneck else nn.Identity()
        self.classifier = nn.Linear(feature_dim, num_classes)

    def forward(self, feature_map: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pooled = self.conv(feature_map).mean(dim=(2, 3))
        feature = self.fc(pooled)
        return feature, self.classifier(self.neck(feature))


class KANet(nn.Module):
    """Shared ResNet trunk + reID head (``num_ids`` + 1 logits) + PAR head (``num_attributes`` logits)."""

    def __init__(
        self,
        backbone: str,
        num_ids: int,
        num_attributes: int,
        hidden: int = 256,
        feature_dim: int = 128,
        bnneck: bool = True,
    ):
        super().__init__()
        if backbone not in BACKBONE_CHANNELS:
            raise ValueError(f"backbone must be one of {sorted(BACKBONE_CHANNELS)}, got {backbone!r}")
        resnet = getattr(torchvision.models, backbone)(weights=None)
        self.backbone_name = backbone
        self.trunk = nn.Sequential(*list(resnet.children())[:-2])
        channels = BACKBONE_CHANNELS[backbone]
        self.reid = TaskHead(channels, hidden, feature_dim, num_ids + 1, bnneck)
        self.par = TaskHead(channels, hidden, feature_dim, num_attributes, bnneck)

    def forward(self, images: torch.Tensor, n_reid: int | None = None) -> dict[str, torch.Tensor]:
        """Outputs for ``images``; with domain-specific BatchNorm the first ``n_reid`` rows (default all)
        are normalised as reID-domain images and the rest as PAR-domain images."""
        for norm in self.modules():
            if isinstance(norm, DomainBatchNorm):
                norm.n_reid = len(images) if n_reid is None else n_reid
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


class DomainBatchNorm(nn.Module):
    """BatchNorm with statistics per dataset and one shared affine transform (domain-specific statistics,
    as in AdaBN / DSBN, Chang et al. CVPR 2019).

    Rows before ``n_reid`` (set by :meth:`KANet.forward`) are normalised with the reID-domain batch or
    running statistics, the rest with the PAR-domain ones. Sharing the scale and shift keeps both
    domains in one feature space, so the PAR head reads Market-1501 images as it reads PA-100K ones,
    and the source of an image is not handed to the network as a free per-domain offset.
    """

    def __init__(self, norm: nn.modules.batchnorm._BatchNorm):
        super().__init__()
        self.weight, self.bias = norm.weight, norm.bias
        statistics = type(norm)(norm.num_features, norm.eps, norm.momentum, affine=False)
        statistics.load_state_dict({k: v for k, v in norm.state_dict().items() if k not in ("weight", "bias")})
        self.domains = nn.ModuleList([statistics, copy.deepcopy(statistics)])
        self.n_reid: int | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = min(max(len(x) if self.n_reid is None else self.n_reid, 0), len(x))
        parts = [norm(part) for norm, part in zip(self.domains, (x[:n], x[n:])) if len(part)]
        shape = (1, -1) + (1,) * (x.dim() - 2)
        return torch.cat(parts) * self.weight.view(shape) + self.bias.view(shape)


def split_batch_norm(module: nn.Module) -> nn.Module:
    """Replace every BatchNorm of ``module`` by a :class:`DomainBatchNorm` (both statistics start from its own)."""
    for name, child in module.named_children():
        if isinstance(child, nn.modules.batchnorm._BatchNorm):
            setattr(module, name, DomainBatchNorm(child))
        else:
            split_batch_norm(child)
    return module


def _network(config: ModelConfig, num_ids: int, num_attributes: int) -> KANet:
    model = KANet(config.backbone, num_ids, num_attributes, config.hidden_dim, config.feature_dim, config.bnneck)
    if config.domain_bn:
        split_batch_norm(model)
    return model


def build_model(config: ModelConfig, num_ids: int, num_attributes: int, seed: int) -> KANet:
    """A :class:`KANet` initialised from ``seed`` (the global random state is left as it was);
    ``config.pretrained`` picks backbone weights (see :mod:`.weights`).

    The two KA instances differ only in ``seed`` (head initialisation), as in the paper.
    ``config.domain_bn`` gives every BatchNorm of the network (trunk and both task heads) reID-domain and
    PAR-domain statistics with one shared scale and shift.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = KANet(config.backbone, num_ids, num_attributes, config.hidden_dim, config.feature_dim, config.bnneck)
    load_backbone_weights(model.trunk, config.backbone, config.pretrained, config.allow_weight_download)
    if config.domain_bn:
        split_batch_norm(model)
    return model


def restore_network(
    config: ModelConfig, num_ids: int, num_attributes: int, state_dict: dict[str, torch.Tensor]
) -> KANet:
    """A :class:`KANet` with trained weights (no pretrained download: the weights are all given)."""
    model = _network(config, num_ids, num_attributes)
    model.load_state_dict(state_dict)
    return model
