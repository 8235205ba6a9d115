"""Label-free adaptation to a new camera (AdaBN, Li et al. 2016): a new domain's BatchNorm statistics, computed by
forward passes over unlabelled images of that camera. No weight changes; every other domain keeps its statistics."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any

import torch

from .bundle import ModelBundle
from .ka_net import DomainBatchNorm, KANet, split_batch_norm
from .preprocessing import normalise


class AdaptationError(ValueError):
    """A domain that cannot be added to a model (its name is taken, or there are too few images)."""


def add_domain(network: KANet, num_domains: int) -> int:
    """Give every BatchNorm of ``network`` one more set of statistics (a network with shared statistics first gets
    ``num_domains`` copies of them, so every existing domain reads as before); returns the new domain's index."""
    if not any(isinstance(m, DomainBatchNorm) for m in network.modules()):
        split_batch_norm(network, num_domains)
    for norm in (m for m in network.modules() if isinstance(m, DomainBatchNorm)):
        statistics = type(norm.domains[0])(norm.weight.numel(), norm.domains[0].eps, momentum=None, affine=False)
        norm.domains.append(statistics.to(norm.weight.device))
    return num_domains


@torch.no_grad()
def estimate_statistics(network: KANet, domain: int, batches: Iterable[torch.Tensor]) -> int:
    """Running mean and variance of domain ``domain``'s BatchNorms from ``batches`` of RGB images in [0, 1]
    ``(B, 3, H, W)``: the cumulative average over batches (momentum ``None``), so memory is one batch whatever the
    number of images. Only those statistics change; returns the number of images seen."""
    network.eval()
    new = [m.domains[domain] for m in network.modules() if isinstance(m, DomainBatchNorm)]
    for statistics in new:
        statistics.reset_running_stats()
        statistics.momentum = None
        statistics.train()
    seen = 0
    for images in batches:
        network(normalise(images), domain)
        seen += len(images)
    for statistics in new:
        statistics.momentum = 0.1
        statistics.eval()
    return seen


def adapted_bundle(
    bundle: ModelBundle, domain: str, batches: Callable[[int, int], Iterable[torch.Tensor]], note: dict[str, Any]
) -> ModelBundle:
    """``bundle`` with one more domain, ``domain``, whose statistics every network estimates from its images:
    ``batches(i, n)`` reads them for network ``i`` of ``n``; ``note`` (e.g. the image folder and count) is kept in
    its settings under ``adapted``."""
    if domain in bundle.domains:
        raise AdaptationError(f"domain {domain!r} is already in the model (its domains: {', '.join(bundle.domains)})")
    states = []
    networks = bundle.networks()
    for i, network in enumerate(networks):
        index = add_domain(network, len(bundle.domains))
        estimate_statistics(network, index, batches(i, len(networks)))
        states.append({k: v.detach().clone() for k, v in network.state_dict().items()})
    adapted = {**bundle.settings.get("adapted", {}), domain: note}
    return dataclasses.replace(
        bundle,
        model=dataclasses.replace(bundle.model, domain_bn=True),
        state_dicts=tuple(states),
        adapted_domains=(*bundle.adapted_domains, domain),
        settings={**bundle.settings, "adapted": adapted},
    )
