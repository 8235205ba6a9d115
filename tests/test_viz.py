"""`kedro viz build` makes the static lineage site, and headless Chromium renders its graph."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from .browser import CHROMIUM, NO_CHROMIUM, rendered


def _kedro(args: list[str], cwd: Path) -> None:
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "kedro", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_viz_build_lineage_reads_raw_to_reports_and_chromium_renders_its_graph(project, tmp_path):
    _kedro(["viz", "build"], project.root)
    api = json.loads((project.root / "build" / "api" / "main").read_text())
    assert api["layers"] == ["raw", "primary", "model_input", "models", "feature", "reporting"]
    assert api["selected_pipeline"] == "__default__" and "ka" in api["modular_pipelines"]
    datasets = {n["name"]: n for n in api["nodes"] if n["type"] == "data"}
    assert datasets["market1501_raw"]["layer"] == "raw" and datasets["reid_train"]["layer"] == "primary"
    assert datasets["ka.model"]["layer"] == "models" and datasets["ka.metrics"]["layer"] == "reporting"
    assert {p["id"] for p in api["pipelines"]} >= {"synthetic", "ingestion", "ka", "mtl", "paper", "all"}
    if CHROMIUM is None:
        pytest.skip(f"the site is built and checked; rendering it is not: {NO_CHROMIUM}")
    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "http.server",
            str(port),
            "--bind",
            "127.0.0.1",
            "--directory",
            str(project.root / "build"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}/"
        for _ in range(100):
            try:
                urllib.request.urlopen(url, timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        dom, shot = rendered(url, tmp_path)
    finally:
        server.terminate()
        server.wait()
    assert dom.count("pipeline-node") > 10, "the flowchart drew no nodes"
    assert "reid_train" in dom.replace(" ", "_").lower() or "Reid Train" in dom
    pixels = np.asarray(Image.open(shot).convert("RGB"), dtype=float)
    assert pixels.std() > 10 and len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50, "blank screenshot"


def test_viz_build_includes_previews_of_tables_metrics_and_figures(trained):
    """`make viz` builds with --include-previews: a trained run's manifests, metrics and plots show in the site."""
    makefile = (Path(__file__).parents[1] / "Makefile").read_text()
    assert "kedro viz build --include-previews" in makefile
    _kedro(["viz", "build", "--include-previews"], trained.root)
    build = trained.root / "build" / "api"
    nodes = json.loads((build / "pipelines" / "mtl").read_text())["nodes"]
    ids = {n["name"]: n["id"] for n in nodes if n["type"] == "data"}
    previews = {
        name: json.loads((build / "nodes" / ids[name]).read_text()).get("preview_type")
        for name in ("reid_train", "mtl.metrics", "mtl.training_history", "mtl.cmc_plot")
    }
    assert previews == {
        "reid_train": "TablePreview",
        "mtl.metrics": "JSONPreview",
        "mtl.training_history": "TablePreview",
        "mtl.cmc_plot": "ImagePreview",
    }
