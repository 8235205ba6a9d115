"""A variant's headline metrics as a DVCLive summary: the few columns `dvc exp show` lists per experiment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..evaluation.evaluate import headline_metrics


def run_folder(tracking: Path, variant: str, seed: int | None = None) -> Path:
    """Where a run of ``variant`` keeps its DVCLive files: ``<tracking>/<variant>``, or
    ``<tracking>/<variant>/seed<k>`` for a seed of the paper pipeline (``seed``)."""
    folder = Path(tracking) / variant
    return folder if seed is None else folder / f"seed{int(seed)}"


def log_final_metrics(folder: Path, metrics: dict[str, Any]) -> None:
    """Write the headline numbers with DVCLive to ``folder``/metrics.json (per-attribute results stay in their CSV)."""
    from dvclive import Live

    with Live(str(folder), save_dvc_exp=False, dvcyaml=False) as live:
        for name, value in headline_metrics(metrics).items():
            live.log_metric(name, value, plot=False)
