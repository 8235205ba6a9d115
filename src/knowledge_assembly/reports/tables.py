"""The paper's Table 1 (baselines vs KA) and Table 2 (ablations) from ``metrics.json`` dicts."""
from __future__ import annotations

import math

import pandas as pd

TABLE1_ROWS = [("reid_only", "reID only"), ("par_only", "PAR only"), ("reid_ssl", "reID ssl"),
               ("par_ssl", "PAR ssl"), ("mtl", "MTL baseline"), ("ka", "KA (ours)")]
TABLE2_ROWS = [("mtl", "MTL baseline"), ("ka_imgaug", "KA w/ ImgAug"), ("ka_netaug", "KA w/ NetAug"),
               ("ka", "KA w/ NetAug+Tri")]
COLUMNS = [("reid", "mAP", "Market-1501 mAP"), ("reid", "rank1", "Market-1501 R-1"), ("reid", "rank5", "Market-1501 R-5"),
           ("reid", "rank10", "Market-1501 R-10"), ("par", "mA", "PA-100K mA"), ("par", "accuracy", "PA-100K Acc"),
           ("par", "precision", "PA-100K Prec"), ("par", "recall", "PA-100K Rec"), ("par", "f1", "PA-100K F1")]


def metrics_table(metrics: dict[str, dict], rows: list[tuple[str, str]]) -> pd.DataFrame:
    """One row per variant, metrics in percent; NaN where the variant does not learn that task."""
    records = []
    for key, label in rows:
        result = metrics[key]
        trained = set(result["trained_tasks"])
        record = {"Method": label, "variant": key}
        for task, name, column in COLUMNS:
            record[column] = round(100 * result[task][name], 2) if task in trained else math.nan
        records.append(record)
    return pd.DataFrame(records)


def to_markdown(table: pd.DataFrame, title: str) -> str:
    """A GitHub-flavoured Markdown table ("–" for tasks a method does not learn)."""
    columns = [c for c in table.columns if c != "variant"]
    lines = [f"### {title}", "", "| " + " | ".join(columns) + " |", "|" + "|".join(["---"] + ["---:"] * (len(columns) - 1)) + "|"]
    for _, row in table.iterrows():
        cells = [str(row[c]) if c == "Method" else ("–" if pd.isna(row[c]) else f"{row[c]:.2f}") for c in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
