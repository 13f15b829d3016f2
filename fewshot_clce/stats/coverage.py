"""Does a seed-level interval cover the truth as often as it says? A simulation of benchmarks.

A simulated benchmark is a ``[S, E]`` matrix of per-episode values of one cell (an accuracy, or a
paired difference of two losses) with the structure of the real ones: ``S`` training seeds
evaluated on the *same* ``E`` episodes, so

    x[s, e] = truth + u_s + v_e + w_se,

with a seed effect ``u`` (seed-to-seed spread of a trained backbone), an episode effect ``v``
shared by every seed (some episodes are harder) and a seed x episode interaction ``w``. The
``"binomial"`` kind draws per-episode accuracies the way they arise: each of the episode's
``queries`` predictions is right with probability ``sigmoid(logit(accuracy) + u + v + w)``, and
the truth is the expected accuracy over seeds and episodes (computed by Monte Carlo). A fresh
manifest is drawn for every simulated benchmark, so the truth is the population value, the one
a reader of a results table cares about.

:func:`coverage` measures the fraction of simulated benchmarks whose 95% interval contains the
truth; ``benchmarks/seed_interval_coverage.py`` prints the table the README quotes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Optional

import numpy as np
import pandas as pd

from .crossed import crossed_t
from .seeds import hierarchical_bootstrap


@dataclass(frozen=True)
class Scenario:
    """Sizes of the effects of one simulated cell (in accuracy units, 0.01 = one point).

    Attributes:
        name: label in tables.
        sd_seed, sd_episode, sd_residual: standard deviations of ``u``, ``v`` and ``w`` (on the
            logit scale for the binomial kind).
        kind: ``"normal"`` (values are the sum itself) or ``"binomial"`` (accuracies of ``queries``
            predictions).
        accuracy: mean accuracy of the binomial kind.
        queries: predictions per episode (binomial kind), e.g. 75 for 5-way 15-query.
    """

    name: str
    sd_seed: float
    sd_episode: float
    sd_residual: float
    kind: str = "normal"
    accuracy: float = 0.8
    queries: int = 75

    def draw(self, rng: np.random.Generator, n: int, n_seeds: int, n_episodes: int) -> np.ndarray:
        """``[n, S, E]`` simulated benchmarks (the truth is :meth:`truth`)."""
        u = rng.normal(0.0, self.sd_seed, (n, n_seeds, 1))
        v = rng.normal(0.0, self.sd_episode, (n, 1, n_episodes))
        w = rng.normal(0.0, self.sd_residual, (n, n_seeds, n_episodes))
        if self.kind == "normal":
            return u + v + w
        if self.kind != "binomial":
            raise ValueError(f"unknown scenario kind {self.kind!r}; use 'normal' or 'binomial'")
        p = _sigmoid(_logit(self.accuracy) + u + v + w)  # [n, S, E]
        return rng.binomial(self.queries, p) / self.queries

    def truth(self, rng: Optional[np.random.Generator] = None, draws: int = 2_000_000) -> float:
        """The expected value of a cell (0 for the normal kind)."""
        if self.kind == "normal":
            return 0.0
        rng = rng or np.random.default_rng(12345)
        z = rng.normal(
            0.0, np.sqrt(self.sd_seed**2 + self.sd_episode**2 + self.sd_residual**2), draws
        )
        return float(_sigmoid(_logit(self.accuracy) + z).mean())


def _logit(p: float) -> float:
    return float(np.log(p / (1.0 - p)))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _bootstrap_intervals(x: np.ndarray, n_boot: int, rng: np.random.Generator, level: float):
    """Percentile intervals of the hierarchical bootstrap for each of ``x [n, S, E]``."""
    n, s, e = x.shape
    low, high = np.empty(n), np.empty(n)
    alpha = 1.0 - level
    for i in range(n):
        draws = hierarchical_bootstrap(x[i], n_boot=n_boot, seed=int(rng.integers(2**31)))
        low[i], high[i] = np.quantile(draws, [alpha / 2, 1 - alpha / 2])
    return low, high


def intervals(
    x: np.ndarray,
    method: str,
    level: float = 0.95,
    n_boot: int = 400,
    rng: Optional[np.random.Generator] = None,
):
    """``(low, high)`` arrays ``[n]`` of the seed-level interval of each benchmark ``x [n, S, E]``.

    Methods: ``"crossed"`` and ``"bootstrap"`` (:mod:`fewshot_clce.stats.seeds`), and
    ``"t-seed-means"``, the plain t interval over the seeds' means with ``S - 1`` degrees of
    freedom (for comparison: it leaves out the episode effect all seeds share).
    """
    from scipy import stats as _st

    x = np.asarray(x, dtype=np.float64)
    if method == "crossed":
        return crossed_t(x).interval(level)
    if method == "bootstrap":
        return _bootstrap_intervals(x, n_boot, rng or np.random.default_rng(0), level)
    if method == "t-seed-means":
        m = x.mean(axis=2)  # [n, S]
        s = m.shape[1]
        half = _st.t.ppf(0.5 + level / 2, s - 1) * m.std(axis=1, ddof=1) / np.sqrt(s)
        return m.mean(axis=1) - half, m.mean(axis=1) + half
    raise ValueError(f"unknown interval method {method!r}; use crossed, bootstrap or t-seed-means")


def coverage(
    scenario: Scenario,
    method: str,
    n_seeds: int,
    n_episodes: int,
    n_sims: int,
    seed: int = 0,
    level: float = 0.95,
    n_boot: int = 400,
    truth: Optional[float] = None,
) -> dict:
    """Fraction of ``n_sims`` simulated benchmarks whose interval contains the truth.

    Returns:
        ``scenario``, ``method``, ``seeds``, ``episodes``, ``sims``, ``coverage``, its binomial
        standard error ``coverage_se`` and the mean interval width ``width``.
    """
    if n_seeds < 2 or n_episodes < 1 or n_sims < 1:
        raise ValueError(
            f"need n_seeds >= 2, n_episodes >= 1 and n_sims >= 1; got {n_seeds}, "
            f"{n_episodes}, {n_sims}"
        )
    rng = np.random.default_rng(seed)
    truth = scenario.truth() if truth is None else truth
    covered, widths = [], []
    # Chunks keep the [n, S, E] arrays to a few million values.
    step = max(1, 2_000_000 // (n_seeds * n_episodes))
    for start in range(0, n_sims, step):
        x = scenario.draw(rng, min(step, n_sims - start), n_seeds, n_episodes)
        low, high = intervals(x, method, level, n_boot, rng)
        covered.append((low <= truth) & (truth <= high))
        widths.append(high - low)
    hit = np.concatenate(covered)
    c = float(hit.mean())
    return dict(
        scenario=scenario.name,
        method=method,
        seeds=n_seeds,
        episodes=n_episodes,
        sims=n_sims,
        coverage=c,
        coverage_se=float(np.sqrt(c * (1 - c) / n_sims)),
        width=float(np.concatenate(widths).mean()),
    )


def coverage_table(
    scenarios: Iterable[Scenario],
    methods: Iterable[str] = ("crossed", "bootstrap", "t-seed-means"),
    seeds: Iterable[int] = (2, 3, 5, 10),
    n_episodes: int = 1000,
    n_sims: int = 2000,
    bootstrap_sims: Optional[int] = None,
    seed: int = 0,
    n_boot: int = 400,
) -> pd.DataFrame:
    """:func:`coverage` for every scenario x method x seed count, one row each.

    ``bootstrap_sims`` (default ``n_sims``) lets the slow bootstrap run fewer simulations.
    """
    rows = []
    for sc in scenarios:
        truth = sc.truth()
        for m in methods:
            sims = (bootstrap_sims or n_sims) if m == "bootstrap" else n_sims
            for s in seeds:
                rows.append(
                    coverage(sc, m, s, n_episodes, sims, seed=seed, n_boot=n_boot, truth=truth)
                )
    return pd.DataFrame(rows)


# Coverage from which an interval counts as trusted: within 2.5 points of the nominal 95% (the
# Satterthwaite degrees of freedom are an approximation; a shortfall of a point or two is the
# price of it, one of five or more is not).
TRUST_FLOOR = 0.925


def trusted_seeds(
    table: pd.DataFrame, method: str = "crossed", floor: float = TRUST_FLOOR
) -> Optional[int]:
    """The fewest seeds from which ``method`` covers at least ``floor`` in every scenario of ``table``.

    Args:
        table: rows of :func:`coverage_table`.

    Returns:
        The smallest seed count ``S`` of the table such that every row of ``method`` with ``S`` or
        more seeds has a coverage of at least ``floor``; None when even the largest count falls short.
    """
    rows = table[table["method"] == method]
    if rows.empty:
        raise ValueError(
            f"no rows of method {method!r} in the coverage table; it has {sorted(set(table['method']))}"
        )
    worst = (
        rows.groupby("seeds")["coverage"].min().sort_index()
    )  # [seed counts] lowest over scenarios
    trusted = None
    for s in reversed(worst.index.tolist()):
        if worst[s] < floor:
            break
        trusted = int(s)
    return trusted
