"""A variant's headline metrics as a DVCLive summary: the few columns `dvc exp show` lists per experiment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

HEADLINE_METRICS = {  # name in dvc exp show: (section of metrics.json, key)
    "reid_mAP": ("reid", "mAP"),
    "reid_rank1": ("reid", "rank1"),
    "par_mA": ("par", "mA"),
    "par_f1": ("par", "f1"),
    "reid_domain_par_mA": ("reid_domain_par", "mA"),
}


def headline(metrics: dict[str, Any]) -> dict[str, float]:
    """The headline numbers of a variant's metrics (the tasks it does not learn left out)."""
    return {
        name: float(metrics[section][key])
        for name, (section, key) in HEADLINE_METRICS.items()
        if metrics.get(section) and key in metrics[section]
    }


def log_final_metrics(folder: Path, metrics: dict[str, Any]) -> None:
    """Write ``headline(metrics)`` with DVCLive to ``folder``/metrics.json (per-attribute results stay in their CSV)."""
    from dvclive import Live

    with Live(str(folder), save_dvc_exp=False, dvcyaml=False) as live:
        for name, value in headline(metrics).items():
            live.log_metric(name, value, plot=False)
