"""Kedro hooks of this project."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pyarrow.parquet
from kedro.framework.hooks import hook_impl
from kedro.io import AbstractVersionedDataset, DatasetError, MemoryDataset, Version

from knowledge_assembly.config import (
    ConfigError,
    CrossDomainConfig,
    EvaluationConfig,
    ValidationConfig,
    VariantConfig,
    check_monitor,
    closest,
    evaluation_entries,
)
from knowledge_assembly.datasets.folder_dataset import FolderDataset
from knowledge_assembly.datasets.raw_tree_dataset import RawTreeDataset, missing_raw_data
from knowledge_assembly.files import RUNNING_MARKER, check_writable, hold_run_lock, latest_version
from knowledge_assembly.formats.errors import summarise
from knowledge_assembly.memory import retain_freed_memory
from knowledge_assembly.sources import checked_source_set, chosen_source_set, cross_domain_plan, source_manifests
from knowledge_assembly.training.distributed import end_launched_jobs


def _dotted(tree: dict[str, Any], prefix: str = "") -> list[str]:
    keys = []
    for key, value in tree.items():
        path = f"{prefix}{key}"
        keys.append(path)
        if isinstance(value, dict):
            keys += _dotted(value, path + ".")
    return keys


def unknown_runtime_key(runtime: dict[str, Any], configured: dict[str, Any]) -> str | None:
    """The first key of ``runtime`` (``--params``) that the configuration does not define, with the closest one."""
    known = set(_dotted(configured))
    for key in _dotted(runtime):
        if key not in known:
            return f"unknown parameter '{key}' given with --params{closest(key, known)}"
    return None


class ProcessHooks:
    """Process-wide settings of a run, kept out of the library code."""

    @hook_impl
    def before_pipeline_run(self) -> None:
        retain_freed_memory()  # CPU training: reuse freed activation buffers (see knowledge_assembly.memory)


class RunLockHooks:
    """Two runs writing the same image caches or checkpoints at once would delete each other's staging files and
    interleave their curves: a run whose pipeline writes them holds each folder's lock, and a second run fails at
    once naming the holder."""

    LOCKED = ("image_cache_folder", "checkpoints")  # the working folders that model_input and training write

    def __init__(self) -> None:
        self._held: list = []

    @hook_impl
    def before_pipeline_run(self, pipeline, catalog) -> None:
        datasets = pipeline.datasets()
        for name in self.LOCKED:
            if name in datasets:
                self._held.append(hold_run_lock(catalog.load(name)))

    @hook_impl
    def after_pipeline_run(self) -> None:
        self._release()

    @hook_impl
    def on_pipeline_error(self) -> None:
        self._release()

    def _release(self) -> None:
        for handle in self._held:
            handle.close()
        self._held.clear()


class RunCompletionHooks:
    """A run's versioned outputs count as finished only once the whole run finished: each version folder it saves
    into holds a marker (:data:`~knowledge_assembly.files.RUNNING_MARKER`) from before the first save until the
    run ends well. A failed or killed run leaves it, so inference, evaluation and ``kedro runs`` skip that version
    (every versioned load of a run: the model, its history, its metrics)."""

    def __init__(self) -> None:
        self._catalog = None
        self._markers: list[Path] = []
        self._pinned: dict[str, Version] = {}  # datasets whose load this hook pointed at a finished version

    @hook_impl
    def before_pipeline_run(self, catalog) -> None:
        self._catalog, self._markers = catalog, []

    @hook_impl
    def before_dataset_saved(self, dataset_name: str) -> None:
        dataset = self._catalog.get(dataset_name) if self._catalog is not None else None
        version = getattr(dataset, "_version", None) if isinstance(dataset, AbstractVersionedDataset) else None
        if version is not None and version.save:
            folder = Path(str(dataset._filepath)) / version.save
            folder.mkdir(parents=True, exist_ok=True)
            marker = folder / RUNNING_MARKER
            marker.touch()
            self._markers.append(marker)

    @hook_impl
    def before_dataset_loaded(self, dataset_name: str) -> None:
        """A versioned load of the latest version (no ``--load-versions``) takes the newest version whose run
        finished, or this run's own: a killed run's half-written history or metrics are never read."""
        dataset = self._catalog.get(dataset_name) if self._catalog is not None else None
        version = getattr(dataset, "_version", None) if isinstance(dataset, AbstractVersionedDataset) else None
        if version is None or version.load is not None or not Path(str(dataset._filepath)).is_dir():
            return
        try:
            newest = latest_version(Path(str(dataset._filepath)), accept=version.save)
        except FileNotFoundError:  # no finished version: the load itself says so
            return
        dataset._version = Version(newest.parent.name, version.save)
        self._pinned[dataset_name] = version

    @hook_impl
    def after_dataset_loaded(self, dataset_name: str) -> None:
        """Back to "the latest", so a later load in the same run sees what this run saved since."""
        if dataset_name in self._pinned:
            self._catalog.get(dataset_name)._version = self._pinned.pop(dataset_name)

    @hook_impl
    def after_pipeline_run(self) -> None:
        for marker in self._markers:
            marker.unlink(missing_ok=True)
        self._markers = []


class WritableOutputHooks:
    """An output folder that cannot be written would fail only when its dataset is saved, after training: try
    each folder that the pipeline writes (the nearest one that exists) before any node runs."""

    @hook_impl
    def before_pipeline_run(self, pipeline, catalog) -> None:
        folders = set()
        for name in pipeline.all_outputs() | (pipeline.datasets() & set(RunLockHooks.LOCKED)):
            dataset = catalog.get(name)
            path = getattr(dataset, "_filepath", None) or getattr(dataset, "_path", None)
            if path is not None:
                versioned = isinstance(dataset, AbstractVersionedDataset) and dataset._version
                folders.add(Path(str(path)) if versioned or not Path(str(path)).suffix else Path(str(path)).parent)
        for folder in sorted(folders):
            check_writable(folder)


class VersionedOutputHooks:
    """A versioned output whose path is still a plain file (written before every run was kept) would fail only when
    saved, after training: refuse it before any node runs, naming the files."""

    @hook_impl
    def before_pipeline_run(self, pipeline, catalog) -> None:
        legacy = []
        for name in sorted(pipeline.all_outputs()):
            dataset = catalog.get(name)
            path = getattr(dataset, "_filepath", None)
            if isinstance(dataset, AbstractVersionedDataset) and dataset._version and Path(str(path)).is_file():
                legacy.append(str(path))
        if legacy:
            raise DatasetError(
                f"{', '.join(legacy)}: written before every run was kept (Kedro versioning saves each run to "
                "<path>/<version>/<name>); move these files aside or delete them, then run again"
            )


class ParameterCheckHooks:
    """``--params`` may only set keys that the configuration defines, the source set must name configured sources
    whose batch shares split over the processes, the evaluation entries must name configured sources, manifests
    and protocols, and ``paper.seeds`` (read by the paper pipeline, not by a typed node parameter) must list as
    many seeds as the paper pipeline has runs: a typo fails before any node runs."""

    @hook_impl
    def after_context_created(self, context) -> None:
        loader = context.config_loader
        if loader.runtime_params:
            configured_loader = copy.copy(loader)
            configured_loader.runtime_params = {}
            problem = unknown_runtime_key(loader.runtime_params, configured_loader["parameters"])
            if problem:
                raise ConfigError(problem)
        checked_source_set(context.params)  # unknown set or source, bad source entry, uneven batch shares
        evaluation = EvaluationConfig.of(context.params.get("evaluation", {}))
        entries = evaluation_entries(evaluation.entries, context.params.get("sources", {}))  # unknown source ...
        check_monitor(ValidationConfig.of(context.params.get("validation", {})).monitor, entries)
        seeds = context.params.get("paper", {}).get("seeds")
        if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) for s in seeds):
            raise ConfigError(f"paper.seeds must list the training seeds to report, e.g. [0, 1, 2]; got {seeds!r}")

    @hook_impl
    def before_pipeline_run(self, pipeline, catalog) -> None:
        """The paper pipeline has one run per seed, built from ``conf/base`` before any environment is read: an
        environment or ``--params`` may change the seeds, not how many there are."""
        from knowledge_assembly.pipeline_registry import configured_paper_runs  # the pipelines: only when they run
        from knowledge_assembly.pipelines.paper.pipeline import SEED_TAG

        if not any(SEED_TAG in node.tags for node in pipeline.nodes):
            return
        seeds, runs = catalog.load("params:paper.seeds"), configured_paper_runs()
        if len(seeds) != runs:
            raise ConfigError(
                f"paper.seeds={seeds} lists {len(seeds)} seeds, but the paper pipeline has {runs} runs, one per seed"
                " of paper.seeds in conf/base/parameters_paper.yml (Kedro builds pipelines before it reads an"
                f" environment or --params): give {runs} seeds, or change the list in conf/base"
            )


class VariantSourcesHooks:
    """Every variant the pipeline trains supervises only tasks some source of the run's source set labels: checked
    before any node runs, and before the checks of raw data and inputs (a wrong set is the first thing to fix)."""

    @hook_impl
    def before_pipeline_run(self, pipeline, catalog) -> None:
        if "params:cross_domain" in pipeline.inputs():
            self._check_cross_domain(catalog)
        keys = [name for name in pipeline.inputs() if name.startswith("params:variants.")]
        if not keys:
            return
        chosen = chosen_source_set(*(catalog.load(f"params:{key}") for key in ("sources", "source_sets", "source_set")))
        for key in sorted(keys):
            variant = catalog.load(key)
            supervised = variant.supervised if isinstance(variant, VariantConfig) else tuple(variant["supervised"])
            chosen.check_variant(key.rpartition(".")[2], supervised)
        self._check_label_spaces(chosen, pipeline.inputs(), catalog)

    @staticmethod
    def _check_cross_domain(catalog) -> None:
        """Every run of the leave-one-domain-out protocol names a configured variant trainable without each held-out
        source, and its source set has two attribute sources to hold out."""
        settings = catalog.load("params:cross_domain")
        settings = CrossDomainConfig.of(settings)
        sources, source_sets = (catalog.load(f"params:{key}") for key in ("sources", "source_sets"))
        try:
            chosen = chosen_source_set(sources, source_sets, settings.source_set)
        except ConfigError as err:
            raise ConfigError(str(err).replace("'source_set=", "'cross_domain.source_set=", 1)) from None
        cross_domain_plan(settings, chosen, catalog.load("params:variants"))

    @staticmethod
    def _check_label_spaces(chosen, inputs: set[str], catalog) -> None:
        """Attribute-labelled training manifests written by an earlier run hold every attribute of the task (read
        from their Parquet schema); manifests this run writes are checked by the training node."""
        if "par_attributes" not in inputs or not catalog.exists("par_attributes"):
            return
        names = catalog.load("par_attributes")
        for source, config in chosen.sources:
            if "par" in config.tasks and config.train in inputs and catalog.exists(config.train):
                path = Path(str(catalog.get(config.train)._filepath))
                chosen.check_label_space(source, pyarrow.parquet.read_schema(path).names, names)


class RawDataHooks:
    """Every raw folder the pipeline reads must exist: all the missing ones are named in one error, with what
    belongs in each, before any node runs (a load would name only the first, after earlier nodes ran)."""

    @hook_impl
    def before_pipeline_run(self, pipeline, catalog) -> None:
        missing = {}
        for name in sorted(pipeline.inputs()):
            dataset = catalog.get(name)
            if isinstance(dataset, RawTreeDataset) and not dataset.optional and not dataset.exists():
                missing[name] = dataset
        if missing:
            raise missing_raw_data(missing)


class ConfiguredInputHooks:
    """Every input the pipeline reads is a dataset of the catalog or a parameter, and every manifest a source names
    that it reads or writes is in the catalog (else it would live in memory only): a source whose entries are not
    all configured (its raw root ``<source>_raw`` or a manifest not in ``catalog.yml``, an ``ingestion`` setting its
    format reads) is named in one line before any node runs."""

    @hook_impl
    def before_pipeline_run(self, pipeline, catalog) -> None:
        manifests = {name for names in source_manifests(_sources(catalog)).values() for name in names.values()}
        used = set(pipeline.inputs()) | (manifests & pipeline.datasets())
        unknown = [name for name in sorted(used) if catalog.get(name) is None]
        if unknown:
            named = [
                f"parameter {name.removeprefix('params:')}" if name.startswith("params:") else f"{name} (catalog.yml)"
                for name in unknown
            ]
            raise ConfigError(f"not configured, but the pipeline uses them: {summarise(named, 6)}")


def _sources(catalog) -> dict[str, Any]:
    """``params:sources`` (every configured source), empty where there is none."""
    return catalog.load("params:sources") if catalog.get("params:sources") is not None else {}


class MissingInputHooks:
    """Inputs that no earlier run wrote (a model before its training, manifests before ingestion) are named before
    any node runs, grouped by the pipeline that writes them."""

    @hook_impl
    def before_pipeline_run(self, pipeline, catalog) -> None:
        missing: dict[str, list[str]] = {}
        for name in sorted(pipeline.inputs()):
            dataset = catalog.get(name)
            if name.startswith("params:") or isinstance(dataset, MemoryDataset | RawTreeDataset | FolderDataset):
                continue
            if not dataset.exists():
                missing.setdefault(_writer(name), []).append(name)
        if missing:
            lines = [f"{writer}: {summarise(names, 4)}" for writer, names in _upstream_first(missing)]
            raise DatasetError("inputs not written yet; run first\n  " + "\n  ".join(lines))


def _writer(name: str) -> str:
    """``kedro run --pipelines=<the smallest registered pipeline that writes name>``."""
    from kedro.framework.project import pipelines

    writers = sorted((len(p.nodes), key) for key, p in pipelines.items() if name in p.all_outputs())
    return f"kedro run --pipelines={writers[0][1]}" if writers else "(no pipeline writes it)"


def _upstream_first(missing: dict[str, list[str]]) -> list[tuple[str, list[str]]]:
    """``missing`` (a command of :func:`_writer` -> the inputs it writes) in the order the commands must run: by
    where the first of their inputs is written in the topologically sorted ``all`` pipeline."""
    from kedro.framework.project import pipelines

    written_at = {name: index for index, node in enumerate(pipelines["all"].nodes) for name in node.outputs}
    return sorted(missing.items(), key=lambda item: min(written_at.get(name, len(written_at)) for name in item[1]))


class RunSummaryHooks:
    """A run that evaluated variants ends with a short block on stdout: each variant's summary line (unwrapped, not
    a log record; one per seed of the paper pipeline) and where its model, metrics and figures were written."""

    def __init__(self) -> None:
        self._saved: dict[str, dict[str, Any]] = {}

    @hook_impl
    def before_pipeline_run(self) -> None:
        self._saved = {}

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any) -> None:
        variant, _, kind = dataset_name.rpartition(".")
        if variant and (kind in ("model", "metrics") or kind.endswith("_plot")):
            self._saved.setdefault(variant, {})[kind] = data

    @hook_impl
    def after_pipeline_run(self, catalog) -> None:
        blocks = [self._block(variant, saved, catalog) for variant, saved in self._saved.items() if "metrics" in saved]
        if blocks:
            print("\n" + "\n".join(blocks), flush=True)

    @staticmethod
    def _block(variant: str, saved: dict[str, Any], catalog) -> str:
        from knowledge_assembly.evaluation.evaluate import summary_line

        lines = [summary_line(saved["metrics"])]
        for kind in ("model", "metrics"):
            dataset = catalog.get(f"{variant}.{kind}")
            if not isinstance(dataset, MemoryDataset):  # a paper seed's run keeps them in memory
                lines.append(f"  {kind + ':':9}{_shown(_saved_path(dataset))}")
        figures = sorted(kind.removesuffix("_plot") for kind in saved if kind.endswith("_plot"))
        if figures:
            latest = catalog.get(f"{variant}.{figures[0]}_plot").latest_filepath.parent
            lines.append(f"  {'figures:':9}{_shown(latest)}/ ({', '.join(figures)})")
        return "\n".join(lines)


def _shown(path: str | Path) -> str:
    """``path`` relative to the working folder where it lies below it (as a person typed it), else as it is."""
    path = Path(path)
    return str(path.relative_to(Path.cwd())) if path.is_relative_to(Path.cwd()) else str(path)


def _saved_path(dataset) -> str:
    """The file a versioned dataset wrote in this run (its save version), else its path."""
    if isinstance(dataset, AbstractVersionedDataset) and dataset._version:
        return str(dataset._get_versioned_path(dataset.resolve_save_version()))
    return str(getattr(dataset, "_filepath", dataset))


class LaunchedGroupHooks:
    """Under torchrun / srun, rank 0 runs the pipeline; when it ends, well or not, the other ranks are released."""

    @hook_impl
    def after_pipeline_run(self) -> None:
        end_launched_jobs()

    @hook_impl
    def on_pipeline_error(self) -> None:
        end_launched_jobs()
