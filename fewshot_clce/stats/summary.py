"""Summaries of a per-episode results table: mean ± 95% CI per configuration, paired Δ vs a baseline.

The input is the per-episode DataFrame of the results schema (one row per run, dataset, split,
head, ways, shots, episode; column ``accuracy``). A *configuration* is a loss with its
hyper-parameters (``config`` column, derived when missing); a *run* is a configuration trained
with one seed. Every number here is recomputed from the per-episode rows.

Two kinds of interval are reported side by side:

- episode level (``ep_*``): ``stats.mean_ci`` of the per-episode accuracies averaged over seeds,
  i.e. the usual few-shot CI; with one seed it is exactly that run's CI. It ignores seed noise.
- seed level (``seed_*``): the hierarchical bootstrap of :mod:`fewshot_clce.stats.seeds`, only with
  two or more seeds.

``ci_low``/``ci_high`` (and ``delta_ci_*``) are the seed-level interval when it exists and the
episode-level one otherwise; ``ci_kind`` says which.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence

import numpy as np
import pandas as pd

from ..losses.hparams import CONFIG_COLUMNS, config_label  # noqa: F401 (config_label: re-exported)
from . import seeds as seedstats

# The columns that define a configuration and the label format: one declaration, in the losses.
HPARAMS = CONFIG_COLUMNS
# train_dataset: where the backbone was trained (and its configuration chosen); dataset: evaluated on
UNIT_KEYS = ["train_dataset", "dataset", "split", "head", "ways", "shots"]


def with_train_dataset(df: pd.DataFrame) -> pd.DataFrame:
    """The table with a ``train_dataset`` column: kept if present, else ``dataset`` (results written
    before cross-domain evaluation were all evaluated on the dataset they were trained on)."""
    if "train_dataset" in df.columns:
        return df
    return df.assign(train_dataset=df["dataset"])


def with_config(df: pd.DataFrame) -> pd.DataFrame:
    """The table with a ``config`` column (kept if present, else built from loss + hyper-parameters),
    and a ``train_dataset`` column (:func:`with_train_dataset`)."""
    df = with_train_dataset(df)
    if "config" in df.columns:
        return df
    cols = [c for c in HPARAMS if c in df.columns]
    keys = df[["loss"] + cols].astype(object)
    keys = keys.where(keys.notna(), None)  # None, unlike NaN, is equal to itself as a dict key
    rows = list(keys.itertuples(index=False, name=None))
    labels = {r: config_label(r[0], dict(zip(cols, r[1:]))) for r in set(rows)}
    out = df.copy()
    out["config"] = [labels[r] for r in rows]
    return out


def episode_ci(acc: np.ndarray, method: str = "normal") -> Dict[str, float]:
    """Mean with the episode-level 95% CI from ``stats.mean_ci``."""
    from . import intervals as stats

    r = stats.mean_ci(np.asarray(acc, dtype=np.float64), method=method)
    return {"mean": float(r.mean), "low": float(r.low), "high": float(r.high)}


def episode_paired(a: np.ndarray, b: np.ndarray, method: str = "normal") -> Dict[str, float]:
    """Paired comparison ``a - b`` on the same episodes from ``stats.paired_comparison``."""
    from . import intervals as stats

    r = stats.paired_comparison(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64), method=method)
    return {"delta": float(r.diff), "low": float(r.diff_low), "high": float(r.diff_high),
            "p_value": float(r.p_wilcoxon), "wins": int(r.wins), "ties": int(r.ties), "losses": int(r.losses)}


def _unit_row(mat: pd.DataFrame, ci_method: str, n_boot: int, boot_seed: int) -> Dict[str, object]:
    ep = episode_ci(mat.mean(axis=0).to_numpy(), ci_method)
    sl = seedstats.seed_level(mat.to_numpy(), n_boot=n_boot, seed=boot_seed)
    has_seed = sl.n_seeds >= 2
    return {"n_seeds": sl.n_seeds, "seeds": " ".join(str(s) for s in mat.index), "n_episodes": sl.n_episodes,
            "mean": sl.mean, "ep_ci_low": ep["low"], "ep_ci_high": ep["high"],
            "seed_ci_low": sl.low, "seed_ci_high": sl.high,
            "ci_low": sl.low if has_seed else ep["low"], "ci_high": sl.high if has_seed else ep["high"],
            "ci_kind": "seed" if has_seed else "episode",
            "seed_std": float(np.std(sl.per_seed, ddof=1)) if has_seed else np.nan,
            "note": sl.note}


def paired_row(a: pd.DataFrame, b: pd.DataFrame, n_boot: int = seedstats.DEFAULT_BOOT,
               boot_seed: int = seedstats.DEFAULT_BOOT_SEED, ci_method: str = "normal") -> Dict[str, object]:
    """Paired Δ ``a - b`` of two ``[seeds, episodes]`` matrices over their common seeds and episodes.

    Returns ``delta``, the episode-level CI and Wilcoxon p-value (``stats.paired_comparison`` on the
    seed-averaged per-episode accuracies), the seed-level CI and ``seeds_agree`` (``"k/S"``: seeds
    whose own Δ has the sign of the mean), and the headline ``delta_ci_*`` with ``delta_ci_kind``.
    """
    seeds = a.index.intersection(b.index)
    eps = a.columns.intersection(b.columns)
    if len(seeds) == 0 or len(eps) == 0:
        raise ValueError(f"nothing to pair: seeds {list(a.index)} vs {list(b.index)}, "
                         f"{len(eps)} common episodes; compare runs with the same seeds on the same manifest")
    a, b = a.loc[seeds, eps], b.loc[seeds, eps]
    ep = episode_paired(a.mean(axis=0).to_numpy(), b.mean(axis=0).to_numpy(), ci_method)
    sp = seedstats.seed_paired(a.to_numpy(), b.to_numpy(), n_boot=n_boot, seed=boot_seed)
    has_seed = sp.n_seeds >= 2
    return {"delta": sp.mean, "delta_ep_ci_low": ep["low"], "delta_ep_ci_high": ep["high"],
            "delta_seed_ci_low": sp.low, "delta_seed_ci_high": sp.high,
            "delta_ci_low": sp.low if has_seed else ep["low"], "delta_ci_high": sp.high if has_seed else ep["high"],
            "delta_ci_kind": "seed" if has_seed else "episode",
            "p_value": ep["p_value"], "wins": ep["wins"], "ties": ep["ties"], "losses": ep["losses"],
            "seeds_agree": f"{sp.agree}/{sp.n_seeds}", "delta_per_seed": " ".join(f"{d:+.4f}" for d in sp.per_seed),
            "paired_seeds": len(seeds), "paired_episodes": len(eps)}


def _pick_baseline(cands: List[str], g: pd.DataFrame, config: str, pair_on: Sequence[str]) -> Optional[str]:
    """The baseline configuration to pair ``config`` with: the only one, or the one agreeing on ``pair_on``."""
    if len(cands) <= 1:
        return cands[0] if cands else None
    mine = g[g["config"] == config].iloc[0]
    for c in cands:
        theirs = g[g["config"] == c].iloc[0]
        if all(col in g.columns and mine[col] == theirs[col] for col in pair_on) and pair_on:
            return c
    return None


def summarize(df: pd.DataFrame, baseline: str = "ce", split: str = "novel", ci_method: str = "normal",
              pair_on: Sequence[str] = ("batch_size",), n_boot: int = seedstats.DEFAULT_BOOT,
              boot_seed: int = seedstats.DEFAULT_BOOT_SEED) -> pd.DataFrame:
    """One row per (train_dataset, dataset, head, ways, shots, configuration): accuracy and Δ vs ``baseline``.

    Args:
        df: per-episode results (results schema); only rows of ``split`` are used.
        baseline: loss every configuration is compared with. When several baseline configurations
            exist, the one with the same values in ``pair_on`` columns is used.
        ci_method: episode-level CI method passed to ``stats.mean_ci`` (``"normal"`` or ``"t"``).
        n_boot, boot_seed: hierarchical bootstrap settings (seed-level intervals).

    Returns:
        DataFrame with the unit keys, ``loss``, ``config``, hyper-parameter columns, and the
        columns of :func:`paired_row` (NaN where there is no baseline or for the baseline itself).
    """
    df = with_config(df)
    df = df[df["split"] == split]
    if df.empty:
        raise ValueError(f"no results on the {split!r} split to summarise")
    hp = [c for c in HPARAMS if c in df.columns]
    rows = []
    for keys, g in df.groupby(UNIT_KEYS, sort=True):
        mats = {c: seedstats.seed_matrix(cg) for c, cg in g.groupby("config", sort=False)}
        cands = sorted(g.loc[g["loss"] == baseline, "config"].unique())
        for config, mat in mats.items():
            first = g[g["config"] == config].iloc[0]
            row = dict(zip(UNIT_KEYS, keys), loss=first["loss"], config=config, **{c: first[c] for c in hp})
            row.update(_unit_row(mat, ci_method, n_boot, boot_seed))
            row["ci_method"] = (seedstats.bootstrap_method(n_boot, boot_seed) if row["ci_kind"] == "seed"
                                else f"episode-level {ci_method} 95% CI")
            base = _pick_baseline(cands, g, config, pair_on)
            row["baseline"] = base or ""
            if base is not None and base != config:
                row.update(paired_row(mat, mats[base], n_boot, boot_seed, ci_method))
            rows.append(row)
    out = pd.DataFrame(rows)
    order = {name: i for i, name in enumerate(pd.unique(df["loss"]))}
    out["_o"] = out["loss"].map(order)
    return out.sort_values(["train_dataset", "dataset", "shots", "head", "_o", "config"]).drop(columns="_o").reset_index(
        drop=True)


def per_seed_table(df: pd.DataFrame, split: str = "novel") -> pd.DataFrame:
    """Mean accuracy of every (configuration, seed) on ``split``: one row per run and unit."""
    df = with_config(df)
    df = df[df["split"] == split]
    keys = UNIT_KEYS + ["loss", "config", "seed"]
    return (df.groupby(keys, sort=True)["accuracy"].agg(["mean", "count"])
            .rename(columns={"count": "n_episodes"}).reset_index())

