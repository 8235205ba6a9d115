"""Shared fixtures: a throw-away copy of the Kedro project with tiny synthetic settings."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from knowledge_assembly import inference
from knowledge_assembly.config import ModelConfig, TrainingConfig, ValidationConfig, VariantConfig
from knowledge_assembly.files import latest_version
from knowledge_assembly.training.batches import PKSampler, SourceData, TrainingData, UniformSampler

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO.parent / "shared" / "reference"

TINY_SYNTHETIC = {
    "seed": 7,
    "market1501": {
        "image_size": [64, 128],
        "cameras": 6,
        "train_ids": 8,
        "test_ids": 8,
        "cameras_per_id": [2, 3],
        "images_per_camera": [1, 2],
        "distractors": 4,
        "junk": 3,
    },
    "pa100k": {"train": 24, "val": 6, "test": 8, "scenes": 3, "width_range": [48, 80], "aspect_range": [2.0, 2.5]},
    "peta": {"images": 30, "scenes": 2, "width_range": [32, 64], "aspect_range": [2.0, 3.0]},
    "rapv2": {"images": 24, "cameras": 2, "width_range": [40, 64], "aspect_range": [2.0, 2.8], "upar_prefix": "RAPv2/"},
    "night": {
        "image_size": [40, 80],
        "cameras": 3,
        "train_people": 12,
        "crops_per_person": 2,
        "test_ids": 8,
        "cameras_per_id": [2, 3],
        "images_per_camera": [1, 2],
        "distractors": 4,
    },
    "campus": {
        "cameras": 8,
        "train_ids": 8,
        "test_ids": 6,
        "cameras_per_id": [2, 3],
        "images_per_camera": [1, 2],
        "width_range": [40, 64],
        "aspect_range": [2.0, 2.8],
    },
    "upar": {
        "csv_name": "UPAR-Challenge-2027_task1_train_gt.csv",
        "include_market1501": True,
        "pickle_name": "dataset_all.pkl",
        "partitions": 10,
        "peta_fractions": {"val": 0.1, "test": 0.3},
    },
}


BASE_TRAINING = yaml.safe_load((REPO / "conf" / "base" / "parameters_training.yml").read_text())


def training_config(**overrides: Any) -> TrainingConfig:
    """The base ``training`` parameters with ``overrides``, as the node receives them."""
    return TrainingConfig(**{**BASE_TRAINING["training"], **overrides})


def validation_config(**overrides: Any) -> ValidationConfig:
    return ValidationConfig(**{**BASE_TRAINING["validation"], **overrides})


def model_config(**overrides: Any) -> ModelConfig:
    return ModelConfig(**{**BASE_TRAINING["model"], **overrides})


def variant_config(**fields: Any) -> VariantConfig:
    return VariantConfig(**{"rows": {}, **fields})


TINY_TRAINING = {"seed": 0, "epochs": 2, "ids_per_batch": 4, "images_per_id": 2, "par_batch_size": 8, "progress": False}
TINY_MODEL = {"backbone": "resnet18", "pretrained": "none", "hidden_dim": 32, "feature_dim": 16}
TINY_VALIDATION = {"reid_holdout_ids": 2}  # of the 8 tiny training identities (training needs ids_per_batch = 4)


def two_sources(
    reid_images,
    reid_labels,
    par_images,
    par_labels,
    reid_rows=None,
    pk: tuple[int, int] = (4, 2),
    par_batch: int = 8,
    third=None,
) -> TrainingData:
    """The paper's two training sources (identity-labelled, P x K sampled; attribute-labelled, uniform), and
    optionally a ``third`` :class:`SourceData` after them."""
    reid = SourceData("reid", reid_images, PKSampler(*pk), {"reid": reid_labels}, reid_rows)
    par = SourceData("par", par_images, UniformSampler(par_batch), {"par": par_labels})
    return TrainingData((reid, par) + ((third,) if third is not None else ()))


class Project:
    """A copy of the project's ``conf`` in a temporary folder, run with real Kedro sessions."""

    def __init__(self, root: Path):
        self.root = root
        self.data = root / "data"

    def write_env(self, env: str, **files: dict[str, Any]) -> None:
        folder = self.root / "conf" / env
        folder.mkdir(parents=True, exist_ok=True)
        for name, content in files.items():
            (folder / f"{name}.yml").write_text(yaml.safe_dump(content, sort_keys=False))

    def run(self, pipelines: list[str] | None = None, env: str = "test", **runtime_params: Any) -> dict:
        bootstrap_project(self.root)
        with KedroSession.create(project_path=self.root, env=env, runtime_params=runtime_params or None) as session:
            return session.run(pipeline_names=pipelines)

    def raw(self, name: str) -> Path:
        folders = {
            "market1501": "Market-1501-v15.09.15",
            "pa100k": "PA-100K",
            "peta": "PETA",
            "upar": "UPAR",
            "night": "Night-Cameras",
            "rapv2": "RAPv2",
            "campus": "Campus-reID",
        }
        return self.data / "01_raw" / "synthetic" / folders[name]

    def primary(self, dataset: str = "synthetic") -> Path:
        return self.data / "03_primary" / dataset

    def report(self, variant: str, name: str) -> Path:
        """The newest run's ``name`` (metrics.json, a figure ...) of ``variant``: its Kedro version's file."""
        return latest_version(self.data / "08_reporting" / "synthetic" / variant / name)

    def model(self, variant: str) -> Path:
        """The newest run's model bundle file of ``variant``."""
        return latest_version(self.data / "06_models" / "synthetic" / f"{variant}.pt")


