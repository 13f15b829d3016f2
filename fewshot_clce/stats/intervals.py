"""Summaries of per-episode accuracies: mean with a confidence interval, paired comparisons.

Two interval methods, always reported next to the number they produced:

- ``t`` (the default, :data:`DEFAULT_CI_METHOD`): mean +- q * s / sqrt(n) with q Student's t
  quantile on n - 1 degrees of freedom, s the sample standard deviation (ddof = 1).
- ``normal``: the same with z = Phi^-1((1 + confidence) / 2) (1.95996 for 95%), the
  "1.96 * std / sqrt(n)" of the few-shot literature.

Why t is the one default: over the episodes of a manifest (n >= 30, usually 300-2,000) the two
barely differ (the 95% quantile is 2.045 at n = 30, 1.968 at n = 300, 1.962 at n = 1,000,
against 1.960), so the few-shot literature's numbers are reproduced to the printed digits; but
the seed-level interval of :mod:`fewshot_clce.stats.seeds` rests on a handful of training seeds,
where the t quantile (4.30 on 2 degrees of freedom) and the normal one (1.96) give intervals
twice apart. One method, t, is right at both levels.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass

import numpy as np

CI_METHODS = ("t", "normal")
DEFAULT_CI_METHOD = "t"


def episode_method_text(method: str = DEFAULT_CI_METHOD) -> str:
    """The episode-level interval ``method`` in words (written next to every such number)."""
    return {
        "t": "t interval over episodes (n − 1 df)",
        "normal": "normal interval over episodes (z = 1.96)",
    }.get(method, f"{method} interval over episodes")


@dataclass(frozen=True)
class MeanCI:
    """Mean accuracy and its confidence interval.

    Attributes:
        mean: sample mean; half_width: interval half-width; low, high: the interval;
        n: number of episodes; method: "t" or "normal"; confidence: e.g. 0.95.
    """

    mean: float
    half_width: float
    low: float
    high: float
    n: int
    method: str
    confidence: float

    def as_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        return f"{100 * self.mean:.2f} ± {100 * self.half_width:.2f} ({self.method}, {self.confidence:.0%} CI, n={self.n})"


def _vector(values, what: str) -> np.ndarray:
    a = np.asarray(values, dtype=np.float64)
    if a.ndim != 1:
        raise ValueError(f"{what} must be a 1-D array of per-episode values, got shape {a.shape}")
    if not np.isfinite(a).all():
        bad = np.flatnonzero(~np.isfinite(a))
        raise ValueError(
            f"{what} has {len(bad)} non-finite values (episodes {bad[:5].tolist()}...)"
        )
    return a


def _quantile(method: str, confidence: float, n: int) -> float:
    if method not in CI_METHODS:
        raise ValueError(f"unknown CI method {method!r}; use one of {', '.join(CI_METHODS)}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    from scipy import stats as _st  # scipy.stats takes ~0.5 s to import: only when needed

    p = (1 + confidence) / 2
    return float(_st.norm.ppf(p)) if method == "normal" else float(_st.t.ppf(p, n - 1))


def mean_ci(acc, method: str = DEFAULT_CI_METHOD, confidence: float = 0.95) -> MeanCI:
    """Mean of per-episode values ``[n]`` with its confidence interval.

    With a single episode the interval is undefined: ``half_width`` is NaN.

    Raises:
        ValueError: on an empty or non-finite input, or an unknown method.
    """
    a = _vector(acc, "accuracies")
    n = len(a)
    if n == 0:
        raise ValueError("no accuracies to summarise (0 episodes)")
    q = _quantile(method, confidence, max(n, 2))
    m = float(a.mean())
    hw = q * float(a.std(ddof=1)) / math.sqrt(n) if n > 1 else float("nan")
    return MeanCI(m, hw, m - hw, m + hw, n, method, confidence)


@dataclass(frozen=True)
class PairedComparison:
    """Run A versus run B on the same episodes.

    Attributes:
        n: episodes; mean_a, mean_b: mean accuracies; diff: mean of (a - b);
        diff_low, diff_high, diff_half_width: CI of the mean difference (``method``);
        p_wilcoxon: two-sided Wilcoxon signed-rank p-value (1.0 when every difference is 0);
        wins, ties, losses: episodes where A is above, equal to, below B.
    """

    n: int
    mean_a: float
    mean_b: float
    diff: float
    diff_half_width: float
    diff_low: float
    diff_high: float
    method: str
    confidence: float
    p_wilcoxon: float
    wins: int
    ties: int
    losses: int

    def as_dict(self) -> dict:
        return asdict(self)


# Up to this many differences, with ties or zeros among them, the p-value is the exact two-sided
# sign-flip test of the signed-rank statistic over all 2**n sign patterns: what SciPy's wilcoxon
# computes there (with a permutation test that evaluates the statistic once per pattern in Python,
# about a second per call). Beyond it, or without ties or zeros, SciPy's own exact or normal method.
_SIGN_FLIP_MAX_N = 13


def _ties_or_zeros(d: np.ndarray) -> bool:
    magnitudes = np.abs(d)
    return bool(np.any(magnitudes == 0) or np.unique(magnitudes).size < magnitudes.size)


def _sign_flip_p(d: np.ndarray) -> float:
    """Exact two-sided p-value of the signed-rank sum over every sign pattern of the non-zero
    differences (zeros dropped, average ranks for ties), with SciPy's tolerance for equal sums."""
    from scipy.stats import rankdata

    nonzero = d[d != 0]
    ranks = rankdata(np.abs(nonzero))  # average ranks for ties
    observed = float(ranks[nonzero > 0].sum())
    m = nonzero.size
    patterns = (np.arange(2**m)[:, None] >> np.arange(m)) & 1  # row i: which ranks are positive
    null = patterns @ ranks
    gamma = abs(np.finfo(float).eps * 100 * observed)  # sums equal in theory, apart by rounding
    p_less = np.count_nonzero(null <= observed + gamma) / null.size
    p_greater = np.count_nonzero(null >= observed - gamma) / null.size
    return float(min(1.0, 2 * min(p_less, p_greater)))


