"""Bad files and faults give one clear error (or warning) naming the file, run no foreign code, and leave
nothing half-written. Each test runs the real command: a Kedro session, `kedro run` or the inference CLI."""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest
import torch
from kedro.io import DatasetError

from knowledge_assembly.config import ConfigError
from knowledge_assembly.files import RUNNING_MARKER, OutputNotWritableError
from knowledge_assembly.files import load_state as load
from knowledge_assembly.formats.errors import NoSpaceLeftError, RawDataError
from knowledge_assembly.training.checkpoint import RunCheckpoint

from .conftest import infer_process, kedro_command
from .test_bad_inputs import WritesAFile, declares

SOURCES = Path(__file__).resolve().parents[1] / "src"


def _payload(path: Path, marker: Path) -> Path:
    torch.save({"variant": "mtl", "model": {}, "state_dicts": [WritesAFile(marker)]}, path)
    return path


def test_crafted_model_files_are_refused_by_evaluation_and_resume_and_run_nothing(trained, caplog):
    """The inference route is a row of test_bad_inputs.py; these are the catalog's and the checkpoint's."""
    marker = trained.root / "payload-ran"
    models = trained.data / "06_models/synthetic"
    payload = _payload(trained.root / "payload.pt", marker)

    shutil.copy(payload, trained.model("mtl"))  # evaluation reads the (newest) bundle through the catalog
    with pytest.raises(Exception, match="refused: not a plain PyTorch state file"):
        trained.run(["evaluate_mtl"])

    shutil.copy(payload, models / "checkpoints/mtl-seed0.pt")  # resume reads the checkpoint
    with caplog.at_level(logging.WARNING):
        trained.run(["train_mtl"], training={"epochs": 1})
    assert "Skipping checkpoint" in caplog.text and "mtl-seed0.pt: refused" in caplog.text
    assert load(models / "checkpoints/mtl-seed0.pt")["epoch"] == 1  # trained from scratch, file replaced
    assert not marker.exists()


def test_one_checkpoint_per_variant_and_seed_follows_the_parameters(raw_project, caplog):
    checkpoints = raw_project.data / "06_models/synthetic/checkpoints"
    raw_project.run(["reid_only"], training={"epochs": 1})
    first = load(checkpoints / "reid_only-seed0.pt")["digest"]
    with caplog.at_level(logging.WARNING):
        raw_project.run(["train_reid_only"], training={"epochs": 1, "lr": 1e-2})
    assert "checkpoint of other parameters, data or code; training from scratch" in caplog.text
    # no spare, no file per parameter set; the best validated epoch of this run beside it
    assert sorted(p.name for p in checkpoints.iterdir()) == ["reid_only-seed0.best.pt", "reid_only-seed0.pt"]
    assert load(checkpoints / "reid_only-seed0.pt")["digest"] != first


