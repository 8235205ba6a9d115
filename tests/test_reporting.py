"""The paper pipeline: every variant trained and evaluated, Tables 1 and 2, figures."""
from __future__ import annotations

import numpy as np
import pandas as pd
from PIL import Image

from knowledge_assembly.pipeline_registry import VARIANTS
from knowledge_assembly.reports.tables import COLUMNS, TABLE1_ROWS, TABLE2_ROWS


def test_paper_pipeline_writes_tables_and_figures(raw_project):
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
