"""Nodes of the ``training`` pipeline."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from knowledge_assembly.config import ConfigError, ModelConfig, TrainingConfig, ValidationConfig, VariantConfig
from knowledge_assembly.models.bundle import ModelBundle
from knowledge_assembly.reports.tracking import run_folder
from knowledge_assembly.sources import SourceSet, chosen_source_set
from knowledge_assembly.training.batches import PKSampler, SourceData, TrainingData, UniformSampler
from knowledge_assembly.training.distributed import trainer_for, with_launched_world
from knowledge_assembly.training.run import tracked_params
from knowledge_assembly.training.validation import ValidationSet, hold_out_identities, selected_validation


def fix_threads(training: TrainingConfig) -> None:
    """Same thread count and deterministic kernels for every run, so results do not depend on the machine's load."""
    if training.num_threads > 0:
        torch.set_num_threads(training.num_threads)
    torch.use_deterministic_algorithms(training.deterministic, warn_only=True)
    torch.backends.cudnn.benchmark = not training.deterministic  # autotuned convolutions when allowed


@dataclass(frozen=True)
class SourceTable:
    """One source's training manifest and its decoded image cache (row ``i`` of ``images`` is manifest row ``i``);
    ``evaluation_labels``: attribute labels of some of its training images (``path`` + one column per attribute)
    that only validation reads (its ``evaluation_only`` attributes)."""

    manifest: pd.DataFrame
    images: np.ndarray
    evaluation_labels: pd.DataFrame | None = None


def choose_sources(sources: dict[str, Any], source_sets: dict[str, Any], source_set: str) -> SourceSet:
    """The configured source set a run trains on (``--params source_set=<name>``)."""
    return chosen_source_set(sources, source_sets, source_set)


def training_tables(chosen: SourceSet, evaluation_attributes: pd.DataFrame, **tables: Any) -> dict[str, SourceTable]:
    """The training manifest and image cache of every source of ``chosen``; ``tables`` holds ``<source>`` and
    ``<source>_images`` for every configured source (the pipeline wires them). A source with evaluation-only
    attributes gets the rows of ``evaluation_attributes`` that name its training images."""
    return {
        name: SourceTable(
            tables[name],
            tables[f"{name}_images"],
            evaluation_attributes[evaluation_attributes["path"].isin(tables[name]["path"])]
            if "par" in config.evaluation_only
            else None,
        )
        for name, config in chosen.sources
    }


