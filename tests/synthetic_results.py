"""Synthetic per-episode results tables (results schema) with known effects, for tests."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Optional

import numpy as np
import pandas as pd

HP_OF_LOSS = {
    "ce": (),
    "supcon": ("temperature",),
    "lacln": ("temperature", "beta"),
    "clce": ("lam", "temperature", "beta"),
    "baselinepp": ("scale",),
    "proto": ("scale",),
    "negmargin": ("scale", "margin"),
}


def make_results(
    effects: dict[str, float],
    seeds: Sequence[int] = (0, 1, 2),
    episodes: int = 60,
    heads: Sequence[str] = ("centroid",),
    shots: Sequence[int] = (1, 5),
    splits: Sequence[str] = ("val", "novel"),
    grid: Optional[dict[str, Sequence]] = None,
    hp_effect=None,
    seed_sd: float = 0.02,
    episode_sd: float = 0.08,
    queries: int = 15,
    ways: int = 5,
    rng_seed: int = 0,
    dataset: str = "toy",
) -> pd.DataFrame:
    """Accuracy = 0.5 + effects[loss] + hp_effect(loss, hparams, split) + seed effect + episode
    effect + noise, rounded to a multiple of 1/(ways*queries) as real episode accuracies are.

    The episode effect is shared by every run (same episodes are easy or hard for all), so paired
    differences are tighter than unpaired ones, as in real benchmarks.
    """
    rng = np.random.default_rng(rng_seed)
    grid = dict(grid or {})
    n_q = ways * queries
    ep_effect = {(sp, k): rng.normal(0, episode_sd, episodes) for sp in splits for k in shots}
    rows = []
    for loss, eff in effects.items():
        names = [h for h in grid if h in HP_OF_LOSS.get(loss, ()) or h == "batch_size"]
        for values in itertools.product(*(grid[h] for h in names)):
            hp = dict(zip(names, values))
            for s in seeds:
                seed_eff = rng.normal(0, seed_sd)
                for sp, k, head in itertools.product(splits, shots, heads):
                    extra = hp_effect(loss, hp, sp) if hp_effect else 0.0
                    p = 0.5 + eff + extra + seed_eff + 0.05 * (k > 1) + ep_effect[(sp, k)]
                    acc = rng.binomial(n_q, np.clip(p, 0.01, 0.99)) / n_q
                    run = f"{loss}-" + "-".join(f"{a}{b}" for a, b in hp.items()) + f"-s{s}"
                    for e in range(episodes):
                        rows.append(
                            dict(
                                run=run,
                                loss=loss,
                                seed=s,
                                dataset=dataset,
                                split=sp,
                                head=head,
                                ways=ways,
                                shots=k,
                                queries=queries,
                                episode=e,
                                accuracy=float(acc[e]),
                                **hp,
                            )
                        )
    return pd.DataFrame(rows)
