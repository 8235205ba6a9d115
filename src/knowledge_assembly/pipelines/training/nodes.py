"""Nodes of the ``training`` pipeline."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from knowledge_assembly.config import ModelConfig, TrainingConfig, ValidationConfig, VariantConfig
from knowledge_assembly.models.bundle import ModelBundle
from knowledge_assembly.training.batches import PKSampler, SourceData, TrainingData, UniformSampler
from knowledge_assembly.training.distributed import trainer_for, with_launched_world
from knowledge_assembly.training.run import tracked_params
from knowledge_assembly.training.validation import ValidationSet, hold_out_identities


def fix_threads(training: TrainingConfig) -> None:
    """Same thread count and deterministic kernels for every run, so results do not depend on the machine's load."""
    if training.num_threads > 0:
        torch.set_num_threads(training.num_threads)
    torch.use_deterministic_algorithms(training.deterministic, warn_only=True)
    torch.backends.cudnn.benchmark = not training.deterministic  # autotuned convolutions when allowed


def train_variant(
    name: str,
    reid_train: pd.DataFrame,
    par_train: pd.DataFrame,
    par_val: pd.DataFrame,
    reid_images: np.ndarray,
    par_images: np.ndarray,
    par_val_images: np.ndarray,
    attribute_names: list[str],
    checkpoints: Path,
    tracking: Path,
    training: TrainingConfig,
    validation: ValidationConfig,
    model: ModelConfig,
    variant: VariantConfig,
    seed: int | None = None,
) -> tuple[ModelBundle, pd.DataFrame]:
    """Train variant ``name`` (its epoch checkpoint in ``checkpoints``, its DVCLive curves and settings in
    ``tracking/<name>/train``, or ``tracking/<name>/seed<k>/train`` for a seed of the paper pipeline), validating on
    ``par_val`` and on ``validation.reid_holdout_ids`` identities of ``reid_train`` held out of training; return the
    model bundle (the last or the best validated epoch's weights, ``validation.select``) and the history.

    ``seed`` replaces ``training.seed`` (the paper pipeline trains every seed of ``paper.seeds``);
    ``domain_bn: true`` in the variant turns on domain-specific BatchNorm like ``model.domain_bn``.
    """
    if seed is not None:
        training = dataclasses.replace(training, seed=int(seed))
    training = with_launched_world(training)  # under torchrun / srun: the launched group's size
    model = dataclasses.replace(model, domain_bn=model.domain_bn or variant.domain_bn)
    fix_threads(training)
    data, validation_set = training_and_validation_data(
        reid_train, par_train, par_val, reid_images, par_images, par_val_images, attribute_names, training, validation
    )
    checkpoint = Path(checkpoints) / f"{name}-seed{training.seed}.pt"
    live = Path(tracking) / name / ("train" if seed is None else f"seed{training.seed}/train")
    result = trainer_for(training)(
        name,
        variant,
        data,
        training,
        model,
        checkpoint,
        tracking_folder=live,
        validation=validation,
        validation_set=validation_set,
    )
    bundle = ModelBundle(
        variant=name,
        model=model,
        attributes=tuple(attribute_names),
        num_ids=data.num_ids,
        num_sources=len(data.sources),
        image_size=(int(reid_images.shape[2]), int(reid_images.shape[1])),
        seed=training.seed,
        trained_tasks=tuple(variant.supervised),
        state_dicts=tuple(n.state_dict() for n in result.networks),
        settings=tracked_params(variant, training, model, validation),
    )
    return bundle, pd.DataFrame(result.history)


def training_and_validation_data(
    reid_train: pd.DataFrame,
    par_train: pd.DataFrame,
    par_val: pd.DataFrame,
    reid_images: np.ndarray,
    par_images: np.ndarray,
    par_val_images: np.ndarray,
    attribute_names: list[str],
    training: TrainingConfig,
    validation: ValidationConfig,
) -> tuple[TrainingData, ValidationSet]:
    """The training images without the held-out identities (left in the memory-mapped cache, skipped by row) and
    the validation set: those identities' images and the PAR val split."""
    cameras = reid_train["camid"].to_numpy()
    holdout = hold_out_identities(
        reid_train["label"].to_numpy(), cameras, validation.reid_holdout_ids, training.ids_per_batch
    )
    held = holdout.held_rows
    reid = SourceData(
        "reid_train",
        reid_images,
        PKSampler(training.ids_per_batch, training.images_per_id),
        {"reid": holdout.fit_labels},
        holdout.fit_rows if len(held) else None,
    )
    par = SourceData(
        "par_train", par_images, UniformSampler(training.par_batch_size), {"par": par_train[attribute_names].to_numpy()}
    )
    data = TrainingData((reid, par))  # the order of REID_SOURCE, PAR_SOURCE
    validation_set = ValidationSet(
        np.asarray(reid_images[held]),
        reid_train["pid"].to_numpy()[held],
        cameras[held],
        par_val_images,
        par_val[attribute_names].to_numpy(),
    )
    return data, validation_set