def train_variant(
    name: str,
    chosen: SourceSet,
    tables: dict[str, SourceTable],
    par_val: pd.DataFrame,
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
    """Train variant ``name`` on the sources of ``chosen`` (its epoch checkpoint in ``checkpoints``, its DVCLive
    curves and settings in ``tracking/<name>/train``, or ``tracking/<name>/seed<k>/train`` for a seed of the paper
    pipeline), validating on ``par_val`` and on ``validation.reid_holdout_ids`` identities of the first
    identity-labelled source held out of training; return the model bundle (the last or the best validated epoch's
    weights, ``validation.select``) and the history.

    ``seed`` replaces ``training.seed`` (the paper pipeline trains every seed of ``paper.seeds``);
    ``domain_bn: true`` in the variant turns on domain-specific BatchNorm like ``model.domain_bn``.
    """
    if seed is not None:
        training = dataclasses.replace(training, seed=int(seed))
    training = with_launched_world(training)  # under torchrun / srun: the launched group's size
    chosen.check_variant(name, variant.supervised)
    chosen.check_shares(training, training.world_size)
    model = dataclasses.replace(model, domain_bn=model.domain_bn or variant.domain_bn)
    fix_threads(training)
    data, validation_set = training_and_validation_data(
        chosen, tables, par_val, par_val_images, attribute_names, training, validation
    )
    checkpoint = Path(checkpoints) / f"{name}-seed{training.seed}.pt"
    live = run_folder(tracking, name, seed) / "train"
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
    images = next(iter(tables.values())).images
    bundle = ModelBundle(
        variant=name,
        model=model,
        attributes=tuple(attribute_names),
        num_ids=data.label_counts["reid"],
        num_sources=len(data.sources),
        image_size=(int(images.shape[2]), int(images.shape[1])),
        seed=training.seed,
        trained_tasks=tuple(variant.supervised),
        state_dicts=tuple(n.state_dict() for n in result.networks),
        settings={**tracked_params(variant, training, model, validation), "source_set": chosen.name},
        sources=chosen.names,
        par_validation=par_validation(
            chosen, selected_validation(result.history, validation.monitor, validation.select)
        ),
    )
    return bundle, pd.DataFrame(result.history)


def par_validation(chosen: SourceSet, scores: dict[str, float]) -> dict[str, float]:
    """The PAR validation mA of the model per source (domain) it was measured in: the attribute source's val split
    and the reID source's held-out images with evaluation-only attribute labels."""
    measured = {}
    if "val_par_mA" in scores and chosen.labelled_for("par"):
        measured[chosen.labelled_for("par")[0]] = scores["val_par_mA"]
    if "val_par_reid_domain_mA" in scores and chosen.labelled_for("reid"):
        measured[chosen.labelled_for("reid")[0]] = scores["val_par_reid_domain_mA"]
    return measured


def training_and_validation_data(
    chosen: SourceSet,
    tables: dict[str, SourceTable],
    par_val: pd.DataFrame,
    par_val_images: np.ndarray,
    attribute_names: list[str],
    training: TrainingConfig,
    validation: ValidationConfig,
) -> tuple[TrainingData, ValidationSet]:
    """One :class:`SourceData` per source of ``chosen`` (labels of the tasks it is labelled for; identity labels of
    later identity sources offset past the earlier ones') and the validation set: the identities of the first
    identity-labelled source held out of training (left in its memory-mapped cache, skipped by row) and the PAR val
    split."""
    sources, held_out, identities = [], None, 0
    for name, config in chosen.sources:
        table = tables[name]
        if not len(table.manifest):
            labelled_by = " and read a UPAR release that labels it" if config.format == "upar_release" else ""
            raise ConfigError(
                f"source {name} of source_set={chosen.name} has no training images: put it at globals raw.{name}"
                f"{labelled_by}"
            )
        labels, rows = {}, None
        if "reid" in config.tasks:
            ids = table.manifest["label"].to_numpy()
            count = validation.reid_holdout_ids if held_out is None else 0
            holdout = hold_out_identities(ids, table.manifest["camid"].to_numpy(), count, training.ids_per_batch)
            if held_out is None:
                held_out = (table, holdout.held_rows)
            labels["reid"] = holdout.fit_labels + identities
            rows = holdout.fit_rows if len(holdout.held_rows) else None
            identities += int(holdout.fit_labels.max()) + 1
        if "par" in config.tasks:
            chosen.check_label_space(name, list(table.manifest.columns), attribute_names)
            labels["par"] = table.manifest[attribute_names].to_numpy()
        if config.sampler == "pk":
            sampler = PKSampler(training.ids_per_batch, training.images_per_id)
        else:
            sampler = UniformSampler(config.share(training))
        sources.append(SourceData(name, table.images, sampler, labels, rows))
    reid_table, held = held_out if held_out else (None, np.empty(0, dtype=np.int64))
    attribute_rows, attribute_labels = held_out_attributes(reid_table, held, attribute_names)
    validation_set = ValidationSet(
        np.asarray(reid_table.images[held]) if reid_table else np.empty((0, *par_val_images.shape[1:]), np.uint8),
        reid_table.manifest["pid"].to_numpy()[held] if reid_table else np.empty(0, np.int64),
        reid_table.manifest["camid"].to_numpy()[held] if reid_table else np.empty(0, np.int64),
        par_val_images,
        par_val[attribute_names].to_numpy(),
        chosen.names.index(chosen.labelled_for("par")[0]) if chosen.labelled_for("par") else 0,
        attribute_rows,
        attribute_labels,
        chosen.names.index(chosen.labelled_for("reid")[0]) if chosen.labelled_for("reid") else 0,
    )
    return TrainingData(tuple(sources)), validation_set


def held_out_attributes(
    table: SourceTable | None, held: np.ndarray, attribute_names: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Which held-out reID images (rows of ``held``) carry evaluation-only attribute labels, and those labels."""
    labels = table.evaluation_labels if table is not None else None
    if labels is None or not len(labels) or not len(held):
        return np.empty(0, dtype=np.int64), np.empty((0, len(attribute_names)), dtype=np.uint8)
    paths = table.manifest["path"].to_numpy()[held]
    by_path = labels.drop_duplicates("path").set_index("path")[attribute_names]
    rows = np.flatnonzero(pd.Series(paths).isin(by_path.index).to_numpy())
    return rows, by_path.loc[paths[rows]].to_numpy()
