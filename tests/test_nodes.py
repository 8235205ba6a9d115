"""Pipelines run against an in-memory DataCatalog (no files, no session): evaluation of a bundle, the tables."""

from __future__ import annotations

import importlib
import json
import logging
import warnings

import numpy as np
import pandas as pd
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Node
from kedro.runner import SequentialRunner

from knowledge_assembly.config import EvaluationConfig, VariantConfig
from knowledge_assembly.evaluation.evaluate import headline_metrics, summary_line
from knowledge_assembly.models import build_model
from knowledge_assembly.models.bundle import ModelBundle
from knowledge_assembly.pipeline_registry import register_pipelines
from knowledge_assembly.pipelines import evaluation, paper
from knowledge_assembly.sources import training_manifests

from .conftest import BASE_TRAINING, TINY_MODEL, model_config

NAMES = [f"attribute_{i}" for i in range(40)]
ENTRIES = {  # as conf/base's first five
    "reid/market1501": {"task": "reid", "source": "market1501", "split": "query", "protocol": "cross_camera",
                        "table": ["mAP", "rank1"]},
    "par/pa100k": {"task": "par", "source": "pa100k", "split": "attributes", "protocol": "attributes",
                   "table": ["mA", "f1"]},
    "par/market1501": {"task": "par", "source": "market1501", "split": "attributes", "protocol": "attributes",
                       "headline": ["mA"], "table": ["mA"]},
    "par/peta": {"task": "par", "source": "peta", "split": "attributes", "protocol": "attributes", "headline": ["mA"]},
    "retrieval/pa100k": {"task": "par", "source": "pa100k", "split": "attributes", "protocol": "attribute_retrieval"},
}  # fmt: skip
EVALUATION = EvaluationConfig(
    distance="cosine", max_rank=5, threshold=0.5, batch_size=16, retrieval_queries=2, retrieval_top_k=3,
    entries=ENTRIES,
)  # fmt: skip
SOURCES = {
    "market1501": {
        "train": "reid_train",
        "evaluation": {"query": "reid_query", "gallery": "reid_gallery", "attributes": "reid_attributes"},
    },
    "pa100k": {"train": "par_train", "val": "par_val", "evaluation": {"attributes": "par_test"}},
    "peta": {"train": "peta_train", "val": "peta_val", "evaluation": {"attributes": "peta_test"}},
}
EVALUATED = {name: entry["evaluation"] for name, entry in SOURCES.items()}


def _manifest(pids: list[int], cams: list[int]) -> pd.DataFrame:
    return pd.DataFrame({"path": [f"q/{i}.jpg" for i in range(len(pids))], "pid": pids, "camid": cams})


def _labels(rows: int, rng: np.random.Generator) -> pd.DataFrame:
    frame = pd.DataFrame(rng.integers(0, 2, (rows, 40)), columns=NAMES)
    return frame.assign(path=[f"p/{i}.jpg" for i in range(rows)])


def _run(pipeline, data: dict) -> DataCatalog:
    catalog = DataCatalog({name: MemoryDataset(value) for name, value in data.items()})
    SequentialRunner().run(pipeline, catalog)
    return catalog


