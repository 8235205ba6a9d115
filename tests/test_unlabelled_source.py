"""An unlabelled source end to end: a team's night cameras (``camera_folders`` layout) whose images carry no training
label join the `unlabelled` source set as a domain of their own; their held-out identities and attributes are read
by evaluation only, for every model."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest

from knowledge_assembly.config import ConfigError
from knowledge_assembly.formats import upar
from knowledge_assembly.formats.errors import RawDataError
from knowledge_assembly.models.bundle import ModelBundle
from knowledge_assembly.sources import source_config


def _metrics(project, variant: str) -> dict:
    return json.loads(project.report(variant, "metrics.json").read_text())


def test_the_unlabelled_set_trains_on_camera_crops_without_labels_and_evaluates_every_model_on_them(raw_project):
    raw_project.run(["mtl"], training={"epochs": 1}, source_set="unlabelled")
    train = pd.read_parquet(raw_project.primary() / "night_train.parquet")
    assert list(train.columns) == ["path"] and len(train) == 24  # 12 passers-by x 2 crops: no label column
    bundle = ModelBundle.load(raw_project.model("mtl"))
    assert bundle.sources == ("market1501", "pa100k", "night") and bundle.num_sources == 3
    domains = {key.split(".domains.")[1].split(".")[0] for key in bundle.state_dicts[0] if ".domains." in key}
    assert domains == {"0", "1", "2"}  # the night cameras keep BatchNorm statistics of their own
    steps = {key: int(v) for key, v in bundle.state_dicts[0].items() if key.endswith("num_batches_tracked")}
    assert all(count > 0 for key, count in steps.items() if ".domains.2." in key)  # learnt from the night crops
    metrics = _metrics(raw_project, "mtl")
    assert {"reid/campus", "reid/night", "par/night"} <= set(metrics["entries"])
    assert metrics["settings"]["source_set"] == "unlabelled"
    assert 0 < metrics["reid/night"]["mAP"] <= 1 and len(metrics["reid/night"]["cmc"]) > 0
    assert len(metrics["par/night"]["per_attribute_mA"]) == 40
    headline = json.loads((raw_project.data / "09_tracking/local/synthetic/mtl/eval/metrics.json").read_text())
    assert headline["reid"]["night"].keys() == {"mAP"} and headline["par"]["night"].keys() == {"mA"}
    # a model of the paper's two sources is measured on the night cameras too (a domain it never saw)
    raw_project.run(["mtl"], training={"epochs": 1})
    assert ModelBundle.load(raw_project.model("mtl")).sources == ("market1501", "pa100k")
    assert 0 < _metrics(raw_project, "mtl")["reid/night"]["mAP"] <= 1


def test_the_held_out_labels_of_the_night_cameras_never_reach_training(raw_project):
    """Flipping every held-out attribute and shuffling the held-out identities leaves KA's weights bit-identical
    (both twins learn from the night crops through cross pseudo-supervision only); evaluation reads the change."""
    run = {"training": {"epochs": 1, "resume": False}, "source_set": "unlabelled"}
    raw_project.run(["ka"], **run)
    before, metrics = ModelBundle.load(raw_project.model("ka")), _metrics(raw_project, "ka")
    root = raw_project.raw("night")
    csv = root / "attributes.csv"
    names, labels = upar.read_csv(csv)
    labels[names] = 1 - labels[names]
    csv.write_bytes(upar.to_csv_bytes(labels, names))
    for image in sorted((root / "query").iterdir())[::2]:  # every other query now names another identity
        image.rename(image.with_name("9999" + image.name[4:]))
    raw_project.run(["ka"], **run)
    after = ModelBundle.load(raw_project.model("ka"))
    for twin_before, twin_after in zip(before.state_dicts, after.state_dicts, strict=True):
        assert twin_before.keys() == twin_after.keys()
        assert all(torch_equal(twin_before[key], twin_after[key]) for key in twin_before)
    flipped = _metrics(raw_project, "ka")
    assert flipped["par/night"]["mA"] != metrics["par/night"]["mA"]
    assert flipped["reid/night"]["mAP"] != metrics["reid/night"]["mAP"]


def torch_equal(a, b) -> bool:
    return bool((a == b).all()) and a.dtype == b.dtype


def test_a_night_camera_attribute_file_of_another_label_space_or_a_stray_file_is_named_and_nothing_written(
    raw_project,
):
    root = raw_project.raw("night")
    csv = root / "attributes.csv"
    names, labels = upar.read_csv(csv)
    csv.write_bytes(upar.to_csv_bytes(labels, names[:26]))  # 26 attributes for the 40-attribute task
    with pytest.raises(RawDataError, match=re.escape(str(csv)) + r": header must list exactly the 40 UPAR attributes"):
        raw_project.run(["model_input"])
    assert not raw_project.primary().exists()
    csv.write_bytes(upar.to_csv_bytes(labels, names))
    (root / "images" / "notes.txt").write_text("not a crop")
    with pytest.raises(RawDataError, match=r"images/notes\.txt: not a JPEG or PNG image \(1 such: notes\.txt\)"):
        raw_project.run(["model_input"])
    assert not raw_project.primary().exists()


def test_without_night_cameras_their_manifests_are_empty_and_the_unlabelled_set_names_the_missing_root(raw_project):
    shutil.rmtree(raw_project.raw("night"))
    raw_project.run(["model_input"])
    assert len(pd.read_parquet(raw_project.primary() / "night_train.parquet")) == 0
    assert np.load(raw_project.data / "05_model_input/synthetic/night_query_images.npy").shape[0] == 0
    with pytest.raises(ConfigError, match=r"source night of source_set=unlabelled has no training images: put it at"):
        raw_project.run(["train_mtl"], training={"epochs": 1}, source_set="unlabelled")


def test_a_camera_source_names_its_held_out_manifests():
    entry = {"format": "camera_folders", "tasks": [], "sampler": "uniform", "train": "cam_train"}
    with pytest.raises(ConfigError, match=r"sources.cam: a camera_folders source names its query, gallery, attributes"):
        source_config("cam", {**entry, "evaluation": {"query": "cam_query", "gallery": "cam_gallery"}})
    with pytest.raises(
        ConfigError, match=r"sources.cam: unknown format 'camera_folder' \(did you mean 'camera_folders'"
    ):
        source_config("cam", {**entry, "format": "camera_folder"})
