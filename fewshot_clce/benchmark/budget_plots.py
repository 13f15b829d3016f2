"""The plots of a budget study: Δ against the baseline per budget, and val accuracy per epoch."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import pandas as pd

from ..utils.text import epochs_text
from .budget_report import compared_rows


def plot_budget(table: pd.DataFrame, dataset: str, path: Path) -> Optional[Path]:
    """Δ against the baseline vs the budget, one panel per head and shots, one line per loss."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = compared_rows(table)
    rows = rows[rows["dataset"] == dataset]
    if rows.empty:
        return None
    cells = list(dict.fromkeys(zip(rows["head"], rows["shots"])))
    fig, axes = plt.subplots(
        1, len(cells), figsize=(3.6 * len(cells), 3.2), squeeze=False, sharey=True
    )
    for ax, (head, shots) in zip(axes[0], cells):
        cell = rows[(rows["head"] == head) & (rows["shots"] == shots)]
        for loss, g in cell.groupby("loss", sort=False):
            g = g.sort_values("epochs")
            y = 100 * g["delta"].to_numpy(float)
            low = 100 * g["delta_ci_low"].to_numpy(float)
            high = 100 * g["delta_ci_high"].to_numpy(float)
            ax.errorbar(g["epochs"], y, yerr=[y - low, high - y], marker="o", capsize=3, label=loss)
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_xscale("log")
        ax.set_xticks(sorted(rows["epochs"].unique()))
        ax.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.set_title(f"{head}, {shots}-shot")
        ax.set_xlabel("training epochs")
    baseline = str(rows["baseline"].iloc[0]).split("(")[0]
    axes[0][0].set_ylabel(f"Δ accuracy vs {baseline} (points, 95% CI)")
    axes[0][-1].legend(fontsize=8)
    fig.suptitle(f"{dataset}: each loss against {baseline} at each training budget", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_val_curves(curves: pd.DataFrame, dataset: str, path: Path) -> Optional[Path]:
    """Val accuracy per epoch of the chosen configurations (mean over seeds), one panel per budget."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = curves[curves["dataset"] == dataset]
    if rows.empty:
        return None
    budgets = sorted(rows["epochs"].unique())
    fig, axes = plt.subplots(
        1, len(budgets), figsize=(3.6 * len(budgets), 3.2), squeeze=False, sharey=True
    )
    for ax, e in zip(axes[0], budgets):
        for loss, g in rows[rows["epochs"] == e].groupby("loss", sort=False):
            mean = g.groupby("epoch")["val_acc"].mean()
            ax.plot(mean.index, 100 * mean.to_numpy(), marker=".", label=loss)
        ax.set_title(f"budget {epochs_text(e)}")
        ax.set_xlabel("epoch")
    axes[0][0].set_ylabel("val accuracy (%)")
    axes[0][-1].legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
