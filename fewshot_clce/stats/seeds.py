"""Seed-level statistics: a confidence interval that accounts for training seeds and episodes.

An episode confidence interval measures how well the episodes pin down the accuracy of *one*
trained backbone. When the same configuration is trained with several seeds, the accuracy also
varies from seed to seed; a comparison of losses has to carry that variation too. This module
resamples at both levels, the way the data were produced: a **hierarchical bootstrap** that first
draws training seeds with replacement, then, within each drawn seed, episodes with replacement.

Inputs are matrices ``[n_seeds, n_episodes]`` of per-episode accuracies, with the same episodes
(same manifest) in every row. Paired differences are taken seed by seed on the same episodes
before resampling, so the bootstrap keeps the pairing.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import pandas as pd

DEFAULT_BOOT = 2000
DEFAULT_BOOT_SEED = 0
# Upper bound on the elements of one chunk of resampled indices [chunk, S, E] (memory stays bounded).
_CHUNK_ELEMENTS = 4_000_000


def bootstrap_method(n_boot: int = DEFAULT_BOOT, seed: int = DEFAULT_BOOT_SEED) -> str:
    """How the seed-level interval is computed, in words (written next to every such number)."""
    return (f"hierarchical bootstrap (resample training seeds, then episodes within each seed; "
            f"{n_boot} resamples, percentile interval, numpy generator seed {seed})")


@dataclass(frozen=True)
class SeedLevel:
    """Mean over training seeds of the per-seed mean accuracy, with its seed-level interval.

    Attributes:
        mean: mean over seeds of each seed's mean over episodes.
        low, high: ends of the hierarchical-bootstrap interval (NaN with fewer than 2 seeds).
        per_seed: ``[n_seeds]`` each seed's mean over episodes.
        n_seeds, n_episodes: sizes of the matrix.
        method: how ``low``/``high`` were computed.
        note: empty, or why the interval could not be computed.
    """

    mean: float
    low: float
    high: float
    per_seed: np.ndarray = field(repr=False)
    n_seeds: int
    n_episodes: int
    method: str
    note: str = ""


@dataclass(frozen=True)
class SeedPaired(SeedLevel):
    """A :class:`SeedLevel` of the paired differences ``a - b``, plus sign agreement.

    Attributes:
        agree: number of seeds whose mean difference has the sign of the overall mean
            (a zero per-seed difference does not agree with a non-zero mean).
        positive: number of seeds whose mean difference is > 0.
    """

    agree: int = 0
    positive: int = 0


def hierarchical_bootstrap(values: np.ndarray, n_boot: int = DEFAULT_BOOT, seed: int = DEFAULT_BOOT_SEED,
                           chunk: Optional[int] = None) -> np.ndarray:
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
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2 or values.size == 0:
        raise ValueError(f"values must be a non-empty [seeds, episodes] matrix, got shape {values.shape}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    if not np.isfinite(values).all():
        raise ValueError("values contain NaN or infinity; drop or fix those episodes first")
    n_seeds, n_ep = values.shape
    if chunk is None:
        chunk = max(1, _CHUNK_ELEMENTS // (n_seeds * n_ep))
    rng = np.random.default_rng(seed)
    out = np.empty(n_boot)
    for start in range(0, n_boot, chunk):
        b = min(chunk, n_boot - start)
        seed_idx = rng.integers(0, n_seeds, size=(b, n_seeds))  # [b, S] drawn seeds
        ep_idx = rng.integers(0, n_ep, size=(b, n_seeds, n_ep))  # [b, S, E] drawn episodes per drawn seed
        drawn = values[seed_idx[:, :, None], ep_idx]  # [b, S, E] episode ep_idx of drawn seed seed_idx
        out[start:start + b] = drawn.mean(axis=(1, 2))
    return out


def _interval(values: np.ndarray, level: float, n_boot: int, seed: int):
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2 or values.size == 0:
        raise ValueError(f"values must be a non-empty [seeds, episodes] matrix, got shape {values.shape}")
    per_seed = values.mean(axis=1)
    n_seeds, n_ep = values.shape
    method = bootstrap_method(n_boot, seed)
    if n_seeds < 2:
        note = (f"seed-level CI cannot be computed from {n_seeds} training seed; "
                "pass --seeds with at least 2 seeds (e.g. --seeds 0 1 2)")
        return per_seed, float(per_seed.mean()), np.nan, np.nan, method, note
    draws = hierarchical_bootstrap(values, n_boot=n_boot, seed=seed)
    alpha = 1.0 - level
    low, high = np.quantile(draws, [alpha / 2, 1 - alpha / 2])
    return per_seed, float(per_seed.mean()), float(low), float(high), method, ""


def seed_level(values: np.ndarray, level: float = 0.95, n_boot: int = DEFAULT_BOOT,
               seed: int = DEFAULT_BOOT_SEED) -> SeedLevel:
    """Mean over seeds and its hierarchical-bootstrap interval.

    Args:
        values: ``[S, E]`` per-episode accuracies (rows: training seeds; same episodes in every row).
        level: confidence level.

    With ``S < 2`` the interval is NaN and ``note`` says why; the mean is still reported.
    """
    per_seed, mean, low, high, method, note = _interval(values, level, n_boot, seed)
    return SeedLevel(mean, low, high, per_seed, len(per_seed), np.shape(values)[1], method, note)


def seed_paired(a: np.ndarray, b: np.ndarray, level: float = 0.95, n_boot: int = DEFAULT_BOOT,
                seed: int = DEFAULT_BOOT_SEED) -> SeedPaired:
    """Paired difference ``a - b`` computed seed by seed on the same episodes.

    Args:
        a, b: ``[S, E]`` per-episode accuracies of two configurations; row ``s`` of both comes
            from training seed ``s`` and column ``e`` from episode ``e`` of the same manifest.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired matrices must have the same [seeds, episodes] shape, got {a.shape} and {b.shape}")
    diff = a - b  # [S, E] paired per seed and episode
    per_seed, mean, low, high, method, note = _interval(diff, level, n_boot, seed)
    sign = np.sign(mean)
    agree = int(np.sum(np.sign(per_seed) == sign)) if sign != 0 else 0
    return SeedPaired(mean, low, high, per_seed, len(per_seed), diff.shape[1], method, note,
                      agree=agree, positive=int(np.sum(per_seed > 0)))


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
        raise ValueError(f"seed {row['seed']} episode {row['episode']} appears more than once; "
                         "summarise one configuration, dataset, split, head and shot setting at a time")
    mat = df.pivot(index="seed", columns="episode", values=value).sort_index()
    if mat.isna().any().any():
        counts = df.groupby("seed")["episode"].nunique().to_dict()
        raise ValueError(f"training seeds were evaluated on different episodes (episodes per seed: {counts}); "
                         "evaluate every seed on the same manifest")
    return mat