def test_evaluation_pipeline_summarises_every_network_of_a_bundle(tmp_path):
    rng = np.random.default_rng(0)
    model = model_config(**TINY_MODEL)
    states = tuple(build_model(model, {"reid": 5, "par": 40}, seed).state_dict() for seed in (0, 1))
    bundle = ModelBundle("twin", model, tuple(NAMES), 5, (16, 32), 3, ("reid", "par"), states)
    query, gallery = _manifest([1, 2, 3], [0, 1, 0]), _manifest([1, 1, 2, 3, 3, 0], [1, 0, 0, 1, 0, 1])

    def images(n: int) -> np.ndarray:
        return rng.integers(0, 255, (n, 32, 16, 3), dtype=np.uint8)

    catalog = _run(
        evaluation.create_pipeline("twin", EVALUATED, training_manifests(SOURCES)),
        {
            "twin.model": bundle,
            "reid_query": query,
            "reid_gallery": gallery,
            "reid_query_images": images(3),
            "reid_gallery_images": images(6),
            "par_test": _labels(7, rng),
            "par_test_images": images(7),
            "reid_attributes": _labels(4, rng).assign(path=["q/0.jpg", "q/2.jpg", "x/1.jpg", "x/2.jpg"]),
            "reid_attributes_images": images(4),
            "peta_test": _labels(5, rng),
            "peta_test_images": images(5),
            "retrieval_gallery": pd.DataFrame(),  # no UPAR retrieval pair: built from the PAR test split
            "par_val_images": images(2),  # predicted only for a UPAR retrieval gallery that holds val images
            "peta_val_images": images(2),
            "par_attributes": NAMES,
            "params:evaluation": EVALUATION,
            "params:sources": SOURCES,
            "tracking": tmp_path,
        },
    )
    metrics, table = catalog.load("twin.metrics"), catalog.load("twin.attribute_table")
    assert list(metrics["entries"]) == list(ENTRIES)  # every entry's source has its images: a section each
    # DVC's headline numbers, nested by entry (columns reid.market1501.mAP ...), no per-attribute lists
    tracked = json.loads((tmp_path / "twin" / "eval" / "metrics.json").read_text())
    assert tracked == {
        "reid": {"market1501": {k: metrics["reid/market1501"][k] for k in ("mAP", "rank1")}},
        "par": {
            "pa100k": {"mA": metrics["par/pa100k"]["mA"], "f1": metrics["par/pa100k"]["f1"]},
            "market1501": {"mA": metrics["par/market1501"]["mA"]},
            "peta": {"mA": metrics["par/peta"]["mA"]},
        },
        "retrieval": {"pa100k": {"mAP": metrics["retrieval/pa100k"]["mAP"]}},
    }  # fmt: skip
    # attribute retrieval over the PAR test split: one query per distinct attribute vector
    par_test = catalog.load("par_test")
    assert metrics["retrieval/pa100k"]["queries"] == len(par_test[NAMES].drop_duplicates())
    assert 0 < metrics["retrieval/pa100k"]["mAP"] <= 1
    examples = catalog.load("twin.attribute_retrieval")
    assert examples["top"].shape == (2, 3) and examples["vectors"].shape == (2, 40)
    assert examples["entry"] == "par/pa100k"  # the attribute entry the tables show first
    truth = par_test[NAMES].to_numpy()[examples["top"]]
    np.testing.assert_array_equal(examples["correct"], (truth == examples["vectors"][:, None, :]).all(axis=2))
    np.testing.assert_array_equal(examples["top_images"], catalog.load("par_test_images")[examples["top"]])
    assert table["par/peta mA"].mean() == pytest.approx(metrics["par/peta"]["mA"])
    assert metrics["variant"] == "twin" and metrics["seed"] == 3 and metrics["networks"] == 2
    per_network = [n["reid/market1501"]["mAP"] for n in metrics["per_network"]]
    assert metrics["reid/market1501"]["mAP"] == np.mean(per_network) and len(metrics["reid/market1501"]["cmc"]) == 5
    assert list(table["attribute"]) == NAMES and table["par/pa100k mA"].mean() == metrics["par/pa100k"]["mA"]
    assert table["par/market1501 mA"].notna().all()
    retrieval = catalog.load("twin.retrieval")
    # the queries are the attribute-labelled ones (q/0 and q/2), each beside its labels
    labels = catalog.load("reid_attributes")[NAMES].to_numpy()
    assert retrieval["query"].tolist() == [0, 2] and [t.tolist() for t in retrieval["truth"]] == labels[:2].tolist()
    assert retrieval["top"].shape == (2, 3) and retrieval["top_images"].shape == (2, 3, 32, 16, 3)
    assert retrieval["probabilities"].shape == (2, 40) and retrieval["correct"].dtype == bool


def _evaluate_solo(tmp_path, rng: np.random.Generator, images: np.ndarray, **tables) -> DataCatalog:
    """A one-network bundle through the evaluation pipeline on six tiny images: reID query and gallery, PAR test
    split, no PETA and no labelled reID images unless ``tables`` (catalog name: value) say otherwise."""
    model = model_config(**TINY_MODEL)
    bundle = ModelBundle("solo", model, tuple(NAMES), 5, (16, 32), 0, ("reid", "par"),
                         (build_model(model, {"reid": 5, "par": 40}, 0).state_dict(),))  # fmt: skip
    empty = _labels(0, rng)
    inputs = {
        "solo.model": bundle,
        "reid_query": _manifest([1, 2], [0, 1]),
        "reid_gallery": _manifest([1, 2, 1, 2], [1, 0, 0, 1]),
        "reid_query_images": images[:2],
        "reid_gallery_images": images[:4],
        "par_test": _labels(6, rng),
        "par_test_images": images,
        "reid_attributes": empty,
        "reid_attributes_images": images[:0],
        "peta_test": empty,
        "peta_test_images": images[:0],
        "retrieval_gallery": pd.DataFrame(),
        "par_val_images": images,
        "peta_val_images": images,
        "par_attributes": NAMES,
        "params:evaluation": EVALUATION,
        "params:sources": SOURCES,
        "tracking": tmp_path,
    }
    pipeline = evaluation.create_pipeline("solo", EVALUATED, training_manifests(SOURCES))
    return _run(pipeline, {**inputs, **tables})


