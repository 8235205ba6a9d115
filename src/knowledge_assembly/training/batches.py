"""Mini-batches of N_A PK-sampled reID images and N_B random PAR images, from uint8 caches."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class TrainingData:
    """Decoded training images (``(N, H, W, 3)`` uint8, memory-mapped is fine) and their labels.

    ``reid_rows``: the rows of ``reid_images`` that are training images, ascending (``None``: all of them), so
    identities held out for validation stay in the memory-mapped cache without a copy; ``reid_labels`` has one
    label per training row.
    """

    reid_images: np.ndarray
    reid_labels: np.ndarray
    par_images: np.ndarray
    par_labels: np.ndarray
    reid_rows: np.ndarray | None = None

    def reid_cache_rows(self, index: np.ndarray) -> np.ndarray:
        """The rows of ``reid_images`` of training images ``index``."""
        return index if self.reid_rows is None else self.reid_rows[index]

    @property
    def num_ids(self) -> int:
        """Identity classes of the reID classifier (labels are 0..N-1)."""
        return int(self.reid_labels.max()) + 1 if len(self.reid_labels) else 1


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
    data: TrainingData,
    ids_per_batch: int,
    images_per_id: int,
    par_batch_size: int,
    use_reid: bool,
    use_par: bool,
    rng: np.random.Generator,
    iterations: int | None = None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(reID indices, PAR indices) per iteration of one epoch.

    An epoch has the same number of iterations for every variant: ``iterations``, or by default
    enough batches to pass once over the larger of the two training sets. A dataset a variant does
    not use contributes empty index arrays; the ones it uses are cycled (several PK passes, several
    PAR shuffles) to fill the epoch.
    """
    if iterations is None:
        iterations = max(
            -(-len(data.reid_labels) // (ids_per_batch * images_per_id)), len(data.par_labels) // par_batch_size, 1
        )
    reid: list[np.ndarray] = []
    while use_reid and len(reid) < iterations:
        more = pk_batches(data.reid_labels, ids_per_batch, images_per_id, rng)
        if not more:
            raise ValueError(f"cannot form a PK batch: fewer than {ids_per_batch} identities in the reID training set")
        reid += more
    par = random_batches(len(data.par_labels), par_batch_size, iterations, rng) if use_par else []
    empty = np.empty(0, dtype=np.int64)
    return [(reid[i] if use_reid else empty, par[i] if use_par else empty) for i in range(iterations)]


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
