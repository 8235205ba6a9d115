"""The paper pipeline: every variant trained and evaluated, Tables 1 and 2, figures."""
from __future__ import annotations

import numpy as np
import pandas as pd
import nbformat
from nbclient import NotebookClient
from PIL import Image

from knowledge_assembly.pipeline_registry import VARIANTS
from knowledge_assembly.reports.tables import COLUMNS, TABLE1_ROWS, TABLE2_ROWS

from .conftest import REPO


def test_paper_pipeline_writes_tables_and_figures_and_the_notebook_shows_them(raw_project):
    raw_project.run(["paper"], training={"epochs": 1})
    reports = raw_project.data / "08_reporting" / "synthetic"
    table1 = pd.read_csv(reports / "paper" / "table1.csv")
    table2 = pd.read_csv(reports / "paper" / "table2.csv")
    assert list(table1["Method"]) == [label for _, label in TABLE1_ROWS]
    assert list(table2["Method"]) == [label for _, label in TABLE2_ROWS]
    assert list(table1.columns) == ["Method", "variant"] + [c for _, _, c in COLUMNS]
    reid_only = table1.set_index("variant").loc["reid_only"]
    assert np.isnan(reid_only["PA-100K mA"]) and 0 <= reid_only["Market-1501 mAP"] <= 100
    assert table1.set_index("variant").loc["ka"].notna().all()
    markdown = (reports / "paper" / "table1.md").read_text()
    assert markdown.count("\n| ") == 1 + len(TABLE1_ROWS) and "| PAR only | – |" in markdown
    for variant in VARIANTS:
        for figure in ("training_curves", "cmc", "attribute", "retrieval"):
            with Image.open(reports / variant / f"{figure}.png") as image:
                pixels = np.asarray(image.convert("L"), dtype=float)
            assert image.width > 300 and pixels.std() > 10, (variant, figure)

    # the notebook loads the catalog and shows the tables, metrics, history and figures
    notebook = nbformat.read(REPO / "notebooks" / "results.ipynb", as_version=4)
    (raw_project.root / "notebooks").mkdir()
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(raw_project.root / "notebooks")}}).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(str(o.get("data", {}).get("text/markdown", "")) + str(o.get("data", {}).get("text/html", "")) for o in outputs)
    assert "Table 1: baselines and Knowledge Assembly" in text and "KA w/ NetAug+Tri" in text
    assert "reID mAP" in text and "par_triplet" in text
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 5  # 4 figures + the loss plot