def make_project(root: Path) -> Project:
    """Copy ``conf`` (without ``local``) and the project files into ``root``; add a tiny ``test`` env."""
    root.mkdir(parents=True)
    shutil.copytree(REPO / "conf", root / "conf", ignore=shutil.ignore_patterns("local"))
    (root / "conf" / "local").mkdir()
    for name in ("pyproject.toml", ".telemetry"):
        shutil.copy(REPO / name, root / name)
    (root / "src").mkdir()  # the package itself is installed (pip install -e .)
    proj = Project(root)
    proj.write_env(
        "test",
        parameters_synthetic={"synthetic": TINY_SYNTHETIC},
        parameters_model_input={"model_input": {"image_size": [32, 64]}},
        parameters_training={"training": TINY_TRAINING, "validation": TINY_VALIDATION, "model": TINY_MODEL},
    )
    return proj


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    """An empty project copy whose ``test`` env renders a tiny synthetic dataset."""
    proj = make_project(tmp_path / "project")
    monkeypatch.chdir(proj.root)
    return proj


@pytest.fixture(scope="session")
def synthetic_raw_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny synthetic raw data, generated once by a real ``synthetic`` run."""
    proj = make_project(tmp_path_factory.mktemp("cache") / "project")
    cwd = os.getcwd()
    os.chdir(proj.root)
    try:
        proj.run(["synthetic"])
    finally:
        os.chdir(cwd)
    return proj.raw("market1501").parent


@pytest.fixture
def raw_project(project: Project, synthetic_raw_cache: Path) -> Project:
    """A project copy that already holds the tiny synthetic raw data."""
    shutil.copytree(synthetic_raw_cache, project.data / "01_raw" / "synthetic")
    return project


@pytest.fixture
def reference() -> Path:
    if not REFERENCE.is_dir():
        pytest.skip(f"reference material not found at {REFERENCE}")
    return REFERENCE


def kedro_command(*args: str) -> list[str]:
    """``kedro run --env test`` with ``args``, as a subprocess command."""
    return [sys.executable, "-m", "kedro", "run", "--env", "test", *args]


def in_process(main: Any, project: Project, *args: Any) -> subprocess.CompletedProcess:
    """A command's ``main`` run in ``project``, in this process (no interpreter and torch start per call): its exit
    status (argparse's included), stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    cwd = os.getcwd()
    os.chdir(project.root)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main([str(arg) for arg in args])
            except SystemExit as exit:
                code = exit.code if isinstance(exit.code, int) else 1
    finally:
        os.chdir(cwd)
    return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())


def infer(project: Project, *args: Any) -> subprocess.CompletedProcess:
    """The inference command's ``main`` run in ``project`` in this process (:func:`in_process`);
    :func:`infer_process` runs the installed command in a process of its own."""
    return in_process(inference.main, project, *args)


def infer_process(project: Project, *args: Any) -> subprocess.CompletedProcess:
    """The installed ``knowledge-assembly-infer`` command, run in ``project`` in a process of its own."""
    command = [str(Path(sys.executable).with_name("knowledge-assembly-infer")), *map(str, args)]
    return subprocess.run(command, cwd=project.root, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="session")
def trained_cache(tmp_path_factory: pytest.TempPathFactory, synthetic_raw_cache: Path) -> Path:
    """A project with an ``mtl`` model trained for one epoch by a real ``kedro run``, made once."""
    proj = make_project(tmp_path_factory.mktemp("trained") / "project")
    shutil.copytree(synthetic_raw_cache, proj.data / "01_raw" / "synthetic")
    cwd = os.getcwd()
    os.chdir(proj.root)
    try:
        proj.run(["mtl"], training={"epochs": 1})
    finally:
        os.chdir(cwd)
    return proj.root


@pytest.fixture
def trained(tmp_path: Path, trained_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    """A copy of that project of its own (relative paths only: the copy is a project like the original)."""
    root = tmp_path / "project"
    shutil.copytree(trained_cache, root, symlinks=True)
    monkeypatch.chdir(root)
    return Project(root)
