"""Matplotlib figures: loss curves, CMC, per-attribute mA, and a retrieval figure like the paper's Figure 3."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ..tasks import PROTOCOLS, SSL_TERMS, SUPERVISED_TERMS

SUPERVISED_PLOT_TERMS = ("total", *SUPERVISED_TERMS)
SSL_PLOT_TERMS = SSL_TERMS


def validation_label(key: str) -> str:
    """A validation score's legend: ``val/<entry>/<measure>`` → ``<entry> <measure label>``."""
    entry, _, measure = key.removeprefix("val/").rpartition("/")
    return f"{entry} {next((p.measures[measure] for p in PROTOCOLS.values() if measure in p.measures), measure)}"


def training_curves(history: pd.DataFrame, title: str) -> Figure:
    """Panels of the supervised terms (with the total), the cross pseudo-supervision terms (if any), each on a log
    scale, the validation scores (%, if validated) and the learning rate over epochs."""
    panels = [
        (name, [t for t in terms if t in history and history[t].abs().sum() > 0])
        for name, terms in (("supervised losses", SUPERVISED_PLOT_TERMS), ("cross pseudo-supervision", SSL_PLOT_TERMS))
    ]
    validated = [t for t in history.columns if t.startswith("val/") and history[t].notna().any()]
    panels = [(name, terms) for name, terms in panels if terms]
    panels += [("validation", validated)] if validated else []
    panels += [("learning rate", ["lr"])]
    figure = Figure(figsize=(4.2 * len(panels), 3.8))
    for axis, (name, terms) in zip(figure.subplots(1, len(panels), squeeze=False)[0], panels):
        if name == "validation":
            for term in terms:
                scores = history[["epoch", term]].dropna()
                axis.plot(scores["epoch"], 100 * scores[term], marker="o", label=validation_label(term))
            axis.set(ylabel="%", ylim=(0, 101))
        else:
            for term in terms:
                width = 2.5 if term == "total" else 1.5
                axis.plot(history["epoch"], history[term], marker="o", label=term, linewidth=width)
            if (history[terms] > 0).all().all():
                axis.set_yscale("log")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.set(xlabel="epoch", title=name)
        axis.legend(fontsize=8)
        axis.grid(alpha=0.3, which="both")
    figure.suptitle(f"{title}: training (epoch means) and validation")
    figure.tight_layout()
    return figure


def cmc_curves(curves: dict[str, tuple[list[float], float]], title: str, max_rank: int = 20) -> Figure:
    """CMC of one or several variants overlaid, ``{label: (cmc, mAP)}``: integer ranks, mAP and R-1 in the legend."""
    figure = Figure(figsize=(6.5, 4.5))
    axis = figure.subplots()
    for label, (cmc, mean_ap) in curves.items():
        ranks = np.arange(1, min(max_rank, len(cmc)) + 1)
        values = np.asarray(cmc[: len(ranks)]) * 100
        legend = f"{label}: mAP {100 * mean_ap:.1f}, R-1 {values[0]:.1f}"
        axis.plot(ranks, values, marker="o", markersize=3, label=legend)
    axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    axis.set(xlabel="rank", ylabel="matching rate (%)", title=f"{title}: CMC", ylim=(0, 101))
    axis.set_xlim(0.5, max_rank + 0.5)
    axis.legend(fontsize=8, loc="lower right")
    axis.grid(alpha=0.3)
    figure.tight_layout()
    return figure


def attribute_bars(table: pd.DataFrame, title: str, entries: list[str]) -> Figure:
    """Per-attribute mA on the images of each attribute entry of ``entries`` that the table has (column
    ``<entry> mA``), with a chance line at 50."""
    columns = [(f"{key} mA", key) for key in entries if f"{key} mA" in table and table[f"{key} mA"].notna().any()]
    figure = Figure(figsize=(12, 4))
    axis = figure.subplots()
    x, width = np.arange(len(table)), 0.8 / max(1, len(columns))
    for i, (column, label) in enumerate(columns):
        values = table[column].to_numpy() * 100
        axis.bar(x + (i - (len(columns) - 1) / 2) * width, values, width, label=f"{label}: mA {values.mean():.1f}")
    axis.axhline(50, color="k", linestyle="--", linewidth=1, label="chance (50)")
    axis.set_xticks(x, table["attribute"], rotation=75, ha="right", fontsize=7)
    axis.set(ylabel="mA (%)", ylim=(0, 100), title=f"{title}: per-attribute mA")
    axis.legend(fontsize=8, loc="lower right")
    figure.tight_layout()
    return figure


