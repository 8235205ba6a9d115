"""Data-parallel training with torch.distributed: one process per device (``gloo`` on CPU, ``nccl`` on GPUs).

Two ways to start the processes:

* launched, as clusters do: ``torchrun --nproc-per-node=N -m kedro run ...`` (under SLURM: ``srun torchrun ...``).
  torchrun's env:// rendezvous variables (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE) make each process one
  rank: rank 0 runs the Kedro pipeline, and each training node hands its job to the other ranks, which only train
  (:func:`serve_launched_jobs`) until rank 0's pipeline ends;
* spawned from the training node on one machine with ``training.world_size`` > 1 (``training.nodes``,
  ``node_rank``, ``master_addr`` and ``master_port`` for several machines, each running the same command).
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import os
import socket
import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from ..config import ConfigError, ModelConfig, TrainingConfig, ValidationConfig, VariantConfig
from ..files import load_state, save_state
from ..memory import retain_freed_memory
from ..models import restore_network
from .batches import TrainingData
from .loop import TrainResult, train
from .validation import ValidationSet

logger = logging.getLogger(__name__)

# Ranks other than 0 wait for rank 0 between jobs (its ingestion, evaluation, other nodes): a generous limit.
LAUNCHED_TIMEOUT = datetime.timedelta(hours=24)


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


def _portable_validation(data: ValidationSet | None, convert) -> ValidationSet | None:
    """``data`` with each entry's images converted by ``convert`` (:func:`_portable` or :func:`_restore`)."""
    if data is None:
        return None
    return ValidationSet(tuple(dataclasses.replace(entry, images=convert(entry.images)) for entry in data.entries))


@dataclasses.dataclass(frozen=True)
class TrainingJob:
    """What every rank of a group trains: arrays travel as memory-map file names (:func:`_portable`)."""

    name: str
    variant: VariantConfig
    data: TrainingData
    config: TrainingConfig
    model: ModelConfig
    checkpoint_path: Path | None
    tracking_folder: Path | None
    validation: ValidationConfig | None
    validation_set: ValidationSet | None

    @classmethod
    def of(cls, name, variant, data, config, model, checkpoint_path, tracking_folder, validation, validation_set):
        return cls(
            name, variant, _portable_sources(data, _portable), config, model, checkpoint_path, tracking_folder,
            validation, _portable_validation(validation_set, _portable),
        )  # fmt: skip


def _uses_cuda(config: TrainingConfig) -> bool:
    return config.device in ("auto", "cuda") and torch.cuda.is_available()


def _prepare_process(local_rank: int, per_node: int, cuda: bool) -> None:
    """This process's device, allocator settings and share of the machine's cores."""
    if cuda:
        torch.cuda.set_device(local_rank)
    else:
        retain_freed_memory()
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // per_node))


def _train_job(job: TrainingJob, rank: int, local_rank: int, world_size: int) -> TrainResult:
    """:func:`train` on this rank, inside an initialised process group."""
    cuda = _uses_cuda(job.config)
    local = dataclasses.replace(job.config, device=f"cuda:{local_rank}" if cuda else "cpu")
    return train(
        job.name,
        job.variant,
        _portable_sources(job.data, _restore),
        local,
        job.model,
        job.checkpoint_path,
        rank,
        world_size,
        job.tracking_folder,
        job.validation,
        _portable_validation(job.validation_set, _restore),
    )


def _worker(
    local_rank: int, node_rank: int, per_node: int, world_size: int, address: str, port: int, job: TrainingJob,
    result_file: Path,
) -> None:  # fmt: skip
    """One spawned process of the group: its device and threads, then :func:`train` on its rank."""
    rank = node_rank * per_node + local_rank
    cuda = _uses_cuda(job.config)
    _prepare_process(local_rank, per_node, cuda)
    dist.init_process_group(
        "nccl" if cuda else "gloo", init_method=f"tcp://{address}:{port}", rank=rank, world_size=world_size
    )
    try:
        result = _train_job(job, rank, local_rank, world_size)
        if local_rank == 0:
            save_state({"models": [n.state_dict() for n in result.networks], "history": result.history}, result_file)
    finally:
        dist.destroy_process_group()


def _result(state: dict, data: TrainingData, model: ModelConfig) -> TrainResult:
    counts = data.label_counts
    networks = [restore_network(model, counts, weights, len(data.sources)) for weights in state["models"]]
    return TrainResult(networks, state["history"])


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
    """Train on a group of processes and return rank 0's networks (rank 0 validates, with ``validation`` and
    ``validation_set``): the group torchrun / srun launched, else this machine's share of ``training.world_size``
    processes, spawned here."""
    job = TrainingJob.of(name, variant, data, config, model, checkpoint_path, tracking_folder, validation,
                         validation_set)  # fmt: skip
    state = _train_launched(job) if launched_group() is not None else _train_spawned(job)
    return _result(state, data, model)


