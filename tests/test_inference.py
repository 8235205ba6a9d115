"""The inference command and its ONNX export, on a model trained by a real Kedro run."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from knowledge_assembly.files import latest_version
from knowledge_assembly.inference import load_bundle_model
from knowledge_assembly.models.bundle import ModelBundle
from knowledge_assembly.models.prediction import predict

from .conftest import infer, infer_process

pytestmark = pytest.mark.kernels  # ONNX Runtime against PyTorch within 1e-5: `make test-kernels` runs it everywhere


def test_inference_command_prints_attributes_and_embeddings_and_exports_onnx(trained):
    model_path = trained.data / "06_models/synthetic/mtl.pt"  # Kedro's versioned folder: its newest run is used
    query = pd.read_parquet(trained.data / "03_primary/synthetic/reid_query.parquet")
    images = [trained.raw("market1501") / p for p in query["path"][:2]]
    onnx_path = trained.root / "exports" / "mtl.onnx"
    result = infer_process(  # the installed command, in a process of its own
        trained, "--model", model_path, *images, "--output", trained.root / "out.json", "--export-onnx", onnx_path,
        "--embedding",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads((trained.root / "out.json").read_text())
    assert report["variant"] == "mtl" and [r["image"] for r in report["results"]] == [str(p) for p in images]
    assert report["domain"] == "market1501"  # the first training source's statistics by default
    assert report["model"] == str(trained.model("mtl"))  # the versioned folder's newest run, named
    first = report["results"][0]
    assert len(first["attributes"]) == 40 and len(first["embedding"]) == 16
    assert first["present"] == [n for n, p in first["attributes"].items() if p > 0.5]
    assert report["onnx"]["matches"] and report["onnx"]["max_abs_difference"] < 1e-5 and onnx_path.stat().st_size > 1000
    assert report["onnx"]["weights"] == f"{onnx_path}.data" and Path(report["onnx"]["weights"]).stat().st_size > 10**5
    # the same numbers as evaluation's batched prediction on the decoded-once cache
    model, _ = load_bundle_model(trained.model("mtl"))
    cached = np.load(trained.data / "05_model_input/synthetic/reid_query_images.npy")[:2]
    expected = predict(model.network, cached)
    np.testing.assert_allclose([r["embedding"] for r in report["results"]], expected["reid_feature"], atol=1e-4)


def test_onnx_export_of_one_image_and_of_a_folder_runs_any_batch(trained, tmp_path):
    """The README's example exports from one image (torch.export once specialised that batch of one to a
    constant and failed); the graph takes any batch and ONNX Runtime matches PyTorch within 1e-5."""
    import onnxruntime

    model_path = trained.data / "06_models/synthetic/mtl.pt"
    query = pd.read_parquet(trained.data / "03_primary/synthetic/reid_query.parquet")["path"][:3]
    folder = tmp_path / "queries"
    folder.mkdir()
    for name in query:
        shutil.copy(trained.raw("market1501") / name, folder / Path(name).name)
    model, _ = load_bundle_model(trained.model("mtl"))
    images = np.load(trained.data / "05_model_input/synthetic/reid_query_images.npy")[:3]
    expected = predict(model.network, images)["reid_feature"]
    for source, onnx_path in ((folder / Path(query[0]).name, tmp_path / "one.onnx"), (folder, tmp_path / "all.onnx")):
        result = infer_process(
            trained, "--model", model_path, source, "--export-onnx", onnx_path, "--output", tmp_path / "r"
        )
        assert result.returncode == 0, result.stderr[-2000:]
        report = json.loads((tmp_path / "r").read_text())["onnx"]
        assert report["matches"] and report["max_abs_difference"] < 1e-5, report
        session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
        rgb = np.ascontiguousarray(images.transpose(0, 3, 1, 2), dtype=np.float32) / 255
        for batch in (1, 3):
            embedding = session.run(None, {"images": rgb[:batch]})[0]
            np.testing.assert_allclose(embedding, expected[:batch], atol=1e-4)


def test_inference_reads_folders_in_batches_and_searches_a_gallery(trained, tmp_path):
    model_path = trained.data / "06_models/synthetic/mtl.pt"
    market = trained.raw("market1501")
    query = pd.read_parquet(trained.data / "03_primary/synthetic/reid_query.parquet")["path"][:3]
    gallery = pd.read_parquet(trained.data / "03_primary/synthetic/reid_gallery.parquet")["path"][:7]
    for folder, names in (("queries", query), ("gallery/sub", gallery)):
        (tmp_path / folder).mkdir(parents=True)
        for name in names:
            shutil.copy(market / name, tmp_path / folder / Path(name).name)
    searched = infer(
        trained, "--model", model_path, tmp_path / "queries", "--batch-size", "2", "--gallery", tmp_path / "gallery",
        "--top-k", "3", "--output", tmp_path / "search.json", "--embedding",
    )  # fmt: skip
    assert searched.returncode == 0, searched.stderr
    results = json.loads((tmp_path / "search.json").read_text())["results"]
    assert [Path(r["image"]).name for r in results] == sorted(Path(n).name for n in query)
    # batches of 2 give what one batch gives; the gallery's embeddings come from a plain run on both folders
    folders = (tmp_path / "queries", tmp_path / "gallery")
    whole = infer(trained, "--model", model_path, *folders, "--output", tmp_path / "a", "--embedding")
    assert whole.returncode == 0, whole.stderr
    records = json.loads((tmp_path / "a").read_text())["results"]
    np.testing.assert_allclose([r["embedding"] for r in results], [r["embedding"] for r in records[:3]], atol=1e-5)
    queries, items = np.array([r["embedding"] for r in records[:3]]), np.array([r["embedding"] for r in records[3:]])
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    items /= np.linalg.norm(items, axis=1, keepdims=True)
    expected = np.argsort(1 - queries @ items.T, axis=1)[:, :3]
    for result, nearest in zip(results, expected):
        matches = result["gallery_matches"]
        assert [m["image"] for m in matches] == [records[3 + j]["image"] for j in nearest]
        assert [m["distance"] for m in matches] == sorted(m["distance"] for m in matches)
    empty = tmp_path / "empty"
    empty.mkdir()
    refused = infer(trained, "--model", model_path, empty)
    assert refused.returncode == 1 and f"{empty}: no image files" in refused.stderr


def test_inference_prints_a_table_by_default_json_on_request_and_embeddings_only_when_asked(trained, tmp_path):
    model_path = trained.data / "06_models/synthetic/mtl.pt"
    image = (
        trained.raw("market1501") / pd.read_parquet(trained.data / "03_primary/synthetic/reid_query.parquet")["path"][0]
    )
    table = infer(trained, "--model", model_path, image)
    assert table.returncode == 0, table.stderr
    assert f"## {image}" in table.stdout and "present:" in table.stdout and "domain market1501" in table.stdout
    assert "| attribute" in table.stdout and table.stdout.count("\n|") >= 41  # header + 40 attributes
    assert "embedding" not in table.stdout
    plain = json.loads(infer(trained, "--model", model_path, image, "--json").stdout)
    assert "embedding" not in plain["results"][0] and len(plain["results"][0]["attributes"]) == 40
    assert set(plain["results"][0]["source_probability"]) == {"market1501", "pa100k"}
    full = json.loads(infer(trained, "--model", model_path, image, "--json", "--embedding").stdout)
    assert len(full["results"][0]["embedding"]) == 16
    other = json.loads(infer(trained, "--model", model_path, image, "--json", "--domain", "pa100k").stdout)
    assert other["domain"] == "pa100k" and other["results"][0]["attributes"] != plain["results"][0]["attributes"]
    unknown = infer(trained, "--model", model_path, image, "--domain", "pa100")
    assert unknown.returncode == 1 and "has no domain 'pa100'; its domains: market1501, pa100k" in unknown.stderr


def test_inference_warns_in_one_line_where_attributes_are_near_chance(trained, tmp_path):
    """The PAR validation mA per domain travels in the model bundle; training measures it on the PA-100K val split
    and on the held-out Market-1501 identities' UPAR labels."""
    bundle = ModelBundle.load(trained.model("mtl"))
    assert set(bundle.par_validation) == {"market1501", "pa100k"}
    assert all(0 <= score <= 1 for score in bundle.par_validation.values())
    history = pd.read_csv(latest_version(trained.data / "08_reporting/synthetic/mtl/training_history.csv"))
    assert history["val/par/market1501/mA"].iloc[-1] == pytest.approx(bundle.par_validation["market1501"])
    assert history["val/par/pa100k/mA"].iloc[-1] == pytest.approx(bundle.par_validation["pa100k"])
    image = (
        trained.raw("market1501") / pd.read_parquet(trained.data / "03_primary/synthetic/reid_query.parquet")["path"][0]
    )
    cases = {
        "chance": (dataclasses.replace(bundle, par_validation={"market1501": 0.55, "pa100k": 0.9}), "near chance"),
        "good": (dataclasses.replace(bundle, par_validation={"market1501": 0.85, "pa100k": 0.9}), None),
        "untrained": (dataclasses.replace(bundle, trained_tasks=("reid",)), "was not trained for attributes"),
    }
    for name, (variant, warning) in cases.items():
        variant.save(tmp_path / f"{name}.pt")
        result = infer(trained, "--model", tmp_path / f"{name}.pt", image, "--json")
        assert result.returncode == 0, result.stderr
        warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
        assert (warnings == []) if warning is None else (len(warnings) == 1 and warning in warnings[0]), warnings
    chance = infer(trained, "--model", tmp_path / "chance.pt", image, "--domain", "pa100k", "--json")
    assert "warning" not in chance.stderr  # pa100k's attributes are fine


