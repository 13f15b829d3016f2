"""Seed-level statistics: intervals and tests that account for training seeds and episodes.

An episode confidence interval measures how well the episodes pin down the accuracy of *one*
trained backbone. When the same configuration is trained with several seeds, the accuracy also
varies from seed to seed, and a comparison of losses has to carry that variation too.

Inputs are matrices ``[n_seeds, n_episodes]`` of per-episode accuracies with the same episodes
(one manifest) in every row: seeds and episodes are *crossed*. Paired differences are taken
seed by seed on the same episodes first, so every method keeps the pairing.

Two methods:

- ``"crossed"`` (the default): a t interval from the two-way random-effects model of a crossed
  design (:mod:`fewshot_clce.stats.crossed`: seed, episode and interaction variance,
  Satterthwaite degrees of freedom). The same statistic gives the seed-level p-value of a
  paired difference (``p_value``, two-sided, against 0). With few seeds the degrees of freedom
  are few and the t quantile is large, which is what makes the interval honest there.
- ``"bootstrap"``: the hierarchical bootstrap, resampling seeds and then episodes within each
  drawn seed (percentile interval). Kept for comparison: with 2-5 seeds a percentile interval
  over so few seed resamples covers the truth well below its nominal level, and resampling
  episodes independently per seed ignores that all seeds share one manifest (see
  :mod:`fewshot_clce.stats.coverage`, which measures both).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import pandas as pd

from .crossed import crossed_t

DEFAULT_BOOT = 2000
DEFAULT_BOOT_SEED = 0
SEED_METHODS = ("crossed", "bootstrap")
DEFAULT_SEED_METHOD = "crossed"
# Seeds from which the crossed interval covered the truth at close to its nominal level in the
# coverage simulation (benchmarks/seed_interval_coverage.py; README, statistics section).
TRUSTED_SEEDS = 3
# Upper bound on the elements of one chunk of resampled indices [chunk, S, E] (memory stays bounded).
_CHUNK_ELEMENTS = 4_000_000


def bootstrap_method(n_boot: int = DEFAULT_BOOT, seed: int = DEFAULT_BOOT_SEED) -> str:
    """How the bootstrap seed-level interval is computed, in words."""
    return (
        f"hierarchical bootstrap (resample training seeds, then episodes within each seed; "
        f"{n_boot} resamples, percentile interval, numpy generator seed {seed})"
    )


CROSSED_METHOD = (
    "t interval of the seeds x episodes random-effects model (seed, episode and "
    "interaction variance; Satterthwaite degrees of freedom)"
)


def method_text(
    method: str = DEFAULT_SEED_METHOD, n_boot: int = DEFAULT_BOOT, seed: int = DEFAULT_BOOT_SEED
) -> str:
    """The seed-level interval ``method`` in words (written next to every such number)."""
    _check_method(method)
    return CROSSED_METHOD if method == "crossed" else bootstrap_method(n_boot, seed)


def _check_method(method: str) -> None:
    if method not in SEED_METHODS:
        raise ValueError(
            f"unknown seed-level method {method!r}; use one of {', '.join(SEED_METHODS)}"
        )


@dataclass(frozen=True)
class SeedLevel:
    """Mean over training seeds of the per-seed mean accuracy, with its seed-level interval.

    Attributes:
        mean: mean over seeds of each seed's mean over episodes.
        low, high: ends of the seed-level interval (NaN with fewer than 2 seeds).
        per_seed: ``[n_seeds]`` each seed's mean over episodes.
        n_seeds, n_episodes: sizes of the matrix.
        method: how ``low``/``high`` were computed.
        note: empty, or why the interval could not be computed.
        p_value: two-sided seed-level p-value of ``mean == 0`` from the same method as the interval
            (the crossed model's t test, or :func:`bootstrap_p` of the bootstrap draws); NaN with
            fewer than 2 seeds. Meaningful for paired differences.
        df: degrees of freedom of the t quantile (``"crossed"``), else NaN.
        se: standard error of ``mean`` (``"crossed"``), else NaN.
    """

    mean: float
    low: float
    high: float
    per_seed: np.ndarray = field(repr=False)
    n_seeds: int
    n_episodes: int
    method: str
    note: str = ""
    p_value: float = float("nan")
    df: float = float("nan")
    se: float = float("nan")


@dataclass(frozen=True)
class SeedPaired(SeedLevel):
    """A :class:`SeedLevel` of the paired differences ``a - b``, plus the seeds' signs.

    Attributes:
        agree: number of seeds whose mean difference has the sign of the overall mean
            (a zero per-seed difference does not agree with a non-zero mean).
        positive, negative: seeds whose mean difference is > 0 / < 0 (wins and losses
            counted over seeds; ``n_seeds - positive - negative`` are ties).
    """

    agree: int = 0
    positive: int = 0
    negative: int = 0


def hierarchical_bootstrap(
    values: np.ndarray,
    n_boot: int = DEFAULT_BOOT,
    seed: int = DEFAULT_BOOT_SEED,
    chunk: Optional[int] = None,
) -> np.ndarray:
    """Bootstrap distribution of the grand mean, resampling seeds and then episodes.

    Each resample draws ``S`` rows (seeds) with replacement, then for every drawn row ``E``
    episodes of that row with replacement, and records the mean of the drawn values.

    Args:
        values: ``[S, E]`` per-episode accuracies, one row per training seed.
        n_boot: number of resamples.
        seed: seed of the numpy generator (the result is a function of it).
        chunk: resamples drawn per step (default: as many as keep one step under a few million
            indices). Part of the definition of the draws: the same ``chunk`` gives the same numbers.

    Returns:
        ``[n_boot]`` resampled grand means.
    """
    values = _matrix(values)
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    n_seeds, n_ep = values.shape
    if chunk is None:
        chunk = max(1, _CHUNK_ELEMENTS // (n_seeds * n_ep))
    rng = np.random.default_rng(seed)
    out = np.empty(n_boot)
    for start in range(0, n_boot, chunk):
        b = min(chunk, n_boot - start)
        seed_idx = rng.integers(0, n_seeds, size=(b, n_seeds))  # [b, S] drawn seeds
        ep_idx = rng.integers(
            0, n_ep, size=(b, n_seeds, n_ep)
        )  # [b, S, E] drawn episodes per drawn seed
        drawn = values[
            seed_idx[:, :, None], ep_idx
        ]  # [b, S, E] episode ep_idx of drawn seed seed_idx
        out[start : start + b] = drawn.mean(axis=(1, 2))
    return out


def bootstrap_p(draws: np.ndarray, null: float = 0.0) -> float:
    """Two-sided p-value of ``mean == null`` from bootstrap draws of the mean (interval inverted).

    It is the smallest ``alpha`` at which the ``1 - alpha`` percentile interval of ``draws`` leaves
    ``null`` out, ``2 * min(share of draws <= null, share >= null)``, so that p < 0.05 when the 95%
    percentile interval excludes ``null`` (up to the resolution of ``len(draws)`` draws).
    """
    draws = np.asarray(draws, dtype=np.float64)
    share = min(float(np.mean(draws <= null)), float(np.mean(draws >= null)))
    return min(1.0, 2.0 * share)


def _matrix(values) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2 or values.size == 0:
        raise ValueError(
            f"values must be a non-empty [seeds, episodes] matrix, got shape {values.shape}"
        )
    if not np.isfinite(values).all():
        raise ValueError("values contain NaN or infinity; drop or fix those episodes first")
    return values


def _interval(values: np.ndarray, level: float, n_boot: int, seed: int, method: str):
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    _check_method(method)
    values = _matrix(values)
    per_seed = values.mean(axis=1)
    n_seeds, _ = values.shape
    text = method_text(method, n_boot, seed)
    nan = float("nan")
    if n_seeds < 2:
        note = (
            f"seed-level CI cannot be computed from {n_seeds} training seed; "
            "pass --seeds with at least 2 seeds (e.g. --seeds 0 1 2)"
        )
        return per_seed, dict(
            mean=float(per_seed.mean()), low=nan, high=nan, method=text, note=note
        )
    note = (
        ""
        if n_seeds >= TRUSTED_SEEDS
        else (
            f"with {n_seeds} seeds the seed-level interval covered the truth less often than stated in "
            f"the coverage simulation; use at least {TRUSTED_SEEDS} seeds"
        )
    )
    if method == "bootstrap":
        draws = hierarchical_bootstrap(values, n_boot=n_boot, seed=seed)
        alpha = 1.0 - level
        low, high = np.quantile(draws, [alpha / 2, 1 - alpha / 2])
        return per_seed, dict(
            mean=float(per_seed.mean()),
            low=float(low),
            high=float(high),
            method=text,
            note=note,
            p_value=bootstrap_p(draws),
        )
    ct = crossed_t(values)
    low, high = ct.interval(level)
    return per_seed, dict(
        mean=float(ct.mean),
        low=float(low),
        high=float(high),
        method=text,
        note=note,
        p_value=float(ct.p_value()),
        df=float(ct.df),
        se=float(ct.se),
    )


def seed_level(
    values: np.ndarray,
    level: float = 0.95,
    n_boot: int = DEFAULT_BOOT,
    seed: int = DEFAULT_BOOT_SEED,
    method: str = DEFAULT_SEED_METHOD,
) -> SeedLevel:
    """Mean over seeds and its seed-level interval.

    Args:
        values: ``[S, E]`` per-episode accuracies (rows: training seeds; same episodes in every row).
        level: confidence level.
        n_boot: bootstrap resamples (``method="bootstrap"`` only).
        seed: seed of the bootstrap's generator (``method="bootstrap"`` only).
        method: ``"crossed"`` (default) or ``"bootstrap"`` (see the module docstring).

    With ``S < 2`` the interval is NaN and ``note`` says why; the mean is still reported.
    """
    per_seed, r = _interval(values, level, n_boot, seed, method)
    return SeedLevel(per_seed=per_seed, n_seeds=len(per_seed), n_episodes=np.shape(values)[1], **r)


def seed_paired(
    a: np.ndarray,
    b: np.ndarray,
    level: float = 0.95,
    n_boot: int = DEFAULT_BOOT,
    seed: int = DEFAULT_BOOT_SEED,
    method: str = DEFAULT_SEED_METHOD,
) -> SeedPaired:
    """Paired difference ``a - b`` computed seed by seed on the same episodes.

    Args:
        a: ``[S, E]`` per-episode accuracies of one configuration; row ``s`` comes from training
            seed ``s`` and column ``e`` from episode ``e`` of the manifest.
        b: ``[S, E]`` the same for the other configuration, on the same seeds and episodes.
        method: see :func:`seed_level`; with ``"crossed"`` the result's ``p_value`` is the
            seed-level test of a zero difference.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(
            f"paired matrices must have the same [seeds, episodes] shape, got {a.shape} and {b.shape}"
        )
    diff = a - b  # [S, E] paired per seed and episode
    per_seed, r = _interval(diff, level, n_boot, seed, method)
    sign = np.sign(r["mean"])
    agree = int(np.sum(np.sign(per_seed) == sign)) if sign != 0 else 0
    return SeedPaired(
        per_seed=per_seed,
        n_seeds=len(per_seed),
        n_episodes=diff.shape[1],
        agree=agree,
        positive=int(np.sum(per_seed > 0)),
        negative=int(np.sum(per_seed < 0)),
        **r,
    )


def seed_matrix(df: pd.DataFrame, value: str = "accuracy") -> pd.DataFrame:
    """Pivot the rows of one configuration into a ``[seeds, episodes]`` matrix.

    Args:
        df: per-episode rows of one (configuration, dataset, split, head, ways, shots), with
            columns ``seed``, ``episode`` and ``value``.

    Raises:
        ValueError: if a (seed, episode) pair repeats, or seeds were evaluated on different
            episodes (the matrix would have holes).
    """
    dup = df.duplicated(["seed", "episode"])
    if dup.any():
        row = df[dup].iloc[0]
        raise ValueError(
            f"seed {row['seed']} episode {row['episode']} appears more than once; "
            "summarise one configuration, dataset, split, head and shot setting at a time"
        )
    mat = df.pivot(index="seed", columns="episode", values=value).sort_index()
    if mat.isna().any().any():
        counts = df.groupby("seed")["episode"].nunique().to_dict()
        raise ValueError(
            f"training seeds were evaluated on different episodes (episodes per seed: {counts}); "
            "evaluate every seed on the same manifest"
        )
    return mat