def _train_spawned(job: TrainingJob) -> dict:
    config = job.config
    world_size, nodes = config.world_size, config.nodes
    if world_size % nodes:
        raise ConfigError(f"training.world_size={world_size} must be a multiple of training.nodes={nodes}")
    if nodes > 1 and not config.master_port:
        raise ConfigError("a run over several machines needs training.master_addr and training.master_port")
    per_node = world_size // nodes
    address, port = config.master_addr or "127.0.0.1", config.master_port or free_port()
    with tempfile.TemporaryDirectory(prefix="ka-ddp-") as folder:
        result_file = Path(folder) / "result.pt"
        mp.spawn(
            _worker,
            args=(config.node_rank, per_node, world_size, address, port, job, result_file),
            nprocs=per_node,
            join=True,
        )
        return load_state(result_file)


# --- launched by torchrun (or srun): env:// rendezvous, each process one rank ---------------------------------


@dataclasses.dataclass(frozen=True)
class LaunchedGroup:
    """This process's place in a group that torchrun or SLURM started."""

    rank: int
    world_size: int
    local_rank: int
    local_world_size: int

    @property
    def nodes(self) -> int:
        return max(1, self.world_size // self.local_world_size)


def launched_group(environ: dict[str, str] | None = None) -> LaunchedGroup | None:
    """The group of torchrun's variables (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE), or of ``srun`` without
    torchrun (SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID, SLURM_NTASKS_PER_NODE, with MASTER_ADDR and MASTER_PORT
    set by the batch script); None for a plain process or a group of one."""
    env = os.environ if environ is None else environ
    if "RANK" in env and "WORLD_SIZE" in env:
        names = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE")
    elif "SLURM_PROCID" in env and "MASTER_ADDR" in env:
        names = ("SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID", "SLURM_NTASKS_PER_NODE")
    else:
        return None
    rank, world_size = int(env[names[0]]), int(env[names[1]])
    local_rank = int(env.get(names[2], rank))
    local_world_size = int(str(env.get(names[3], world_size)).split("(")[0])  # SLURM may write "2(x3)"
    return LaunchedGroup(rank, world_size, local_rank, local_world_size) if world_size > 1 else None


def with_launched_world(config: TrainingConfig) -> TrainingConfig:
    """``config`` with the launched group's world size, machines and machine rank (as a spawned run of that size
    would have them), or unchanged outside a launched group."""
    group = launched_group()
    if group is None:
        return config
    if config.world_size not in (1, group.world_size):
        raise ConfigError(
            f"training.world_size={config.world_size}, but this process was launched in a group of "
            f"{group.world_size}: leave training.world_size at 1 under torchrun/srun"
        )
    return dataclasses.replace(
        config, world_size=group.world_size, nodes=group.nodes, node_rank=group.rank // group.local_world_size
    )


def _join(group: LaunchedGroup) -> None:
    """Join the launched group once per process. Every rank picks the backends alike before it knows the job:
    gloo, and NCCL for CUDA tensors where this machine has GPUs."""
    if not dist.is_initialized():
        cuda = torch.cuda.is_available()
        _prepare_process(group.local_rank, group.local_world_size, cuda)
        dist.init_process_group(
            "cpu:gloo,cuda:nccl" if cuda else "gloo",
            init_method="env://",
            rank=group.rank,
            world_size=group.world_size,
            timeout=LAUNCHED_TIMEOUT,
        )


def _train_launched(job: TrainingJob) -> dict:
    """Rank 0 of a launched group: hand the job to the other ranks and train it with them."""
    group = launched_group()
    _join(group)
    dist.broadcast_object_list([job], src=0)
    result = _train_job(job, group.rank, group.local_rank, group.world_size)
    return {"models": [n.state_dict() for n in result.networks], "history": result.history}


def serve_launched_jobs(group: LaunchedGroup) -> None:
    """A rank other than 0: train every job rank 0 hands over, until it says the run is over."""
    logger.info("rank %d of %d: training the jobs of rank 0's pipeline", group.rank, group.world_size)
    while True:
        received = [None]
        _join(group)
        dist.broadcast_object_list(received, src=0)
        job = received[0]
        if job is None:
            break
        _train_job(job, group.rank, group.local_rank, group.world_size)
    dist.destroy_process_group()


def end_launched_jobs() -> None:
    """Rank 0, when its pipeline ends (well or not): tell the other ranks, and leave the group."""
    group = launched_group()
    if group is not None and group.rank == 0 and dist.is_initialized():
        dist.broadcast_object_list([None], src=0)
        dist.destroy_process_group()


def trainer_for(config: TrainingConfig):
    """The training function for ``config``: a group of processes (launched or spawned), or this process alone."""
    return train_distributed if launched_group() is not None or config.world_size > 1 else train
