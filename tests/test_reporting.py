"""The paper pipeline: every variant trained and evaluated, Tables 1 and 2, figures."""

from __future__ import annotations

import json
import re

import nbformat
import numpy as np
import pandas as pd
import pytest
import yaml
from nbclient import NotebookClient
from PIL import Image

from knowledge_assembly.config import EvaluationConfig, EvaluationEntry
from knowledge_assembly.evaluation.evaluate import EvaluationData, HeldOut, NetworkOutputs, retrieval_examples
from knowledge_assembly.pipeline_registry import configured_paper_runs, configured_variants
from knowledge_assembly.pipelines.reporting.nodes import plot_attribute_bars, plot_retrieval
from knowledge_assembly.reports.figures import attribute_lines
from knowledge_assembly.reports.tables import STD
from knowledge_assembly.tasks import PROTOCOLS

from .conftest import BASE_TRAINING, REPO

# the paper pipeline over five variants that stand for all (every variant trains in test_training): the baselines,
# the default and the paper-exact KA (Table 1 and Table 2 rows); the pipelines come from the project's variants
KEPT = {"supervised": ("reid_only", "par_only", "mtl"), "ssl": ("ka_paper", "ka")}
VARIANTS = [name for group in KEPT.values() for name in group]
SPECS = {name: spec for group in BASE_TRAINING["variants"].values() for name, spec in group.items() if name in VARIANTS}
TABLE1_ROWS = [spec["rows"]["table1"] for spec in SPECS.values() if "table1" in spec["rows"]]
ENTRIES = yaml.safe_load((REPO / "conf/base/parameters_evaluation.yml").read_text())["evaluation"]["entries"]
COLUMNS = [f"{key} {PROTOCOLS[e['protocol']].measures[m]}" for key, e in ENTRIES.items() for m in e.get("table", [])]
TABLE2_ROWS = [spec["rows"]["table2"] for spec in SPECS.values() if "table2" in spec["rows"]]


def _keep_variants_and_two_seeds(project) -> None:
    """The pipelines are built from conf/base: the kept variants and two paper seeds are written there."""
    path = project.root / "conf" / "base" / "parameters_training.yml"
    content = yaml.safe_load(path.read_text())
    content["variants"] = {group: {n: content["variants"][group][n] for n in names} for group, names in KEPT.items()}
    path.write_text(yaml.safe_dump(content, sort_keys=False))
    assert list(configured_variants(project.root / "conf")) == VARIANTS
    path = project.root / "conf" / "base" / "parameters_paper.yml"
    path.write_text(path.read_text().replace("seeds: [0, 1, 2]", "seeds: [0, 1]"))
    assert configured_paper_runs(project.root / "conf") == 2


