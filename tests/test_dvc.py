"""`dvc repro` of the whole project in a temporary git repository, on tiny settings."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

from knowledge_assembly.config import TrainingConfig
from knowledge_assembly.files import latest_version
from knowledge_assembly.training.run import RUN_ONLY_SETTINGS

from .browser import CHROMIUM, rendered
from .conftest import REPO, TINY_MODEL, TINY_SYNTHETIC, TINY_TRAINING, TINY_VALIDATION

HEADLINES = [  # the configured evaluation entries' headline numbers, in their order (<entry>/<measure>)
    "reid/market1501/mAP", "reid/market1501/rank1", "par/pa100k/mA", "par/pa100k/f1", "par/market1501/mA",
    "par/peta/mA", "retrieval/pa100k/mAP",
    "reid/campus/mAP", "reid/night/mAP", "par/night/mA",  # every model on other sources' held-out images
]  # fmt: skip


def _flat(tree: dict, prefix: str = "") -> list[str]:
    """``{"reid": {"market1501": {"mAP": 0.5}}}`` → ``["reid/market1501/mAP"]``."""
    names = []
    for key, value in tree.items():
        names += _flat(value, f"{prefix}{key}/") if isinstance(value, dict) else [f"{prefix}{key}"]
    return names


def _run(args: list[str], cwd: Path, stdout_only: bool = False) -> str:
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "KEDRO_DISABLE_TELEMETRY": "1",
        "DVC_NO_ANALYTICS": "1",
    }
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout if stdout_only else done.stdout + done.stderr


def _set(path: Path, key: str, values: dict) -> None:
    content = yaml.safe_load(path.read_text())
    content[key] = {**content[key], **values}
    path.write_text(yaml.safe_dump(content, sort_keys=False))


def test_dvc_repro_is_incremental_and_experiments_rerun_only_what_changed(tmp_path):
    repo = tmp_path / "repo"
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for name in files:
        if (REPO / name).is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, repo / name)
    conf = repo / "conf" / "base"
    _set(conf / "parameters_synthetic.yml", "synthetic", TINY_SYNTHETIC)
    _set(conf / "parameters_model_input.yml", "model_input", {"image_size": [32, 64]})
    _set(conf / "parameters_training.yml", "training", {**TINY_TRAINING, "epochs": 1, "iterations_per_epoch": 1})
    _set(conf / "parameters_training.yml", "validation", TINY_VALIDATION)
    _set(conf / "parameters_training.yml", "model", TINY_MODEL)
    _set(conf / "parameters_paper.yml", "paper", {"seeds": [0]})  # several seeds per table row: test_reporting
    # one variant of each group stands for all (every variant trains in test_training): the stages come from this list
    variants = yaml.safe_load((conf / "parameters_training.yml").read_text())["variants"]
    kept = {"supervised": ("mtl",), "ssl": ("ka",)}
    _set(conf / "parameters_training.yml", "variants", {g: {v: variants[g][v] for v in kept[g]} for g in kept})
    _run(["git", "init", "-q"], repo)
    _run(
        ["git", "-c", "user.email=ci@example.com", "-c", "user.name=ci", "commit", "-qm", "project", "--allow-empty"],
        repo,
    )
    _run(["git", "add", "-A"], repo)
    _run(["git", "-c", "user.email=ci@example.com", "-c", "user.name=ci", "commit", "-qm", "tiny"], repo)

    first = _run(["dvc", "repro"], repo)
    assert "Running stage 'train_ssl@ka'" in first and "Running stage 'tables'" in first
    assert "train_supervised@par_only" not in first  # a variant removed from the parameters has no stage
    table = latest_version(repo / "data/08_reporting/synthetic/paper/table1.md").read_text()
    assert "\n| KA (per-source BN) " in table
    second = _run(["dvc", "repro"], repo)
    assert "Running stage" not in second and "up to date" in second
    assert "up to date" in _run(["dvc", "status"], repo)

    _run(["git", "add", "-A"], repo)
    _run(["git", "-c", "user.email=ci@example.com", "-c", "user.name=ci", "commit", "-qm", "baseline"], repo)
    experiment = _run(["dvc", "exp", "run", "-S", "conf/base/parameters_training.yml:training.ssl_weight=0.5"], repo)
    ran = {line.split("'")[1] for line in experiment.splitlines() if line.startswith("Running stage")}
    ssl = yaml.safe_load((conf / "parameters_training.yml").read_text())["variants"]["ssl"]  # the stages come from it
    assert ran == {f"{stage}@{v}" for stage in ("train_ssl", "evaluate_ssl", "seeds_ssl") for v in ssl} | {"tables"}
    shown = json.loads(_run(["dvc", "exp", "show", "--json"], repo, stdout_only=True))
    assert "ssl_weight" in json.dumps(shown)
    # the metric columns: a handful of headline numbers per variant (DVCLive), no per-attribute lists
    metrics = shown[0]["data"]["metrics"]
    variants = [v for group in kept.values() for v in group]
    assert set(metrics) == {f"data/09_tracking/synthetic/{v}/eval/metrics.json" for v in variants}
    columns = {name for file in metrics.values() for name in _flat(file["data"])}
    assert columns == set(HEADLINES)  # nested by entry in the file: reid -> market1501 -> mAP
    plots = json.loads(_run(["dvc", "plots", "show", "--json"], repo, stdout_only=True))
    for curve in (
        "train/total",
        "val/reid/market1501/mAP",
        "val/par/pa100k/mA",
    ):  # loss and validation curves, per experiment
        assert f"data/09_tracking/synthetic/ka/train/plots/metrics/{curve}.tsv" in plots["data"], curve
    # the experiment's curves overlaid on the baseline's (committed above): both revisions in one plot
    diff = json.loads(_run(["dvc", "plots", "diff", "HEAD", "--json"], repo, stdout_only=True))
    for curve in ("train/total", "val/reid/market1501/mAP"):
        entries = diff["data"][f"data/09_tracking/synthetic/ka/train/plots/metrics/{curve}.tsv"]
        assert {rev for entry in entries for rev in entry["revisions"]} == {"HEAD", "workspace"}, curve
    _compare_shows_every_experiment_in_120_columns(repo)
    if CHROMIUM is not None:  # make test installs it where it can
        _plots_render_offline(repo, tmp_path)


def test_every_training_setting_that_shapes_the_weights_is_a_dvc_parameter_of_the_training_stages():
    """`dvc repro` must rerun a variant when a setting of its training fingerprint changes."""
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    for stage in ("train_supervised", "train_ssl", "seeds_supervised", "seeds_ssl"):  # holdout, best, select
        files = [entry.get("conf/base/parameters_training.yml", []) for entry in stages[stage]["do"]["params"]]
        assert any("validation" in keys for keys in files), stage
    shaping = {f.name for f in dataclasses.fields(TrainingConfig)} - set(RUN_ONLY_SETTINGS) - {"nodes"}
    ssl_only = {"dataset_logit_supervision", "triplet_margin", "ssl_weight", "ssl_warmup_epochs"}
    ssl_only |= {"confidence_threshold"}
    for stage, expected in (("train_ssl", shaping), ("train_supervised", shaping - ssl_only)):
        keys = {
            key.removeprefix("training.")
            for entry in stages[stage]["do"]["params"]
            for key in entry.get("conf/base/parameters_training.yml", [])
            if key.startswith("training.")
        }
        assert expected <= keys, (stage, sorted(expected - keys))


def _make(target: str, repo: Path) -> str:
    """``make <target>`` in ``repo`` with this test run's environment (never reinstalled)."""
    venv = Path(sys.executable).parents[1]
    return _run(["make", "-s", "-o", f"{venv}/.installed", target, f"VENV={venv}"], repo, stdout_only=True)