def attribute_lines(
    names: list[str], probabilities: np.ndarray, truth: np.ndarray | None, threshold: float, limit: int = 12
) -> list[str]:
    """Predicted attributes (probability > threshold, most likely first) beside the ground truth where known:
    ✓ predicted and labelled, ✗ predicted but not labelled, "missed" labelled but not predicted. At most ``limit``
    lines: a list cut short ends with how many lines it left out."""
    order = [i for i in np.argsort(-probabilities) if probabilities[i] > threshold]
    if truth is None:
        head = f"{len(order)} predicted (no ground-truth label for this image)"
        return _cut([head] + [f"  {names[i]} {probabilities[i]:.2f}" for i in order], limit)
    lines = [f"{'✓' if truth[i] else '✗'} {names[i]} {probabilities[i]:.2f}" for i in order]
    lines += [
        f"missed {names[i]} {probabilities[i]:.2f}" for i in np.flatnonzero(truth) if probabilities[i] <= threshold
    ]
    correct = int(sum(bool(truth[i]) for i in order))
    return _cut([f"{correct}/{len(order)} predicted correct, {int(truth.sum()) - correct} missed"] + lines, limit)


def _cut(lines: list[str], limit: int) -> list[str]:
    """``lines``, or its first ``limit - 1`` and a last line saying how many were left out."""
    return lines if len(lines) <= limit else lines[: limit - 1] + [f"... {len(lines) - limit + 1} more not shown"]


def retrieval(
    query_images: np.ndarray,
    top_images: np.ndarray,
    correct: np.ndarray,
    attributes: list[list[str]],
    title: str,
    labelled: bool = True,
) -> Figure:
    """Rows of query + its top-k gallery crops (``top_images``: query, rank; green: same identity, red: other), with
    the query's attributes; ``labelled``: whether any query has ground-truth attributes (the title claims a
    comparison only then)."""
    rows, k = correct.shape
    figure = Figure(figsize=(1.3 * (k + 2) + 3.0, 2.4 * rows))
    axes = figure.subplots(rows, k + 2, squeeze=False, gridspec_kw={"width_ratios": [1] * (k + 1) + [3.0]})
    for r in range(rows):
        axes[r, 0].imshow(query_images[r])
        axes[r, 0].set_title("query", fontsize=8)
        for j in range(k):
            _ranked_crop(axes[r, j + 1], top_images[r, j], bool(correct[r, j]), j + 1)
        axes[r, k + 1].text(
            0, 1, "\n".join(attributes[r]) or "(no attribute > threshold)", va="top", fontsize=6.5, family="monospace"
        )
        axes[r, k + 1].axis("off")
        for axis in axes[r, : k + 1]:
            axis.set_xticks([])
            axis.set_yticks([])
    compared = "predicted vs UPAR ground truth" if labelled else "predicted; no ground-truth labels for these images"
    figure.suptitle(f"{title}: retrieval; query attributes ({compared})")
    figure.tight_layout()
    return figure


def _ranked_crop(axis: Axes, image: np.ndarray, correct: bool, rank: int) -> None:
    """A retrieved crop framed and titled green ✓ (a true match) or red ✗, with its rank."""
    axis.imshow(image)
    colour = "tab:green" if correct else "tab:red"
    for spine in axis.spines.values():
        spine.set(color=colour, linewidth=3, visible=True)
    axis.set_title(("✓ " if correct else "✗ ") + f"#{rank}", fontsize=8, color=colour)
    axis.set_xticks([])
    axis.set_yticks([])


def attribute_retrieval(
    queries: list[list[str]], top_images: np.ndarray, correct: np.ndarray, title: str, split: str
) -> Figure:
    """Rows of a text query (its present attributes; the others absent) + its top-k images of ``split``
    (``top_images``: query, rank; green ✓: labelled with exactly the query's attributes, red ✗: not)."""
    rows, k = correct.shape
    figure = Figure(figsize=(3.0 + 1.3 * k, 2.4 * rows))
    axes = figure.subplots(rows, k + 1, squeeze=False, gridspec_kw={"width_ratios": [3.0] + [1] * k})
    for r in range(rows):
        axes[r, 0].text(0, 1, "\n".join(queries[r]) or "(every attribute absent)", va="top", fontsize=6.5,
                        family="monospace")  # fmt: skip
        axes[r, 0].axis("off")
        for j in range(k):
            _ranked_crop(axes[r, j + 1], top_images[r, j], bool(correct[r, j]), j + 1)
    figure.suptitle(f"{title}: attribute retrieval on {split} (query: the attributes listed, all others absent)")
    figure.tight_layout()
    return figure
