"""Data-parallel training with torch.distributed: one process per device, started from the training node.

``gloo`` on CPU, ``nccl`` on GPUs. A run on several machines starts the same
command on each with ``training.nodes``, ``training.node_rank``,
``training.master_addr`` and ``training.master_port``.
"""
from __future__ import annotations

import os
import socket
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from ..models import restore_network
from . import checkpoint
from .batches import TrainingData
from .loop import TrainResult, train
from .objective import Variant


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _portable(array: np.ndarray) -> object:
    """Memory-mapped arrays travel to the workers as their file name, not their contents."""
    return ("memmap", array.filename) if isinstance(array, np.memmap) and array.filename else array


def _restore(value: object) -> np.ndarray:
    if isinstance(value, tuple) and value[0] == "memmap":
        return np.load(value[1], mmap_mode="r")
    return value


def _worker(local_rank: int, node_rank: int, per_node: int, world_size: int, address: str, port: int,
            variant: Variant, data: tuple, params: dict, model_params: dict, checkpoint_dir: Path | None,
            result_file: Path) -> None:
    rank = node_rank * per_node + local_rank
    cuda = params.get("device", "auto") in ("auto", "cuda") and torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(local_rank)
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // per_node))
    dist.init_process_group("nccl" if cuda else "gloo", init_method=f"tcp://{address}:{port}", rank=rank, world_size=world_size)
    try:
        arrays = TrainingData(*(_restore(v) for v in data))
        local = {**params, "device": f"cuda:{local_rank}" if cuda else "cpu"}
        result = train(variant, arrays, local, model_params, checkpoint_dir, rank, world_size)
        if local_rank == 0:
            checkpoint.save_atomic({"models": [m.state_dict() for m in result.models], "history": result.history}, result_file)
    finally:
        dist.destroy_process_group()


def train_distributed(variant: Variant, data: TrainingData, params: dict[str, Any], model_params: dict[str, Any],
                      checkpoint_dir: Path | None) -> TrainResult:
    """Spawn this machine's share of ``training.world_size`` processes and return rank 0's trained networks."""
    world_size, nodes = int(params["world_size"]), int(params.get("nodes", 1))
    if world_size % nodes:
        raise ValueError(f"training.world_size={world_size} must be a multiple of training.nodes={nodes}")
    if nodes > 1 and not params.get("master_port"):
        raise ValueError("a run over several machines needs training.master_addr and training.master_port")
    per_node = world_size // nodes
    address, port = params.get("master_addr") or "127.0.0.1", int(params.get("master_port") or free_port())
    portable = tuple(_portable(a) for a in (data.reid_images, data.reid_labels, data.par_images, data.par_labels))
    with tempfile.TemporaryDirectory(prefix="ka-ddp-") as folder:
        result_file = Path(folder) / "result.pt"
        mp.spawn(_worker, args=(int(params.get("node_rank", 0)), per_node, world_size, address, port, variant, portable,
                                params, model_params, checkpoint_dir, result_file), nprocs=per_node, join=True)
        state = checkpoint.load(result_file)
    models = [restore_network(model_params, data.num_ids, data.par_labels.shape[1], weights) for weights in state["models"]]
    return TrainResult(models, state["history"])
