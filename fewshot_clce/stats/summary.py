"""The one summary of a per-episode results table: mean accuracy with its 95% CI per group, and the
paired difference Δ against a baseline group on the same episodes (and seeds).

``evaluate``, ``compare``, ``benchmark``, the report and the notebooks all show rows of
:func:`summarize` (exported as ``fewshot_clce.summarize``); :func:`fewshot_clce.compare_results`
is an entry point onto it. Every number is recomputed from the per-episode rows (results schema: one
row per run, dataset, split, head, ways, shots, episode; column ``accuracy``).

A *group* is what one summary row describes:

- ``by="config"`` (the benchmark): a configuration, a loss with its hyper-parameters (``config``
  column, derived when missing), pooled over its training seeds;
- ``by="run"`` (``evaluate``, ``compare``): each run, one trained backbone, on its own.

Intervals, one default: Student t (why: :mod:`fewshot_clce.stats.intervals`).

- episode level (``ep_*``): the t interval (n − 1 df) of the per-episode accuracies averaged over
  seeds; with one seed it is the usual few-shot CI. It leaves seed-to-seed noise out.
- seed level (``seed_*``, two or more seeds): the crossed seeds x episodes random-effects t
  interval (Satterthwaite df) of :mod:`fewshot_clce.stats.seeds`, or with
  ``seed_method="bootstrap"`` the hierarchical bootstrap. Its coverage was measured by simulation
  (:mod:`fewshot_clce.stats.coverage`): it is trusted from
  :data:`~fewshot_clce.stats.seeds.TRUSTED_SEEDS` seeds on.

Paired Δ (:mod:`fewshot_clce.stats.paired`): the seed-level test of Δ = 0 (``p_seed``) comes from the interval's own method (the
crossed model's t test, or with ``seed_method="bootstrap"`` the percentile interval inverted), and
its win/tie/loss counts are over seeds (a seed wins when its own mean Δ is above 0); the
episode-level test is the Wilcoxon signed-rank test of the seed-averaged per-episode differences
(``p_episode``) with counts over episodes (``ep_wins``...). The headline columns (``ci_low`` /
``ci_high``, ``delta_ci_*``, ``p_value``, ``wins`` / ``ties`` / ``losses``) are seed level whenever
two or more seeds are paired and episode level otherwise; ``ci_kind``, ``delta_ci_kind``,
``p_kind`` and ``wtl_kind`` say which, so no episode-level figure is shown as seed-level evidence.

Every row has every column of :data:`ACCURACY_COLUMNS` and :data:`PAIRED_COLUMNS` (NaN, or "" for
text, where a column does not apply: the Δ columns of a baseline row).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Optional

import numpy as np
import pandas as pd

from ..losses.hparams import CONFIG_COLUMNS, config_label, hparam_columns  # noqa: F401 (config_label: re-exported)
from .intervals import DEFAULT_CI_METHOD, episode_method_text, mean_ci
from .paired import paired_row
from .seeds import DEFAULT_BOOT, DEFAULT_BOOT_SEED, DEFAULT_SEED_METHOD, seed_level, seed_matrix

# The columns that define a configuration and the label format: one declaration, in the losses.
HPARAMS = CONFIG_COLUMNS
# train_dataset: where the backbone was trained (and its configuration chosen); dataset: evaluated on
UNIT_KEYS = ["train_dataset", "dataset", "split", "head", "ways", "shots"]
# Further columns that tell episode sets apart, used as keys when the table has them.
EPISODE_SET_KEYS = ["queries", "manifest"]
GROUPS = ("config", "run")
# Per-episode columns a summary row repeats from its group's rows when the table has them.
DESCRIBING_COLUMNS = ("embedding_dim",)

ACCURACY_COLUMNS = (
    "n_seeds",
    "seeds",
    "n_episodes",
    "mean",
    "ci_low",
    "ci_high",
    "ci_kind",
    "ci_method",
    "confidence",
    "ep_ci_low",
    "ep_ci_high",
    "seed_ci_low",
    "seed_ci_high",
    "seed_std",
    "note",
)
PAIRED_COLUMNS = (
    "baseline",
    "baseline_mean",
    "delta",
    "delta_ci_low",
    "delta_ci_high",
    "delta_ci_kind",
    "delta_ci_method",
    "delta_ep_ci_low",
    "delta_ep_ci_high",
    "delta_seed_ci_low",
    "delta_seed_ci_high",
    "p_value",
    "p_kind",
    "p_method",
    "p_seed",
    "p_episode",
    "wins",
    "ties",
    "losses",
    "wtl_kind",
    "ep_wins",
    "ep_ties",
    "ep_losses",
    "seeds_positive",
    "seeds_negative",
    "seeds_agree",
    "delta_per_seed",
    "paired_seeds",
    "paired_episodes",
)

COUNT_COLUMNS = (
    "n_seeds",
    "n_episodes",
    "wins",
    "ties",
    "losses",
    "ep_wins",
    "ep_ties",
    "ep_losses",
    "seeds_positive",
    "seeds_negative",
    "paired_seeds",
    "paired_episodes",
)

# Paired columns holding text: "" (not NaN) on rows without a Δ.
TEXT_COLUMNS = (
    "p_kind",
    "wtl_kind",
    "delta_ci_kind",
    "delta_ci_method",
    "p_method",
    "seeds_agree",
    "delta_per_seed",
)


def with_train_dataset(df: pd.DataFrame) -> pd.DataFrame:
    """The table with a ``train_dataset`` column: kept if present, else ``dataset`` (results written
    before cross-domain evaluation were all evaluated on the dataset they were trained on)."""
    if "train_dataset" in df.columns:
        return df
    return df.assign(train_dataset=df["dataset"])


def with_config(df: pd.DataFrame) -> pd.DataFrame:
    """The table with a ``config`` column (kept where present, else built from loss and
    hyper-parameters: results written by the benchmark carry the label their loss declares, older
    ones are labelled here), and a ``train_dataset`` column (:func:`with_train_dataset`)."""
    df = with_train_dataset(df)
    if "config" in df.columns and df["config"].notna().all():
        return df
    cols = [c for c in HPARAMS if c in df.columns]
    keys = df[["loss"] + cols].astype(object)
    keys = keys.where(keys.notna(), None)  # None, unlike NaN, is equal to itself as a dict key
    rows = list(keys.itertuples(index=False, name=None))
    labels = {r: config_label(r[0], dict(zip(cols, r[1:]))) for r in set(rows)}
    out = df.copy()
    built = [labels[r] for r in rows]
    out["config"] = (
        out["config"].where(out["config"].notna(), pd.Series(built, index=out.index))
        if "config" in out.columns
        else built
    )
    return out


def accuracy_row(
    mat: pd.DataFrame,
    ci_method: str = DEFAULT_CI_METHOD,
    seed_method: str = DEFAULT_SEED_METHOD,
    confidence: float = 0.95,
    n_boot: int = DEFAULT_BOOT,
    boot_seed: int = DEFAULT_BOOT_SEED,
) -> dict[str, object]:
    """The :data:`ACCURACY_COLUMNS` of one group's ``[seeds, episodes]`` accuracy matrix."""
    values = mat.to_numpy(dtype=np.float64)
    ep = mean_ci(values.mean(axis=0), method=ci_method, confidence=confidence)
    sl = seed_level(values, level=confidence, n_boot=n_boot, seed=boot_seed, method=seed_method)
    has_seed = sl.n_seeds >= 2
    return {
        "n_seeds": sl.n_seeds,
        "seeds": " ".join(str(s) for s in mat.index),
        "n_episodes": sl.n_episodes,
        "mean": sl.mean,
        "ci_low": sl.low if has_seed else ep.low,
        "ci_high": sl.high if has_seed else ep.high,
        "ci_kind": "seed" if has_seed else "episode",
        "ci_method": sl.method if has_seed else episode_method_text(ci_method),
        "confidence": confidence,
        "ep_ci_low": ep.low,
        "ep_ci_high": ep.high,
        "seed_ci_low": sl.low,
        "seed_ci_high": sl.high,
        "seed_std": float(np.std(sl.per_seed, ddof=1)) if has_seed else np.nan,
        "note": sl.note,
    }