def test_an_entry_whose_source_has_no_such_images_is_left_out(tmp_path):
    """An entry is evaluated only where its source has the images it reads: without PETA, no par/peta section."""
    rng = np.random.default_rng(1)
    catalog = _evaluate_solo(tmp_path, rng, rng.integers(0, 255, (6, 32, 16, 3), dtype=np.uint8))
    metrics = catalog.load("solo.metrics")
    assert list(metrics["entries"]) == ["reid/market1501", "par/pa100k", "retrieval/pa100k"]
    assert "par/peta" not in metrics and "par/market1501" not in metrics
    assert catalog.load("solo.retrieval")["truth"] == [None, None]  # no attribute labels of the query images


def test_a_retrieval_gallery_is_scored_on_images_no_entry_reads(tmp_path):
    """A UPAR retrieval pair's gallery may hold images of a split no entry reads (here the reID cameras' labelled
    images without a par/market1501 entry): they are predicted for retrieval all the same."""
    rng = np.random.default_rng(2)
    images = rng.integers(0, 255, (6, 32, 16, 3), dtype=np.uint8)
    labels = _labels(3, rng)
    gallery = pd.DataFrame({"split": ["par_test", "par_test", "reid_attributes"], "row": [0, 1, 2], "query": [0, 1, 0]})
    gallery = pd.concat([gallery, pd.DataFrame(labels[NAMES].to_numpy()[[0, 1, 0]], columns=NAMES)], axis=1)
    entries = {key: entry for key, entry in ENTRIES.items() if key != "par/market1501"}
    config = EvaluationConfig(**{**EVALUATION.as_dict(), "entries": entries})
    catalog = _evaluate_solo(
        tmp_path, rng, images,
        par_test=labels, par_test_images=images[:3], reid_attributes=_labels(3, rng), reid_attributes_images=images[3:],
        retrieval_gallery=gallery, **{"params:evaluation": config},
    )  # fmt: skip
    metrics = catalog.load("solo.metrics")
    assert "par/market1501" not in metrics and metrics["retrieval/pa100k"]["queries"] == 2


def _entries(*keys: str) -> dict:
    return {key: {**ENTRIES[key], "headline": ENTRIES[key].get("headline") or
                  {"cross_camera": ["mAP", "rank1"], "attributes": ["mA", "f1"]}[ENTRIES[key]["protocol"]],
                  "table": ENTRIES[key].get("table", [])} for key in keys}  # fmt: skip


def test_headline_metrics_leave_out_the_tasks_a_variant_does_not_learn():
    """An untrained head's numbers (reid_only's PAR head) are neither a DVC column nor in the summary line."""
    metrics = {
        "variant": "reid_only",
        "seed": 0,
        "trained_tasks": ["reid"],
        "reid/market1501": {"mAP": 0.8, "rank1": 0.9},
        "par/pa100k": {"mA": 0.5, "f1": 0.3},
        "par/market1501": {"mA": 0.5},
        "entries": _entries("reid/market1501", "par/pa100k", "par/market1501"),
    }
    assert headline_metrics(metrics) == {"reid/market1501/mAP": 0.8, "reid/market1501/rank1": 0.9}
    assert summary_line(metrics) == "reid_only seed 0: reid/market1501 mAP 80.0, R-1 90.0"
    par_only = {**metrics, "variant": "par_only", "trained_tasks": ["par"]}
    assert headline_metrics(par_only) == {"par/pa100k/mA": 0.5, "par/pa100k/f1": 0.3, "par/market1501/mA": 0.5}
    assert summary_line(par_only) == "par_only seed 0: par/pa100k mA 50.0, F1 30.0 | par/market1501 mA 50.0"


