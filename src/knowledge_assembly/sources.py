"""Training sources and the named sets of them, from configuration: ``params:sources`` (one entry per source),
``params:source_sets`` (name -> sources in batch order) and ``params:source_set`` (the set a run trains on,
``--params source_set=<name>`` in any environment).

A source is one domain (its own BatchNorm statistics with domain-specific BN, one class of the source classifier);
it names the tasks its training labels teach (possibly none: an unlabelled source), the labels that are for
evaluation only, its sampler (P x K for identity-labelled sources, uniform otherwise) and its share of each batch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from .config import (
    SUPERVISED_TASKS,
    ConfigError,
    CrossDomainConfig,
    Names,
    Settings,
    TrainingConfig,
    ValidationConfig,
    VariantConfig,
    closest,
    settings,
)
from .formats.readers import FORMATS, SOURCE_MANIFESTS

SAMPLERS = ("pk", "uniform")
EVALUATION_SPLITS = ("query", "gallery", "attributes")  # held-out manifests a source may name for evaluation
# every source is ingested by its format's reader, one pipeline per source; the manifests each format gives
# beside train: its val split (for validation) and the held-out ones its source names in evaluation
FORMAT_EVALUATION = {
    raw_format: tuple(name for name in manifests if name in EVALUATION_SPLITS)
    for raw_format, manifests in SOURCE_MANIFESTS.items()
}
FORMATS_WITH_VAL = tuple(raw_format for raw_format, manifests in SOURCE_MANIFESTS.items() if "val" in manifests)


@settings
class SourceConfig(Settings):
    """``params:sources.<name>``. ``batch_size``: images of a uniformly sampled source per batch (``null``:
    ``training.par_batch_size``); a ``pk`` source draws ``training.ids_per_batch`` x ``training.images_per_id``."""

    SECTION: ClassVar[str] = "sources"

    format: str
    tasks: Names
    evaluation_only: Names = ()
    sampler: str
    batch_size: int | None = None
    train: str  # the catalog entry of its training manifest (image cache: <train>_images)
    val: str | None = None  # its val split's manifest, which validation during training reads (attribute entries)
    evaluation: dict[str, str] | None = None  # held-out manifests (query, gallery, attributes), evaluated in its domain
    holdout_ids: int | None = None  # training identities held out for validation (null: validation.reid_holdout_ids)

    def _problems(self) -> list[str]:
        problems = [
            f"unknown task {task!r} in tasks{closest(task, SUPERVISED_TASKS)}"
            for task in (*self.tasks, *self.evaluation_only)
            if task not in SUPERVISED_TASKS
        ]
        if self.format not in FORMATS:
            problems.append(f"unknown format {self.format!r}{closest(self.format, FORMATS)}")
        problems += [
            f"unknown evaluation split {split!r}{closest(split, EVALUATION_SPLITS)}"
            for split in self.evaluation or {}
            if split not in EVALUATION_SPLITS
        ]
        if len({"query", "gallery"} & set(self.evaluation or ())) == 1:
            problems.append("evaluation needs both query and gallery for reID, or neither")
        needed = FORMAT_EVALUATION.get(self.format)
        if needed and set(self.evaluation or ()) != set(needed):
            problems.append(f"a {self.format} source names its {', '.join(needed)} manifests in evaluation")
        if self.val and self.format in FORMATS and self.format not in FORMATS_WITH_VAL:
            problems.append(f"a {self.format} source has no val split (val: {self.val})")
        if not self.val and self.format in FORMATS_WITH_VAL:
            problems.append(f"a {self.format} source names its val split's manifest (val)")
        if self.sampler not in SAMPLERS:
            problems.append(f"sampler must be one of {', '.join(SAMPLERS)}, got {self.sampler!r}")
        elif self.sampler == "pk" and "reid" not in self.tasks:
            problems.append("a pk sampler needs identity labels (reid in tasks)")
        if self.batch_size is not None and self.batch_size <= 0:
            problems.append(f"batch_size must be > 0 or null, got {self.batch_size}")
        if self.holdout_ids is not None and self.holdout_ids < 0:
            problems.append(f"holdout_ids must be >= 0 or null, got {self.holdout_ids}")
        if self.holdout_ids is not None and "reid" not in self.tasks:
            problems.append("holdout_ids needs identity labels (reid in tasks)")
        return problems

    def identities_held_out(self, name: str, validation: ValidationConfig) -> tuple[str, int]:
        """How many training identities of source ``name`` validation holds out, and the setting that says so: its
        own ``holdout_ids``, else ``validation.reid_holdout_ids``."""
        if self.holdout_ids is None:
            return "validation.reid_holdout_ids", validation.reid_holdout_ids
        return f"sources.{name}.holdout_ids", self.holdout_ids

    @property
    def attribute_test(self) -> str | None:
        """The manifest of its held-out attribute-labelled images (``evaluation.attributes``)."""
        return (self.evaluation or {}).get("attributes")

    def share(self, training: TrainingConfig) -> int:
        """Images of the source in each (global) batch."""
        if self.sampler == "pk":
            return training.ids_per_batch * training.images_per_id
        return self.batch_size or training.par_batch_size


@dataclass(frozen=True)
class SourceSet:
    """The sources a run trains on, in batch order (one contiguous block of rows per source in every batch)."""

    name: str
    sources: tuple[tuple[str, SourceConfig], ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.sources)

    def labelled_for(self, task: str) -> tuple[str, ...]:
        """The sources whose training labels teach ``task``."""
        return tuple(name for name, source in self.sources if task in source.tasks)

    def check_variant(self, variant: str, supervised: tuple[str, ...]) -> None:
        """A variant can only supervise tasks some source of the set is labelled for."""
        for task in supervised:
            if not self.labelled_for(task):
                raise ConfigError(
                    f"variants.{variant}: supervises {task!r}, but no source of source_set={self.name} is labelled "
                    f"for it (sources: {', '.join(self.names)})"
                )

    def held_out_sets(self) -> dict[str, SourceSet]:
        """Leave-one-domain-out: for each attribute-labelled source with a test split, the set without it (named
        ``<set>-<source>``). Needs two such sources: without the only one, nothing would learn attributes."""
        held_out = [name for name, source in self.sources if "par" in source.tasks and source.attribute_test]
        if len(held_out) < 2:
            raise ConfigError(
                f"cross_domain.source_set={self.name}: leave-one-domain-out needs two attribute sources with a test "
                f"split, this set has {len(held_out)} ({', '.join(held_out) or 'none'}); e.g. source_set upar"
            )
        return {
            name: SourceSet(f"{self.name}-{name}", tuple(entry for entry in self.sources if entry[0] != name))
            for name in held_out
        }

    def check_label_space(self, source: str, columns: list[str], attribute_names: list[str]) -> None:
        """An attribute-labelled source's training manifest (``columns``) must hold every attribute of the task."""
        missing = [name for name in attribute_names if name not in columns]
        if missing:
            shown = ", ".join(missing[:3]) + (" ..." if len(missing) > 3 else "")
            raise ConfigError(
                f"sources.{source}: its training labels lack {len(missing)} of the {len(attribute_names)} "
                f"attributes of task par ({shown})"
            )

    def check_shares(self, training: TrainingConfig, world_size: int) -> None:
        """Every source's block of a batch must split evenly over the processes of a distributed run."""
        for name, source in self.sources:
            share = source.share(training)
            if share % world_size:
                raise ConfigError(
                    f"sources.{name}: its {share} images per batch do not divide evenly over training.world_size="
                    f"{world_size} processes; make its batch share a multiple of {world_size}"
                )