def _baseline_candidates(g: pd.DataFrame, by: str, baseline: Optional[str]) -> list[str]:
    """Groups of ``g`` that ``baseline`` names: a group itself, else every group of that loss."""
    if baseline is None:
        return []
    if (g[by] == baseline).any():
        return [baseline]
    return sorted(g.loc[g["loss"] == baseline, by].unique())


def _pick_baseline(
    cands: list[str], g: pd.DataFrame, by: str, name: str, pair_on: Sequence[str]
) -> Optional[str]:
    """The baseline group to pair ``name`` with: the only one, or the one agreeing on ``pair_on``."""
    if len(cands) <= 1:
        return cands[0] if cands else None
    mine = g[g[by] == name].iloc[0]
    for c in cands:
        theirs = g[g[by] == c].iloc[0]
        if all(col in g.columns and mine[col] == theirs[col] for col in pair_on) and pair_on:
            return c
    return None


def _prepared(df: pd.DataFrame, by: str) -> pd.DataFrame:
    """``df`` with the columns a summary needs: ``config``, and a ``seed``, ``loss`` or ``run`` that
    a hand-made table may lack (one run of one seed)."""
    missing = {c: v for c, v in (("loss", ""), ("seed", -1), ("run", "")) if c not in df.columns}
    if by == "config":
        missing.pop("run", None)
    if missing:
        df = df.assign(**missing)
    return with_config(df)


