"""Sensitivity of each loss to one hyper-parameter: val and novel accuracy against its values.

One line per loss and setting of its other hyper-parameters (e.g. CLCE at each β), drawn wherever
a grid tried two or more values of the hyper-parameter with the others held fixed. The y value
of a configuration is its mean accuracy over every head, shot setting and episode of the split
(the very number choices on val are made with); the error bars are its seed-level 95% interval
(:func:`fewshot_clce.stats.seeds.seed_level`, the training seeds crossed with those cells), or
the episode-level t interval with a single seed (the summaries' one default,
:mod:`fewshot_clce.stats.intervals`). The val panel is what the choice saw; the novel panel
is what it was worth.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd

from ..losses.hparams import HPARAMS, hparam_columns, spec_of
from ..stats import seeds as seedstats
from ..stats.intervals import mean_ci
from ..stats.summary import with_config
from ..utils.files import atomic_path
from .tuning import SYMBOL

SPLITS = ("val", "novel")


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _score(cells: pd.DataFrame) -> dict[str, float]:
    """Mean accuracy of one configuration on one split, with its 95% interval (seeds x cells)."""
    cells = cells.assign(
        unit=cells["head"].astype(str)
        + "|"
        + cells["shots"].astype(str)
        + "|"
        + cells["episode"].astype(str)
    )
    mat = cells.pivot_table(
        index="seed", columns="unit", values="accuracy", aggfunc="first"
    ).dropna(axis=1)
    if len(mat) >= 2:
        r = seedstats.seed_level(mat.to_numpy())
        return {"mean": r.mean, "low": r.low, "high": r.high, "seeds": len(mat)}
    ep = mean_ci(mat.to_numpy()[0])  # the summaries' one default (t), so plot and tables agree
    return {"mean": ep.mean, "low": ep.low, "high": ep.high, "seeds": 1}


def _label_value(v) -> str:
    return str(v).lower() if isinstance(v, (bool, np.bool_, str)) else f"{v:g}"


def sensitivity_lines(
    per_episode: pd.DataFrame, dataset: str, hparam: str, loss: Optional[str] = None
) -> pd.DataFrame:
    """One row per (loss, other settings, split, value of ``hparam``): ``mean``, ``low``, ``high``, ``seeds``.

    Only the settings of the other hyper-parameters at which two or more values of ``hparam`` were
    tried form a line; ``line`` names it (``clce, β=1``). ``loss``: that loss's lines only.
    """
    df = with_config(per_episode)
    df = df[(df["dataset"] == dataset) & df["split"].isin(SPLITS)]
    if loss is not None:
        df = df[df["loss"] == loss]
    if hparam not in df.columns:
        return pd.DataFrame()
    others = [h for h in hparam_columns(df.columns) if h != hparam]
    rows = []
    for loss, g in df[df[hparam].notna()].groupby("loss", sort=False):
        keys = g[others].astype(object).where(g[others].notna(), None)
        groups = pd.Series(list(keys.itertuples(index=False, name=None)), index=g.index)
        for fixed, sub in g.groupby(groups, sort=False):
            values = sorted(sub[hparam].unique())
            if len(values) < 2:
                continue
            label = ", ".join(
                [loss]
                + [
                    f"{SYMBOL.get(h, h)}={_label_value(v)}"
                    for h, v in zip(others, fixed)
                    if not _missing(v) and sub[h].nunique() == 1 and g[h].nunique(dropna=True) > 1
                ]
            )
            for (split, value), cells in sub.groupby(["split", hparam]):
                rows.append(
                    dict(
                        dataset=dataset,
                        loss=loss,
                        line=label,
                        split=split,
                        value=float(value),
                        config=cells["config"].iloc[0],
                        **_score(cells),
                    )
                )
    return pd.DataFrame(rows)


def plot_sensitivity(
    lines: pd.DataFrame,
    hparam: str,
    path: str | os.PathLike,
    title: str = "",
    loss: Optional[str] = None,
) -> Path:
    """Val and novel accuracy against ``hparam`` (as ``loss`` declares it: its axis scale), one line
    per loss and setting, 95% error bars."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4.2))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2, sharey=False)
    colors = [f"C{i}" for i in range(10)]
    names = list(pd.unique(lines["line"]))
    for ax, split in zip(axes, SPLITS):
        part = lines[lines["split"] == split]
        for i, name in enumerate(names):
            ln = part[part["line"] == name].sort_values("value")
            if ln.empty:
                continue
            y = 100 * ln["mean"].to_numpy()
            err = np.vstack([y - 100 * ln["low"].to_numpy(), 100 * ln["high"].to_numpy() - y])
            ax.errorbar(
                ln["value"],
                y,
                yerr=np.nan_to_num(err),
                marker="o",
                capsize=3,
                color=colors[i % 10],
                label=name,
            )
        spec = spec_of(hparam, loss)
        if spec is not None and spec.scale == "log" and (lines["value"] > 0).all():
            ax.set_xscale("log")
            ticks = sorted(lines["value"].unique())
            ax.set_xticks(ticks)
            ax.set_xticklabels([f"{t:g}" for t in ticks])
            ax.minorticks_off()
        ax.set_xlabel(SYMBOL.get(hparam, hparam))
        ax.set_ylabel(f"{split} accuracy % (mean over heads, shots)")
        ax.set_title(
            f"{split} split"
            + (" (what the choice saw)" if split == "val" else " (what it was worth)")
        )
        ax.grid(alpha=0.3)
    seeds = int(lines["seeds"].min()) if len(lines) else 0
    kind = "seed-level" if seeds >= 2 else "episode-level"
    axes[0].legend(fontsize=8)
    fig.suptitle(
        (title + "; " if title else "") + f"error bars: {kind} 95% CI ({seeds} seed(s))",
        fontsize=10,
    )
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    return Path(path)