def source_config(name: str, entry: Any) -> SourceConfig:
    """``params:sources.<name>`` as a :class:`SourceConfig`; errors name the source's keys."""
    if not isinstance(entry, Mapping):
        raise ConfigError(f"parameter 'sources.{name}' must be a mapping of tasks, sampler ..., got {entry!r}")
    try:
        return SourceConfig(**entry)
    except ConfigError as err:
        message = str(err).replace("'sources.", f"'sources.{name}.").replace("sources:", f"sources.{name}:")
        raise ConfigError(message) from None


def chosen_source_set(sources: Mapping[str, Any], source_sets: Mapping[str, Any], source_set: str) -> SourceSet:
    """The set named ``source_set`` with its sources' configuration, checked: a set or source name that is not
    configured is an error naming the closest one."""
    if source_set not in source_sets:
        raise ConfigError(f"unknown source set 'source_set={source_set}'{closest(str(source_set), source_sets)}")
    members = source_sets[source_set]
    if not isinstance(members, list) or not members:
        raise ConfigError(f"parameter 'source_sets.{source_set}' must list its sources, got {members!r}")
    for name in members:
        if name not in sources:
            raise ConfigError(f"source_sets.{source_set}: unknown source {name!r}{closest(str(name), sources)}")
    if len(set(members)) < len(members):
        raise ConfigError(f"source_sets.{source_set}: a source is listed twice ({', '.join(members)})")
    return SourceSet(source_set, tuple((name, source_config(name, sources[name])) for name in members))


