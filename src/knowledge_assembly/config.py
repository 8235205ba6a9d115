"""Typed, validated settings: built once, at the node, from the ``training``, ``validation``, ``model`` and
``evaluation`` parameter blocks (Kedro's typed parameters instantiate them from the type hints of the nodes).

An unknown key is an error naming the closest valid one; a value of the wrong type or out of range is an
error naming the key. The YAML files in ``conf/base`` are the one place that holds the default values.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import re
import types
import typing
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar

import pydantic
import pydantic.dataclasses
from pydantic import ConfigDict, Field

from .tasks import PROTOCOLS, SSL_TERMS, SUPERVISED_TASKS, TASK_OF_PROTOCOL


class ConfigError(ValueError):
    """A parameter block has an unknown key or a bad value."""


def closest(name: str, candidates: typing.Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``candidates``, or nothing."""
    match = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.5)
    return f" (did you mean {match[0]!r}?)" if match else ""


SETTINGS = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)
"""Every settings block: unknown keys are errors, no type coercion (an int is a float, a bool is never a number),
numbers are finite."""

Names = Annotated[tuple[str, ...], Field(strict=False)]
"""A list of names in YAML, a tuple in the settings."""


class Settings:
    """What every settings block shares: the checks of ``_problems`` that no type hint says, and ``as_dict``."""

    SECTION: ClassVar[str] = ""

    def _problems(self) -> list[str]:
        return []

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def of(cls, value: Any) -> Any:
        """``value`` as this settings block: as it is where Kedro's typed parameters made it one already, else built
        (and checked) from its parameter mapping."""
        return value if isinstance(value, cls) else cls(**value)


def settings(cls: type) -> type:
    """``cls`` (a :class:`Settings`) as a frozen pydantic dataclass whose every failure is one
    :class:`ConfigError` line naming the parameter (``<SECTION>.<key>``; the closest key for an unknown one)."""
    model = pydantic.dataclasses.dataclass(frozen=True, kw_only=True, config=SETTINGS)(cls)
    validated_init = model.__init__

    @functools.wraps(validated_init)
    def __init__(self: Settings, *args: Any, **values: Any) -> None:
        try:
            validated_init(self, *args, **values)
        except pydantic.ValidationError as err:
            raise ConfigError(_first_problem(model, err, values)) from None
        problems = self._problems()
        if problems:
            raise ConfigError(f"{model.SECTION}: " + "; ".join(problems))

    model.__init__ = __init__
    return model


def _first_problem(model: type, err: pydantic.ValidationError, values: dict[str, Any]) -> str:
    """One line for pydantic's first error (an unknown key before a bad value)."""
    errors = sorted(err.errors(), key=lambda error: error["type"] != "unexpected_keyword_argument")
    error = errors[0]
    name = str(error["loc"][0]) if error["loc"] else ""
    key = f"{model.SECTION}.{name}"
    if error["type"] == "unexpected_keyword_argument":
        known = [f"{model.SECTION}.{field.name}" for field in dataclasses.fields(model)]
        return f"unknown parameter '{key}'{closest(key, known)}"
    if error["type"] in ("missing", "missing_keyword_only_argument"):
        return f"parameter '{key}' is missing"
    if error["type"] == "finite_number":
        return f"parameter '{key}' must be a finite number, got {values.get(name)!r}"
    hint = typing.get_type_hints(model)[name] if name in values else None
    return f"parameter '{key}' must be {_type_name(hint)}, got {values.get(name)!r}"


def _type_name(hint: Any) -> str:
    """``int``, ``int or null``, ``list of str`` ... for a field's type hint."""
    if typing.get_origin(hint) is Annotated:
        return _type_name(typing.get_args(hint)[0])
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return " or ".join(_type_name(option) for option in typing.get_args(hint))
    if hint is type(None):
        return "null"
    if typing.get_origin(hint) is tuple:
        return "a list of " + _type_name(typing.get_args(hint)[0])
    if typing.get_origin(hint) is dict:
        return "a mapping of " + " to ".join(map(_type_name, typing.get_args(hint)))
    return getattr(hint, "__name__", str(hint))