def test_edited_code_retrains_instead_of_resuming(raw_project, tmp_path):
    """The same `kedro run` with a copy of the package whose training code differs by one comment."""
    raw_project.run(["model_input"])
    checkpoint = raw_project.data / "06_models/synthetic/checkpoints/par_only-seed0.pt"

    def kedro_run(sources: Path) -> str:
        env = {**os.environ, "PYTHONPATH": str(sources), "KEDRO_DISABLE_TELEMETRY": "1", "COLUMNS": "400"}
        command = kedro_command("--pipelines", "train_par_only", "--params", "training.epochs=1")
        done = subprocess.run(command, cwd=raw_project.root, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout + done.stderr

    kedro_run(SOURCES)
    assert "Resuming" in kedro_run(SOURCES)  # same code and parameters: the finished run resumes at once
    edited = tmp_path / "edited"
    shutil.copytree(
        SOURCES / "knowledge_assembly", edited / "knowledge_assembly", ignore=shutil.ignore_patterns("__pycache__")
    )
    with open(edited / "knowledge_assembly/training/losses.py", "a") as file:
        file.write("# an edit\n")
    before = load(checkpoint)["digest"]
    log = kedro_run(edited)
    assert "training from scratch" in log and "Resuming" not in log
    assert load(checkpoint)["digest"] != before


def test_a_broken_checkpoint_falls_back_to_the_spare(tmp_path, caplog):
    run = RunCheckpoint(tmp_path / "ka-seed0.pt", "fingerprint")
    for epoch in (1, 2):
        run.save({"epoch": epoch, "models": [{"w": torch.full((3,), float(epoch))}]})
    assert load(run.spare)["epoch"] == 1 and load(run.path)["epoch"] == 2
    run.path.write_bytes(run.path.read_bytes()[:100])  # truncated, e.g. by a full disk
    leftover = tmp_path / f".{run.path.name}.k1ll3d.tmp"  # what a killed atomic write leaves
    leftover.write_bytes(b"half a checkpoint")
    with caplog.at_level(logging.WARNING):
        state, path = run.resumable_state()
        run.drop_unusable(path)
    assert state["epoch"] == 1 and path == run.spare and f"{run.path}: unreadable" in caplog.text
    assert not leftover.exists() and not run.path.exists()  # the killed write's file and the bad checkpoint go
    run.save({"epoch": 2, "models": []})  # the spare stays the spare until a new good checkpoint is written
    assert load(run.spare)["epoch"] == 1 and load(run.path)["epoch"] == 2
    run.path.unlink()
    run.finish()  # no good checkpoint: the spare is not deleted
    assert load(run.spare)["epoch"] == 1
    run.spare.write_bytes(b"")
    assert run.resumable_state() is None  # nothing good left: start over, never crash
    run.save({"epoch": 1, "models": []})
    run.finish()
    assert run.path.is_file() and not run.spare.exists()


def test_a_run_killed_after_a_truncated_checkpoint_resumes_from_the_spare_and_keeps_a_good_one(raw_project, caplog):
    raw_project.run(["model_input"])
    checkpoints = raw_project.data / "06_models/synthetic/checkpoints"
    main, spare = checkpoints / "mtl-seed0.pt", checkpoints / "mtl-seed0.previous.pt"
    command = kedro_command("--pipelines", "train_mtl", "--params", "training.epochs=5")
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1"}
    process = subprocess.Popen(
        command, cwd=raw_project.root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
    )
    deadline = time.time() + 300
    while not (spare.exists() and main.exists()) and process.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    resumed_epoch = load(spare)["epoch"]
    assert 1 <= resumed_epoch < load(main)["epoch"] < 5, "killed part-way, with a spare"
    main.write_bytes(main.read_bytes()[:1000])  # the newest checkpoint truncated
    (checkpoints / f".{main.name}.k1ll3d.tmp").write_bytes(b"half")  # and a write that was killed
    with caplog.at_level(logging.INFO):
        raw_project.run(["train_mtl"], training={"epochs": 5})
    assert f"Resuming mtl from {spare} after epoch {resumed_epoch}" in caplog.text
    assert sorted(p.name for p in checkpoints.iterdir()) == ["mtl-seed0.best.pt", "mtl-seed0.pt"]
    assert load(main)["epoch"] == 5  # a good checkpoint of the finished run: the next run does not retrain
    caplog.clear()
    with caplog.at_level(logging.INFO):
        raw_project.run(["train_mtl"], training={"epochs": 5})
    assert f"Resuming mtl from {main} after epoch 5" in caplog.text and "training from scratch" not in caplog.text


def test_a_second_concurrent_training_or_model_input_fails_at_once_naming_the_first(raw_project):
    raw_project.run(["model_input"])
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "COLUMNS": "400"}  # messages unwrapped
    lock = raw_project.data / "06_models/synthetic/checkpoints.lock"
    first = subprocess.Popen(
        kedro_command("--pipelines", "train_mtl", "--params", "training.epochs=3"),
        cwd=raw_project.root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.time() + 120
    while not (lock.exists() and "pid" in lock.read_text()) and first.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    first.send_signal(signal.SIGSTOP)  # holding the lock until the second has tried (a tiny run ends in seconds)
    started = time.time()
    try:
        second = subprocess.run(
            kedro_command("--pipelines", "train_mtl", "--params", "training.epochs=3"),
            cwd=raw_project.root, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert first.poll() is None, "the first run must still be running"
    finally:
        first.send_signal(signal.SIGCONT)
    assert second.returncode != 0 and time.time() - started < 60
    assert f"another run holds {lock} since " in second.stderr and f"pid {first.pid}" in second.stderr
    assert first.wait(timeout=300) == 0, first.stderr.read()[-2000:]
    history = pd.read_csv(raw_project.report("mtl", "training_history.csv"))
    assert list(history["epoch"]) == [1, 2, 3]
    curve = (
        (raw_project.data / "09_tracking/local/synthetic/mtl/train/plots/metrics/train/lr.tsv").read_text().splitlines()
    )
    column = curve[0].split("\t").index("step")
    assert [line.split("\t")[column] for line in curve[1:]] == ["1", "2", "3"]  # one run's curve
    caches = raw_project.data / "05_model_input/synthetic"
    with open(raw_project.data / "05_model_input/synthetic.lock", "a+") as held:  # another process holds it
        fcntl.flock(held, fcntl.LOCK_EX)
        held.write("since 2026-12-01 10:00:00 UTC, pid 4242\n")
        held.flush()
        done = subprocess.run(kedro_command("--pipelines", "model_input"), cwd=raw_project.root, env=env,
                              capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode != 0 and "since 2026-12-01 10:00:00 UTC, pid 4242" in done.stderr
    assert caches.is_dir() and (caches / "par_test_images.npy").exists()


# --- data steps: all or nothing, caches tied to their manifests -----------------------------------


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_mtime_ns, p.stat().st_size) for p in folder.iterdir()}


def test_the_pixel_limit_is_a_parameter(raw_project):
    """Refusals in every image_check mode are rows of test_bad_inputs.py."""
    declares(sorted((raw_project.raw("pa100k") / "release_data/release_data").iterdir())[3], 13000, 13000)
    with pytest.raises(RawDataError, match=r"declares 13000x13000 pixels"):
        raw_project.run(["ingestion"], ingestion={"image_check": "none"})
    raw_project.run(["ingestion"], ingestion={"image_max_pixels": 200_000_000, "image_check": "none"})
    assert raw_project.primary().exists()


def test_model_input_refuses_an_image_declaring_too_many_pixels_and_replaces_no_cache(trained):
    caches = trained.data / "05_model_input/synthetic"
    before = _snapshot(caches)
    image = trained.raw("pa100k") / pd.read_parquet(trained.primary() / "par_test.parquet")["path"].iloc[0]
    declares(image, 13000, 13000)
    with pytest.raises(RawDataError, match=rf"{image.name}: declares 13000x13000 pixels"):
        trained.run(["model_input"], ingestion={"image_check": "none"})
    assert _snapshot(caches) == before  # no cache replaced


@contextmanager
def mounted(folder: Path, options: str):
    """A tmpfs mounted at ``folder`` for the test (root only: the test is skipped elsewhere)."""
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=True)


