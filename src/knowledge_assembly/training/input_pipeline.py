"""Input for accelerators: uint8 batches gathered from the memory-mapped caches in a background thread
(a bounded queue of ready batches), pinned for non-blocking copies, converted on the training device.

Augmentation runs on the device too, as batched tensor ops (:func:`.batches.weak_view`,
:func:`.batches.strong_view`), so the CPU only copies bytes.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import torch

from ..models.preprocessing import to_float
from ..tasks import TASKS
from .batches import TrainingData
from .objective import shard_rows


@dataclass
class HostBatch:
    """One batch on the host: a contiguous block of rows per source (``blocks``: rows of each, in source order),
    images ``(B, H, W, 3)`` uint8, and per task the labels of the rows of the sources labelled for it (row order).

    In a distributed run it is one process's share of the global batch: ``rows`` are its rows'
    positions in the global batch of ``global_size`` images (None: the whole batch). ``label_rows``: per task whose
    sources' rows do not all carry its label, the positions of those that do (``labels`` holds only theirs).
    """

    images: torch.Tensor
    blocks: tuple[int, ...]
    labels: dict[str, torch.Tensor]
    rows: torch.Tensor | None = None
    global_size: int = 0
    label_rows: dict[str, torch.Tensor] = field(default_factory=dict)


def gather_host_batch(
    data: TrainingData,
    indices: tuple[np.ndarray, ...],
    pin: bool,
    rank: int = 0,
    world_size: int = 1,
) -> HostBatch:
    """Copy one batch's images and labels out of the caches (``indices``: each source's drawn training rows; sorted:
    sequential reads of the memory map); with ``world_size`` > 1 only this rank's equal share of each source's rows."""
    indices = tuple(np.sort(index) for index in indices)
    global_size, rows = sum(len(index) for index in indices), None
    if world_size > 1:
        shares = shard_rows(tuple(len(index) for index in indices), rank, world_size)
        starts = np.cumsum([0] + [len(index) for index in indices[:-1]])
        rows = torch.cat([start + share for start, share in zip(starts.tolist(), shares)])
        indices = tuple(index[share.numpy()] for index, share in zip(indices, shares))
    sources = data.sources
    images = torch.from_numpy(np.concatenate([s.images[s.cache_rows(i)] for s, i in zip(sources, indices)]))
    starts = np.cumsum([0] + [len(index) for index in indices[:-1]])
    labels, label_rows = {}, {}
    for task in data.tasks:  # class indices (one per row) as int64, multi-label rows as float32
        chosen = data.labelled_for(task)
        values = np.concatenate([sources[k].labels[task][indices[k]] for k in chosen])
        present = TASKS[task].labelled_rows(values)
        if not present.all():  # rows without its label: only its SSL terms and BatchNorm statistics see them
            positions = np.concatenate([starts[k] + np.arange(len(indices[k])) for k in chosen])
            label_rows[task], values = torch.from_numpy(positions[present]), values[present]
        labels[task] = torch.from_numpy(values.astype(np.int64 if values.ndim == 1 else np.float32))
    if pin:
        images, labels = images.pin_memory(), {task: value.pin_memory() for task, value in labels.items()}
    return HostBatch(images, tuple(len(index) for index in indices), labels, rows, global_size, label_rows)


def device_images(images: torch.Tensor, device: torch.device) -> torch.Tensor:
    """``(B, H, W, 3)`` uint8 (pinned: copied without blocking) → ``(B, 3, H, W)`` float in [0, 1] on ``device``."""
    return to_float(images.to(device, non_blocking=True))


class Prefetcher:
    """Iterates an epoch plan's host batches, gathered ``depth`` batches ahead by a background thread.

    ``depth`` 0 gathers in the calling thread. The order of batches is the plan's, so prefetching
    never changes what a seed trains on. ``wait_seconds`` is the time the consumer spent waiting
    for data (the share of a step the input pipeline leaves the device idle).
    """

    def __init__(
        self,
        data: TrainingData,
        plan: list[tuple[np.ndarray, ...]],
        depth: int,
        pin: bool,
        rank: int = 0,
        world_size: int = 1,
    ):
        self.data, self.plan, self.depth, self.pin = data, plan, depth, pin
        self.rank, self.world_size = rank, world_size
        self.wait_seconds = 0.0

    def _gather(self, indices: tuple[np.ndarray, ...]) -> HostBatch:
        return gather_host_batch(self.data, indices, self.pin, self.rank, self.world_size)

    def __len__(self) -> int:
        return len(self.plan)

    def __iter__(self) -> Iterator[HostBatch]:
        if self.depth == 0:
            for indices in self.plan:
                start = time.perf_counter()
                batch = self._gather(indices)
                self.wait_seconds += time.perf_counter() - start
                yield batch
            return
        ready: queue.Queue = queue.Queue(maxsize=self.depth)
        stop = threading.Event()
        worker = threading.Thread(target=self._fill, args=(ready, stop), daemon=True, name="batch-prefetch")
        worker.start()
        try:
            for _ in self.plan:
                start = time.perf_counter()
                item = ready.get()
                self.wait_seconds += time.perf_counter() - start
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            while worker.is_alive():  # unblock a worker waiting on a full queue
                with contextlib.suppress(queue.Empty):
                    ready.get_nowait()
                worker.join(timeout=0.05)

    def _fill(self, ready: queue.Queue, stop: threading.Event) -> None:
        try:
            for indices in self.plan:
                item = self._gather(indices)
                while not stop.is_set():
                    try:
                        ready.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
        except BaseException as error:  # handed to the consumer, which raises it
            ready.put(error)
