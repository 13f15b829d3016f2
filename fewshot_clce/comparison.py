"""Paired comparison of two runs on the same episodes: the rows of one run in the one summary
(:func:`fewshot_clce.stats.summary.summarize`), with the other run as the baseline."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .evaluation.backbone import evaluate_run
from .evaluation.evaluate import EpisodesArg, load_episode_sets
from .stats.intervals import DEFAULT_CI_METHOD
from .stats.summary import summarize

# Columns that identify an episode of a result; a paired comparison joins on them.
EPISODE_KEYS = ["dataset", "split", "ways", "shots", "queries", "head", "manifest", "episode"]


def compare_results(
    a: pd.DataFrame, b: pd.DataFrame, method: str = DEFAULT_CI_METHOD, confidence: float = 0.95
) -> pd.DataFrame:
    """Paired comparison of two per-episode result tables, per (dataset, split, ways, shots, head).

    The entry point of ``fewshot-clce compare`` onto the one summary: the rows of run A in
    :func:`fewshot_clce.stats.summary.summarize` grouped by run with run B as the baseline
    (``mean`` is A's, ``baseline_mean`` B's, ``delta`` A − B with its interval, p-value and
    wins/ties/losses; ``*_kind`` columns say they are episode-level for single-seed runs).

    Raises:
        ValueError: when the two tables do not hold the same episodes.
    """
    keys = [k for k in EPISODE_KEYS if k in a.columns and k in b.columns]
    for df, name in ((a, "A"), (b, "B")):
        if df.duplicated(keys).any():
            raise ValueError(
                f"results of run {name} list some episodes twice; compare one run at a time"
            )
    merged = a[keys + ["accuracy"]].merge(
        b[keys + ["accuracy"]], on=keys, how="outer", suffixes=("_a", "_b"), indicator=True
    )
    if (merged["_merge"] != "both").any():
        only = merged[merged["_merge"] != "both"]
        side = (
            only["_merge"].iloc[0].replace("_only", "").replace("left", "A").replace("right", "B")
        )
        raise ValueError(
            f"the runs were not evaluated on the same episodes: {len(only)} (episode, head) rows "
            f"are in one table only (e.g. {only[keys].iloc[0].to_dict()} only in run {side}); "
            "evaluate both runs with the same manifests and heads"
        )
    names = [str(df["run"].iloc[0]) if "run" in df.columns and len(df) else "" for df in (a, b)]
    if names[0] == names[1]:  # two folders of one name: told apart, or B would be its own baseline
        names = [f"{names[0]} (A)".lstrip(), f"{names[1]} (B)".lstrip()]
    both = pd.concat([a.assign(run=names[0]), b.assign(run=names[1])], ignore_index=True)
    trained = [
        sorted(set(df["train_dataset"])) if "train_dataset" in df.columns else [] for df in (a, b)
    ]
    if (
        trained[0] != trained[1]
    ):  # runs trained on different datasets are still paired on the same episodes
        both = both.drop(columns="train_dataset")
    table = summarize(
        both, baseline=names[1], split=None, ci_method=method, confidence=confidence, by="run"
    )
    table = table[table["run"] == names[0]].reset_index(drop=True)
    if trained[0] != trained[1]:
        table["train_dataset"] = ", ".join(
            trained[0]
        )  # not the evaluation dataset the summary filled in
        table.insert(
            table.columns.get_loc("baseline") + 1, "baseline_train_dataset", ", ".join(trained[1])
        )
    return table


def compare_runs(
    run_a: str | Path,
    run_b: str | Path,
    episodes: EpisodesArg,
    heads=("centroid", "logistic"),
    method: str = DEFAULT_CI_METHOD,
    confidence: float = 0.95,
    **evaluate_kw,
) -> pd.DataFrame:
    """Evaluate two runs on the same episodes and compare them pairwise (see :func:`compare_results`)."""
    sets = load_episode_sets(episodes)
    a = evaluate_run(run_a, sets, heads, **evaluate_kw)
    b = evaluate_run(run_b, sets, heads, **evaluate_kw)
    return compare_results(a, b, method=method, confidence=confidence)
