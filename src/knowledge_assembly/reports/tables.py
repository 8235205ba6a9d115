"""The paper's Table 1 (baselines vs KA) and Table 2 (ablations): mean ± std over seeds, from ``metrics.json`` dicts.
Which variant appears in which table, under which label, is its ``rows`` parameter."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..evaluation.evaluate import TASK_OF_SECTION
from ..formats.manifests import MAIN_ATTRIBUTE_TEST, REID_TEST_DATASET

REID, PAR = REID_TEST_DATASET, MAIN_ATTRIBUTE_TEST.dataset
COLUMNS = [  # section of the metrics, key, column
    ("reid", "mAP", f"{REID} mAP"),
    ("reid", "rank1", f"{REID} R-1"),
    ("reid", "rank5", f"{REID} R-5"),
    ("reid", "rank10", f"{REID} R-10"),
    ("par", "mA", f"{PAR} mA"),
    ("par", "accuracy", f"{PAR} Acc"),
    ("par", "precision", f"{PAR} Prec"),
    ("par", "recall", f"{PAR} Rec"),
    ("par", "f1", f"{PAR} F1"),
    ("par", "mA_colour", f"{PAR} mA colour"),
    ("par", "mA_other", f"{PAR} mA other"),
    ("reid_domain_par", "mA", f"{REID} PAR mA"),
    ("reid_domain_par", "f1", f"{REID} PAR F1"),
    ("retrieval", "mAP", f"{PAR} attribute retrieval mAP"),
    ("retrieval", "rank1", f"{PAR} attribute retrieval R-1"),
]
STD = " std"


def _value(metrics: dict, section: str, name: str) -> float:
    if TASK_OF_SECTION[section] not in metrics["trained_tasks"] or not metrics.get(section):
        return math.nan
    return 100 * metrics[section][name]


def metrics_table(runs: dict[str, list[dict]], rows: list[tuple[str, str]]) -> pd.DataFrame:
    """One row per variant: every metric in percent as mean and std over that variant's seeds
    (twin variants: each seed already averages both networks); NaN where the variant does not learn the task."""
    return pd.DataFrame(
        [
            mean_std_record(
                label, key, {column: [_value(m, section, name) for m in runs[key]] for section, name, column in COLUMNS}
            )
            for key, label in rows
        ]
    )


def to_markdown(table: pd.DataFrame, title: str, columns: list[str] | None = None) -> str:
    """A Markdown table of "mean ± std" cells ("–" for tasks a method does not learn); ``columns``: the measures
    shown (each with its ``<column> std``), by default the paper tables'."""

    def cell(row: pd.Series, column: str) -> str:
        if pd.isna(row[column]):
            return "–"
        std = row[column + STD]
        return f"{row[column]:.2f}" if pd.isna(std) else f"{row[column]:.2f} ± {std:.2f}"

    shown = pd.DataFrame(
        {
            "Method": table["Method"],
            "seeds": table["seeds"],
            **{c: [cell(row, c) for _, row in table.iterrows()] for c in columns or [c for *_, c in COLUMNS]},
        }
    )
    return (
        f"### {title}\n\n"
        # cells are already formatted: without disable_numparse a single seed's "86.20" would print as 86.2
        + shown.to_markdown(
            index=False, colalign=["left"] + ["right"] * (len(shown.columns) - 1), disable_numparse=True
        )
        + "\n"
    )


def mean_std_record(label: str, key: str, values: dict[str, list[float]]) -> dict[str, object]:
    """One table row: ``values`` (column: one number per seed, in percent) as mean and std over the seeds."""
    record: dict[str, object] = {"Method": label, "variant": key, "seeds": max(map(len, values.values()), default=0)}
    for column, numbers in values.items():
        array = np.asarray(numbers, dtype=float)
        record[column] = round(float(array.mean()), 2) if len(array) else math.nan
        record[column + STD] = round(float(array.std(ddof=1)), 2) if len(array) > 1 else math.nan
    return record
