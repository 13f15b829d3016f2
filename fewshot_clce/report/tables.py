"""Text tables of summaries: markdown (printed to the terminal and written to files).

Accuracies are in percent. An episode-level interval is symmetric and printed ``61.23 ± 0.85``;
a seed-level (bootstrap) interval may not be, and is printed ``61.23 [60.40, 62.10]``.
"""
from __future__ import annotations

import math
from typing import List, Sequence

import pandas as pd


def _nan(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def fmt_interval(mean, low, high, kind: str, signed: bool = False) -> str:
    """``mean ± half`` (episode) or ``mean [low, high]`` (seed), in percent."""
    if _nan(mean):
        return "–"
    sign = "+" if signed else ""
    m = f"{100 * mean:{sign}.2f}"
    if _nan(low) or _nan(high):
        return m
    if kind == "episode":
        return f"{m} ± {100 * (high - low) / 2:.2f}"
    return f"{m} [{100 * low:{sign}.2f}, {100 * high:{sign}.2f}]"


def fmt_p(p) -> str:
    if _nan(p):
        return "–"
    return "<0.0001" if p < 1e-4 else f"{p:.4f}"


def markdown(rows: List[List[str]], header: Sequence[str]) -> str:
    """A GitHub markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def summary_markdown(summary: pd.DataFrame, baseline: str = "ce", extra: Sequence[str] = ()) -> str:
    """The loss x head x shots table of one dataset: accuracy with CI, Δ vs ``baseline`` with CI and p.

    Args:
        summary: rows of :func:`fewshot_clce.stats.summary.summarize` for one dataset.
        extra: further columns to show (e.g. ``batch_size`` in a batch-size profile).
    """
    # cells resting on different numbers of episodes say so each (the legend cannot give one number)
    episodes = ["episodes"] if "n_episodes" in summary.columns and summary["n_episodes"].nunique() > 1 else []
    header = ["loss", "head", "shots", *extra, *episodes, "accuracy % (95% CI)", f"Δ vs {baseline} (95% CI)",
              "p (Wilcoxon)", "W/T/L", "seeds", "seeds agree", "config"]
    rows = []
    for _, r in summary.iterrows():
        has_delta = "delta" in r and not _nan(r.get("delta"))
        wtl = f"{int(r['wins'])}/{int(r['ties'])}/{int(r['losses'])}" if has_delta else "–"
        rows.append([r["loss"], r["head"], int(r["shots"]),
                     *[("–" if _nan(r.get(c)) else f"{r[c]:g}") for c in extra],
                     *[int(r["n_episodes"]) for _ in episodes],
                     fmt_interval(r["mean"], r["ci_low"], r["ci_high"], r["ci_kind"]),
                     fmt_interval(r["delta"], r["delta_ci_low"], r["delta_ci_high"], r["delta_ci_kind"], True)
                     if has_delta else "(baseline)" if r["loss"] == baseline else "–",
                     fmt_p(r["p_value"]) if has_delta else "–", wtl, int(r["n_seeds"]),
                     r["seeds_agree"] if has_delta and r["n_seeds"] >= 2 else "–", r["config"]])
    return markdown(rows, header)


def ci_legend(summary: pd.DataFrame) -> str:
    """One sentence saying which intervals a table shows and how many episodes its cells rest on.

    The episode count comes from the summary's ``n_episodes`` column: one number when every cell
    has it, else the range (and :func:`summary_markdown` then shows an ``episodes`` column).
    """
    kinds = set(summary["ci_kind"])
    parts = []
    if "episode" in kinds:
        parts.append("± is the episode-level 95% CI, which leaves out seed-to-seed noise: a seed-level CI cannot "
                     "be computed from 1 training seed (pass --seeds with 2 or more, e.g. --seeds 0 1 2)")
    if "seed" in kinds:
        method = summary.loc[summary["ci_kind"] == "seed", "ci_method"].iloc[0]
        parts.append(f"[low, high] is the seed-level 95% CI from a {method}")
    n = ""
    if "n_episodes" in summary.columns and len(summary):
        low, high = int(summary["n_episodes"].min()), int(summary["n_episodes"].max())
        n = (f" over {low} episodes per cell" if low == high else
             f" over {low} to {high} episodes per cell (the episodes column gives each cell's count)")
    return "Accuracy in %" + n + "; " + "; ".join(parts) + ". Δ is paired on the same episodes (and seeds)."


def selection_markdown(chosen: pd.DataFrame, hparams: Sequence[str]) -> str:
    """The configuration chosen per (dataset, loss) on the val split, with its score."""
    header = ["dataset", "loss", "chosen config", *hparams, "val accuracy %", "candidates"]
    rows = [[r["dataset"], r["loss"], r["config"], *[("–" if _nan(r.get(h)) else f"{r[h]:g}") for h in hparams],
             "–" if _nan(r["val_accuracy"]) else f"{100 * r['val_accuracy']:.2f}", int(r["candidates"])]
            for _, r in chosen.iterrows()]
    return markdown(rows, header)


def transfer_markdown(main: pd.DataFrame, cross: pd.DataFrame, train_dataset: str) -> str:
    """Accuracy of the configurations chosen on ``train_dataset``, one column per dataset evaluated on.

    Args:
        main: the in-domain summary (rows evaluated on the dataset they were trained on).
        cross: the cross-domain summary (``train_dataset`` differs from ``dataset``).
    """
    own = main[main["dataset"] == train_dataset]
    away = cross[cross["train_dataset"] == train_dataset]
    targets = list(pd.unique(away["dataset"]))
    cells = {}
    for _, r in pd.concat([own, away]).iterrows():
        cells[(r["config"], r["head"], int(r["shots"]), r["dataset"])] = fmt_interval(
            r["mean"], r["ci_low"], r["ci_high"], r["ci_kind"])
    keys = pd.concat([own, away])[["loss", "config", "head", "shots"]].drop_duplicates(["config", "head", "shots"])
    rows = [[loss, head, int(k), *[cells.get((config, head, int(k), d), "–") for d in [train_dataset, *targets]]]
            for loss, config, head, k in keys.itertuples(index=False)]
    return markdown(rows, ["loss", "head", "shots", f"{train_dataset} (trained on)", *targets])
