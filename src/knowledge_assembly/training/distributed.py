"""Data-parallel training with torch.distributed: one process per device, started from the training node.

``gloo`` on CPU, ``nccl`` on GPUs. A run on several machines starts the same
command on each with ``training.nodes``, ``training.node_rank``,
``training.master_addr`` and ``training.master_port``.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from ..config import ModelConfig, TrainingConfig, ValidationConfig, VariantConfig
from ..files import load_state, save_state
from ..memory import retain_freed_memory
from ..models import restore_network
from .batches import TrainingData
from .loop import TrainResult, train
from .run import num_attributes
from .validation import ValidationSet


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _portable(array: np.ndarray | None) -> object:
    """Memory-mapped arrays travel to the workers as their file name, not their contents."""
    return ("memmap", array.filename) if isinstance(array, np.memmap) and array.filename else array


def _restore(value: object) -> np.ndarray | None:
    if isinstance(value, tuple) and value[0] == "memmap":
        return np.load(value[1], mmap_mode="r")
    return value


def _portable_sources(data: TrainingData, convert) -> TrainingData:
    """``data`` with each source's images converted by ``convert`` (:func:`_portable` or :func:`_restore`)."""
    return TrainingData(tuple(dataclasses.replace(source, images=convert(source.images)) for source in data.sources))


def _portable_arrays(data: ValidationSet | None) -> tuple | None:
    return None if data is None else tuple(_portable(getattr(data, f.name)) for f in dataclasses.fields(data))


def _restored_arrays(kind: type, arrays: tuple | None):
    return None if arrays is None else kind(*(_restore(value) for value in arrays))


def _worker(
    local_rank: int,
    node_rank: int,
    per_node: int,
    world_size: int,
    address: str,
    port: int,
    name: str,
    variant: VariantConfig,
    data: TrainingData,
    config: TrainingConfig,
    model: ModelConfig,
    checkpoint_path: Path | None,
    result_file: Path,
    tracking_folder: Path | None = None,
    validation: ValidationConfig | None = None,
    validation_arrays: tuple | None = None,
) -> None:
    """One process of the group: its device, threads and allocator settings, then :func:`train` on its rank."""
    rank = node_rank * per_node + local_rank
    cuda = config.device in ("auto", "cuda") and torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(local_rank)
    else:
        retain_freed_memory()
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // per_node))
    dist.init_process_group(
        "nccl" if cuda else "gloo", init_method=f"tcp://{address}:{port}", rank=rank, world_size=world_size
    )
    try:
        arrays = _portable_sources(data, _restore)
        validation_set = _restored_arrays(ValidationSet, validation_arrays)
        local = dataclasses.replace(config, device=f"cuda:{local_rank}" if cuda else "cpu")
        result = train(
            name,
            variant,
            arrays,
            local,
            model,
            checkpoint_path,
            rank,
            world_size,
            tracking_folder,
            validation,
            validation_set,
        )
        if local_rank == 0:
            save_state({"models": [n.state_dict() for n in result.networks], "history": result.history}, result_file)
    finally:
        dist.destroy_process_group()


def train_distributed(
    name: str,
    variant: VariantConfig,
    data: TrainingData,
    config: TrainingConfig,
    model: ModelConfig,
    checkpoint_path: Path | None,
    tracking_folder: Path | None = None,
    validation: ValidationConfig | None = None,
    validation_set: ValidationSet | None = None,
) -> TrainResult:
    """Spawn this machine's share of ``training.world_size`` processes and return rank 0's trained networks
    (rank 0 validates, with ``validation`` and ``validation_set``)."""
    world_size, nodes = config.world_size, config.nodes
    if world_size % nodes:
        raise ValueError(f"training.world_size={world_size} must be a multiple of training.nodes={nodes}")
    if nodes > 1 and not config.master_port:
        raise ValueError("a run over several machines needs training.master_addr and training.master_port")
    per_node = world_size // nodes
    address, port = config.master_addr or "127.0.0.1", config.master_port or free_port()
    with tempfile.TemporaryDirectory(prefix="ka-ddp-") as folder:
        result_file = Path(folder) / "result.pt"
        mp.spawn(
            _worker,
            args=(
                config.node_rank,
                per_node,
                world_size,
                address,
                port,
                name,
                variant,
                _portable_sources(data, _portable),
                config,
                model,
                checkpoint_path,
                result_file,
                tracking_folder,
                validation,
                _portable_arrays(validation_set),
            ),
            nprocs=per_node,
            join=True,
        )
        state = load_state(result_file)
    sizes = data.num_ids, num_attributes(data)
    networks = [restore_network(model, *sizes, weights, len(data.sources)) for weights in state["models"]]
    return TrainResult(networks, state["history"])