def _cuda_devices() -> int:
    import torch  # only where a CUDA device is asked for

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def _positive(config: Any, *names: str) -> list[str]:
    return [f"{name} must be > 0, got {getattr(config, name)}" for name in names if getattr(config, name) <= 0]


def _non_negative(config: Any, *names: str) -> list[str]:
    return [f"{name} must be >= 0, got {getattr(config, name)}" for name in names if getattr(config, name) < 0]


@settings
class TrainingConfig(Settings):
    """``params:training``: optimisation, loss weights, run-time options and torch.distributed settings."""

    SECTION: ClassVar[str] = "training"

    seed: int
    epochs: int
    iterations_per_epoch: int | None
    ids_per_batch: int
    images_per_id: int
    par_batch_size: int
    lr: float
    weight_decay: float
    final_lr_ratio: float
    label_smoothing: float
    positive_ratio_weighting: bool
    dataset_logit_supervision: bool
    triplet_margin: float
    crop_padding: int
    ssl_weight: float
    ssl_warmup_epochs: int
    confidence_threshold: float
    num_threads: int
    deterministic: bool
    device: str
    prefetch_batches: int
    precision: str
    channels_last: bool
    compile: bool
    resume: bool
    progress: bool
    source_gradient_norms: bool
    world_size: int
    sync_batch_norm: bool
    nodes: int
    node_rank: int
    master_addr: str
    master_port: int | None

    def _problems(self) -> list[str]:
        problems = _positive(
            self, "epochs", "ids_per_batch", "images_per_id", "par_batch_size", "lr", "world_size", "nodes"
        )
        problems += _non_negative(
            self,
            "seed",
            "weight_decay",
            "triplet_margin",
            "crop_padding",
            "ssl_weight",
            "ssl_warmup_epochs",
            "num_threads",
            "node_rank",
            "prefetch_batches",
        )
        if not 0 < self.final_lr_ratio <= 1:
            problems.append(f"final_lr_ratio must be in (0, 1], got {self.final_lr_ratio}")
        if not 0 <= self.label_smoothing < 1:
            problems.append(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if not 0 <= self.confidence_threshold <= 1:
            problems.append(f"confidence_threshold must be in [0, 1], got {self.confidence_threshold}")
        if not re.fullmatch(r"auto|cpu|cuda(:\d+)?|mps", self.device):
            problems.append(f"device must be auto, cpu, cuda or cuda:N, got {self.device!r}")
        elif self.device.startswith("cuda") and int(self.device.partition(":")[2] or 0) >= (found := _cuda_devices()):
            problems.append(f"device {self.device}: this machine has {found} CUDA device(s); use auto or cpu")
        if self.iterations_per_epoch is not None and self.iterations_per_epoch <= 0:
            problems.append(f"iterations_per_epoch must be > 0 or null, got {self.iterations_per_epoch}")
        if self.precision not in ("fp32", "bf16"):
            problems.append(f"precision must be fp32 or bf16, got {self.precision!r}")
        if self.node_rank >= self.nodes:
            problems.append(f"node_rank {self.node_rank} must be < nodes {self.nodes}")
        return problems


@settings
class ModelConfig(Settings):
    """``params:model``: the backbone and heads of every network."""

    SECTION: ClassVar[str] = "model"

    backbone: str
    pretrained: str
    allow_weight_download: bool
    hidden_dim: int
    feature_dim: int
    bnneck: bool
    domain_bn: bool

    def _problems(self) -> list[str]:
        problems = _positive(self, "hidden_dim", "feature_dim")
        if not re.fullmatch(r"resnet(18|34|50|101|152)", self.backbone):
            problems.append(f"backbone must be a torchvision ResNet (resnet18 ... resnet152), got {self.backbone!r}")
        return problems


@settings
class EvaluationEntry(Settings):
    """``params:evaluation.entries.<key>``: one metrics section (``<key>``, e.g. ``reid/market1501``): ``task``
    measured by ``protocol`` on the held-out ``split`` of ``source`` (its ``sources.<name>.evaluation`` manifest),
    normalised in that source's domain. ``headline``: the measures of the summary line, the DVC metrics,
    ``kedro runs`` and ``make compare`` (default: the protocol's); ``table``: those of the paper tables and
    figures (default: none)."""

    SECTION: ClassVar[str] = "evaluation.entries"

    task: str
    source: str
    split: str
    protocol: str
    headline: Names | None = None
    table: Names = ()

    def _problems(self) -> list[str]:
        if self.protocol not in PROTOCOLS:
            return [f"unknown protocol {self.protocol!r}{closest(self.protocol, PROTOCOLS)}"]
        protocol, task, problems = PROTOCOLS[self.protocol], TASK_OF_PROTOCOL[self.protocol], []
        if self.task != task:
            problems.append(f"protocol {self.protocol} measures task {task}, not {self.task!r}")
        if self.split != protocol.split:
            problems.append(f"protocol {self.protocol} reads split {protocol.split}, not {self.split!r}")
        problems += [
            f"unknown measure {name!r} of protocol {self.protocol}{closest(name, protocol.measures)}"
            for name in (*(self.headline or ()), *self.table)
            if name not in protocol.measures
        ]
        return problems

    @property
    def headline_measures(self) -> tuple[str, ...]:
        return PROTOCOLS[self.protocol].headline if self.headline is None else self.headline

    @property
    def splits(self) -> tuple[str, ...]:
        """Every held-out split of its source it reads (a reID entry: the query and the gallery)."""
        return PROTOCOLS[self.protocol].splits


def evaluation_entries(entries: Mapping[str, Any], sources: Mapping[str, Any]) -> dict[str, EvaluationEntry]:
    """``params:evaluation.entries`` as :class:`EvaluationEntry` by key, checked against the configured sources;
    errors name the entry's key."""
    checked = {}
    for key, values in entries.items():
        if not isinstance(values, Mapping):
            raise ConfigError(f"parameter 'evaluation.entries.{key}' must be a mapping of task, source ..., "
                              f"got {values!r}")  # fmt: skip
        try:
            entry = EvaluationEntry(**values)
        except ConfigError as err:
            raise ConfigError(str(err).replace("evaluation.entries", f"evaluation.entries.{key}")) from None
        if entry.source not in sources:
            raise ConfigError(
                f"evaluation.entries.{key}: unknown source {entry.source!r}{closest(entry.source, sources)}"
            )
        named = (sources[entry.source] or {}).get("evaluation") or {}
        missing = [split for split in entry.splits if split not in named]
        if missing:
            raise ConfigError(
                f"evaluation.entries.{key}: source {entry.source} names no {' or '.join(missing)} manifest in "
                f"sources.{entry.source}.evaluation (it names: {', '.join(named) or 'none'})"
            )
        checked[key] = entry
    return checked


@settings
class EvaluationConfig(Settings):
    """``params:evaluation``: retrieval distance, attribute threshold, what the figures show and the evaluation
    entries (:class:`EvaluationEntry`, checked by :func:`evaluation_entries`)."""

    SECTION: ClassVar[str] = "evaluation"

    distance: str
    max_rank: int
    threshold: float
    batch_size: int
    retrieval_queries: int
    retrieval_top_k: int
    entries: dict[str, dict[str, Any]]

    def _problems(self) -> list[str]:
        problems = _positive(self, "max_rank", "batch_size", "retrieval_top_k")
        problems += _non_negative(self, "retrieval_queries")
        if self.distance not in ("cosine", "euclidean"):
            problems.append(f"distance must be cosine or euclidean, got {self.distance!r}")
        if not 0 < self.threshold < 1:
            problems.append(f"threshold must be in (0, 1), got {self.threshold}")
        protocols = {values.get("protocol") for values in self.entries.values() if isinstance(values, dict)}
        problems += [
            f"entries need an entry of protocol {protocol} (the figures show one)"
            for protocol in ("cross_camera", "attributes")
            if protocol not in protocols
        ]
        return problems


@settings
class ValidationConfig(Settings):
    """``params:validation``: validation during training (the evaluation entries of the sources a run trains on: reID
    on training identities held out of training, PAR on val splits), what the best checkpoint is scored by
    (``monitor``: ``mean`` or one score, ``<entry>/<measure>``, checked against the entries by :func:`check_monitor`)
    and which weights become the model."""

    SECTION: ClassVar[str] = "validation"

    every: int
    reid_holdout_ids: int
    monitor: str
    select: str

    def _problems(self) -> list[str]:
        problems = _non_negative(self, "every", "reid_holdout_ids")
        if self.monitor != "mean" and not all(self.monitor.rpartition("/")[::2]):
            problems.append(f"monitor must be mean or <entry>/<measure> of an evaluation entry, got {self.monitor!r}")
        if self.select not in ("last", "best"):
            problems.append(f"select must be last or best, got {self.select!r}")
        if self.select == "best" and self.every == 0:
            problems.append("select: best needs validation (every > 0)")
        return problems

    def validates(self, epoch: int, epochs: int) -> bool:
        """Whether the networks are validated after ``epoch`` (0-based): every ``every`` epochs and after the last."""
        return self.every > 0 and ((epoch + 1) % self.every == 0 or epoch + 1 == epochs)


def check_monitor(monitor: str, entries: Mapping[str, EvaluationEntry]) -> None:
    """``validation.monitor`` is ``mean`` or a score validation reports: ``<entry>/<measure>`` of an evaluation entry
    whose protocol validates that measure."""
    if monitor == "mean":
        return
    key, _, measure = monitor.rpartition("/")
    if key not in entries:
        raise ConfigError(f"validation.monitor={monitor!r}: no evaluation entry {key!r}{closest(key, entries)}")
    validated = PROTOCOLS[entries[key].protocol].validated
    if measure not in validated:
        raise ConfigError(
            f"validation.monitor={monitor!r}: validation reports {', '.join(validated) or 'nothing'} of entry {key} "
            f"(protocol {entries[key].protocol}){closest(measure, validated)}"
        )


@settings
class CrossDomainConfig(Settings):
    """``params:cross_domain``: the leave-one-domain-out protocol (UPAR task 1): the source set whose attribute
    sources are held out one at a time, and the variants trained without each."""

    SECTION: ClassVar[str] = "cross_domain"

    source_set: str
    variants: Names

    def _problems(self) -> list[str]:
        return [] if self.variants else ["variants must name at least one variant"]


# The paper's two training sources in batch order, one domain each: the reID dataset (index 0), the PAR dataset (1).
REID_SOURCE, PAR_SOURCE = 0, 1
VIEWS = ("single", "weak_strong")
TABLES = ("table1", "table2")


@settings
class VariantConfig(Settings):
    """``params:variants.<name>``: what a training run learns from: number of networks trained together, views,
    supervised tasks, cross pseudo-supervision terms, domain-specific BatchNorm, and its row label in each of the
    paper's tables it appears in (``rows``: ``{table1: label}``)."""

    SECTION: ClassVar[str] = "variants"

    networks: int
    views: str = "single"
    supervised: Names
    ssl: Names = ()
    domain_bn: bool = False
    rows: dict[str, str]

    def _problems(self) -> list[str]:
        problems = [f"unknown supervised task {t!r}" for t in self.supervised if t not in SUPERVISED_TASKS]
        problems += [f"unknown ssl term {t!r}" for t in self.ssl if t not in SSL_TERMS]
        problems += [f"unknown table {t!r} in rows (tables: {', '.join(TABLES)})" for t in self.rows if t not in TABLES]
        if self.views not in VIEWS:
            problems.append(f"views must be one of {VIEWS}")
        if self.ssl and self.networks == 1 and self.views == "single":
            problems.append("ssl terms need two networks or weak_strong views")
        if self.networks not in (1, 2):
            problems.append("networks must be 1 or 2")
        return problems