def test_a_full_disk_under_the_image_caches_is_one_line_and_leaves_no_staging_file(raw_project):
    caches = raw_project.data / "05_model_input/synthetic"
    with mounted(caches, "size=64k"), pytest.raises(NoSpaceLeftError) as refused:
        raw_project.run(["model_input"])
    message = str(refused.value)
    assert message.startswith(f"no space left on {caches}: the image cache .staging-") and "\n" not in message
    assert not caches.exists() or not list(caches.iterdir())  # nothing staged left behind
    assert not raw_project.primary().exists()  # and no manifest written


def test_evaluation_skips_the_half_written_history_of_a_killed_training_run(trained, caplog):
    raw_project = trained  # a project with one finished mtl run (one epoch)
    finished = raw_project.model("mtl")
    killed = "9999-12-31T23.59.59.999Z"  # newer than any run: what a training run killed while saving leaves
    for output, content in (("06_models/synthetic/mtl.pt", finished.read_bytes()), (HISTORY, b"")):
        folder = raw_project.data / output / killed
        folder.mkdir()
        (folder / RUNNING_MARKER).touch()
        (folder / Path(output).name).write_bytes(content)
    with caplog.at_level(logging.WARNING):
        raw_project.run(["evaluate_mtl"])
    for output in ("06_models/synthetic/mtl.pt", HISTORY):
        assert f"Skipping {raw_project.data / output / killed}: saved by a run that did not finish" in caplog.text
    assert raw_project.report("mtl", "metrics.json").parent.name != killed


HISTORY = "08_reporting/synthetic/mtl/training_history.csv"


