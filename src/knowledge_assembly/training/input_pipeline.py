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
from dataclasses import dataclass

import numpy as np
import torch

from ..models.preprocessing import to_float
from .batches import TrainingData
from .objective import shard_rows


@dataclass
class HostBatch:
    """One mixed batch on the host: reID rows first, then PAR rows, images ``(B, H, W, 3)`` uint8.

    In a distributed run it is one process's share of the global batch: ``rows`` are its rows'
    positions in the global batch of ``global_size`` images (None: the whole batch).
    """

    images: torch.Tensor
    id_labels: torch.Tensor
    attributes: torch.Tensor
    n_reid: int
    rows: torch.Tensor | None = None
    global_size: int = 0


def gather_host_batch(
    data: TrainingData,
    reid_index: np.ndarray,
    par_index: np.ndarray,
    pin: bool,
    rank: int = 0,
    world_size: int = 1,
) -> HostBatch:
    """Copy one batch's images and labels out of the caches (sorted indices: sequential reads of the memory
    map); with ``world_size`` > 1 only this rank's equal share of the reID rows and of the PAR rows."""
    reid_index, par_index = np.sort(reid_index), np.sort(par_index)
    global_size, rows = len(reid_index) + len(par_index), None
    if world_size > 1:
        reid_rows, par_rows = shard_rows(len(reid_index), len(par_index), rank, world_size)
        rows = torch.cat([reid_rows, len(reid_index) + par_rows])
        reid_index, par_index = reid_index[reid_rows.numpy()], par_index[par_rows.numpy()]
    reid_images = data.reid_images[data.reid_cache_rows(reid_index)]
    images = torch.from_numpy(np.concatenate([reid_images, data.par_images[par_index]]))
    labels = torch.from_numpy(data.reid_labels[reid_index].astype(np.int64))
    attributes = torch.from_numpy(data.par_labels[par_index].astype(np.float32))
    if pin:
        images, labels, attributes = images.pin_memory(), labels.pin_memory(), attributes.pin_memory()
    return HostBatch(images, labels, attributes, len(reid_index), rows, global_size)


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
        plan: list[tuple[np.ndarray, np.ndarray]],
        depth: int,
        pin: bool,
        rank: int = 0,
        world_size: int = 1,
    ):
        self.data, self.plan, self.depth, self.pin = data, plan, depth, pin
        self.rank, self.world_size = rank, world_size
        self.wait_seconds = 0.0

    def _gather(self, reid_index: np.ndarray, par_index: np.ndarray) -> HostBatch:
        return gather_host_batch(self.data, reid_index, par_index, self.pin, self.rank, self.world_size)

    def __len__(self) -> int:
        return len(self.plan)

    def __iter__(self) -> Iterator[HostBatch]:
        if self.depth == 0:
            for reid_index, par_index in self.plan:
                start = time.perf_counter()
                batch = self._gather(reid_index, par_index)
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
            for reid_index, par_index in self.plan:
                item = self._gather(reid_index, par_index)
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
