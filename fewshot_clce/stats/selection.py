"""Choosing hyper-parameters on the validation split's episodes, never on the novel split.

A configuration's validation score is its mean accuracy on the ``val`` split, averaged over every
head, shot setting and training seed that was evaluated (one number per configuration, so the
choice cannot be tuned to a single cell of the novel-split table). Ties go to the configuration
whose label sorts first, so the choice is deterministic.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from .summary import hparam_columns, with_config

VAL_SPLIT = "val"


def validation_scores(df: pd.DataFrame, split: str = VAL_SPLIT) -> pd.DataFrame:
    """Mean validation accuracy of every configuration: columns dataset, loss, config, hyper-parameters,
    ``val_accuracy``, ``val_episodes`` (rows averaged)."""
    df = with_config(df)
    val = df[
        (df["split"] == split) & (df["dataset"] == df["train_dataset"])
    ]  # the training dataset's own val
    if val.empty:
        raise ValueError(
            f"no results on the {split!r} split: hyper-parameters are chosen on validation "
            "episodes; evaluate the runs on the val split too"
        )
    hp = hparam_columns(df.columns)
    keys = ["dataset", "loss", "config"]
    first = val.groupby(keys, sort=True)[hp].first() if hp else None
    score = val.groupby(keys, sort=True)["accuracy"].agg(val_accuracy="mean", val_episodes="count")
    out = score if first is None else first.join(score)
    return out.reset_index()


def select(df: pd.DataFrame, by: Sequence[str] = (), split: str = VAL_SPLIT) -> pd.DataFrame:
    """The configuration with the best validation score per (dataset, loss, *by*).

    Args:
        df: per-episode results with rows on the validation split.
        by: hyper-parameter columns held fixed (one choice per value), e.g. ``("beta",)`` gives
            the best configuration at each β: the profile used by the ablation tables.

    Returns:
        One row per (dataset, loss, *by*) with the chosen ``config``, its ``val_accuracy``, the
        number of ``candidates`` it was chosen among, and its hyper-parameters.
    """
    scores = validation_scores(df, split)
    for col in by:
        if col not in scores.columns:
            raise ValueError(f"cannot hold {col!r} fixed: the results have no {col!r} column")
    keys = ["dataset", "loss", *by]
    scores = scores.sort_values(keys + ["config"])
    rows = []
    # dropna=False keeps losses that do not use a held hyper-parameter (NaN there) as one group.
    for _, g in scores.groupby(keys, sort=True, dropna=False):
        best = g.loc[g["val_accuracy"].idxmax()]
        rows.append(dict(best, candidates=len(g)))
    return pd.DataFrame(rows).reset_index(drop=True)


def restrict(df: pd.DataFrame, chosen: pd.DataFrame) -> pd.DataFrame:
    """Rows of ``df`` belonging to the ``chosen`` configurations (per training dataset: a configuration
    chosen on a dataset's val split is the one reported wherever its runs are evaluated)."""
    df = with_config(df)
    keep = set(zip(chosen["dataset"], chosen["config"]))
    mask = [k in keep for k in zip(df["train_dataset"], df["config"])]
    return df[mask]


def swept(df: pd.DataFrame) -> list:
    """Hyper-parameter columns that take more than one value within some loss."""
    out = []
    for col in hparam_columns(df.columns):
        if (df.groupby("loss")[col].nunique(dropna=True) > 1).any():
            out.append(col)
    return out