def checked_source_set(params: Mapping[str, Any]) -> SourceSet:
    """The run's source set from the whole parameter tree, checked against the training settings (for the check
    before any node runs)."""
    chosen = chosen_source_set(params.get("sources", {}), params.get("source_sets", {}), params.get("source_set"))
    training = TrainingConfig.of(params["training"])
    chosen.check_shares(training, training.world_size)
    return chosen


@dataclass(frozen=True)
class TrainingManifests:
    """The catalog entries a source's training reads: its training manifest and its val split's (if it names one);
    each manifest's image cache is ``<manifest>_images``."""

    train: str
    val: str | None = None


def training_manifests(sources: Mapping[str, Any]) -> dict[str, TrainingManifests]:
    """Every configured source's :class:`TrainingManifests` (``sources.<name>.train`` and ``.val``)."""
    return {name: TrainingManifests(entry["train"], entry.get("val")) for name, entry in sources.items()}


def evaluated_sources(sources: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """Every configured source that names held-out test manifests (``sources.<name>.evaluation``): split -> manifest."""
    return {
        name: dict(entry["evaluation"])
        for name, entry in sources.items()
        if isinstance(entry, Mapping) and entry.get("evaluation")
    }


def source_manifests(sources: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """Every configured source with its manifests' catalog names by split (``train``, ``val`` where its format has
    one, and its evaluation splits), checked: what its format's reader gives, written under those names."""
    checked = {name: source_config(name, entry) for name, entry in sources.items()}
    return {
        name: {"train": config.train, **({"val": config.val} if config.val else {}), **(config.evaluation or {})}
        for name, config in checked.items()
    }


def source_formats(sources: Mapping[str, Any]) -> dict[str, str]:
    """The raw layout of every configured source."""
    return {name: source_config(name, entry).format for name, entry in sources.items()}


def cross_domain_plan(
    settings: CrossDomainConfig, chosen: SourceSet, variants: Mapping[str, Mapping[str, Any]]
) -> tuple[dict[str, VariantConfig], dict[str, SourceSet]]:
    """The runs of the leave-one-domain-out protocol, checked: each variant of ``settings.variants`` (configured in
    ``variants``; an unknown name is an error naming the closest) and each source set without one attribute source
    of ``chosen``, every variant trainable on every such set."""
    known = {name: VariantConfig.of(spec) for group in variants.values() for name, spec in group.items()}
    for name in settings.variants:
        if name not in known:
            raise ConfigError(f"cross_domain.variants: unknown variant {name!r}{closest(name, known)}")
    configs = {name: known[name] for name in settings.variants}
    held_out = chosen.held_out_sets()
    for remaining in held_out.values():
        for name, config in configs.items():
            remaining.check_variant(name, config.supervised)
    return configs, held_out