def test_paper_pipeline_writes_tables_and_figures_and_the_notebook_shows_them(raw_project, capsys):
    _keep_variants_and_two_seeds(raw_project)
    # 10 trainings (5 variants at both paper seeds; training.seed 0 is seed 0's run, resumed): one step each
    raw_project.run(["paper"], training={"epochs": 1, "iterations_per_epoch": 1})
    closing = capsys.readouterr().out  # a summary line per seed's run, no path for what it keeps in memory
    assert (
        re.search(r"^ka seed 1: reid/market1501 mAP \d+\.\d", closing, re.MULTILINE) and "MemoryDataset" not in closing
    )
    table1 = pd.read_csv(raw_project.report("paper", "table1.csv"))
    table2 = pd.read_csv(raw_project.report("paper", "table2.csv"))
    # rows and labels from the parameters
    assert list(table1["Method"]) == TABLE1_ROWS and "KA (per-source BN)" in TABLE1_ROWS
    assert list(table2["Method"]) == TABLE2_ROWS and "KA w/ NetAug+Tri (paper)" in TABLE2_ROWS
    assert list(table1.columns) == ["Method", "variant", "seeds"] + [x for c in COLUMNS for x in (c, c + STD)]
    assert "reid/market1501 R-10" in COLUMNS and "par/market1501 F1" in COLUMNS  # the entries' table measures
    assert (table1["seeds"] == 2).all()
    reid_only = table1.set_index("variant").loc["reid_only"]
    assert (
        np.isnan(reid_only["par/pa100k mA"])
        and np.isnan(reid_only["par/market1501 mA"])
        and 0 <= reid_only["reid/market1501 mAP"] <= 100
    )
    assert table1.set_index("variant").loc["ka"].notna().all()
    # each row is the mean (and sample std) of that variant's seeds, each seed the mean of its networks
    seeds = json.loads(raw_project.report("seeds", "ka.json").read_text())
    assert [m["seed"] for m in seeds] == [0, 1] and all(m["networks"] == 2 for m in seeds)
    for seed in seeds:  # each seed's run logs its headline metrics with DVCLive beside its curves
        run = raw_project.data / "09_tracking" / "local" / "synthetic" / "ka" / f"seed{seed['seed']}"
        logged = json.loads((run / "eval" / "metrics.json").read_text())
        assert logged["par"]["market1501"]["mA"] == seed["par/market1501"]["mA"] and (run / "train").is_dir()
    values = [100 * m["par/market1501"]["mA"] for m in seeds]
    ka = table1.set_index("variant").loc["ka"]
    assert ka["par/market1501 mA"] == pytest.approx(np.mean(values), abs=0.01)
    assert ka["par/market1501 mA" + STD] == pytest.approx(np.std(values, ddof=1), abs=0.01)
    markdown = raw_project.report("paper", "table1.md").read_text()
    assert markdown.count("\n| ") == 1 + len(TABLE1_ROWS) and " ± " in markdown
    par_only = next(line for line in markdown.splitlines() if line.startswith("| PAR only "))
    assert [cell.strip() for cell in par_only.split("|")][3] == "–"  # no reID mAP for a PAR-only model
    for variant in VARIANTS:
        for figure in ("training_curves", "cmc", "attribute", "retrieval", "attribute_retrieval"):
            with Image.open(raw_project.report(variant, f"{figure}.png")) as image:
                pixels = np.asarray(image.convert("L"), dtype=float)
            assert image.width > 300 and pixels.std() > 10, (variant, figure)

    # the notebook loads the catalog and shows the tables, metrics, history and figures
    notebook = nbformat.read(REPO / "notebooks" / "results.ipynb", as_version=4)
    first_code = next(cell.source for cell in notebook.cells if cell.cell_type == "code")
    assert first_code.startswith("%load_ext kedro.ipython")  # Kedro's own loader, not a hand-built session
    (raw_project.root / "notebooks").mkdir()
    NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(raw_project.root / "notebooks")}},
    ).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(
        str(o.get("data", {}).get("text/markdown", "")) + str(o.get("data", {}).get("text/html", "")) for o in outputs
    )
    assert "Table 1: baselines and Knowledge Assembly" in text and "KA w/ NetAug+Tri" in text
    assert (
        "reid/market1501 mAP" in text and "par_triplet" in text and "val/par/pa100k/mA" in text
    )  # metrics, losses, val.
    assert "ka" in text and "par/market1501/mA" in text  # the table of kept runs
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 5  # 4 figures + the loss plot


def test_retrieval_attributes_are_marked_against_the_ground_truth():
    names = ["Hat", "Bag", "Female", "Old"]
    probabilities = np.array([0.9, 0.7, 0.2, 0.4])
    lines = attribute_lines(names, probabilities, np.array([1, 0, 1, 0]), 0.5)
    assert lines == ["1/2 predicted correct, 1 missed", "✓ Hat 0.90", "✗ Bag 0.70", "missed Female 0.20"]
    unknown = attribute_lines(names, probabilities, None, 0.5)
    assert unknown == ["2 predicted (no ground-truth label for this image)", "  Hat 0.90", "  Bag 0.70"]
    cut = attribute_lines(names, probabilities, np.array([1, 0, 1, 1]), 0.1, limit=3)
    assert cut == ["3/4 predicted correct, 0 missed", "✓ Hat 0.90", "... 3 more not shown"]


