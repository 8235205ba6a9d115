"""Mini-batches from several training sources (one domain each), from uint8 caches: each batch is a contiguous
block of rows per source, drawn by the source's sampler (P x K for identity-labelled sources, uniform otherwise)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import torch

from ..config import ConfigError
from ..tasks import TASKS


@dataclass(frozen=True)
class PKSampler:
    """P identities x K images per batch on the labels of ``task`` (torchreid's RandomIdentitySampler); PK passes
    are cycled to fill an epoch."""

    ids_per_batch: int
    images_per_id: int
    task: str = "reid"

    @property
    def share(self) -> int:
        """Images of the source in each batch."""
        return self.ids_per_batch * self.images_per_id

    def iterations(self, source: SourceData) -> int:
        """Batches of one pass over the source."""
        return -(-len(source) // self.share)

    def batches(self, source: SourceData, count: int, rng: np.random.Generator) -> list[np.ndarray]:
        drawn: list[np.ndarray] = []
        while len(drawn) < count:
            more = pk_batches(source.labels[self.task], self.ids_per_batch, self.images_per_id, rng)
            if not more:
                raise ConfigError(
                    f"cannot form a PK batch: fewer than {self.ids_per_batch} identities (training.ids_per_batch) "
                    f"in the training set of source {source.name}"
                )
            drawn += more
        return drawn[:count]


@dataclass(frozen=True)
class UniformSampler:
    """``batch_size`` images per batch from successive shuffles of the source."""

    batch_size: int

    @property
    def share(self) -> int:
        return self.batch_size

    def iterations(self, source: SourceData) -> int:
        return len(source) // self.batch_size

    def batches(self, source: SourceData, count: int, rng: np.random.Generator) -> list[np.ndarray]:
        return random_batches(len(source), self.batch_size, count, rng)


Sampler = PKSampler | UniformSampler


@dataclass(frozen=True)
class SourceData:
    """One training source, one domain: decoded images (``(N, H, W, 3)`` uint8, memory-mapped is fine), one label
    array per task it is labelled for (one label per training row; none for an unlabelled source) and its sampler.

    ``rows``: the rows of ``images`` that are training images, ascending (``None``: all of them), so images held
    out for validation stay in the memory-mapped cache without a copy.
    """

    name: str
    images: np.ndarray
    sampler: Sampler
    labels: Mapping[str, np.ndarray] = field(default_factory=dict)
    rows: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.images) if self.rows is None else len(self.rows)

    def cache_rows(self, index: np.ndarray) -> np.ndarray:
        """The rows of ``images`` of training images ``index``."""
        return index if self.rows is None else self.rows[index]


@dataclass(frozen=True)
class TrainingData:
    """The training sources, in batch order (each batch holds one contiguous block of rows per source)."""

    sources: tuple[SourceData, ...]

    @property
    def tasks(self) -> tuple[str, ...]:
        """The tasks some source is labelled for, in order of first appearance."""
        return tuple(dict.fromkeys(task for source in self.sources for task in source.labels))

    def labelled_for(self, task: str) -> tuple[int, ...]:
        """Indices of the sources labelled for ``task``."""
        return tuple(i for i, source in enumerate(self.sources) if task in source.labels)

    def task_labels(self, task: str) -> np.ndarray:
        """Every training label of ``task``, source after source (empty where no source labels it)."""
        parts = [self.sources[i].labels[task] for i in self.labelled_for(task)]
        return np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)

    @property
    def label_counts(self) -> dict[str, int]:
        """Classes of every task's label space (what its head predicts), from the training labels."""
        return {name: task.label_count(self.task_labels(name)) for name, task in TASKS.items()}

    def used_by(self, supervised: tuple[str, ...], ssl: bool) -> tuple[bool, ...]:
        """Which sources a variant's batches draw from: those labelled for a task it supervises, all with ``ssl``,
        and an unlabelled source always (a supervised-only variant learns its BatchNorm statistics from it)."""
        return tuple(
            ssl or not source.labels or any(task in source.labels for task in supervised) for source in self.sources
        )


def pk_batches(labels: np.ndarray, p: int, k: int, rng: np.random.Generator) -> list[np.ndarray]:
    """One epoch of P identities x K images per batch (torchreid's RandomIdentitySampler)."""
    chunks: dict[int, list[np.ndarray]] = {}
    for pid in np.unique(labels):
        index = np.flatnonzero(labels == pid)
        index = rng.choice(index, k, replace=True) if len(index) < k else rng.permutation(index)
        chunks[int(pid)] = [index[i : i + k] for i in range(0, len(index) - k + 1, k)]
    batches = []
    available = [pid for pid, c in chunks.items() if c]
    while len(available) >= p:
        chosen = rng.choice(available, p, replace=False)
        batches.append(np.concatenate([chunks[int(pid)].pop() for pid in chosen]))
        available = [pid for pid in available if chunks[pid]]
    return batches


def random_batches(n: int, size: int, count: int, rng: np.random.Generator) -> list[np.ndarray]:
    """``count`` batches of ``size`` indices from successive shuffles of ``range(n)``."""
    needed = size * count
    order = (
        np.concatenate([rng.permutation(n) for _ in range(-(-needed // n))])[:needed] if needed else np.empty(0, int)
    )
    return [order[i * size : (i + 1) * size] for i in range(count)]


def epoch_plan(
    data: TrainingData, used: tuple[bool, ...], rng: np.random.Generator, iterations: int | None = None
) -> list[tuple[np.ndarray, ...]]:
    """Per iteration of one epoch, the indices drawn from each source (in source order).

    An epoch has the same number of iterations for every variant: ``iterations``, or by default
    enough batches to pass once over the largest training source (by its sampler's share). A source a
    variant does not use (``used``) contributes empty index arrays; the ones it uses are cycled (several PK
    passes, several shuffles) to fill the epoch, drawn source after source from ``rng``.
    """
    if iterations is None:
        iterations = max([source.sampler.iterations(source) for source in data.sources] + [1])
    empty = np.empty(0, dtype=np.int64)
    drawn = [
        source.sampler.batches(source, iterations, rng) if use else [empty] * iterations
        for source, use in zip(data.sources, used, strict=True)
    ]
    return [tuple(batches[i] for batches in drawn) for i in range(iterations)]


def _share(drawn: torch.Tensor, rows: torch.Tensor | None, device: torch.device) -> torch.Tensor:
    return (drawn if rows is None else drawn[rows]).to(device)


def weak_view(
    images: torch.Tensor,
    generator: torch.Generator,
    rows: torch.Tensor | None = None,
    global_size: int = 0,
    pad: int = 4,
) -> torch.Tensor:
    """Random horizontal flip and a random crop of the reflect-padded image, as batched tensor ops.

    ``images`` may live on any device; the random draws come from the CPU ``generator`` in a fixed
    order, so a seed gives the same views on every device. In a distributed run ``images`` are the
    ``rows`` of a global batch of ``global_size``: draws are made for the whole global batch, so each
    process augments its rows exactly as a single process would.
    """
    _, _, height, width = images.shape
    count, device = len(images) if rows is None else global_size, images.device
    flip = _share(torch.rand(count, generator=generator) < 0.5, rows, device)
    dy = _share(torch.randint(0, 2 * pad + 1, (count,), generator=generator), rows, device)
    dx = _share(torch.randint(0, 2 * pad + 1, (count,), generator=generator), rows, device)
    images = torch.where(flip.view(-1, 1, 1, 1), images.flip(3), images)
    padded = torch.nn.functional.pad(images, (pad, pad, pad, pad), mode="reflect").permute(0, 2, 3, 1)
    y = dy[:, None] + torch.arange(height, device=device)
    x = dx[:, None] + torch.arange(width, device=device)
    every = torch.arange(len(images), device=device)[:, None, None]
    return padded[every, y[:, :, None], x[:, None, :]].permute(0, 3, 1, 2).contiguous()


def strong_view(
    images: torch.Tensor,
    generator: torch.Generator,
    rows: torch.Tensor | None = None,
    global_size: int = 0,
    pad: int = 4,
) -> torch.Tensor:
    """Weak view + brightness/contrast jitter + random erasing (FixMatch-style strong augmentation), batched."""
    images = weak_view(images, generator, rows, global_size, pad)
    _, _, height, width = images.shape
    count, device = len(images) if rows is None else global_size, images.device
    brightness = _share(1.0 + (torch.rand(count, 1, 1, 1, generator=generator) - 0.5) * 0.8, rows, device)
    contrast = _share(1.0 + (torch.rand(count, 1, 1, 1, generator=generator) - 0.5) * 0.8, rows, device)
    mean = images.mean(dim=(1, 2, 3), keepdim=True)
    images = ((images * brightness - mean) * contrast + mean).clamp(0, 1)
    eh = torch.randint(height // 8, height // 2, (count,), generator=generator)
    ew = torch.randint(width // 8, width // 2, (count,), generator=generator)
    y0 = (torch.rand(count, generator=generator) * (height - eh)).long()
    x0 = (torch.rand(count, generator=generator) * (width - ew)).long()
    y, x = torch.arange(height)[None, :], torch.arange(width)[None, :]
    inside_y = (y >= y0[:, None]) & (y < (y0 + eh)[:, None])
    inside_x = (x >= x0[:, None]) & (x < (x0 + ew)[:, None])
    erased = _share(inside_y[:, :, None] & inside_x[:, None, :], rows, device)
    return torch.where(erased[:, None], torch.full_like(images, 0.5), images)
