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

import numpy as np
import pandas as pd

from ..losses.hparams import HPARAMS, hparam_spec
from ..stats import seeds as seedstats
from ..stats.intervals import mean_ci
from ..stats.summary import with_config
from ..utils.files import atomic_path
from .tuning import SYMBOL, TUNABLE

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


def sensitivity_lines(per_episode: pd.DataFrame, dataset: str, hparam: str) -> pd.DataFrame:
    """One row per (loss, other settings, split, value of ``hparam``): ``mean``, ``low``, ``high``, ``seeds``.

    Only the settings of the other hyper-parameters at which two or more values of ``hparam`` were
    tried form a line; ``line`` names it (``clce, β=1``).
    """
    df = with_config(per_episode)
    df = df[(df["dataset"] == dataset) & df["split"].isin(SPLITS)]
    if hparam not in df.columns:
        return pd.DataFrame()
    others = [h for h in TUNABLE if h != hparam and h in df.columns]
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
                    f"{SYMBOL.get(h, h)}={v:g}"
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
    lines: pd.DataFrame, hparam: str, path: str | os.PathLike, title: str = ""
) -> Path:
    """Val and novel accuracy against ``hparam``, one line per loss and setting, 95% error bars."""
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
        spec = HPARAMS.get(hparam) or hparam_spec(hparam)
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


def write_sensitivity_plots(per_episode: pd.DataFrame, folder: str | os.PathLike) -> list[Path]:
    """``sensitivity_<dataset>_<hparam>.png`` wherever a grid varied a loss hyper-parameter (two or more values)."""
    paths = []
    for d in pd.unique(per_episode["dataset"]):
        for h in ("lam", "temperature", "beta"):
            lines = sensitivity_lines(per_episode, d, h)
            if not lines.empty:
                paths.append(
                    plot_sensitivity(
                        lines,
                        h,
                        Path(folder) / f"sensitivity_{d}_{h}.png",
                        title=f"{d}: sensitivity to {SYMBOL.get(h, h)}",
                    )
                )
    return paths
