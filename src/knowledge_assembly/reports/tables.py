"""The paper's Table 1 (baselines vs KA) and Table 2 (ablations): mean ± std over seeds, from ``metrics.json`` dicts.
Which variant appears in which table, under which label, is its ``rows`` parameter; the columns are the evaluation
entries' ``table`` measures."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..evaluation.evaluate import entries_of, measure_label

STD = " std"
ROW_FIELDS = ("Method", "variant", "seeds")


def table_columns(runs: list[dict]) -> dict[str, tuple[str, str, str]]:
    """column (``<entry> <measure label>``): (entry, measure, task) of every entry's ``table`` measures, in the order
    the runs' entries list them."""
    return {
        f"{key} {measure_label(f'{key}/{measure}')}": (key, measure, entry["task"])
        for metrics in runs
        for key, entry in entries_of(metrics).items()
        for measure in entry["table"]
    }


def _value(metrics: dict, key: str, measure: str, task: str) -> float:
    if task not in metrics["trained_tasks"] or not metrics.get(key):
        return math.nan
    return 100 * metrics[key][measure]


def metrics_table(runs: dict[str, list[dict]], rows: list[tuple[str, str]]) -> pd.DataFrame:
    """One row per variant: every entry's table measure in percent as mean and std over that variant's seeds
    (twin variants: each seed already averages both networks); NaN where the variant does not learn the task."""
    columns = table_columns([metrics for key, _ in rows for metrics in runs[key]])
    return pd.DataFrame(
        [
            mean_std_record(
                label, key, {column: [_value(m, *spec) for m in runs[key]] for column, spec in columns.items()}
            )
            for key, label in rows
        ]
    )


def measure_columns(table: pd.DataFrame) -> list[str]:
    """The measures of a :func:`metrics_table` (without their ``std`` columns)."""
    return [c for c in table.columns if c not in ROW_FIELDS and not c.endswith(STD)]


def to_markdown(table: pd.DataFrame, title: str, columns: list[str] | None = None) -> str:
    """A Markdown table of "mean ± std" cells ("–" for tasks a method does not learn); ``columns``: the measures
    shown (each with its ``<column> std``), by default every one of the table."""

    def cell(row: pd.Series, column: str) -> str:
        if pd.isna(row[column]):
            return "–"
        std = row[column + STD]
        return f"{row[column]:.2f}" if pd.isna(std) else f"{row[column]:.2f} ± {std:.2f}"

    shown = pd.DataFrame(
        {
            "Method": table["Method"],
            "seeds": table["seeds"],
            **{c: [cell(row, c) for _, row in table.iterrows()] for c in columns or measure_columns(table)},
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
