"""Every kept run of the variants side by side: one row per run (a Kedro version) with its headline metrics and
the settings in which the runs differ."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from ..evaluation.evaluate import headline_metrics, is_headline

# not compared: the seed has its own column; these do not change results
NOT_COMPARED = {"training.seed", "training.resume", "training.progress", "training.prefetch_batches", "training.device"}


def flat_settings(settings: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """``{"training": {"lr": 0.002}}`` → ``{"training.lr": "0.002"}`` (values as JSON text, so lists compare too)."""
    flat = {}
    for key, value in settings.items():
        if isinstance(value, dict) and value:
            flat.update(flat_settings(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = json.dumps(value)
    return flat


def runs_table(runs: list[tuple[str, dict[str, Any]]]) -> pd.DataFrame:
    """``(version, metrics)`` of each run, in the order given → variant, version, seed, the headline metrics (%; a
    task a variant does not learn is left empty) and every setting whose value differs between the runs."""
    settings = [flat_settings(metrics.get("settings", {})) for _, metrics in runs]
    recorded = [run for run in settings if run]  # runs of an earlier release recorded none: left out of the comparison
    keys = dict.fromkeys(key for run in recorded for key in run if key not in NOT_COMPARED)
    differing = [key for key in keys if len({run.get(key) for run in recorded}) > 1]
    headlines = [{name: 100 * value for name, value in headline_metrics(metrics).items()} for _, metrics in runs]
    rows = [
        {
            "variant": metrics["variant"],
            "version": version,
            "seed": metrics["seed"],
            **values,
            **{key: flat.get(key, "") for key in differing},
        }
        for (version, metrics), flat, values in zip(runs, settings, headlines)
    ]
    return pd.DataFrame(rows, columns=["variant", "version", "seed", *metric_columns(headlines), *differing])


def metric_columns(rows: list[dict[str, float]]) -> list[str]:
    """Every headline metric (``<entry>/<measure>``) some row has, in the order the rows list them."""
    return list(dict.fromkeys(name for row in rows for name in row))


def runs_markdown(table: pd.DataFrame) -> str:
    """The runs table as Markdown: metrics with two decimals, settings as recorded (JSON text)."""
    shown = table.astype(object).copy()
    for name in (column for column in table.columns if is_headline(column)):
        shown[name] = [f"{value:.2f}" if pd.notna(value) else "–" for value in table[name]]
    return shown.to_markdown(index=False, disable_numparse=True)
