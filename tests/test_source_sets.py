"""Source sets from configuration: the `upar` set trains on three sources (PETA from UPAR's layout) through real
Kedro runs; PETA's manifests; bad source sets fail before any node runs, in one line."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import pandas as pd
import pytest

from knowledge_assembly.config import ConfigError
from knowledge_assembly.formats.errors import RawDataError
from knowledge_assembly.models.bundle import ModelBundle
from knowledge_assembly.sources import chosen_source_set
from tests.conftest import training_config

SOURCES = {
    "market1501": {
        "format": "market1501",
        "tasks": ["reid"],
        "evaluation_only": ["par"],
        "sampler": "pk",
        "train": "reid_train",
        "evaluation": {"query": "reid_query", "gallery": "reid_gallery", "attributes": "reid_attributes"},
    },
    "pa100k": {
        "format": "pa100k",
        "tasks": ["par"],
        "sampler": "uniform",
        "train": "par_train",
        "val": "par_val",
        "evaluation": {"attributes": "par_test"},
    },
    "peta": {
        "format": "upar_peta",
        "tasks": ["par"],
        "sampler": "uniform",
        "batch_size": 16,
        "train": "peta_train",
        "val": "peta_val",
        "evaluation": {"attributes": "peta_test"},
    },
}
SETS = {"paper": ["market1501", "pa100k"], "upar": ["market1501", "pa100k", "peta"]}


def test_the_upar_set_trains_a_twin_and_a_dsbn_variant_on_three_sources_and_evaluates_par_on_peta(raw_project):
    for variant in ("ka", "mtl"):
        raw_project.run([variant], training={"epochs": 1}, source_set="upar")
        bundle = ModelBundle.load(raw_project.model(variant))
        assert bundle.sources == ("market1501", "pa100k", "peta") and bundle.num_sources == 3
        metrics = json.loads(raw_project.report(variant, "metrics.json").read_text())
        assert metrics["settings"]["source_set"] == "upar"
        assert 0 <= metrics["par/peta"]["mA"] <= 1 and len(metrics["par/peta"]["per_attribute_mA"]) == 40
        assert len(pd.read_csv(raw_project.report(variant, "attributes.csv"))["par/peta mA"].dropna()) == 40
        # validation scores the entries of the three sources: PETA's val split too, in PETA's domain
        history = pd.read_csv(raw_project.report(variant, "training_history.csv"))
        validated = sorted(column for column in history if column.startswith("val/"))
        assert validated == sorted(
            f"val/{entry}/{measure}"
            for entry, measures in {"reid/market1501": ("mAP", "rank1"), "par/pa100k": ("mA", "f1"),
                                    "par/peta": ("mA", "f1"), "par/market1501": ("mA",)}.items()
            for measure in measures
        )  # fmt: skip
        assert set(bundle.par_validation) == {"market1501", "pa100k", "peta"}
        assert bundle.par_validation["peta"] == history["val/par/peta/mA"].iloc[-1]
    weights = ModelBundle.load(raw_project.model("mtl")).state_dicts[0]
    domains = {key.split(".domains.")[1].split(".")[0] for key in weights if ".domains." in key}
    assert domains == {"0", "1", "2"}  # one set of BatchNorm statistics per source


def test_peta_is_split_from_the_upar_rows_into_disjoint_train_val_and_test(raw_project):
    raw_project.run(["ingestion"])
    splits = {
        split: pd.read_parquet(raw_project.primary() / f"peta_{split}.parquet") for split in ("train", "val", "test")
    }
    assert {split: len(frame) for split, frame in splits.items()} == {"train": 18, "val": 3, "test": 9}  # 30 images
    paths = pd.concat([frame["path"] for frame in splits.values()])
    assert paths.is_unique and paths.str.fullmatch(r"images/\d{5}\.png").all()
    assert (raw_project.raw("peta") / paths.iloc[0]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(splits["train"].columns) == 41  # path + UPAR's 40 attributes


def test_without_a_peta_root_the_paper_set_runs_and_the_upar_set_names_the_missing_source(raw_project):
    shutil.rmtree(raw_project.raw("peta"))
    raw_project.run(["mtl"], training={"epochs": 1})
    assert len(pd.read_parquet(raw_project.primary() / "peta_train.parquet")) == 0
    assert "peta_par" not in json.loads(raw_project.report("mtl", "metrics.json").read_text())
    with pytest.raises(ConfigError, match=r"source peta of source_set=upar has no training images: put it at"):
        raw_project.run(["train_mtl"], training={"epochs": 1}, source_set="upar")


def test_a_set_naming_an_unknown_source_or_set_is_refused_with_the_closest_name():
    with pytest.raises(ConfigError, match=r"unknown source set 'source_set=upr' \(did you mean 'upar'\?\)"):
        chosen_source_set(SOURCES, SETS, "upr")
    with pytest.raises(ConfigError, match=r"source_sets.bad: unknown source 'pet' \(did you mean 'peta'\?\)"):
        chosen_source_set(SOURCES, {"bad": ["market1501", "pet"]}, "bad")
    bad = {**SOURCES, "peta": {**SOURCES["peta"], "sampler": "pk", "tasks": ["attributes"]}}
    with pytest.raises(ConfigError, match=r"sources.peta: unknown task 'attributes' in tasks.*pk sampler needs"):
        chosen_source_set(bad, SETS, "upar")
    no_identities = {**SOURCES, "peta": {**SOURCES["peta"], "holdout_ids": 2}}
    with pytest.raises(ConfigError, match=r"sources.peta: holdout_ids needs identity labels \(reid in tasks\)"):
        chosen_source_set(no_identities, SETS, "upar")
    no_val = {**SOURCES, "pa100k": {key: value for key, value in SOURCES["pa100k"].items() if key != "val"}}
    with pytest.raises(ConfigError, match=r"sources.pa100k: a pa100k source names its val split's manifest \(val\)"):
        chosen_source_set(no_val, SETS, "upar")
    no_gallery = {**SOURCES, "market1501": {**SOURCES["market1501"], "evaluation": {"attributes": "reid_attributes"}}}
    with pytest.raises(ConfigError, match=r"sources.market1501: .*a market1501 source names its query, gallery, attr"):
        chosen_source_set(no_gallery, SETS, "upar")
    negative = {**SOURCES, "market1501": {**SOURCES["market1501"], "holdout_ids": -1}}
    with pytest.raises(ConfigError, match=r"sources.market1501: holdout_ids must be >= 0 or null, got -1"):
        chosen_source_set(negative, SETS, "upar")


def test_an_uneven_batch_share_and_an_unlabelled_task_are_refused():
    chosen = chosen_source_set(SOURCES, SETS, "upar")
    chosen.check_shares(training_config(), 4)  # 32, 32 and 16 images split over 4 processes
    with pytest.raises(ConfigError, match=r"sources.peta: its 16 images per batch do not divide evenly over .*=3"):
        chosen.check_shares(training_config(ids_per_batch=9, images_per_id=4, par_batch_size=33), 3)
    reid_only_set = chosen_source_set(SOURCES, {"reid": ["market1501"]}, "reid")
    with pytest.raises(ConfigError, match=r"variants.mtl: supervises 'par', but no source of source_set=reid"):
        reid_only_set.check_variant("mtl", ("reid", "par"))


BAD_SOURCE_COMMANDS = {  # kedro run arguments in an empty project, and stderr's last line
    "unknown_set": (
        ["--params", "source_set=upr"],
        r"error: unknown source set 'source_set=upr' \(did you mean 'upar'\?\)",
    ),
    "uneven_share": (
        ["--params", "training.world_size=3"],
        r"error: sources.market1501: its 8 images per batch do not divide evenly over training.world_size=3 .*",
    ),
    "unlabelled_task": (
        ["--pipelines=train_par_only", "--params", "source_sets.paper=[market1501]"],
        r"error: variants.par_only: supervises 'par', but no source of source_set=paper is labelled for it .*",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_SOURCE_COMMANDS))
def test_bad_source_sets_fail_in_one_line_before_any_node_runs(project, case):
    args, message = BAD_SOURCE_COMMANDS[case]
    command = [sys.executable, "-m", "kedro", "run", "--env", "test", *args]
    done = subprocess.run(command, cwd=project.root, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert re.search(message + r"\Z", done.stderr.strip()), done.stderr[-2000:]
    assert "Running node" not in done.stdout + done.stderr and not (project.root / "data" / "03_primary").exists()


def test_a_misnamed_peta_row_or_a_truncated_peta_image_is_named_and_nothing_is_written(raw_project):
    csv = raw_project.raw("upar") / "UPAR-Challenge-2027_task1_train_gt.csv"
    original = csv.read_bytes()
    csv.write_bytes(original + b"PETA/images/7.png" + b",0" * 40 + b"\r\n")
    with pytest.raises(
        RawDataError, match=r"PETA image 'images/7\.png' is not named images/NNNNN\.png \(1 such rows\)"
    ):
        raw_project.run(["ingestion"])
    csv.write_bytes(original)
    image = raw_project.raw("peta") / "images" / "00003.png"
    data = image.read_bytes()
    image.write_bytes(data[:-12])  # the IEND chunk cut off: the JPEG/PNG markers check names it
    with pytest.raises(RawDataError, match=r"images/00003\.png: truncated PNG \(no IEND chunk\)"):
        raw_project.run(["ingestion"], ingestion={"image_check": "header"})
    image.write_bytes(data[: len(data) // 2])  # half the pixels gone: decoding every image names it
    with pytest.raises(RawDataError, match=r"images/00003\.png: unreadable or corrupt PNG"):
        raw_project.run(["ingestion"])
    assert not raw_project.primary().exists()


def test_a_training_manifest_of_another_label_space_is_named_before_any_node_runs(raw_project):
    """26 of the 40 attributes (PA-100K's own label set) in an attribute source's manifest from an earlier run."""
    raw_project.run(["model_input"])
    manifest = raw_project.primary() / "par_train.parquet"
    names = json.loads((raw_project.primary() / "par_attributes.json").read_text())
    pd.read_parquet(manifest).drop(columns=names[26:]).to_parquet(manifest)
    command = [sys.executable, "-m", "kedro", "run", "--env", "test", "--pipelines=train_mtl"]
    done = subprocess.run(command, cwd=raw_project.root, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr[-2000:]
    message = rf"error: sources.pa100k: its training labels lack 14 of the 40 attributes of task par \({names[26]}, "
    assert re.search(message, done.stderr.strip().splitlines()[-1]), done.stderr[-2000:]
    assert "Running node" not in done.stdout + done.stderr
    assert not (raw_project.data / "06_models").exists()
