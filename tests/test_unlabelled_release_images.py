"""PA-100K images that the UPAR release does not label (issue 19): left out by default; with
``ingestion.upar.unlabelled=train`` the train split's join training as unlabelled images of their source: its
BatchNorm statistics and SSL terms see them, its supervised loss does not. Real Kedro sessions and real batches."""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd
import pytest
import torch

from knowledge_assembly.config import ConfigError
from knowledge_assembly.formats import upar
from knowledge_assembly.models.bundle import ModelBundle
from knowledge_assembly.tasks import TASKS
from knowledge_assembly.tasks.attributes import MISSING
from knowledge_assembly.training import losses
from knowledge_assembly.training.input_pipeline import gather_host_batch
from knowledge_assembly.training.objective import Batch

from .conftest import training_config, two_sources, variant_config

NAMES = list(upar.UPAR_ATTRIBUTES)
JOIN = {"ingestion": {"upar": {"unlabelled": "train"}}}


def _unlabel(project, count_train: int = 3) -> list[str]:
    """Drop the UPAR rows of the first ``count_train`` PA-100K train images and of one test image; their paths."""
    index = pd.read_parquet(project.primary() / "par_train.parquet")["path"].tolist()[:count_train]
    test = pd.read_parquet(project.primary() / "par_test.parquet")["path"].tolist()[:1]
    csv = project.raw("upar") / "UPAR-Challenge-2027_task1_train_gt.csv"
    dropped = {f"PA100k/{path}".encode() for path in index + test}
    lines = csv.read_bytes().split(b"\r\n")
    csv.write_bytes(b"\r\n".join(line for line in lines if line.split(b",")[0] not in dropped))
    return index + test


def test_unlabelled_train_images_join_par_train_without_labels_only_when_asked(raw_project, caplog):
    raw_project.run(["ingestion"])
    labelled_before = pd.read_parquet(raw_project.primary() / "par_train.parquet")
    *train_paths, test_path = _unlabel(raw_project)
    raw_project.run(["ingestion"])
    left_out = pd.read_parquet(raw_project.primary() / "par_train.parquet")
    assert len(left_out) == len(labelled_before) - 3 and not left_out["path"].isin(train_paths).any()
    with caplog.at_level(logging.WARNING):
        raw_project.run(["ingestion"], **JOIN)
    joined = pd.read_parquet(raw_project.primary() / "par_train.parquet")
    assert joined["path"].tolist() == labelled_before["path"].tolist()  # annotation.mat's order, every image
    missing = joined["path"].isin(train_paths)
    assert (joined.loc[missing, NAMES] == MISSING).all().all() and joined[NAMES].dtypes.eq(np.uint8).all()
    pd.testing.assert_frame_equal(joined[~missing].reset_index(drop=True), left_out)
    test = pd.read_parquet(raw_project.primary() / "par_test.parquet")
    assert test_path not in set(test["path"])  # only the train split's join training; test images never do
    assert "the train split's join par_train without labels" in caplog.text and "par_test 1" in caplog.text


def test_a_run_that_trains_on_them_keeps_them_out_of_the_supervised_loss(raw_project):
    raw_project.run(["ingestion"])
    _unlabel(raw_project)
    raw_project.run(["ka"], **JOIN, training={"epochs": 1})
    bundle = ModelBundle.load(raw_project.model("ka"))
    assert bundle.domains == ("market1501", "pa100k") and "par" in bundle.trained_tasks
    metrics = json.loads(raw_project.report("ka", "metrics.json").read_text())
    assert np.isfinite(metrics["par/pa100k"]["mA"]) and np.isfinite(metrics["reid/market1501"]["mAP"])


def test_a_batch_supervises_only_the_rows_that_carry_a_label():
    par_labels = np.arange(6 * 40).reshape(6, 40) % 2
    par_labels[[1, 4]] = MISSING  # two images of the attribute source without a label
    data = two_sources(
        np.zeros((4, 8, 4, 3), np.uint8), np.arange(4), np.zeros((6, 8, 4, 3), np.uint8), par_labels.astype(np.uint8)
    )
    host = gather_host_batch(data, (np.arange(4), np.arange(6)), False)
    assert host.label_rows["par"].tolist() == [4, 6, 7, 9] and "reid" not in host.label_rows
    assert torch.equal(host.labels["par"], torch.from_numpy(par_labels[[0, 2, 3, 5]].astype(np.float32)))
    batch = Batch.of(host.blocks, host.labels, {"reid": (0,), "par": (1,)}, None, host.label_rows)
    logits = torch.randn(10, 40)
    variant = variant_config(networks=1, supervised=("reid", "par"))
    terms = TASKS["par"].supervised({"attribute_logits": logits}, batch, variant, training_config())
    expected = losses.attribute_bce(logits[[4, 6, 7, 9]], host.labels["par"])
    assert torch.equal(terms["attr"], expected)
    shards = [gather_host_batch(data, (np.arange(4), np.arange(6)), False, rank, 2) for rank in (0, 1)]
    assert [s.label_rows["par"].tolist() for s in shards] == [[2, 4], [2, 4]]  # of each rank's 5 rows


def test_an_unknown_choice_is_named_with_the_closest(raw_project):
    with pytest.raises(ConfigError, match=r"ingestion.upar.unlabelled='trian'.*did you mean 'train'"):
        raw_project.run(["ingestion"], ingestion={"upar": {"unlabelled": "trian"}})
