"""Text tables of summaries: markdown (printed to the terminal and written to files).

Accuracies are in percent. An episode-level interval is printed ``61.23 ± 0.85``; a seed-level
one ``61.23 [60.40, 62.10]`` (the bootstrap's need not be symmetric), so the two cannot be mistaken
for each other.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

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


def markdown(rows: list[list[str]], header: Sequence[str]) -> str:
    """A GitHub markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _level(summary: pd.DataFrame) -> str:
    """``"seed"``, ``"episode"`` or ``"mixed"``: the level of the table's p-values and W/T/L counts."""
    kinds = set(summary["p_kind"].dropna()) - {""} if "p_kind" in summary.columns else set()
    if not kinds:
        kinds = {"seed" if n >= 2 else "episode" for n in summary["n_seeds"]}
    return kinds.pop() if len(kinds) == 1 else "mixed"


def _dim_cell(value) -> str:
    return "–" if _nan(value) else str(int(value))


def has_dims(summary: pd.DataFrame) -> bool:
    """Whether the summary records the embedding size of its rows (``embedding_dim``)."""
    return "embedding_dim" in summary.columns and bool(summary["embedding_dim"].notna().any())


# Column headers of the paired test and counts at each level: never a bare "p" beside a seed-level CI.
P_HEADER = {"seed": "p (seed-level)", "episode": "p (Wilcoxon, episode-level)", "mixed": "p"}
WTL_HEADER = {"seed": "W/T/L (seeds)", "episode": "W/T/L (episodes)", "mixed": "W/T/L"}
CELL_LEVEL = {"seed": " (seeds)", "episode": " (episodes)"}


def summary_markdown(summary: pd.DataFrame, baseline: str = "ce", extra: Sequence[str] = ()) -> str:
    """The loss x head x shots table of one dataset: accuracy with CI, Δ vs ``baseline`` with CI, p and W/T/L.

    A ``dim`` column names each row's embedding size when the summary records it
    (``embedding_dim``). The p-value and W/T/L are seed-level with two or more seeds (the crossed model's t test;
    seeds counted) and episode-level with one; the headers say which (each cell does in a table
    that mixes both).

    Args:
        summary: rows of :func:`fewshot_clce.stats.summary.summarize` for one dataset.
        extra: further columns to show (e.g. ``batch_size`` in a batch-size profile).
    """
    # cells resting on different numbers of episodes say so each (the legend cannot give one number)
    episodes = (
        ["episodes"]
        if "n_episodes" in summary.columns and summary["n_episodes"].nunique() > 1
        else []
    )
    dims = ["dim"] if has_dims(summary) else []
    level = _level(summary)
    conf = (
        f"{summary['confidence'].iloc[0]:.0%}"
        if "confidence" in summary.columns and len(summary)
        else "95%"
    )
    header = [
        "loss",
        "head",
        "shots",
        *dims,
        *extra,
        *episodes,
        f"accuracy % ({conf} CI)",
        f"Δ vs {baseline} ({conf} CI)",
        P_HEADER[level],
        WTL_HEADER[level],
        "seeds",
        "config",
    ]
    rows = []
    for _, r in summary.iterrows():
        has_delta = "delta" in r and not _nan(r.get("delta"))
        cell = CELL_LEVEL.get(r.get("p_kind"), "") if level == "mixed" else ""
        wtl = f"{int(r['wins'])}/{int(r['ties'])}/{int(r['losses'])}{cell}" if has_delta else "–"
        rows.append(
            [
                r["loss"],
                r["head"],
                int(r["shots"]),
                *[_dim_cell(r["embedding_dim"]) for _ in dims],
                *[("–" if _nan(r.get(c)) else f"{r[c]:g}") for c in extra],
                *[int(r["n_episodes"]) for _ in episodes],
                fmt_interval(r["mean"], r["ci_low"], r["ci_high"], r["ci_kind"]),
                fmt_interval(
                    r["delta"], r["delta_ci_low"], r["delta_ci_high"], r["delta_ci_kind"], True
                )
                if has_delta
                else "(baseline)"
                if r["loss"] == baseline
                else "–",
                fmt_p(r["p_value"]) + cell if has_delta else "–",
                wtl,
                int(r["n_seeds"]),
                r["config"],
            ]
        )
    return markdown(rows, header)


def seeds_flag() -> str:
    """``--seeds 0 1 2``: the flag that gives a benchmark the seeds its interval needs to be trusted."""
    from ..stats.seeds import TRUSTED_SEEDS

    return "--seeds " + " ".join(str(s) for s in range(TRUSTED_SEEDS))


def sentence(text: str) -> str:
    """``text`` with its first letter capitalised (the rest untouched, unlike ``str.capitalize``)."""
    return text[:1].upper() + text[1:]


def trust_text(n_seeds: int) -> str:
    """How far a seed-level interval over ``n_seeds`` seeds can be trusted (coverage simulation)."""
    from ..stats.seeds import TRUSTED_SEEDS

    if n_seeds < 2:
        return (
            f"a seed-level interval needs 2 or more training seeds and is trusted from {TRUSTED_SEEDS} on "
            f"(coverage simulation; README, statistics): rerun with {seeds_flag()}"
        )
    if n_seeds >= TRUSTED_SEEDS:
        return (
            f"the seed-level interval is trusted from {TRUSTED_SEEDS} seeds on (its coverage was measured "
            f"by simulation; README, statistics); here {n_seeds} seeds"
        )
    return (
        f"the seed-level interval is trusted from {TRUSTED_SEEDS} seeds on (coverage simulation; README, "
        f"statistics): with {n_seeds} it covered the truth less often than it states, so rerun with "
        f"{seeds_flag()}"
    )


