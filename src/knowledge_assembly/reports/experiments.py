"""``make compare``: every DVC experiment and variant on one line of at most 120 columns: the experiment, the
variant, its training seed, the parameters the experiment changed from its baseline, and the headline metrics in %.
``dvc exp show`` has a column for each of ~190 metrics, parameters and dependencies; this reads the same rows."""

from __future__ import annotations

import re
import sys
from typing import Any

import pandas as pd

from ..evaluation.evaluate import is_headline
from .runs import metric_columns

SHORT_NAMES = {
    "reid_mAP": "mAP",
    "reid_rank1": "R-1",
    "par_mA": "mA",
    "par_f1": "F1",
    "reid_domain_par_mA": "cam mA",
    "retrieval_mAP": "attr mAP",
}


def short_name(column: str) -> str:
    """A metric's column title: :data:`SHORT_NAMES`, else ``<source> mAP`` / ``<source> mA`` for a source's."""
    if column in SHORT_NAMES or not is_headline(column):
        return SHORT_NAMES.get(column, column)
    source, _, key = column.rsplit("_", 2)
    return f"{source} {key}"


METRIC_COLUMN = re.compile(r"/(?P<variant>[^/]+)/eval/metrics\.json:(?P<metric>\w+)$")
ROW_FIELDS = {"Experiment", "rev", "typ", "Created", "parent", "State", "Executor"}
WIDTH = 120


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
            if match and is_headline(match["metric"]) and isinstance(value, int | float):
                metrics.setdefault(match["variant"], {})[match["metric"]] = 100 * value
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
    """The table as aligned text of at most ``width`` columns: metrics with one decimal, the changed parameters cut
    with "…" where a line would be longer."""
    shown = table.astype(object).copy()
    for name in (column for column in table.columns if is_headline(column)):
        shown[name] = [f"{value:.1f}" if pd.notna(value) else "–" for value in table[name]]
    shown["seed"] = [str(int(seed)) if pd.notna(seed) else "–" for seed in table["seed"]]
    # a metric's title takes two lines ("night" over "mAP") so that its column is as wide as its values
    wrap = [max(map(len, short_name(c).split())) if is_headline(c) else None for c in table.columns]
    shown = shown.rename(columns=short_name)
    options = {"index": False, "tablefmt": "plain", "disable_numparse": True}
    shown["changed"] = ""
    start = shown.to_markdown(maxheadercolwidths=wrap, **options).splitlines()[0].rindex("changed")
    room = max(8, width - start)  # the changed column's width, from where it starts
    shown["changed"] = [text if len(text) <= room else text[: room - 1] + "…" for text in table["changed"]]
    text = shown.to_markdown(maxheadercolwidths=wrap, **options)
    return "\n".join(line.rstrip() for line in text.splitlines())


def main() -> int:
    import dvc.api

    table = experiments_table(dvc.api.exp_show())
    if table.empty:
        print("no experiment has metrics yet: run `dvc repro` (or `dvc exp run`) first", file=sys.stderr)
        return 1
    print(
        "metrics in %; cam mA: attributes on the reID cameras; <source> mAP, mA: on a source's held-out images;\n"
        "changed: parameters that differ from the baseline"
    )
    print(experiments_text(table))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