def _compare_shows_every_experiment_in_120_columns(repo: Path) -> None:
    lines = _make("compare", repo).splitlines()
    assert max(len(line) for line in lines) <= 120, max(lines, key=len)
    # the changed parameters are cut with "…" where the line would pass 120 columns
    experiment = [line.split() for line in lines if "ssl_weigh" in line and not line.startswith("workspace")]
    assert sorted(row[1] for row in experiment) == ["ka", "mtl"], lines  # the experiment's rows, one per variant
    workspace_ka = next(line.split() for line in lines if line.startswith("workspace") and " ka " in line)
    metrics = json.loads((repo / "data/09_tracking/synthetic/ka/eval/metrics.json").read_text())
    mean_ap = metrics["reid"]["market1501"]["mAP"]
    assert workspace_ka[2] == "0" and workspace_ka[3] == f"{100 * mean_ap:.1f}"  # seed, mAP in %


def _plots_render_offline(repo: Path, folder: Path) -> None:
    _make("plots", repo)
    page = repo / "dvc_plots" / "index.html"
    assert "cdn." not in page.read_text() and "<script src=" not in page.read_text()
    dom, shot = rendered(page.as_uri(), folder)
    assert dom.count('class="mark-line') >= 10, "no curve was drawn"
    figures = re.findall(r'<img[^>]+src="([^"]+)"', dom)
    assert any("latest/cmc.png" in src or "cmc" in src for src in figures), figures
    pixels = np.asarray(Image.open(shot).convert("RGB"), dtype=float)
    assert pixels.std() > 10, "blank page"