def summarize(
    df: pd.DataFrame,
    baseline: Optional[str] = "ce",
    split: Optional[str] = "novel",
    ci_method: str = DEFAULT_CI_METHOD,
    pair_on: Sequence[str] = ("batch_size",),
    n_boot: int = DEFAULT_BOOT,
    boot_seed: int = DEFAULT_BOOT_SEED,
    by: str = "config",
    seed_method: str = DEFAULT_SEED_METHOD,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """One row per (dataset, split, head, ways, shots, group): accuracy and Δ vs ``baseline``.

    Args:
        df: per-episode results (results schema).
        baseline: the group every other group is compared with, on the same episodes: a value of
            the ``by`` column (a configuration or run), else a loss name. When a loss has several
            configurations, the one with the same values in the ``pair_on`` columns is used.
            None: no comparison.
        split: only rows of this split (None: every split, each summarised on its own).
        ci_method: episode-level interval, ``"t"`` (default) or ``"normal"``.
        by: ``"config"`` (pool a configuration's seeds) or ``"run"`` (each run on its own).
        seed_method: seed-level interval, ``"crossed"`` (default) or ``"bootstrap"``.
        confidence: level of every interval.
        n_boot: hierarchical bootstrap resamples (``seed_method="bootstrap"``).
        boot_seed: seed of the bootstrap's generator (``seed_method="bootstrap"``).

    Returns:
        The unit keys (``dataset, split, head, ways, shots`` and ``queries``, ``manifest`` when the
        table has them), ``run`` (``by="run"``), ``loss``, ``config``, the hyper-parameter columns,
        ``embedding_dim`` (the width of the features, when the table records it), then
        :data:`ACCURACY_COLUMNS` and :data:`PAIRED_COLUMNS`.

    Raises:
        ValueError: for an unknown ``by`` or method, no rows to summarise, a (seed, episode) listed
            twice in a group, or seeds of a group evaluated on different episodes.
    """
    df = _selected(df, by, split)
    keys = UNIT_KEYS + [c for c in EPISODE_SET_KEYS if c in df.columns]
    hp = hparam_columns(df.columns)
    ident = (["run"] if by == "run" else []) + ["loss", "config", *hp]
    ident += [c for c in DESCRIBING_COLUMNS if c in df.columns]
    numbers = dict(
        ci_method=ci_method,
        seed_method=seed_method,
        confidence=confidence,
        n_boot=n_boot,
        boot_seed=boot_seed,
    )
    rows = []
    for ukey, g in df.groupby(keys, sort=False, dropna=False):
        unit = dict(zip(keys, ukey))
        rows += _unit_rows(unit, g, ident, by, baseline, pair_on, numbers)
    out = pd.DataFrame(rows).reindex(columns=[*keys, *ident, *ACCURACY_COLUMNS, *PAIRED_COLUMNS])
    return _tidy(out, df, by)


def _selected(df: pd.DataFrame, by: str, split: Optional[str]) -> pd.DataFrame:
    """The rows :func:`summarize` summarises, prepared (:func:`_prepared`); refuses an unknown
    ``by`` and an empty selection."""
    if by not in GROUPS:
        raise ValueError(f"cannot group a summary by {by!r}; use one of {', '.join(GROUPS)}")
    df = _prepared(df, by)
    if split is not None:
        df = df[df["split"] == split]
        if df.empty:
            raise ValueError(f"no results on the {split!r} split to summarise")
    if df.empty:
        raise ValueError("no results to summarise (0 rows)")
    return df


def _unit_rows(
    unit: dict,
    g: pd.DataFrame,
    ident: Sequence[str],
    by: str,
    baseline: Optional[str],
    pair_on: Sequence[str],
    numbers: dict,
) -> list[dict]:
    """The summary rows of one unit (dataset, split, head, ways, shots): one per group of ``g``,
    with its accuracy and, against the unit's baseline group, its paired Δ.

    Args:
        unit: the unit's key columns and values.
        g: the unit's per-episode rows.
        ident: the columns a row repeats from its group's first per-episode row.
        numbers: the interval settings of :func:`accuracy_row` and :func:`paired_row`.
    """
    mats = {name: seed_matrix(rows_of) for name, rows_of in g.groupby(by, sort=False)}
    cands = _baseline_candidates(g, by, baseline)
    rows = []
    for name, mat in mats.items():
        first = g[g[by] == name].iloc[0]
        row = dict(unit, **{c: first[c] for c in ident})
        row.update(accuracy_row(mat, **numbers))
        base = _pick_baseline(cands, g, by, name, pair_on)
        row["baseline"] = base or ""
        if base is not None and base != name:
            row.update(paired_row(mat, mats[base], **numbers))
        rows.append(row)
    return rows


def _tidy(out: pd.DataFrame, df: pd.DataFrame, by: str) -> pd.DataFrame:
    """Summary rows with integer counts, "" for text that does not apply, in reading order."""
    for col in COUNT_COLUMNS:  # counts stay integers beside the NaN of baseline rows
        out[col] = out[col].astype("Int64")
    for col in TEXT_COLUMNS:
        out[col] = out[col].astype(object).where(out[col].notna(), "")
    # Rows in the order a reader scans a table: setting, then losses (or runs) as first seen, then
    # a loss's configurations by their values (bs=32 before bs=256, lam=0.05 before lam=0.1).
    order = {name: i for i, name in enumerate(pd.unique(df["loss" if by == "config" else "run"]))}
    out["_o"] = out["loss" if by == "config" else "run"].map(order)
    sort = ["train_dataset", "dataset", "split", "ways", "shots", "head", "_o"]
    if by == "config":
        ranked = sorted(pd.unique(out["config"]), key=config_sort_key)
        out["_c"] = out["config"].map({c: i for i, c in enumerate(ranked)})
        sort.append("_c")
    out = out.sort_values(sort, kind="stable")
    return out.drop(columns=["_o", "_c"], errors="ignore").reset_index(drop=True)


_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def config_sort_key(label: str) -> tuple:
    """The key that orders configuration labels by their values, numbers as numbers:
    ``ce(bs=32)`` before ``ce(bs=256)``, ``clce(lam=0.05,...)`` before ``clce(lam=0.1,...)``."""
    key: list = []
    pos = 0
    for m in _NUMBER.finditer(label):
        key += [(0, label[pos : m.start()]), (1, float(m.group()))]
        pos = m.end()
    key.append((0, label[pos:]))
    return tuple(key)


def per_seed_table(df: pd.DataFrame, split: str = "novel") -> pd.DataFrame:
    """Mean accuracy of every (configuration, seed) on ``split``: one row per run and unit."""
    df = with_config(df)
    df = df[df["split"] == split]
    keys = UNIT_KEYS + ["loss", "config", "seed"]
    return (
        df.groupby(keys, sort=True)["accuracy"]
        .agg(["mean", "count"])
        .rename(columns={"count": "n_episodes"})
        .reset_index()
    )