def ci_legend(summary: pd.DataFrame) -> str:
    """What a table's intervals, p-values and W/T/L counts are, and how many episodes its cells rest on.

    The episode count comes from the summary's ``n_episodes`` column: one number when every cell
    has it, else the range (and :func:`summary_markdown` then shows an ``episodes`` column).
    """
    from ..stats.seeds import TRUSTED_SEEDS

    kinds = set(summary["ci_kind"])
    tests = set(summary["p_kind"].dropna()) - {""} if "p_kind" in summary.columns else set()
    conf = (
        f"{summary['confidence'].iloc[0]:.0%}"
        if "confidence" in summary.columns and len(summary)
        else "95%"
    )
    parts = []
    if "episode" in kinds:
        method = summary.loc[summary["ci_kind"] == "episode", "ci_method"].iloc[0]
        parts.append(
            f"± is the episode-level {conf} CI ({method}), which leaves out seed-to-seed noise: a "
            f"seed-level CI needs 2 or more training seeds and is trusted from {TRUSTED_SEEDS} (pass "
            f"{seeds_flag()})"
        )
    if "episode" in tests:
        parts.append(
            "with 1 seed, p is the Wilcoxon signed-rank test over episodes and W/T/L counts the episodes "
            "on which the loss is above / equal to / below the baseline: episode-level, seed noise ignored"
        )
    if "seed" in kinds:
        method = summary.loc[summary["ci_kind"] == "seed", "ci_method"].iloc[0]
        parts.append(f"[low, high] is the seed-level {conf} CI: {method}")
        parts.append(trust_text(int(summary.loc[summary["ci_kind"] == "seed", "n_seeds"].min())))
    if "seed" in tests:
        seed_p = (
            summary.loc[summary["p_kind"] == "seed", "p_method"]
            if "p_method" in summary.columns
            else []
        )
        test = (
            "the hierarchical bootstrap's test of Δ = 0 (its percentile interval inverted)"
            if any("bootstrap" in str(m) for m in seed_p)
            else "the t test of Δ = 0 in the crossed seeds x episodes model"
        )
        parts.append(
            f"p (seed-level) is {test} and W/T/L counts "
            "the seeds whose own Δ is above / equal to / below 0; the episode-level Wilcoxon p and W/T/L "
            "over episodes, which ignore seed noise, are only in summary.csv (p_episode, ep_wins, "
            "ep_ties, ep_losses)"
        )
    n = ""
    if "n_episodes" in summary.columns and len(summary):
        low, high = int(summary["n_episodes"].min()), int(summary["n_episodes"].max())
        n = (
            f" over {low} episodes per cell"
            if low == high
            else f" over {low} to {high} episodes per cell (the episodes column gives each cell's count)"
        )
    return (
        "Accuracy in %"
        + n
        + "; "
        + "; ".join(parts)
        + ". Δ is paired on the same episodes (and seeds)."
    )


def _hparam_cell(value) -> str:
    if isinstance(value, str) or type(value).__name__ in ("bool", "bool_"):  # numpy's bool too
        return str(value).lower()
    return "–" if _nan(value) else f"{value:g}"


def selection_markdown(chosen: pd.DataFrame, hparams: Sequence[str]) -> str:
    """The configuration chosen per (dataset, loss) on the val split, with its score."""
    header = ["dataset", "loss", "chosen config", *hparams, "val accuracy %", "candidates"]
    rows = [
        [
            r["dataset"],
            r["loss"],
            r["config"],
            *[_hparam_cell(r.get(h)) for h in hparams],
            "–" if _nan(r["val_accuracy"]) else f"{100 * r['val_accuracy']:.2f}",
            int(r["candidates"]),
        ]
        for _, r in chosen.iterrows()
    ]
    return markdown(rows, header)


def transfer_markdown(main: pd.DataFrame, cross: pd.DataFrame, train_dataset: str) -> str:
    """Accuracy of the configurations chosen on ``train_dataset``, one column per dataset evaluated on,
    then the embedding size of each row (``dim``, when the summaries record it).

    Args:
        main: the in-domain summary (rows evaluated on the dataset they were trained on).
        cross: the cross-domain summary (``train_dataset`` differs from ``dataset``).
    """
    own = main[main["dataset"] == train_dataset]
    away = cross[cross["train_dataset"] == train_dataset]
    both = pd.concat([own, away])
    targets = list(pd.unique(away["dataset"]))
    cells = {}
    for _, r in both.iterrows():
        cells[(r["config"], r["head"], int(r["shots"]), r["dataset"])] = fmt_interval(
            r["mean"], r["ci_low"], r["ci_high"], r["ci_kind"]
        )
    show_dims = has_dims(both)
    # a row's features may differ in width between datasets (a flattened map): each one named
    dims = (
        both.groupby(["config", "head", "shots"])["embedding_dim"].agg(
            lambda v: "/".join(_dim_cell(d) for d in pd.unique(v))
        )
        if show_dims
        else None
    )
    keys = both[["loss", "config", "head", "shots"]].drop_duplicates(["config", "head", "shots"])
    rows = [
        [
            loss,
            head,
            int(k),
            *[cells.get((config, head, int(k), d), "–") for d in [train_dataset, *targets]],
            *([dims[(config, head, k)]] if dims is not None else []),
        ]
        for loss, config, head, k in keys.itertuples(index=False)
    ]
    header = ["loss", "head", "shots", f"{train_dataset} (trained on)", *targets]
    return markdown(rows, [*header, *(["dim"] if show_dims else [])])
