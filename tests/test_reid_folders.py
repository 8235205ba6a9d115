"""A second reID dataset by configuration only: a source of format ``reid_folders`` (Market-1501's folders,
names <pid>_c<camera>...) is ingested by its own source pipeline, trains with identities numbered after Market-1501's
and is evaluated on its held-out identities in its own domain; some of its training identities are held out of training
for validation, as Market-1501's are."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest

from knowledge_assembly.evaluation.evaluate import summary_line
from knowledge_assembly.formats import reid_folders
from knowledge_assembly.formats.errors import RawDataError
from knowledge_assembly.models.bundle import ModelBundle


def test_names_are_read_as_torchreid_reads_market_style_folders():
    frame = reid_folders.index_names(
        ["0005_c2_f0046985.jpg", "-1_c8_f0000001.jpg", "0000_c1_f0000002.jpg"], "query", "q", 8
    )
    assert frame.values.tolist() == [["query/-1_c8_f0000001.jpg", -1, 7], ["query/0000_c1_f0000002.jpg", 0, 0],
                                     ["query/0005_c2_f0046985.jpg", 5, 1]]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("0005_f0046985.jpg", r"q/0005_f0046985\.jpg: file name does not match '<pid>_c<camera>\.\.\.jpg'"),
        ("0005_c0_f0046985.jpg", r"q/0005_c0_f0046985\.jpg: file name does not match"),
        ("0005_c9_f0046985.jpg", r"q/0005_c9_f0046985\.jpg: camera outside c1-c8 \(1 such; ingestion\.<source>\.cam"),
    ],
)
def test_a_name_outside_the_grammar_or_the_cameras_is_refused_naming_the_file(name, message):
    with pytest.raises(RawDataError, match=message):
        reid_folders.index_names([name], "query", "q", 8)


def test_a_second_reid_dataset_trains_and_is_evaluated_in_its_own_domain(raw_project):
    raw_project.run(["mtl"], training={"epochs": 1}, source_set="market_campus", sources={"campus": {"holdout_ids": 3}})
    manifests = {
        name: pd.read_parquet(raw_project.primary() / f"campus_{name}.parquet") for name in reid_folders.MANIFESTS
    }
    assert (
        manifests["train"]["label"].tolist()
        == manifests["train"]["pid"].rank(method="dense").astype(int).sub(1).tolist()
    )
    assert set(manifests["query"]["pid"]) <= set(manifests["gallery"]["pid"])  # every query has its identity
    assert not set(manifests["train"]["pid"]) & set(manifests["gallery"]["pid"])  # held-out identities
    bundle = ModelBundle.load(raw_project.model("mtl"))
    market = pd.read_parquet(raw_project.primary() / "reid_train.parquet")["pid"].nunique()
    assert bundle.sources == ("market1501", "campus", "pa100k")
    # identities held out of training: TINY_VALIDATION's 2 of Market-1501's, campus's own holdout_ids of its own
    assert bundle.num_ids == market - 2 + manifests["train"]["pid"].nunique() - 3  # numbered apart
    history = pd.read_csv(raw_project.report("mtl", "training_history.csv"))
    validated = history.dropna(subset=["val/reid/campus/mAP"])
    assert len(validated) and validated["val/reid/campus/mAP"].between(0, 1).all()
    assert validated["val/reid/market1501/mAP"].between(0, 1).all()
    metrics = json.loads(raw_project.report("mtl", "metrics.json").read_text())
    assert metrics["entries"]["reid/campus"]["source"] == "campus" and 0 < metrics["reid/campus"]["mAP"] <= 1
    assert re.search(r"\| reid/campus mAP \d+\.\d", summary_line(metrics))