def wilcoxon_p(diff) -> float:
    """Two-sided Wilcoxon signed-rank p-value of paired differences ``[n]``.

    Zero differences are dropped (Wilcoxon's treatment); when nothing is left the two runs
    are indistinguishable on these episodes and the p-value is 1.0.
    """
    from scipy import stats as _st

    d = _vector(diff, "differences")
    if not np.any(d != 0):
        return 1.0
    if d.size <= _SIGN_FLIP_MAX_N and _ties_or_zeros(d):
        return _sign_flip_p(d)
    with warnings.catch_warnings():
        warnings.simplefilter(
            "ignore"
        )  # scipy warns about ties / small samples; the test still applies
        return float(_st.wilcoxon(d, zero_method="wilcox", alternative="two-sided").pvalue)


def paired_comparison(
    a, b, method: str = DEFAULT_CI_METHOD, confidence: float = 0.95
) -> PairedComparison:
    """Compare per-episode accuracies ``a [n]`` and ``b [n]`` of two runs on the same episodes.

    Raises:
        ValueError: if the lengths differ (the episodes cannot be the same) or are empty.
    """
    a, b = _vector(a, "accuracies of run A"), _vector(b, "accuracies of run B")
    if len(a) != len(b):
        raise ValueError(
            f"run A has {len(a)} episodes and run B {len(b)}; a paired comparison needs "
            "both runs evaluated on the same episode manifest"
        )
    if len(a) == 0:
        raise ValueError("no episodes to compare")
    d = a - b
    ci = mean_ci(d, method=method, confidence=confidence)
    return PairedComparison(
        n=len(d),
        mean_a=float(a.mean()),
        mean_b=float(b.mean()),
        diff=ci.mean,
        diff_half_width=ci.half_width,
        diff_low=ci.low,
        diff_high=ci.high,
        method=method,
        confidence=confidence,
        p_wilcoxon=wilcoxon_p(d),
        wins=int((d > 0).sum()),
        ties=int((d == 0).sum()),
        losses=int((d < 0).sum()),
    )
