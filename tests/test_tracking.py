"""DVCLive tracking of a training run (per-epoch curves and settings); every run kept and listed (`kedro runs`)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import yaml

from knowledge_assembly.training.loop import train

from .conftest import REPO, kedro_command, model_config, training_config, variant_config
from .test_input_pipeline import tiny_data


def test_training_logs_every_epoch_and_its_settings_with_dvclive(tmp_path):
    config = training_config(epochs=2, ids_per_batch=2, images_per_id=2, par_batch_size=4, progress=False)
    variant = variant_config(networks=2, supervised=["reid", "par"], ssl=["dice"])
    folder = tmp_path / "ka" / "train"
    result = train("ka", variant, tiny_data(), config, model_config(hidden_dim=32, feature_dim=16), None, 0, 1, folder)
    total = (folder / "plots" / "metrics" / "train" / "total.tsv").read_text().splitlines()
    assert total[0].split("\t") == ["step", "total"] and len(total) == 1 + config.epochs
    assert [float(line.split("\t")[1]) for line in total[1:]] == [r["total"] for r in result.history]
    assert (folder / "plots" / "metrics" / "train" / "lr.tsv").exists()
    params = yaml.safe_load((folder / "params.yaml").read_text())
    assert params["training"]["ssl_weight"] == config.ssl_weight and params["variant"]["ssl"] == ["dice"]


def _kedro(project, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "COLUMNS": "400"}
    command = [sys.executable, "-m", "kedro", *args]
    return subprocess.run(command, cwd=project.root, env=env, capture_output=True, text=True, timeout=600)


def test_every_run_is_kept_and_kedro_runs_lists_them_with_what_differs(trained):
    raw_project = trained  # a project with one finished mtl run (one epoch)
    raw_project.run(["mtl"], training={"epochs": 1, "lr": 1e-3})
    for folder in ("06_models/synthetic/mtl.pt", "08_reporting/synthetic/mtl/metrics.json"):
        versions = sorted((raw_project.data / folder).iterdir())
        assert len(versions) == 2, folder  # nothing overwritten: one version per run
    figures = raw_project.data / "08_reporting/synthetic/mtl/cmc.png"
    assert [v.name for v in sorted(figures.iterdir())] == [v.name for v in versions]  # one version names a run

    listed = _kedro(raw_project, "runs", "--env", "test", "--variant", "mtl")
    assert listed.returncode == 0, listed.stderr[-2000:]
    table = [line for line in listed.stdout.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in table[0].strip("|").split("|")]
    assert header[:3] == ["variant", "version", "seed"]
    assert header[3:13] == [  # the evaluation entries' headline numbers, in their order
        "reid/market1501/mAP", "reid/market1501/rank1", "par/pa100k/mA", "par/pa100k/f1", "par/market1501/mA",
        "par/peta/mA", "retrieval/pa100k/mAP", "reid/campus/mAP", "reid/night/mAP", "par/night/mA",
    ]  # fmt: skip
    assert header[13:] == ["training.lr"]  # the one setting in which the runs differ
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in table[2:]]
    assert [row[1] for row in rows] == [v.name for v in reversed(versions)]  # newest first
    assert [row[13] for row in rows] == ["0.001", "0.002"]
    newest = json.loads(raw_project.report("mtl", "metrics.json").read_text())
    assert rows[0][3] == f"{100 * newest['reid/market1501']['mAP']:.2f}"
    _legacy_run_is_listed_by_entry(raw_project, newest, rows[0])
    older = raw_project.data / "08_reporting/synthetic/mtl/metrics.json" / versions[0].name / "metrics.json"
    older.write_text(older.read_text()[:40])  # a run whose metrics were cut short
    listed = _kedro(raw_project, "runs", "--env", "test", "--variant", "mtl")
    left = [line.split("|")[1:10] for line in listed.stdout.splitlines() if line.startswith("|")][2:]
    assert listed.returncode == 0 and left == [table[2].split("|")[1:10]], listed.stdout  # the other run is listed
    warning = [line for line in listed.stderr.splitlines() if line.startswith("warning:")]
    assert warning == [warning[0]] and f"mtl.metrics version {versions[0].name} is unreadable (" in warning[0]
    assert "Traceback" not in listed.stderr
    unknown = _kedro(raw_project, "runs", "--env", "test", "--variant", "mlt")
    assert unknown.returncode != 0 and "unknown variant(s) ['mlt']" in unknown.stderr


LEGACY_SECTIONS = {  # the metrics sections of a run written before evaluation entries, by the entry each became
    "reid/market1501": "reid", "par/pa100k": "par", "par/market1501": "reid_domain_par", "par/peta": "peta_par",
    "retrieval/pa100k": "retrieval", "reid/campus": "campus_reid", "reid/night": "night_reid", "par/night": "night_par",
}  # fmt: skip


def _legacy_run_is_listed_by_entry(project, metrics: dict, row: list[str]) -> None:
    """A run kept from before evaluation entries (its metrics in the old sections, no ``entries`` block) is listed
    with its numbers under the entries they became."""
    legacy = {LEGACY_SECTIONS.get(key, key): value for key, value in metrics.items() if key != "entries"}
    legacy["per_network"] = [{LEGACY_SECTIONS[k]: v for k, v in n.items()} for n in metrics["per_network"]]
    folder = project.data / "08_reporting/synthetic/mtl/metrics.json/2026-01-01T00.00.00.000Z"
    folder.mkdir()
    (folder / "metrics.json").write_text(json.dumps(legacy))
    listed = _kedro(project, "runs", "--env", "test", "--variant", "mtl")
    table = [[cell.strip() for cell in line.strip("|").split("|")] for line in listed.stdout.splitlines()[2:]]
    assert listed.returncode == 0 and table[-1][1] == folder.name, listed.stdout  # the oldest, listed last
    assert table[-1][2:13] == row[2:13]  # the same seed and headline numbers as the run it was copied from
    shutil.rmtree(folder)


def test_an_output_written_before_runs_were_kept_is_named_before_any_work(raw_project):
    old = raw_project.data / "06_models/synthetic/mtl.pt"
    old.parent.mkdir(parents=True)
    old.write_bytes(b"an unversioned model of an earlier release")
    done = _kedro(raw_project, "run", "--env", "test", "--pipelines", "mtl")
    assert done.returncode != 0
    message = " ".join((done.stdout + done.stderr).split())  # rich wraps long lines
    assert f"{old}: written before every run was kept" in message and "move these files aside" in message
    assert not raw_project.primary().exists() and old.read_bytes().startswith(b"an unversioned")  # nothing ran


def test_a_resumed_run_tracks_its_whole_history(tmp_path):
    """Killed and resumed, or finished and read again (the paper pipeline's seed of a trained variant): the DVCLive
    folder holds every epoch of the run, not only those that ran in the last process."""
    config = training_config(epochs=2, ids_per_batch=2, images_per_id=2, par_batch_size=4, progress=False)
    variant, model = variant_config(networks=1, supervised=["reid", "par"]), model_config(hidden_dim=32, feature_dim=16)
    checkpoint = tmp_path / "checkpoints" / "mtl-seed0.pt"
    first = train("mtl", variant, tiny_data(), config, model, checkpoint, tracking_folder=tmp_path / "mtl" / "train")
    again = train("mtl", variant, tiny_data(), config, model, checkpoint, tracking_folder=tmp_path / "seed0" / "train")
    assert again.history == first.history  # resumed after its last epoch: nothing retrained
    for folder in ("mtl", "seed0"):
        total = (tmp_path / folder / "train" / "plots" / "metrics" / "train" / "total.tsv").read_text().splitlines()
        assert [float(line.split("\t")[1]) for line in total[1:]] == [r["total"] for r in first.history], folder


def test_a_kedro_run_ends_with_its_results_and_leaves_a_git_checkout_clean(raw_project):
    """`make run` is a plain `kedro run`: it ends with a short block (the summary line unwrapped, then where the
    model, metrics and figures are), and everything it writes (DVCLive included) is git-ignored, so the tracked
    DVCLive folders that DVC stages write are never rewritten by it."""
    shutil.copy(REPO / ".gitignore", raw_project.root / ".gitignore")
    git = ["git", "-c", "user.email=ci@example.com", "-c", "user.name=ci"]
    subprocess.run(["git", "init", "-q"], cwd=raw_project.root, check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "clone"], cwd=raw_project.root, check=True)
    done = subprocess.run(
        kedro_command("--pipelines=mtl", "--params=training.epochs=1"),
        cwd=raw_project.root,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    block = done.stdout.strip().splitlines()[-4:]
    headline = r"mtl seed 0: reid/market1501 mAP \d+\.\d, R-1 \d+\.\d \| par/pa100k mA \d+\.\d, F1 \d+\.\d \| .*"
    assert re.fullmatch(headline + r"par/night mA \d+\.\d", block[0])
    written = dict(line.split(maxsplit=1) for line in block[1:])
    assert (raw_project.root / written["model:"]).is_file() and written["model:"].endswith("mtl.pt")
    assert json.loads((raw_project.root / written["metrics:"]).read_text())["variant"] == "mtl"
    figures = raw_project.root / written["figures:"].split()[0]
    assert sorted(f.name for f in figures.glob("*.png")) == ["attribute.png", "attribute_retrieval.png", "cmc.png",
                                                             "retrieval.png", "training_curves.png"]  # fmt: skip
    assert list((raw_project.data / "09_tracking" / "local" / "synthetic" / "mtl" / "train").glob("*.json"))
    status = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all", "--", "data"],
        cwd=raw_project.root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert status == "", status