def test_inference_ranks_a_gallery_for_a_description(trained, tmp_path):
    """--attributes: the gallery ranked by the log-likelihood of the named attributes (a "-" names an absent one),
    computed here from the same command's per-image probabilities; a wrong name is one line with the closest."""
    model_path = trained.data / "06_models/synthetic/mtl.pt"
    pa100k = trained.raw("pa100k")
    (tmp_path / "gallery").mkdir()
    for name in pd.read_parquet(trained.data / "03_primary/synthetic/par_test.parquet")["path"][:6]:
        shutil.copy(pa100k / name, tmp_path / "gallery" / Path(name).name)
    described = infer(
        trained, "--model", model_path, "--gallery", tmp_path / "gallery",
        "--attributes", "Gender-Female,-Accessory-Hat", "--top-k", "4", "--json",
    )  # fmt: skip
    assert described.returncode == 0, described.stderr
    matches = json.loads(described.stdout)["attribute_query"]["matches"]
    every = json.loads(infer(trained, "--model", model_path, tmp_path / "gallery", "--json").stdout)["results"]
    probability = {r["image"]: np.clip([r["attributes"]["Gender-Female"], r["attributes"]["Accessory-Hat"]], 1e-6, 1)
                   for r in every}  # fmt: skip
    expected = sorted(
        every, key=lambda r: -(np.log(probability[r["image"]][0]) + np.log1p(-probability[r["image"]][1]))
    )
    assert [m["image"] for m in matches] == [r["image"] for r in expected[:4]]
    table = infer(trained, "--model", model_path, "--gallery", tmp_path / "gallery", "--attributes", "Gender-Female")
    assert table.returncode == 0 and "## gallery images for Gender-Female" in table.stdout
    wrong = infer(trained, "--model", model_path, "--gallery", tmp_path / "gallery", "--attributes", "Gender-Femal")
    assert wrong.returncode == 1 and wrong.stdout == ""
    assert wrong.stderr.strip() == (
        "error: --attributes 'Gender-Femal': unknown attribute 'Gender-Femal' (did you mean 'Gender-Female'?)"
    )
    alone = infer(trained, "--model", model_path, "--attributes", "Gender-Female")
    assert alone.returncode == 2 and "--attributes ranks a gallery: give --gallery DIR" in alone.stderr
