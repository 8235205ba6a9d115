"""What happens around the epochs of a training run, apart from training: validation and the best checkpoint,
resume and checkpoints, the epoch log line, DVCLive tracking, the distributed barrier."""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from ..config import ConfigError, TrainingConfig, ValidationConfig
from .checkpoint import RunCheckpoint
from .run import TrainingRun
from .validation import ValidationSet, monitored_score, validate

logger = logging.getLogger(__name__)

VALIDATION_BATCH = 128  # images per forward pass when validating


class TrainingHook:
    """Called before the first epoch, after every epoch and after the last one; does nothing by default."""

    def before_training(self, run: TrainingRun) -> None:
        pass

    def after_epoch(self, run: TrainingRun) -> None:
        pass

    def after_training(self, run: TrainingRun) -> None:
        pass


class Validation(TrainingHook):
    """After the epochs that ``config`` validates: the networks on ``data`` for the supervised ``tasks``; the scores
    (``val/<entry>/<measure>``) join the epoch's record, so the log, DVCLive, the history and the checkpoint carry
    them."""

    def __init__(self, config: ValidationConfig, data: ValidationSet, tasks: tuple[str, ...], epochs: int):
        self.config, self.data, self.tasks, self.epochs = config, data, tasks, epochs

    @property
    def scores_anything(self) -> bool:
        """Whether the variant learns a task that has validation data."""
        return bool(self.data.of_tasks(self.tasks))

    @property
    def monitored(self) -> tuple[str, ...]:
        """The scores the ``mean`` monitor averages."""
        return self.data.monitored(self.tasks)

    def after_epoch(self, run: TrainingRun) -> None:
        if self.config.validates(len(run.history) - 1, self.epochs):
            run.history[-1].update(validate(run.networks, self.data, self.tasks, VALIDATION_BATCH, run.device))


class BestCheckpoint(TrainingHook):
    """Keeps the weights of the epoch with the best monitored validation score beside the last checkpoint
    (``checkpoint.best``), written before the epoch's checkpoint so that a killed run never loses its best epoch.
    A resumed run continues from the best score of its history; a run from scratch removes an earlier run's file.
    With ``select_best`` the run ends with the best epoch's weights instead of the last's."""

    def __init__(
        self, checkpoint: RunCheckpoint, monitor: str, monitored: tuple[str, ...], select_best: bool, name: str
    ):
        self.checkpoint, self.monitor, self.monitored = checkpoint, monitor, monitored
        self.select_best, self.name = select_best, name
        self.score: float | None = None
        self.started = False

    def after_epoch(self, run: TrainingRun) -> None:
        if not self.started:  # the first epoch of this process: after any resume
            self.started = True
            if run.start_epoch == 0:
                self.checkpoint.best.unlink(missing_ok=True)
            earlier = (monitored_score(r, self.monitor, self.monitored) for r in run.history[:-1])
            self.score = max((s for s in earlier if s is not None), default=None)
        score = monitored_score(run.history[-1], self.monitor, self.monitored)
        if score is not None and (self.score is None or score > self.score):
            self.score = score
            models = [network.state_dict() for network in run.networks]
            self.checkpoint.save_best(models, len(run.history), score, self.monitor)

    def after_training(self, run: TrainingRun) -> None:
        if not self.select_best:
            return
        best = self.checkpoint.best_state()
        for network, weights in zip(run.networks, best["models"]):
            network.load_state_dict(weights)
        logger.info(
            "%s: the model is the best validated epoch, %d of %d (val %s %.4g)",
            self.name,
            best["epoch"],
            len(run.history),
            best["monitor"],
            best["score"],
        )


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
        found = self.checkpoint.resumable_state() if self.resume else None
        if self.writes:
            self.checkpoint.drop_unusable(found[1] if found else None)
        if found is not None:
            state, path = found
            run.restore(state)
            if self.writes:
                logger.info("Resuming %s from %s after epoch %d", self.name, path, run.start_epoch)

    def after_epoch(self, run: TrainingRun) -> None:
        if self.writes:
            self.checkpoint.save(run.state())

    def after_training(self, run: TrainingRun) -> None:
        if self.writes:
            self.checkpoint.finish()


def tracked_name(key: str) -> str:
    """The DVCLive name of an epoch record's key: validation scores as they are (``val/<entry>/<measure>``), else
    ``train/<term>``."""
    return key if key.startswith("val/") else f"train/{key}"


class LiveTracking(TrainingHook):
    """Every epoch's record as DVCLive metrics (``train/<term>``, ``val/<metric>``; step = epoch) and the run's
    settings as its params, in ``folder``: ``dvc plots`` draws the curves, ``dvc exp show`` lists the params.

    The folder always holds the whole run: a resumed run (killed part-way, or finished and read again by the
    paper pipeline's seed) first writes the epochs of its restored history again."""

    def __init__(self, folder: Path, params: dict):
        self.folder, self.params = Path(folder), params
        self.live = None

    def _start(self, earlier: list[dict[str, float]]) -> None:
        from dvclive import Live

        self.live = Live(str(self.folder), resume=False, save_dvc_exp=False, dvcyaml=False)
        self.live.log_params(self.params)
        for record in earlier:
            self._log(record)

    def _log(self, record: dict[str, float]) -> None:
        self.live.step = int(record["epoch"])
        for key, value in record.items():
            if key not in ("epoch", "iterations"):
                self.live.log_metric(tracked_name(key), float(value))
        self.live.next_step()

    def after_epoch(self, run: TrainingRun) -> None:
        if self.live is None:  # the first epoch of this process: after any resume
            self._start(run.history[:-1])
        self._log(run.history[-1])

    def after_training(self, run: TrainingRun) -> None:
        if self.live is None:  # a finished run, resumed: no epoch ran here
            self._start(run.history)
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
    validation: Validation | None = None,
) -> list[TrainingHook]:
    """Rank 0 validates (``validation``), logs, tracks (``tracking``: DVCLive folder and params) and writes
    checkpoints (the best validated epoch beside the last); every rank resumes; distributed runs meet at a barrier
    each epoch."""
    writes = rank == 0
    hooks: list[TrainingHook] = [validation] if validation is not None and writes else []
    hooks += [EpochLog(name, config.epochs)] if writes else []
    if tracking is not None and writes:
        hooks.append(LiveTracking(*tracking))
    if checkpoint_path is not None:
        checkpoint = RunCheckpoint(Path(checkpoint_path), fingerprint)
        if validation is not None and writes:
            select_best = validation.config.select == "best"
            monitor, monitored = validation.config.monitor, validation.monitored
            hooks.append(BestCheckpoint(checkpoint, monitor, monitored, select_best, name))
        hooks.append(Checkpointing(checkpoint, config.resume, writes, name))
    if validation is not None and validation.config.select == "best":
        if checkpoint_path is None:
            raise ConfigError(f"{name}: validation.select: best keeps the best weights beside a checkpoint; none given")
        if not validation.scores_anything:
            raise ConfigError(
                f"{name}: validation.select: best, but the variant learns no task that has validation data "
                "(reID needs validation.reid_holdout_ids or a source's holdout_ids > 0)"
            )
    if world_size > 1:
        hooks.append(Barrier())
    return hooks
