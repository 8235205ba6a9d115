"""What happens around the epochs of a training run, apart from training: resume and checkpoints, the epoch
log line, the distributed barrier."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from ..config import TrainingConfig
from .checkpoint import RunCheckpoint

if TYPE_CHECKING:
    from .loop import TrainingRun

logger = logging.getLogger(__name__)


class TrainingHook:
    """Called before the first epoch, after every epoch and after the last one; does nothing by default."""

    def before_training(self, run: TrainingRun) -> None:
        pass

    def after_epoch(self, run: TrainingRun) -> None:
        pass

    def after_training(self, run: TrainingRun) -> None:
        pass


class EpochLog(TrainingHook):
    """One log line per epoch with every number of its history record."""

    def __init__(self, name: str, epochs: int):
        self.name, self.epochs = name, epochs

    def after_epoch(self, run: TrainingRun) -> None:
        record = run.history[-1]
        logger.info(
            "%s epoch %d/%d: %s",
            self.name,
            record["epoch"],
            self.epochs,
            ", ".join(f"{k}={v:.4g}" for k, v in record.items() if k != "epoch"),
        )


class Checkpointing(TrainingHook):
    """Resume from the run's checkpoint (every rank, when ``resume``); write it after every epoch (``writes``)."""

    def __init__(self, checkpoint: RunCheckpoint, resume: bool, writes: bool, name: str):
        self.checkpoint, self.resume, self.writes, self.name = checkpoint, resume, writes, name

    def before_training(self, run: TrainingRun) -> None:
        state = self.checkpoint.resumable_state() if self.resume else None
        if state is not None:
            run.restore(state)
            if self.writes:
                logger.info("Resuming %s from %s after epoch %d", self.name, self.checkpoint.path, run.start_epoch)

    def after_epoch(self, run: TrainingRun) -> None:
        if self.writes:
            self.checkpoint.save(run.state())

    def after_training(self, run: TrainingRun) -> None:
        if self.writes:
            self.checkpoint.finish()


class LiveTracking(TrainingHook):
    """Every epoch's record as DVCLive metrics (``train/<term>``, step = epoch) and the run's settings as its
    params, in ``folder``: ``dvc plots`` draws the curves, ``dvc exp show`` lists the params. A resumed run
    continues its curves; a run that starts over starts them over."""

    def __init__(self, folder: Path, params: dict):
        self.folder, self.params = Path(folder), params

    def before_training(self, run: TrainingRun) -> None:
        from dvclive import Live

        self.live = Live(str(self.folder), resume=run.start_epoch > 0, save_dvc_exp=False, dvcyaml=False)
        self.live.log_params(self.params)

    def after_epoch(self, run: TrainingRun) -> None:
        record = run.history[-1]
        self.live.step = int(record["epoch"])
        for key, value in record.items():
            if key not in ("epoch", "iterations"):
                self.live.log_metric(f"train/{key}", float(value))
        self.live.next_step()

    def after_training(self, run: TrainingRun) -> None:
        self.live.end()


class Barrier(TrainingHook):
    """Every rank waits for the others (and for rank 0's checkpoint) after each epoch."""

    def after_epoch(self, run: TrainingRun) -> None:
        torch.distributed.barrier()


def training_hooks(
    name: str,
    config: TrainingConfig,
    checkpoint_path: Path | None,
    fingerprint: str,
    rank: int,
    world_size: int,
    tracking: tuple[Path, dict] | None = None,
) -> list[TrainingHook]:
    """Rank 0 logs, tracks (``tracking``: DVCLive folder and params) and writes checkpoints; every rank resumes;
    distributed runs meet at a barrier each epoch."""
    hooks: list[TrainingHook] = [EpochLog(name, config.epochs)] if rank == 0 else []
    if tracking is not None and rank == 0:
        hooks.append(LiveTracking(*tracking))
    if checkpoint_path is not None:
        hooks.append(Checkpointing(RunCheckpoint(Path(checkpoint_path), fingerprint), config.resume, rank == 0, name))
    if world_size > 1:
        hooks.append(Barrier())
    return hooks