def test_tables_take_rows_and_labels_from_the_variant_parameters():
    def seed(mAP: float, mA: float, tasks: list[str]) -> dict:
        return {
            "trained_tasks": tasks,
            "reid/market1501": {"mAP": mAP, "rank1": mAP, "cmc": [mAP, 1.0, 1.0]},
            "par/pa100k": {"mA": mA, "f1": mA},
            "par/market1501": {"mA": mA},
            "entries": _entries("reid/market1501", "par/pa100k", "par/market1501"),
        }

    variants = {
        "supervised": {"solo": {"networks": 1, "supervised": ["reid"], "rows": {"table1": "Solo"}}},
        "ssl": {
            "duo": VariantConfig(
                networks=2, supervised=["reid", "par"], ssl=["dice"], rows={"table1": "Duo", "table2": "Duo again"}
            )
        },
    }
    catalog = _run(
        paper.create_tables_pipeline(["solo", "duo"]),
        {
            "params:variants": variants,
            "solo_seed_metrics": [seed(0.5, 0.0, ["reid"]), seed(0.7, 0.0, ["reid"])],
            "duo_seed_metrics": [seed(0.6, 0.8, ["par", "reid"])],
        },
    )
    table1, table2 = catalog.load("paper_table1"), catalog.load("paper_table2")
    assert list(table1["Method"]) == ["Solo", "Duo"] and list(table2["Method"]) == ["Duo again"]
    solo = table1.set_index("variant").loc["solo"]
    # the columns: each entry's table measures, in the entries' order
    assert list(table1.columns[3::2]) == [
        "reid/market1501 mAP", "reid/market1501 R-1", "par/pa100k mA", "par/pa100k F1", "par/market1501 mA"
    ]  # fmt: skip
    assert solo["reid/market1501 mAP"] == 60.0
    assert solo["reid/market1501 mAP std"] == round(np.std([50, 70], ddof=1), 2)
    assert np.isnan(solo["par/pa100k mA"])
    markdown = catalog.load("paper_table1_markdown")
    assert "| Solo " in markdown and " 60.00 ± 14.14 |" in markdown
    assert " 60.00 |" in catalog.load("paper_table2_markdown")  # only one seed in a column: still two decimals
    # the overlaid CMC: one curve per variant, mean over its seeds, mAP and R-1 in the legend
    axis = catalog.load("paper_cmc_plot").axes[0]
    legend = [text.get_text() for text in axis.get_legend().get_texts()]
    assert legend == ["Solo (2 seeds): mAP 60.0, R-1 60.0", "Duo (1 seed): mAP 60.0, R-1 60.0"]
    assert list(axis.lines[0].get_ydata()) == pytest.approx([60.0, 100.0, 100.0])
    assert all(float(tick).is_integer() for tick in axis.get_xticks())
    assert set(BASE_TRAINING["variants"]) == {"supervised", "ssl"}


def test_no_pipeline_names_a_dotted_dataset_outside_its_namespace(monkeypatch):
    """Kedro warns (once per process) about dataset names with '.' outside their namespace; none may."""
    flag = importlib.import_module("kedro.pipeline.node")._DOTTED_DATASET_NAME_WARNED
    monkeypatch.setattr(Node, flag, False, raising=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pipelines = register_pipelines()
    assert "tables" in pipelines and "seeds_ka" in pipelines
    assert "ka_seed_metrics" in pipelines["seeds_ka"].outputs()


def test_kedro_reads_the_type_hints_of_every_node_function(caplog):
    """Kedro reads every node function's type hints when a run starts (its parameter validation) and logs a warning
    for each it cannot read (a functools.partial's: 90 warnings on every run before this test)."""
    from kedro.validation.type_extractor import TypeExtractor

    with caplog.at_level(logging.WARNING, logger="kedro.validation"):
        TypeExtractor(register_pipelines()).extract_types_from_pipelines()
    assert not [record.getMessage() for record in caplog.records]


def test_the_paper_runs_a_variant_by_its_own_pipelines_once_per_seed():
    """Each seed of paper.seeds is the variant's training and evaluation pipelines again, in the namespace
    <variant>.run<k>, reading the same shared data and parameters; its seed is the k-th of paper.seeds."""
    pipelines = register_pipelines()
    variant = {node.name: node for node in pipelines["ka"].nodes}
    seeds = {node.name: node for node in pipelines["seeds_ka"].nodes}
    runs = sorted({name.split(".")[1] for name in seeds if name.startswith("ka.run")})
    assert runs == ["run0", "run1", "run2"]  # conf/base/parameters_paper.yml lists three seeds
    for run in runs:
        for step in ("train", "network_outputs", "entry_metrics", "summarise_metrics"):
            plain, seeded = variant[f"ka.{step}"], seeds[f"ka.{run}.{step}"]
            assert seeded.func is plain.func, step
            own = [f"ka.{run}.{name[3:]}" if name.startswith("ka.") and name != "ka.variant_name" else name
                   for name in plain.inputs]  # fmt: skip
            seed = [f"ka.{run}.seed"] if step in ("train", "summarise_metrics") else []
            assert seeded.inputs == own + seed, step  # shared data and parameters are read as they are
        assert seeds[f"ka.{run}.seed"].func(seeds=[10, 11, 12]) == 10 + int(run[3:])
    assert seeds["ka.run0.train"].inputs[0] == "ka.variant_name"  # the run trains the variant itself
    assert seeds["ka.seed_metrics"].inputs == ["ka.run0.metrics", "ka.run1.metrics", "ka.run2.metrics"]
