"""Matplotlib figures: loss curves, CMC, per-attribute mA, and a retrieval figure like the paper's Figure 3."""
from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

LOSS_TERMS = ("id", "attr", "dataset", "reid_triplet", "par_triplet", "dataset_bce", "dice", "id_pseudo", "total")


def training_curves(history: pd.DataFrame, title: str) -> Figure:
    """One line per loss term over epochs."""
    figure = Figure(figsize=(7, 4))
    axis = figure.subplots()
    for term in LOSS_TERMS:
        if term in history:
            axis.plot(history["epoch"], history[term], marker="o", label=term, linewidth=2.5 if term == "total" else 1.5)
    axis.set(xlabel="epoch", ylabel="mean loss", title=f"{title}: training losses")
    axis.legend(fontsize=8, ncol=2)
    axis.grid(alpha=0.3)
    figure.tight_layout()
    return figure


def cmc_curve(cmc: list[float], title: str, max_rank: int = 20) -> Figure:
    figure = Figure(figsize=(5, 4))
    axis = figure.subplots()
    ranks = np.arange(1, min(max_rank, len(cmc)) + 1)
    axis.plot(ranks, np.asarray(cmc[: len(ranks)]) * 100, marker="o")
    axis.set(xlabel="rank", ylabel="matching rate (%)", title=f"{title}: CMC", ylim=(0, 100))
    axis.grid(alpha=0.3)
    figure.tight_layout()
    return figure


def attribute_bars(per_attribute: dict[str, float], title: str) -> Figure:
    names, values = list(per_attribute), np.array(list(per_attribute.values())) * 100
    figure = Figure(figsize=(12, 4))
    axis = figure.subplots()
    axis.bar(range(len(names)), values, color=np.where(values >= values.mean(), "tab:blue", "tab:orange"))
    axis.axhline(values.mean(), color="k", linestyle="--", linewidth=1, label=f"mA {values.mean():.1f}")
    axis.set_xticks(range(len(names)), names, rotation=75, ha="right", fontsize=7)
    axis.set(ylabel="mA (%)", ylim=(0, 100), title=f"{title}: per-attribute mA")
    axis.legend()
    figure.tight_layout()
    return figure


def retrieval(query_images: np.ndarray, gallery_images: np.ndarray, top: np.ndarray, correct: np.ndarray,
              attributes: list[list[str]], title: str) -> Figure:
    """Rows of query + top-k gallery crops (green: same identity, red: other), with predicted attributes."""
    rows, k = top.shape
    figure = Figure(figsize=(1.3 * (k + 2) + 2.5, 2.4 * rows))
    axes = figure.subplots(rows, k + 2, squeeze=False, gridspec_kw={"width_ratios": [1] * (k + 1) + [2.5]})
    for r in range(rows):
        axes[r, 0].imshow(query_images[r])
        axes[r, 0].set_title("query", fontsize=8)
        for j in range(k):
            axis = axes[r, j + 1]
            axis.imshow(gallery_images[top[r, j]])
            colour = "tab:green" if correct[r, j] else "tab:red"
            for spine in axis.spines.values():
                spine.set(color=colour, linewidth=3, visible=True)
            axis.set_title(("✓ " if correct[r, j] else "✗ ") + f"#{j + 1}", fontsize=8, color=colour)
        axes[r, k + 1].text(0, 1, "\n".join(attributes[r][:10]) or "(no attribute > 0.5)", va="top", fontsize=7)
        axes[r, k + 1].axis("off")
        for axis in axes[r, : k + 1]:
            axis.set_xticks([])
            axis.set_yticks([])
    figure.suptitle(f"{title}: retrieval and predicted attributes")
    figure.tight_layout()
    return figure
