"""The paired difference Δ of one summary group against its baseline group, on the same episodes
(and seeds): one row's :data:`~fewshot_clce.stats.summary.PAIRED_COLUMNS`.

Two levels, each with its own test (see :mod:`fewshot_clce.stats.summary` for which is the
headline): the seed level (:func:`~fewshot_clce.stats.seeds.seed_paired`: the crossed model's t
test, or the hierarchical bootstrap), and the episode level
(:func:`~fewshot_clce.stats.intervals.paired_comparison` of the seed-averaged per-episode
accuracies: the Wilcoxon signed-rank test and counts over episodes).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .intervals import DEFAULT_CI_METHOD, episode_method_text, paired_comparison
from .seeds import DEFAULT_BOOT, DEFAULT_BOOT_SEED, DEFAULT_SEED_METHOD, seed_paired

# The test behind each level's p-value, in words (the ``p_method`` column).
SEED_TEST = "t test of the seeds x episodes random-effects model (Satterthwaite df)"
EPISODE_TEST = "Wilcoxon signed-rank test over episodes"
BOOTSTRAP_TEST = "hierarchical bootstrap test (the percentile interval inverted)"


def _paired_part(a: pd.DataFrame, b: pd.DataFrame):
    """``a`` and ``b`` restricted to what they share: common seeds and episodes.

    Two single-seed groups with different seeds (two runs, say) are paired on the episodes alone.
    """
    seeds = a.index.intersection(b.index)
    eps = a.columns.intersection(b.columns)
    if len(seeds) == 0 and len(a.index) == 1 and len(b.index) == 1:
        return (
            a.loc[:, eps].to_numpy(dtype=np.float64),
            b.loc[:, eps].to_numpy(dtype=np.float64),
            len(eps),
        )
    if len(seeds) == 0 or len(eps) == 0:
        raise ValueError(
            f"nothing to pair: seeds {list(a.index)} vs {list(b.index)}, "
            f"{len(eps)} common episodes; compare runs with the same seeds on the same manifest"
        )
    return (
        a.loc[seeds, eps].to_numpy(dtype=np.float64),
        b.loc[seeds, eps].to_numpy(dtype=np.float64),
        len(eps),
    )


def paired_row(
    a: pd.DataFrame,
    b: pd.DataFrame,
    n_boot: int = DEFAULT_BOOT,
    boot_seed: int = DEFAULT_BOOT_SEED,
    ci_method: str = DEFAULT_CI_METHOD,
    seed_method: str = DEFAULT_SEED_METHOD,
    confidence: float = 0.95,
) -> dict[str, object]:
    """Paired Δ ``a - b`` of two ``[seeds, episodes]`` matrices over their common seeds and episodes.

    Returns the :data:`PAIRED_COLUMNS` but ``baseline``: the episode level (``delta_ep_ci_*``,
    ``p_episode``, ``ep_wins``...: :func:`~fewshot_clce.stats.intervals.paired_comparison` of the
    seed-averaged per-episode accuracies), the seed level (``delta_seed_ci_*``, ``p_seed``, the
    seeds' signs), and the headline columns taken from the seed level with two or more paired
    seeds, else from the episode level (see the module docstring).
    """
    a, b, n_eps = _paired_part(a, b)
    ep = paired_comparison(a.mean(axis=0), b.mean(axis=0), method=ci_method, confidence=confidence)
    sp = seed_paired(a, b, level=confidence, n_boot=n_boot, seed=boot_seed, method=seed_method)
    has_seed = sp.n_seeds >= 2
    # The seed-level test comes from the interval's own method: p and interval never disagree.
    p_seed = sp.p_value if has_seed else np.nan
    ties = sp.n_seeds - sp.positive - sp.negative
    return {
        "baseline_mean": float(b.mean()),
        "delta": sp.mean,
        "delta_ci_low": sp.low if has_seed else ep.diff_low,
        "delta_ci_high": sp.high if has_seed else ep.diff_high,
        "delta_ci_kind": "seed" if has_seed else "episode",
        "delta_ci_method": sp.method if has_seed else episode_method_text(ci_method),
        "delta_ep_ci_low": ep.diff_low,
        "delta_ep_ci_high": ep.diff_high,
        "delta_seed_ci_low": sp.low,
        "delta_seed_ci_high": sp.high,
        "p_value": p_seed if has_seed else ep.p_wilcoxon,
        "p_kind": "seed" if has_seed else "episode",
        "p_method": (
            (SEED_TEST if seed_method == "crossed" else BOOTSTRAP_TEST)
            if has_seed
            else EPISODE_TEST
        ),
        "p_seed": p_seed,
        "p_episode": ep.p_wilcoxon,
        "wins": sp.positive if has_seed else ep.wins,
        "ties": ties if has_seed else ep.ties,
        "losses": sp.negative if has_seed else ep.losses,
        "wtl_kind": "seed" if has_seed else "episode",
        "ep_wins": ep.wins,
        "ep_ties": ep.ties,
        "ep_losses": ep.losses,
        "seeds_positive": sp.positive,
        "seeds_negative": sp.negative,
        "seeds_agree": f"{sp.agree}/{sp.n_seeds}",
        "delta_per_seed": " ".join(f"{d:+.4f}" for d in sp.per_seed),
        "paired_seeds": sp.n_seeds,
        "paired_episodes": n_eps,
    }