def test_retrieval_queries_are_the_labelled_ones_and_the_title_claims_ground_truth_only_with_labels():
    query = pd.DataFrame({"path": [f"q{i}.jpg" for i in range(6)], "pid": [1, 2, 3, 1, 2, 3]})
    gallery = pd.DataFrame({"path": ["g0.jpg", "g1.jpg", "g2.jpg"], "pid": [1, 2, 3]})
    features = np.eye(3, dtype=np.float32)
    outputs = NetworkOutputs(
        {
            "cams": {
                "query": {"reid_feature": features[query["pid"] - 1], "attribute_probability": np.full((6, 2), 0.8)},
                "gallery": {"reid_feature": features},
            }
        }
    )
    entries = {
        "reid/cams": EvaluationEntry(task="reid", source="cams", split="query", protocol="cross_camera"),
        "par/cams": EvaluationEntry(task="par", source="cams", split="attributes", protocol="attributes"),
    }
    config = EvaluationConfig(
        distance="cosine", max_rank=3, threshold=0.5, batch_size=4, retrieval_queries=2, retrieval_top_k=1,
        entries={key: entry.as_dict() for key, entry in entries.items()},
    )  # fmt: skip
    labels = pd.DataFrame({"path": ["q3.jpg", "q5.jpg"], "Hat": [1, 0], "Bag": [0, 0]})
    query_images = np.arange(6, dtype=np.uint8)[:, None, None, None] * np.ones((6, 8, 4, 3), np.uint8)
    images = {"query": query_images, "gallery": np.zeros((3, 8, 4, 3), np.uint8)}

    def examples_of(attributes: pd.DataFrame) -> dict:
        held_out = HeldOut({}, {"query": query, "gallery": gallery, "attributes": attributes}, images)
        return retrieval_examples(outputs, EvaluationData({"cams": held_out}, ["Hat", "Bag"], config), entries)

    examples = examples_of(labels)
    assert examples["query"].tolist() == [3, 5] and examples["correct"].all() and examples["entry"] == "reid/cams"
    assert [t.tolist() for t in examples["truth"]] == [[1, 0], [0, 0]]
    assert examples["query_images"][:, 0, 0, 0].tolist() == [3, 5] and examples["top_images"].shape == (2, 1, 8, 4, 3)
    unlabelled = examples_of(labels.iloc[:0])
    assert unlabelled["query"].tolist() == [0, 5] and unlabelled["truth"] == [None, None]
    for truth, claim in ((examples, "vs UPAR ground truth"), (unlabelled, "no ground-truth labels")):
        figure = plot_retrieval(truth, "ka")
        assert claim in figure._suptitle.get_text() and "ka reid/cams" in figure._suptitle.get_text()


def test_the_attribute_figure_shows_the_entries_the_tables_show_else_every_attribute_entry():
    table = pd.DataFrame({"attribute": ["Hat", "Bag"], "par/a mA": [0.9, 0.7], "par/b mA": [0.6, 0.5]})

    def metrics(table_of_a: list[str]) -> dict:
        entries = {
            key: {"protocol": "attributes", "table": table_of_a if key == "par/a" else []} for key in ("par/a", "par/b")
        }
        return {"variant": "ka", "entries": entries}

    def legend(figure) -> list[str]:
        return [text.get_text() for text in figure.axes[0].get_legend().get_texts()]

    assert legend(plot_attribute_bars(table, metrics(["mA"]))) == ["chance (50)", "par/a: mA 80.0"]
    assert legend(plot_attribute_bars(table, metrics([]))) == ["chance (50)", "par/a: mA 80.0", "par/b: mA 55.0"]
