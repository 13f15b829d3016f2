import math

import numpy as np
import pytest
from scipy import stats

from fewshot_clce.stats.intervals import mean_ci, paired_comparison, wilcoxon_p


def test_normal_ci_is_1_96_std_over_sqrt_n():
    a = np.random.default_rng(0).uniform(0.3, 0.9, size=600)
    ci = mean_ci(a, "normal")
    assert ci.mean == pytest.approx(a.mean())
    assert ci.half_width == pytest.approx(1.96 * a.std(ddof=1) / math.sqrt(len(a)), rel=1e-4)
    assert (ci.low, ci.high) == pytest.approx((a.mean() - ci.half_width, a.mean() + ci.half_width))
    assert ci.method == "normal" and ci.n == 600 and "normal" in str(ci)


def test_t_ci_matches_scipy_interval():
    a = np.random.default_rng(1).uniform(0.3, 0.9, size=12)
    ci = mean_ci(a, "t", confidence=0.9)
    lo, hi = stats.t.interval(0.9, len(a) - 1, loc=a.mean(), scale=stats.sem(a))
    assert (ci.low, ci.high) == pytest.approx((lo, hi))
    assert ci.half_width > mean_ci(a, "normal", confidence=0.9).half_width


def test_one_default_method_t_everywhere():
    from fewshot_clce.stats.intervals import DEFAULT_CI_METHOD

    a = np.random.default_rng(3).uniform(0.3, 0.9, size=40)
    assert (
        DEFAULT_CI_METHOD == "t"
        and mean_ci(a).method == "t"
        and paired_comparison(a, a[::-1]).method == "t"
    )
    assert mean_ci(a).half_width == pytest.approx(mean_ci(a, "t").half_width)


def test_ci_bad_input():
    with pytest.raises(ValueError, match="0 episodes"):
        mean_ci([])
    with pytest.raises(ValueError, match="non-finite"):
        mean_ci([0.5, float("nan")])
    with pytest.raises(ValueError, match="unknown CI method"):
        mean_ci([0.5, 0.6], "bootstrap")
    assert math.isnan(mean_ci([0.5]).half_width)


def test_paired_comparison_against_scipy():
    rng = np.random.default_rng(2)
    b = rng.uniform(0.4, 0.8, size=200).round(2)
    a = np.clip(b + rng.normal(0.02, 0.05, size=200).round(2), 0, 1)
    pc = paired_comparison(a, b)
    d = a - b
    assert pc.diff == pytest.approx(d.mean())
    lo, hi = stats.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=stats.sem(d))
    assert (pc.diff_low, pc.diff_high) == pytest.approx((lo, hi))
    assert pc.p_wilcoxon == pytest.approx(stats.wilcoxon(d).pvalue)
    assert (pc.wins, pc.ties, pc.losses) == ((d > 0).sum(), (d == 0).sum(), (d < 0).sum())
    assert pc.wins + pc.ties + pc.losses == 200 and pc.ties > 0


@pytest.mark.parametrize("n", [2, 5, 9, 13, 14])
def test_wilcoxon_p_of_few_tied_differences_is_scipys(n):
    """Up to 13 differences with ties or zeros the exact sign-flip p-value is computed here at once
    (SciPy enumerates the same 2**n patterns one Python call each); beyond, SciPy's own method."""
    import warnings

    rng = np.random.default_rng(n)
    for trial in (0, 2) if n == 13 else range(3):  # at 13 SciPy takes about a second per tied case
        d = rng.integers(-3, 4, size=n) / 7  # accuracies differ by steps: ties and zeros
        if not d.any():
            d[0] = 2 / 7  # all zero is p = 1 here, an error in SciPy (see the test below)
        if trial == 2:
            d = rng.normal(size=n)  # no ties: SciPy's exact distribution
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = stats.wilcoxon(d, zero_method="wilcox").pvalue
        assert wilcoxon_p(d) == pytest.approx(expected, abs=1e-12), (n, d)


def test_paired_all_ties_and_mismatch():
    a = np.full(10, 0.7)
    pc = paired_comparison(a, a.copy())
    assert pc.p_wilcoxon == 1.0 and pc.ties == 10 and pc.diff == 0.0
    assert wilcoxon_p(np.zeros(3)) == 1.0
    with pytest.raises(ValueError, match="same episode manifest"):
        paired_comparison(a, a[:9])