def plotted(per_episode: pd.DataFrame, dataset: str) -> list[tuple[str, Optional[str]]]:
    """The sensitivity plots of ``dataset``: ``(hyper-parameter, None)`` for each of the
    vocabulary's (λ, τ, β, label smoothing: one plot, a line per loss) and ``(hyper-parameter,
    loss)`` for each a loss declares itself (``scale`` of Baseline++ and of ProtoNet's loss mean
    different things: a plot each), wherever some grid tried two or more numeric values. The batch
    size has its own plot."""
    df = per_episode[per_episode["dataset"] == dataset]
    out: list[tuple[str, Optional[str]]] = []
    for h in hparam_columns(df.columns):
        if h == "batch_size":
            continue
        counts = df.groupby("loss", sort=False)[h].nunique(dropna=True)
        losses = [loss for loss, n in counts.items() if n > 1]
        if h in HPARAMS:
            out += [(h, None)] if losses else []
            continue
        for loss in losses:
            spec = spec_of(h, loss)
            if getattr(spec, "type", float) in (int, float):  # switches and choices: tables only
                out.append((h, loss))
    return out


def write_sensitivity_plots(per_episode: pd.DataFrame, folder: str | os.PathLike) -> list[Path]:
    """``sensitivity_<dataset>_<hparam>.png`` (the vocabulary's) and
    ``sensitivity_<dataset>_<loss>_<hparam>.png`` (a loss's own) for each of :func:`plotted`."""
    paths = []
    for d in pd.unique(per_episode["dataset"]):
        for h, loss in plotted(per_episode, d):
            lines = sensitivity_lines(per_episode, d, h, loss)
            if lines.empty:
                continue
            name = f"sensitivity_{d}_{h}.png" if loss is None else f"sensitivity_{d}_{loss}_{h}.png"
            title = f"{d}: sensitivity to {SYMBOL.get(h, h)}" + (f" of {loss}" if loss else "")
            paths.append(plot_sensitivity(lines, h, Path(folder) / name, title=title, loss=loss))
    return paths
