"""``make compare``: every DVC experiment and variant on one line of at most 120 columns: the experiment, the
variant, its training seed, the parameters the experiment changed from its baseline, and the headline metrics in %.
``dvc exp show`` has a column for each of ~190 metrics, parameters and dependencies; this reads the same rows."""

from __future__ import annotations

import re
import sys
import textwrap
from typing import Any

import pandas as pd

from ..evaluation.evaluate import is_headline, measure_label
from .runs import metric_columns

WIDTH = 120


def entry_numbers(columns: list[str]) -> dict[str, int]:
    """The evaluation entries of the metric columns (``reid/market1501/mAP`` → ``reid/market1501``), numbered from
    1 in column order: the column titles name an entry by its number (see :func:`legend`)."""
    keys = dict.fromkeys(column.rpartition("/")[0] for column in columns if is_headline(column))
    return {key: number for number, key in enumerate(keys, 1)}


def short_name(column: str, numbers: dict[str, int]) -> str:
    """A metric's column title: ``reid/market1501/mAP`` → ``1 mAP`` (its entry's number over its measure), any
    other column as it is."""
    return f"{numbers[column.rpartition('/')[0]]} {measure_label(column)}" if is_headline(column) else column


def legend(numbers: dict[str, int], width: int = WIDTH) -> str:
    """``entries: 1 reid/market1501, 2 par/pa100k, ...``, wrapped at ``width`` columns."""
    return textwrap.fill("entries: " + ", ".join(f"{n} {key}" for key, n in numbers.items()), width)


METRIC_COLUMN = re.compile(r"/(?P<variant>[^/]+)/eval/metrics\.json:(?P<metric>[\w.]+)$")  # a.b.c: a/b/c
ROW_FIELDS = {"Experiment", "rev", "typ", "Created", "parent", "State", "Executor"}


def _is_parameter(column: str) -> bool:
    return column not in ROW_FIELDS and ":" not in column and "/" not in column


def _changes(row: dict[str, Any], baseline: dict[str, Any]) -> str:
    """``ssl_weight=0.5 lr=0.001``: the parameters (last name part) whose value differs from the baseline's."""
    changed = [
        f"{column.rsplit('.', 1)[-1]}={row[column]}"
        for column in row
        if _is_parameter(column) and column != "training.seed" and row[column] != baseline.get(column)
    ]
    return " ".join(changed)


def _name(row: dict[str, Any]) -> str:
    return row["Experiment"] or str(row["rev"])[:9]


def experiments_table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Rows of ``dvc.api.exp_show()`` → one row per experiment and variant that has metrics."""
    baselines = [row for row in rows if row["typ"] == "baseline" and row["rev"] != "workspace"]
    table = []
    for row in rows:
        baseline = baselines[0] if baselines and row is not baselines[0] else {}
        changed = _changes(row, baseline) if baseline else ""
        metrics: dict[str, dict[str, float]] = {}
        for column, value in row.items():
            match = METRIC_COLUMN.search(column)
            name = match["metric"].replace(".", "/") if match else ""
            if is_headline(name) and isinstance(value, int | float):
                metrics.setdefault(match["variant"], {})[name] = 100 * value
        for variant, values in metrics.items():
            table.append(
                {
                    "experiment": _name(row),
                    "variant": variant,
                    "seed": row.get("training.seed"),
                    **values,
                    "changed": changed,
                }
            )
    columns = metric_columns([{k: v for k, v in row.items() if is_headline(k)} for row in table])
    return pd.DataFrame(table, columns=["experiment", "variant", "seed", *columns, "changed"])


def experiments_text(table: pd.DataFrame, width: int = WIDTH) -> str:
    """The table as aligned text of at most ``width`` columns under the legend of its entries: metrics with one
    decimal, the changed parameters cut with "…" where a line would be longer."""
    numbers = entry_numbers(list(table.columns))
    shown = table.astype(object).copy()
    for name in (column for column in table.columns if is_headline(column)):
        shown[name] = [f"{value:.1f}" if pd.notna(value) else "–" for value in table[name]]
    shown["seed"] = [str(int(seed)) if pd.notna(seed) else "–" for seed in table["seed"]]
    # a metric's title takes two lines ("1" over "mAP") so that its column is as wide as its values
    wrap = [max(map(len, short_name(c, numbers).split())) if is_headline(c) else None for c in table.columns]
    shown = shown.rename(columns=lambda column: short_name(column, numbers))
    options = {"index": False, "tablefmt": "plain", "disable_numparse": True}
    shown["changed"] = ""
    start = shown.to_markdown(maxheadercolwidths=wrap, **options).splitlines()[0].rindex("changed")
    room = max(8, width - start)  # the changed column's width, from where it starts
    shown["changed"] = [text if len(text) <= room else text[: room - 1] + "…" for text in table["changed"]]
    text = shown.to_markdown(maxheadercolwidths=wrap, **options)
    return "\n".join([legend(numbers, width), *(line.rstrip() for line in text.splitlines())])


def main() -> int:
    import dvc.api

    table = experiments_table(dvc.api.exp_show())
    if table.empty:
        print("no experiment has metrics yet: run `dvc repro` (or `dvc exp run`) first", file=sys.stderr)
        return 1
    print(
        "metrics in %, by evaluation entry (its number over the measure; <task>/<source>: on the source's held-out"
        " images);\nchanged: parameters that differ from the baseline"
    )
    print(experiments_text(table))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
