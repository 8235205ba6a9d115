"""Nodes of the ``training`` pipeline."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from knowledge_assembly.config import (
    ConfigError,
    EvaluationConfig,
    EvaluationEntry,
    ModelConfig,
    TrainingConfig,
    ValidationConfig,
    VariantConfig,
    evaluation_entries,
)
from knowledge_assembly.models.bundle import ModelBundle
from knowledge_assembly.reports.tracking import run_folder
from knowledge_assembly.sources import SourceSet, chosen_source_set
from knowledge_assembly.training.batches import PKSampler, SourceData, TrainingData, UniformSampler
from knowledge_assembly.training.distributed import trainer_for, with_launched_world
from knowledge_assembly.training.run import tracked_params
from knowledge_assembly.training.validation import (
    ValidationData,
    ValidationSet,
    hold_out_identities,
    selected_validation,
)


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
    that only validation reads (its ``evaluation_only`` attributes); ``val``, ``val_images``: its val split, which
    only validation reads (``None`` where it names none)."""

    manifest: pd.DataFrame
    images: np.ndarray
    evaluation_labels: pd.DataFrame | None = None
    val: pd.DataFrame | None = None
    val_images: np.ndarray | None = None


def choose_sources(sources: dict[str, Any], source_sets: dict[str, Any], source_set: str) -> SourceSet:
    """The configured source set a run trains on (``--params source_set=<name>``)."""
    return chosen_source_set(sources, source_sets, source_set)


def training_tables(chosen: SourceSet, evaluation_attributes: pd.DataFrame, **tables: Any) -> dict[str, SourceTable]:
    """The training manifest and image cache of every source of ``chosen``, and its val split's; ``tables`` holds
    ``<source>`` and ``<source>_images`` for every configured source, ``<source>_val`` and ``<source>_val_images``
    for every one that names a val split (the pipeline wires them). A source with evaluation-only attributes gets
    the rows of ``evaluation_attributes`` that name its training images."""
    return {
        name: SourceTable(
            tables[name],
            tables[f"{name}_images"],
            evaluation_attributes[evaluation_attributes["path"].isin(tables[name]["path"])]
            if "par" in config.evaluation_only
            else None,
            tables.get(f"{name}_val"),
            tables.get(f"{name}_val_images"),
        )
        for name, config in chosen.sources
    }


def validation_entries(evaluation: EvaluationConfig, sources: dict[str, Any]) -> dict[str, EvaluationEntry]:
    """The evaluation entries, checked: validation during training reports those its sources have data for."""
    return evaluation_entries(evaluation.entries, sources)


def train_variant(
    name: str,
    chosen: SourceSet,
    tables: dict[str, SourceTable],
    entries: dict[str, EvaluationEntry],
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
    pipeline), validating the evaluation ``entries`` of its sources (:mod:`~knowledge_assembly.training.validation`;
    ``validation.reid_holdout_ids`` identities of each identity-labelled source held out of training, or the
    source's own ``holdout_ids``); return the model bundle (the last or the best validated epoch's weights,
    ``validation.select``) and the history.

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
    data, validation_set = training_and_validation_data(chosen, tables, entries, attribute_names, training, validation)
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
            validation_set,
            selected_validation(
                result.history, validation.monitor, validation.select, validation_set.monitored(variant.supervised)
            ),
        ),
    )
    return bundle, pd.DataFrame(result.history)


def par_validation(validation_set: ValidationSet, scores: dict[str, float]) -> dict[str, float]:
    """The PAR validation mA of the model per source (domain) it was measured in: each attributes entry's."""
    return {
        data.source: scores[data.key("mA")]
        for data in validation_set.entries
        if data.task == "par" and data.key("mA") in scores
    }


def training_and_validation_data(
    chosen: SourceSet,
    tables: dict[str, SourceTable],
    entries: dict[str, EvaluationEntry],
    attribute_names: list[str],
    training: TrainingConfig,
    validation: ValidationConfig,
) -> tuple[TrainingData, ValidationSet]:
    """One :class:`SourceData` per source of ``chosen`` (labels of the tasks it is labelled for; identity labels of
    later identity sources offset past the earlier ones') and the validation set of the ``entries``: the identities
    of every identity-labelled source held out of training (left in its memory-mapped cache, skipped by row) and
    the val splits."""
    sources, held_out, identities = [], {}, 0
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
            ids, cameras = table.manifest["label"].to_numpy(), table.manifest["camid"].to_numpy()
            setting, count = config.identities_held_out(name, validation)
            holdout = hold_out_identities(name, ids, cameras, count, training.ids_per_batch, setting)
            held_out[name] = holdout.held_rows
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
    scored = [
        entry_validation(key, entry, chosen, tables[entry.source], held_out.get(entry.source), attribute_names)
        for key, entry in entries.items()
        if entry.source in chosen.names
    ]
    return TrainingData(tuple(sources)), ValidationSet(tuple(data for data in scored if data is not None))


def entry_validation(
    key: str,
    entry: EvaluationEntry,
    chosen: SourceSet,
    table: SourceTable,
    held_out: np.ndarray | None,
    attribute_names: list[str],
) -> ValidationData | None:
    """What evaluation entry ``key`` is validated on (``None``: nothing): a cross_camera entry on its source's
    held-out identities (``held_out``: their rows of its training table); an attributes entry on its source's val
    split, else on the evaluation-only attribute labels of its held-out identities."""
    held = held_out if held_out is not None else np.empty(0, np.int64)
    config = dict(chosen.sources)[entry.source]
    common = {
        "entry": key,
        "task": entry.task,
        "protocol": entry.protocol,
        "source": entry.source,
        "domain": chosen.names.index(entry.source),
        "monitored": entry.task in config.tasks,
    }
    if entry.protocol == "cross_camera" and len(held):
        manifest = table.manifest
        images = np.asarray(table.images[held])
        return ValidationData(
            images=images, pids=manifest["pid"].to_numpy()[held], cameras=manifest["camid"].to_numpy()[held], **common
        )
    if entry.protocol != "attributes":
        return None
    if table.val is not None and len(table.val):
        return ValidationData(images=table.val_images, labels=table.val[attribute_names].to_numpy(), **common)
    rows, labels = held_out_attributes(table, held, attribute_names)
    if not len(rows):
        return None
    images = np.asarray(table.images[held])[rows]
    return ValidationData(images=images, labels=labels, seen_both_ways=True, **common)


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
