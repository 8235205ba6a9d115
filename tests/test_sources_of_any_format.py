"""Every raw format can serve any number of sources, by configuration only: each source is read by its format's
reader in a pipeline of its own, its manifests written under the names its entry gives. Here a second source of
Market-1501's format, one of PA-100K's and one of PETA's (the same synthetic roots, the same UPAR labels under the
same prefixes) are ingested, the first two trained on as two more domains and evaluated, with no code written for
them."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from knowledge_assembly.config import ConfigError
from knowledge_assembly.models.bundle import ModelBundle

SOURCES = {
    "market_b": {"format": "market1501", "tasks": ["reid"], "evaluation_only": ["par"], "sampler": "pk",
                 "holdout_ids": None, "train": "market_b_train",
                 "evaluation": {"query": "market_b_query", "gallery": "market_b_gallery",
                                "attributes": "market_b_attributes"}},
    "pa100k_b": {"format": "pa100k", "tasks": ["par"], "sampler": "uniform", "batch_size": 8, "train": "pa100k_b_train",
                 "val": "pa100k_b_val", "evaluation": {"attributes": "pa100k_b_test"}},
    "peta_b": {"format": "upar_peta", "tasks": ["par"], "sampler": "uniform", "batch_size": 8, "train": "peta_b_train",
               "val": "peta_b_val", "evaluation": {"attributes": "peta_b_test"}},  # ingested, not in the set
}  # fmt: skip
SAME_AS = {  # each manifest of the new sources, and the configured source's manifest it must equal
    "market_b_train": "reid_train", "market_b_query": "reid_query", "market_b_gallery": "reid_gallery",
    "market_b_attributes": "reid_attributes", "pa100k_b_train": "par_train", "pa100k_b_val": "par_val",
    "pa100k_b_test": "par_test", "peta_b_train": "peta_train", "peta_b_val": "peta_val", "peta_b_test": "peta_test",
}  # fmt: skip


def _edit(path: Path, change) -> None:
    content = yaml.safe_load(path.read_text())
    change(content)
    path.write_text(yaml.safe_dump(content, sort_keys=False))


def _configure(conf: Path) -> None:
    """The new sources' entries, as a user adds them: sources and a set, raw roots and manifests in the catalog,
    their ingestion settings, their evaluation entries."""

    def sources(content):
        content["sources"] |= SOURCES
        content["source_sets"]["doubled"] = ["market1501", "market_b", "pa100k", "pa100k_b"]

    def ingestion(content):
        settings = content["ingestion"]
        settings |= {"market_b": {"cameras": 6}, "pa100k_b": settings["pa100k"], "peta_b": settings["peta"]}
        settings["upar"] |= {"market_b_prefix": "Market1501/", "pa100k_b_prefix": "PA100k/", "peta_b_prefix": "PETA/"}

    def evaluation(content):
        content["evaluation"]["entries"] |= {
            "reid/market_b": {"task": "reid", "source": "market_b", "split": "query", "protocol": "cross_camera",
                              "headline": ["mAP"]},
            "par/pa100k_b": {"task": "par", "source": "pa100k_b", "split": "attributes", "protocol": "attributes",
                             "headline": ["mA"]},
        }  # fmt: skip

    _edit(conf / "parameters_sources.yml", sources)
    _edit(conf / "parameters_ingestion.yml", ingestion)
    _edit(conf / "parameters_evaluation.yml", evaluation)
    roots = {
        f"{source}_raw": {"type": "knowledge_assembly.datasets.RawTreeDataset", "path": f"${{globals:raw.{same}}}"}
        for source, same in (("market_b", "market1501"), ("pa100k_b", "pa100k"), ("peta_b", "peta"))
    }
    manifests = {
        name: {"type": "pandas.ParquetDataset", "filepath": f"data/03_primary/${{globals:dataset}}/{name}.parquet"}
        for name in SAME_AS
    }
    (conf / "catalog_more_sources.yml").write_text(yaml.safe_dump(roots | manifests))


def test_second_sources_of_the_market1501_and_pa100k_formats_are_configuration_only(raw_project):
    _configure(raw_project.root / "conf" / "base")
    raw_project.run(["mtl"], training={"epochs": 1}, source_set="doubled")
    read = {name: pd.read_parquet(raw_project.primary() / f"{name}.parquet") for name in [*SAME_AS, *SAME_AS.values()]}
    for name, same in SAME_AS.items():
        assert len(read[name]) > 0
        pd.testing.assert_frame_equal(read[name], read[same])
    bundle = ModelBundle.load(raw_project.model("mtl"))
    assert bundle.sources == ("market1501", "market_b", "pa100k", "pa100k_b")
    identities = read["reid_train"]["pid"].nunique() - 2  # TINY_VALIDATION holds 2 out of each identity source
    assert bundle.num_ids == 2 * identities  # the two sources' identities numbered apart
    metrics = json.loads(raw_project.report("mtl", "metrics.json").read_text())
    assert 0 <= metrics["reid/market_b"]["mAP"] <= 1 and 0 <= metrics["par/pa100k_b"]["mA"] <= 1


def test_a_source_whose_entries_are_not_all_configured_is_named_before_any_node_runs(raw_project):
    def source_only(content):
        content["sources"]["market_b"] = SOURCES["market_b"]

    _edit(raw_project.root / "conf" / "base" / "parameters_sources.yml", source_only)
    with pytest.raises(ConfigError, match=r"^not configured, but the pipeline uses them: market_b_attributes") as error:
        raw_project.run(["ingestion"])
    named = ("market_b_raw (catalog.yml)", "market_b_train (catalog.yml)", "parameter ingestion.market_b (and 1 more)")
    assert all(name in str(error.value) for name in named) and "\n" not in str(error.value)
    assert not raw_project.primary().exists()  # nothing ran