def test_a_run_killed_after_saving_its_model_leaves_a_version_that_nothing_takes_for_finished(trained, caplog):
    raw_project = trained  # a project with one finished mtl run (one epoch)
    finished = raw_project.model("mtl")
    models = raw_project.data / "06_models/synthetic/mtl.pt"
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "COLUMNS": "400"}
    process = subprocess.Popen(
        kedro_command("--pipelines", "mtl", "--params", "training.epochs=1,training.lr=0.001"),
        cwd=raw_project.root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.time() + 300
    while len(list(models.glob("*/mtl.pt"))) < 2 and process.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)  # after the model was saved, during evaluation
    process.wait()
    killed = max(models.glob("*/mtl.pt"))
    assert killed != finished and (killed.parent / RUNNING_MARKER).exists()
    image = next((raw_project.raw("market1501") / "query").iterdir())
    result = infer_process(raw_project, "--model", models, image, "--output", raw_project.root / "out.json")
    assert result.returncode == 0 and f"Skipping {killed.parent}: saved by a run that did not finish" in result.stderr
    assert json.loads((raw_project.root / "out.json").read_text())["model"] == str(finished)  # the finished one
    with caplog.at_level(logging.WARNING):
        raw_project.run(["evaluate_mtl"])
    assert f"Skipping {killed.parent}: saved by a run that did not finish" in caplog.text
    metrics = raw_project.data / "08_reporting/synthetic/mtl/metrics.json"
    process = subprocess.Popen(
        kedro_command("--pipelines", "evaluate_mtl"), cwd=raw_project.root, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    while len(list(metrics.glob("*/metrics.json"))) < 3 and process.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)  # after its metrics were saved, while the figures are drawn
    assert process.wait() == -signal.SIGKILL, "killed before the end of the run"
    cut_short = max(metrics.glob("*/metrics.json")).parent
    listed = subprocess.run([sys.executable, "-m", "kedro", "runs", "--env", "test"], cwd=raw_project.root, env=env,
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    rows = [line for line in listed.stdout.splitlines() if line.startswith("| mtl")]
    assert listed.returncode == 0 and len(rows) == 2 and cut_short.name not in listed.stdout
    assert f"mtl version {cut_short.name} is left out: its run did not finish" in listed.stderr


def test_a_read_only_output_folder_is_found_before_any_node_runs(raw_project):
    reporting = raw_project.data / "08_reporting"
    with mounted(reporting, "ro"), pytest.raises(OutputNotWritableError) as refused:
        raw_project.run(["mtl"], training={"epochs": 1})
    message = str(refused.value)
    assert message.startswith(f"cannot write {reporting}/synthetic/") and "Read-only file system" in message
    assert message.endswith("; no node ran")
    assert not raw_project.primary().exists() and not (raw_project.data / "06_models/synthetic/mtl.pt").exists()


def test_a_decode_failure_replaces_no_cache(raw_project):
    header_check = {"image_check": "header"}  # markers only: the bad JPEG below passes, and fails at decode
    raw_project.run(["model_input"], ingestion=header_check)
    caches = raw_project.data / "05_model_input/synthetic"
    before = {**_snapshot(caches), **_snapshot(raw_project.primary())}
    assert {"par_test_images.npy", "par_test_images.manifest.json"} <= set(before)
    image = raw_project.raw("pa100k") / pd.read_parquet(raw_project.primary() / "par_test.parquet")["path"].iloc[-1]
    data = image.read_bytes()
    image.write_bytes(data[:400] + data[-2:])  # start and end markers kept, cut inside the headers

    with pytest.raises(RawDataError, match=rf"{image.name}: cannot decode image \(.*\)"):
        raw_project.run(["model_input"], ingestion=header_check)
    assert {**_snapshot(caches), **_snapshot(raw_project.primary())} == before  # every manifest and cache as it was,
    # nothing staged left behind
    raw_project.run(["train_par_only"], training={"epochs": 1})  # and they still match their manifests


def test_a_cache_refuses_a_manifest_that_changed_since(raw_project):
    raw_project.run(["model_input"])
    manifest = raw_project.primary() / "reid_train.parquet"
    rows = pd.read_parquet(manifest)
    rows.iloc[:-1].to_parquet(manifest)  # as if ingestion ran again on other raw data and decoding never finished
    with pytest.raises(
        DatasetError,
        match=rf"reid_train_images\.npy' \({len(rows)} images\) was made from another "
        rf"version of '.*reid_train\.parquet' \(now {len(rows) - 1} rows",
    ):
        raw_project.run(["train_reid_only"], training={"epochs": 1})


# --- environments and parameters --------------------------------------------------------------------


def test_the_real_environment_never_receives_synthetic_data(project):
    with pytest.raises(DatasetError, match=r"Refusing to write synthetic data into '.*data/01_raw/real/Market-1501"):
        project.run(["synthetic"], env="real")
    assert not (project.data / "01_raw" / "real").exists()


def test_an_unknown_parameter_key_fails_before_any_work(raw_project):
    command = kedro_command("--params", "training.epoch=1")
    done = subprocess.run(
        command,
        cwd=raw_project.root,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "COLUMNS": "400"},
    )
    assert done.returncode != 0
    assert (
        "unknown parameter 'training.epoch' given with --params (did you mean 'training.epochs'?)"
        in done.stderr + done.stdout
    )
    assert not raw_project.primary().exists()  # nothing ran
    with pytest.raises(
        ConfigError, match=r"'ingestion\.image_chek' given with --params \(did you mean 'ingestion\.image_check'\?\)"
    ):
        raw_project.run(["ingestion"], ingestion={"image_chek": "none"})
