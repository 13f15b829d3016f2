"""Benchmark plots (PNG files), drawn from summaries and per-episode rows.

Every function takes tables, returns the written path, and writes atomically. Accuracies are
shown in percent; every interval drawn is the one in the summary's ``ci_low``/``ci_high`` and its
kind (episode or seed level) is written on the figure.

Figures are bare :class:`matplotlib.figure.Figure` objects saved by their own Agg canvas: no
pyplot, so importing or using this module never changes the caller's backend or open figures
(a notebook keeps its inline backend, a GUI session its windows).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure

from ..stats.summary import with_config
from ..utils.files import atomic_path

_COLORS = colormaps["tab10"].colors
# Up to this many losses a figure's panels stand side by side; beyond, they wrap into rows.
_SIDE_BY_SIDE = 4


def _figure(nrows: int, ncols: int, figsize: tuple[float, float], **kw):
    """A pyplot-free figure and its ``[nrows, ncols]`` axes array."""
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(nrows, ncols, squeeze=False, **kw)


def _save(fig: Figure, path: str | os.PathLike) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(
            tmp, format="png", dpi=110, bbox_inches="tight"
        )  # a bare Figure renders with Agg
    return Path(path)


def _ci_kind_text(summary: pd.DataFrame) -> str:
    kinds = sorted(summary["ci_kind"].unique())
    words = {"seed": "seeds + episodes (crossed random-effects t)", "episode": "episodes only"}
    if "ci_method" in summary.columns and (summary["ci_kind"] == "seed").any():
        method = summary.loc[summary["ci_kind"] == "seed", "ci_method"].iloc[0]
        if "bootstrap" in method:
            words["seed"] = "seeds + episodes (hierarchical bootstrap)"
    return "95% CI over " + " / ".join(words.get(k, k) for k in kinds)


def _loss_order(summary: pd.DataFrame) -> list:
    return list(pd.unique(summary["loss"]))


def accuracy_bars(
    summary: pd.DataFrame,
    path: str | os.PathLike,
    dataset: Optional[str] = None,
    title: Optional[str] = None,
) -> Path:
    """Accuracy per loss with CI error bars: one panel per shot setting, one marker per head.

    Points with error bars rather than bars, because the y axis does not start at 0.

    Args:
        summary: rows of :func:`fewshot_clce.stats.summary.summarize` for one configuration per loss.
        title: what the figure shows (default: the dataset's name).
    """
    s = summary if dataset is None else summary[summary["dataset"] == dataset]
    shots = sorted(s["shots"].unique())
    heads = list(pd.unique(s["head"]))
    losses = _loss_order(s)
    # side by side for a few losses; one above the other for many, so the figure stays readable
    ncols = len(shots) if len(losses) <= _SIDE_BY_SIDE else 1
    nrows = -(-len(shots) // ncols)
    fig, axes = _figure(nrows, ncols, (1.5 + (1.2 + 1.1 * len(losses)) * ncols, 3.8 * nrows))
    step = 0.5 / max(len(heads), 1)
    for ax, k in zip(axes.flat, shots):
        for h_i, head in enumerate(heads):
            sub = s[(s["shots"] == k) & (s["head"] == head)].set_index("loss").reindex(losses)
            x = np.arange(len(losses)) + (h_i - (len(heads) - 1) / 2) * step
            mean = 100 * sub["mean"].to_numpy(dtype=float)
            err = 100 * np.abs(
                np.vstack([sub["mean"] - sub["ci_low"], sub["ci_high"] - sub["mean"]]).astype(float)
            )
            ax.errorbar(
                x, mean, yerr=err, fmt="o", capsize=4, ms=6, color=_COLORS[h_i % 10], label=head
            )
            for xi, m in zip(x, mean):
                if np.isfinite(m):
                    ax.annotate(
                        f"{m:.1f}",
                        (xi, m),
                        xytext=(5, 0),
                        textcoords="offset points",
                        fontsize=8,
                        va="center",
                        color=_COLORS[h_i % 10],
                    )
        ways = int(s["ways"].iloc[0])
        ax.set_title(f"{ways}-way {k}-shot")
        ax.set_xticks(np.arange(len(losses)), losses)
        ax.set_xlim(-0.6, len(losses) - 0.4)
        ax.set_ylabel("accuracy on novel classes (%)")
        ax.grid(axis="y", alpha=0.3)
    for ax in axes.flat[len(shots) :]:
        ax.set_visible(False)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, title="head", fontsize=8, loc="center right")
    name = title or dataset or ", ".join(pd.unique(s["dataset"]))
    fig.suptitle(f"{name}: accuracy per loss ({_ci_kind_text(s)})", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1 - 0.9 / fig.get_figwidth(), 1))
    return _save(fig, path)


def paired_differences(
    per_episode: pd.DataFrame,
    chosen_configs: Sequence[str],
    path: str | os.PathLike,
    baseline_config: str,
    dataset: Optional[str] = None,
    split: str = "novel",
) -> Path:
    """Distribution of per-episode differences ``loss - baseline`` on the same episodes.

    One panel per (head, shots); one violin per compared configuration, its mean marked. The
    per-episode accuracy is averaged over training seeds before differencing.
    """
    df = with_config(per_episode)
    df = df[(df["split"] == split) & df["config"].isin(list(chosen_configs) + [baseline_config])]
    if dataset is not None:
        df = df[df["dataset"] == dataset]
    panels = (
        df[["head", "shots"]]
        .drop_duplicates()
        .sort_values(["shots", "head"])
        .itertuples(index=False)
    )
    panels = list(panels)
    others = [c for c in chosen_configs if c != baseline_config]
    # a row of panels for a few losses; two columns for many, so the figure stays readable
    ncols = len(panels) if len(others) <= _SIDE_BY_SIDE - 1 else min(2, len(panels))
    nrows = -(-len(panels) // max(ncols, 1))
    fig, axes = _figure(
        nrows,
        max(ncols, 1),
        (1.5 + 1.5 * max(len(others), 1) * max(ncols, 1), 3.8 * nrows),
        sharey=True,
    )
    for ax in axes.flat[len(panels) :]:
        ax.set_visible(False)
    for ax, (head, k) in zip(axes.flat, panels):
        cell = df[(df["head"] == head) & (df["shots"] == k)]
        # [configs, episodes] seed-averaged accuracy, so pairs share an episode index.
        acc = cell.groupby(["config", "episode"])["accuracy"].mean().unstack("episode")
        data, labels = [], []
        for c in others:
            if c in acc.index and baseline_config in acc.index:
                d = 100 * (acc.loc[c] - acc.loc[baseline_config]).dropna().to_numpy()
                data.append(d)
                labels.append(f"{c.split('(')[0]}\nmean {d.mean():+.2f}")
        if data:
            parts = ax.violinplot(data, showmeans=True, showextrema=False)
            for i, body in enumerate(parts["bodies"]):
                body.set_facecolor(_COLORS[(i + 1) % 10])
            ax.set_xticks(np.arange(1, len(labels) + 1), labels, fontsize=9)
        ax.axhline(0, color="black", lw=0.8)
        ax.set_title(f"{head}, {k}-shot", fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    for row in axes:
        row[0].set_ylabel(f"accuracy − {baseline_config.split('(')[0]} (points)")
    fig.suptitle(
        "paired per-episode differences vs the baseline (same episodes, averaged over seeds)",
        fontsize=10,
    )
    fig.tight_layout()
    return _save(fig, path)


def accuracy_vs_batch_size(
    summary: pd.DataFrame, path: str | os.PathLike, dataset: Optional[str] = None
) -> Path:
    """Accuracy against training batch size, one line per loss: one panel per (head, shots).

    Args:
        summary: rows with a ``batch_size`` column holding several values (one configuration
            per loss and batch size, e.g. the batch-size profile).
    """
    s = summary if dataset is None else summary[summary["dataset"] == dataset]
    s = s[s["batch_size"].notna()]  # rows never trained (the untrained backbone) have no batch size
    panels = list(
        s[["head", "shots"]]
        .drop_duplicates()
        .sort_values(["shots", "head"])
        .itertuples(index=False)
    )
    fig, axes = _figure(1, len(panels), (1.0 + 3.6 * len(panels), 3.6))
    for ax, (head, k) in zip(axes[0], panels):
        cell = s[(s["head"] == head) & (s["shots"] == k)]
        losses = _loss_order(cell)
        for i, loss in enumerate(losses):
            line = cell[cell["loss"] == loss].sort_values("batch_size")
            # a small multiplicative offset per loss keeps the error bars apart on the log axis
            bs = line["batch_size"].to_numpy(dtype=float) * 2 ** (
                0.06 * (i - (len(losses) - 1) / 2)
            )
            err = 100 * np.abs(
                np.vstack([line["mean"] - line["ci_low"], line["ci_high"] - line["mean"]]).astype(
                    float
                )
            )
            ax.errorbar(
                bs,
                100 * line["mean"],
                yerr=err,
                marker="o",
                capsize=3,
                label=loss,
                color=_COLORS[i % 10],
            )
        ax.set_xscale("log", base=2)
        ticks = sorted(cell["batch_size"].unique())
        ax.set_xticks(ticks, [str(int(t)) for t in ticks])
        ax.set_xlabel("training batch size")
        ax.set_title(f"{head}, {k}-shot", fontsize=10)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("accuracy on novel classes (%)")
    axes[0][0].legend(fontsize=8)
    fig.suptitle(f"accuracy against batch size ({_ci_kind_text(s)})", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def embedding_panels(
    embeddings: dict[str, tuple[np.ndarray, np.ndarray, float]],
    path: str | os.PathLike,
    class_names: Optional[Sequence[str]] = None,
    title: str = "",
) -> Path:
    """2-D embeddings side by side, one panel per run, each titled with its separation score.

    Args:
        embeddings: name -> (points ``[n, 2]``, labels ``[n]``, silhouette score).
        class_names: names for the legend, indexed by label.
    """
    fig, axes = _figure(1, len(embeddings), (4.2 * len(embeddings), 4.6))
    n_classes = max(len(np.unique(lab)) for _, lab, _ in embeddings.values())
    # tab10 keeps neighbouring classes far apart in colour; tab20 (pairs of shades) only when needed
    cmap = colormaps["tab10" if n_classes <= 10 else "tab20"]
    for ax, (name, (pts, labels, sil)) in zip(axes[0], embeddings.items()):
        for j, c in enumerate(np.unique(labels)):
            m = labels == c
            ax.scatter(
                pts[m, 0],
                pts[m, 1],
                s=9,
                color=cmap(j % cmap.N),
                alpha=0.85,
                label=class_names[c] if class_names is not None else str(c),
            )
        ax.set_title(f"{name}\nsilhouette {sil:.3f} (cosine, features)", fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    handles, labels = axes[0][0].get_legend_handles_labels()
    legend = len(handles) <= 20
    if legend:  # below the panels: class names can be long
        fig.legend(
            handles,
            labels,
            loc="lower center",
            fontsize=7,
            markerscale=1.5,
            ncol=min(len(handles), 4),
        )
    fig.suptitle(title or "t-SNE of novel-class features", fontsize=10)
    rows = -(-len(handles) // 4) if legend else 0
    fig.tight_layout(rect=(0, 0.035 * rows + 0.02 * legend, 1, 1))
    return _save(fig, path)
