"""RAPv2 as a source of attribute labels (issue 19): labelled by the original UPAR release only, ingested by the
``upar_release`` source pipeline, trained on in a domain of its own and evaluated there, held out by the
cross-domain protocol; through real Kedro sessions."""

from __future__ import annotations

import json
import logging
import pickle
import shutil

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from knowledge_assembly.config import ConfigError
from knowledge_assembly.formats import upar
from knowledge_assembly.formats.errors import RawDataError
from knowledge_assembly.formats.upar_labels import UparLabels, index_release_source
from knowledge_assembly.models.bundle import ModelBundle
from knowledge_assembly.pipelines.cross_domain.nodes import held_out_section
from knowledge_assembly.sources import chosen_source_set
from tests.conftest import REPO, TINY_SYNTHETIC

WACV = {"ingestion": {"upar": {"release": "wacv2023"}}}
PICKLE_PARAMS = {"release": "wacv2023", "pickle_file": "dataset_all.pkl", "partition": 0}
NAMES = list(upar.UPAR_ATTRIBUTES)
CONFIGURED = yaml.safe_load((REPO / "conf" / "base" / "parameters_sources.yml").read_text())


def test_rapv2_is_written_in_its_layout_for_the_original_release_only(project):
    project.run(["synthetic"])
    assert not project.raw("rapv2").exists()  # the 2027 CSVs do not label RAPv2: the default data stays as it was
    project.run(["synthetic"], **WACV)
    images = sorted((project.raw("rapv2") / "RAP_dataset").iterdir())
    assert len(images) == TINY_SYNTHETIC["rapv2"]["images"]
    assert all(path.name.startswith("CAM") and "-tarid" in path.name for path in images)
    opened = [Image.open(path) for path in images]
    assert {image.format for image in opened} == {"PNG"} and len({image.size for image in opened}) > 1
    raw = pickle.loads((project.raw("upar") / "dataset_all.pkl").read_bytes())  # our own file: safe to read
    rows = sorted(name.removeprefix("RAPv2/") for name in raw.image_name if name.startswith("RAPv2/"))
    assert rows == [f"RAP_dataset/{path.name}" for path in images]


def test_the_original_release_set_trains_on_rapv2_and_evaluates_it_in_its_own_domain(project):
    project.run(["synthetic"], **WACV)
    project.run(["mtl"], **WACV, source_set="upar_wacv2023", training={"epochs": 1})
    train, test = (pd.read_parquet(project.primary() / f"rapv2_{split}.parquet") for split in ("train", "test"))
    assert len(train) and len(test) and not set(train["path"]) & set(test["path"])
    assert list(train.columns) == ["path", *NAMES] and all(train[NAMES].dtypes == np.uint8)
    assert ModelBundle.load(project.model("mtl")).domains == ("market1501", "pa100k", "peta", "rapv2")
    metrics = json.loads(project.report("mtl", "metrics.json").read_text())
    assert 0 <= metrics["par/rapv2"]["mA"] <= 1 and len(metrics["par/rapv2"]["per_attribute_mA"]) == len(NAMES)


def test_rapv2_images_that_no_release_labels_are_not_trained_on(project, tmp_path, caplog):
    project.run(["synthetic"], **WACV)
    shutil.copytree(project.raw("rapv2"), tmp_path / "RAPv2")
    project.run(["synthetic"])  # the 2027 CSVs, which do not label RAPv2; then put its images back
    shutil.copytree(tmp_path / "RAPv2", project.raw("rapv2"))
    with caplog.at_level(logging.WARNING), pytest.raises(ConfigError) as raised:
        project.run(["mtl"], source_set="upar_wacv2023", training={"epochs": 1})
    assert "no row under RAPv2/ labels an image of" in caplog.text
    assert str(raised.value) == (
        "source rapv2 of source_set=upar_wacv2023 has no training images: put it at globals raw.rapv2 and read a "
        "UPAR release that labels it"
    )


def _labels(splits: list[str]) -> pd.DataFrame:
    images = [f"RAPv2/RAP_dataset/{i}.png" for i in range(len(splits))]
    frame = pd.DataFrame(np.zeros((len(splits), len(NAMES)), dtype=np.uint8), columns=NAMES)
    return frame.assign(image=images, split=splits, source="dataset_all.pkl")


@pytest.mark.parametrize(
    ("splits", "message"),
    [
        (["", ""], r"dataset_all.pkl: labels 2 images under RAPv2/ but gives them no split"),
        (["train", "val"], r"dataset_all.pkl: partition 0 gives no image under RAPv2/ a test split"),
    ],
)
def test_a_release_that_does_not_split_rapv2_is_named(tmp_path, splits, message):
    with pytest.raises(RawDataError, match=message):
        index_release_source(tmp_path, UparLabels(NAMES, _labels(splits), PICKLE_PARAMS), "RAPv2/", "full", 10**7)


def test_a_labelled_rapv2_image_that_is_missing_is_named(tmp_path):
    with pytest.raises(RawDataError, match=r"RAP_dataset/0.png: labelled in UPAR but missing \(2 missing"):
        labels = UparLabels(NAMES, _labels(["train", "test"]), PICKLE_PARAMS)
        index_release_source(tmp_path, labels, "RAPv2/", "full", 10**7)


def test_cross_domain_holds_rapv2_out_and_reads_its_own_section():
    sources = CONFIGURED["sources"]
    held_out = chosen_source_set(sources, CONFIGURED["source_sets"], "upar_wacv2023").held_out_sets()
    assert held_out["rapv2"].names == ("market1501", "pa100k", "peta") and set(held_out) == {"pa100k", "peta", "rapv2"}
    entries = yaml.safe_load((REPO / "conf/base/parameters_evaluation.yml").read_text())["evaluation"]["entries"]
    metrics = {"entries": {key: {**entry, "headline": [], "table": []} for key, entry in entries.items()}}
    assert held_out_section("rapv2", metrics) == "par/rapv2" and held_out_section("peta", metrics) == "par/peta"
