"""ResNet backbone with one head per task (:mod:`knowledge_assembly.tasks`).

Each head is conv → two FC → classifier and returns a feature vector and a
classification vector. The identity classifier also classifies the source (domain) of
an image: with two sources one extra logit, "this image is from the first source",
with M > 2 sources M extra logits.

A batch's rows come in contiguous blocks, one per source (:data:`Domains`): with
domain-specific BatchNorm each block is normalised with its source's statistics.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence

import torch
import torchvision
from torch import nn

from ..config import ModelConfig
from ..tasks import TASKS
from .weights import load_backbone_weights

Domains = int | Sequence[int] | None
"""Which source's statistics normalise the rows of a batch: ``None`` every row the first source's, ``d`` every row
source ``d``'s, a sequence of M block sizes the first ``sizes[0]`` rows source 0's, the next source 1's, and so on."""

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
    """Shared ResNet trunk + one :class:`TaskHead` per task of :data:`~knowledge_assembly.tasks.TASKS`
    (``heads``), each predicting its task's label space (``label_counts``: task -> classes; the identity head also
    classifies the source of each image)."""

    def __init__(
        self,
        backbone: str,
        label_counts: Mapping[str, int],
        hidden: int = 256,
        feature_dim: int = 128,
        bnneck: bool = True,
        num_sources: int = 2,
    ):
        super().__init__()
        if backbone not in BACKBONE_CHANNELS:
            raise ValueError(f"backbone must be one of {sorted(BACKBONE_CHANNELS)}, got {backbone!r}")
        resnet = getattr(torchvision.models, backbone)(weights=None)
        self.backbone_name = backbone
        self.label_counts, self.num_sources = {name: label_counts[name] for name in TASKS}, num_sources
        self.trunk = nn.Sequential(*list(resnet.children())[:-2])
        channels = BACKBONE_CHANNELS[backbone]
        outputs = {name: task.head_outputs(label_counts[name], num_sources) for name, task in TASKS.items()}
        self.heads = nn.ModuleDict(
            {name: TaskHead(channels, hidden, feature_dim, count, bnneck) for name, count in outputs.items()}
        )

    def forward(self, images: torch.Tensor, domains: Domains = None) -> dict[str, torch.Tensor]:
        """Every head's outputs for ``images``; with domain-specific BatchNorm ``domains`` says which source's
        statistics normalise which rows (:data:`Domains`)."""
        for norm in self.modules():
            if isinstance(norm, DomainBatchNorm):
                norm.domains_of_rows = domains
        feature_map = self.trunk(images)
        outputs = {}
        for name, task in TASKS.items():
            feature, logits = self.heads[name](feature_map)
            outputs.update(task.outputs(feature, logits, self.label_counts[name]))
        return outputs


class DomainBatchNorm(nn.Module):
    """BatchNorm with statistics per source (domain) and one shared affine transform (domain-specific statistics,
    as in AdaBN / DSBN, Chang et al. CVPR 2019).

    :meth:`KANet.forward` sets which rows belong to which source (:data:`Domains`): each contiguous block is
    normalised with its source's batch or running statistics, with one split of the batch, no per-row loop.
    Sharing the scale and shift keeps the sources in one feature space, so the PAR head reads Market-1501
    images as it reads PA-100K ones, and the source of an image is not handed to the network as a free
    per-domain offset.
    """

    def __init__(self, norm: nn.modules.batchnorm._BatchNorm, num_domains: int = 2):
        super().__init__()
        self.weight, self.bias = norm.weight, norm.bias
        statistics = type(norm)(norm.num_features, norm.eps, norm.momentum, affine=False)
        statistics.load_state_dict({k: v for k, v in norm.state_dict().items() if k not in ("weight", "bias")})
        self.domains = nn.ModuleList([statistics] + [copy.deepcopy(statistics) for _ in range(num_domains - 1)])
        self.domains_of_rows: Domains = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        route = self.domains_of_rows
        if route is None or isinstance(route, int):
            parts = [self.domains[route or 0](x)]
        else:
            parts = [norm(part) for norm, part in zip(self.domains, x.split(list(route))) if len(part)]
        shape = (1, -1) + (1,) * (x.dim() - 2)
        return torch.cat(parts) * self.weight.view(shape) + self.bias.view(shape)


def split_batch_norm(module: nn.Module, num_domains: int = 2) -> nn.Module:
    """Replace every BatchNorm of ``module`` by a :class:`DomainBatchNorm` of ``num_domains`` sources (every
    source's statistics start from the BatchNorm's own)."""
    for name, child in module.named_children():
        if isinstance(child, nn.modules.batchnorm._BatchNorm):
            setattr(module, name, DomainBatchNorm(child, num_domains))
        else:
            split_batch_norm(child, num_domains)
    return module


def _network(config: ModelConfig, label_counts: Mapping[str, int], num_sources: int) -> KANet:
    return KANet(config.backbone, label_counts, config.hidden_dim, config.feature_dim, config.bnneck, num_sources)


def build_model(config: ModelConfig, label_counts: Mapping[str, int], seed: int, num_sources: int = 2) -> KANet:
    """A :class:`KANet` for ``num_sources`` training sources initialised from ``seed`` (the global random state is
    left as it was); ``config.pretrained`` picks backbone weights (see :mod:`.weights`).

    The two KA instances differ only in ``seed`` (head initialisation), as in the paper.
    ``config.domain_bn`` gives every BatchNorm of the network (trunk and both task heads) statistics per source
    with one shared scale and shift.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = _network(config, label_counts, num_sources)
    load_backbone_weights(model.trunk, config.backbone, config.pretrained, config.allow_weight_download)
    if config.domain_bn:
        split_batch_norm(model, num_sources)
    return model


def restore_network(
    config: ModelConfig,
    label_counts: Mapping[str, int],
    state_dict: dict[str, torch.Tensor],
    num_sources: int = 2,
    num_domains: int | None = None,
) -> KANet:
    """A :class:`KANet` with trained weights (no pretrained download: the weights are all given) for
    ``num_sources`` training sources and, with domain-specific BatchNorm, ``num_domains`` sets of statistics (the
    sources' and any adapted domain's; default: one per source). Weights saved before the heads were a ``heads``
    mapping (``reid.*``, ``par.*``) load too."""
    model = _network(config, label_counts, num_sources)
    if config.domain_bn:
        split_batch_norm(model, num_domains or num_sources)
    model.load_state_dict({_head_key(key): value for key, value in state_dict.items()})
    return model


def _head_key(key: str) -> str:
    """``reid.conv.0.weight`` (a head's weight as saved before ``heads``) -> ``heads.reid.conv.0.weight``."""
    return f"heads.{key}" if key.partition(".")[0] in TASKS else key
