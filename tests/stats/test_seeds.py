import numpy as np
import pandas as pd
import pytest

from fewshot_clce.stats.crossed import crossed_t
from fewshot_clce.stats.seeds import (
    bootstrap_p,
    hierarchical_bootstrap,
    seed_level,
    seed_matrix,
    seed_paired,
)


def _naive_bootstrap(values, n_boot, seed):
    """Direct loop over resamples with the very draws the vectorised version makes (one chunk)."""
    rng = np.random.default_rng(seed)
    s, e = values.shape
    seed_idx = rng.integers(0, s, size=(n_boot, s))
    ep_idx = rng.integers(0, e, size=(n_boot, s, e))
    out = []
    for b in range(n_boot):
        drawn = [values[seed_idx[b, k], ep_idx[b, k, j]] for k in range(s) for j in range(e)]
        out.append(sum(drawn) / len(drawn))
    return np.array(out)


def test_bootstrap_matches_direct_loop():
    values = np.random.default_rng(3).random((3, 7))
    fast = hierarchical_bootstrap(values, n_boot=50, seed=11, chunk=50)
    np.testing.assert_allclose(fast, _naive_bootstrap(values, 50, 11), rtol=0, atol=1e-12)


def test_bootstrap_is_seeded_and_chunking_only_changes_draws():
    values = np.random.default_rng(0).random((4, 30))
    a = hierarchical_bootstrap(values, n_boot=400, seed=1)
    assert np.array_equal(a, hierarchical_bootstrap(values, n_boot=400, seed=1))
    assert not np.array_equal(a, hierarchical_bootstrap(values, n_boot=400, seed=2))
    b = hierarchical_bootstrap(values, n_boot=400, seed=1, chunk=7)
    assert abs(a.std() - b.std()) < 0.25 * a.std()


def test_interval_width_matches_two_level_variance():
    # 8 seeds with seed sd 0.05, 400 episodes with sd 0.1: the variance of the grand mean under
    # the two-level design is sd_seed^2/S + sd_ep^2/(S E); the bootstrap SD must be close to it
    # (the bootstrap estimates it from the data, with (S-1)/S shrinkage on the seed term).
    rng = np.random.default_rng(5)
    s, e = 8, 400
    values = 0.6 + rng.normal(0, 0.05, (s, 1)) + rng.normal(0, 0.1, (s, e))
    draws = hierarchical_bootstrap(values, n_boot=3000, seed=0)
    row_means = values.mean(axis=1)
    expected = np.sqrt(row_means.var(ddof=0) / s + values.var(axis=1, ddof=0).mean() / (s * e))
    assert draws.std() == pytest.approx(expected, rel=0.1)
    res = seed_level(values)
    assert res.low < res.mean < res.high
    assert res.mean == pytest.approx(values.mean())
    # ignoring seeds would give an interval about sd_ep/sqrt(S E) wide: far too narrow
    assert (res.high - res.low) > 3 * 2 * 1.96 * 0.1 / np.sqrt(s * e)


def test_one_seed_says_ci_cannot_be_computed_and_keeps_the_mean():
    values = np.array([[0.5, 0.7, 0.6]])
    res = seed_level(values)
    assert res.mean == pytest.approx(0.6)
    assert np.isnan(res.low) and np.isnan(res.high)
    assert "cannot be computed" in res.note and "--seeds" in res.note


def test_paired_difference_seed_by_seed_and_sign_agreement():
    b = np.array([[0.5, 0.6, 0.7, 0.4], [0.55, 0.6, 0.65, 0.5], [0.6, 0.5, 0.6, 0.6]])
    a = b + np.array([[0.1], [0.05], [-0.02]])
    res = seed_paired(a, b, n_boot=500)
    np.testing.assert_allclose(res.per_seed, [0.1, 0.05, -0.02])
    assert res.mean == pytest.approx(np.mean([0.1, 0.05, -0.02]))
    assert res.agree == 2 and res.positive == 2 and res.n_seeds == 3
    assert res.low <= res.mean <= res.high
    with pytest.raises(ValueError, match="same"):
        seed_paired(a, b[:, :3])


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="NaN"):
        hierarchical_bootstrap(np.array([[0.5, np.nan]]))
    with pytest.raises(ValueError, match="matrix"):
        seed_level(np.array([0.5, 0.6]))


def test_seed_matrix_pivots_and_rejects_holes():
    df = pd.DataFrame(
        {"seed": [0, 0, 1, 1], "episode": [0, 1, 0, 1], "accuracy": [0.1, 0.2, 0.3, 0.4]}
    )
    mat = seed_matrix(df)
    assert mat.to_numpy().tolist() == [[0.1, 0.2], [0.3, 0.4]]
    with pytest.raises(ValueError, match="different episodes"):
        seed_matrix(df.iloc[:3])
    with pytest.raises(ValueError, match="more than once"):
        seed_matrix(pd.concat([df, df.iloc[:1]]))


def _naive_crossed(x):
    """Two-way ANOVA without replication by explicit loops, components truncated at zero."""
    s, e = len(x), len(x[0])
    g = sum(sum(r) for r in x) / (s * e)
    rows = [sum(r) / e for r in x]
    cols = [sum(x[i][j] for i in range(s)) / s for j in range(e)]
    ms_s = e * sum((r - g) ** 2 for r in rows) / (s - 1)
    ms_e = s * sum((c - g) ** 2 for c in cols) / (e - 1)
    ms_r = sum((x[i][j] - rows[i] - cols[j] + g) ** 2 for i in range(s) for j in range(e)) / (
        (s - 1) * (e - 1)
    )
    vs, ve = max(ms_s - ms_r, 0) / e, max(ms_e - ms_r, 0) / s
    var = vs / s + ve / e + ms_r / (s * e)
    # Satterthwaite on the mean squares that the truncated components keep
    terms = [(ms_s, s - 1)] if ms_s > ms_r else []
    terms += [(ms_e, e - 1)] if ms_e > ms_r else []
    k_r = 1 - len(terms)
    num = (sum(m for m, _ in terms) + k_r * ms_r) ** 2
    den = sum(m**2 / d for m, d in terms) + (k_r * ms_r) ** 2 / ((s - 1) * (e - 1))
    return g, var**0.5, max(num / den, 1.0)


@pytest.mark.parametrize(
    "shape,sd",
    [
        ((3, 40), (0.05, 0.1, 0.1)),
        ((5, 25), (0.0, 0.2, 0.05)),
        ((2, 60), (0.1, 0.0, 0.1)),
        ((4, 30), (0.0, 0.0, 0.1)),
    ],
)
def test_crossed_t_matches_explicit_anova(shape, sd):
    rng = np.random.default_rng(sum(shape))
    s, e = shape
    x = (
        rng.normal(0, sd[0], (s, 1)) + rng.normal(0, sd[1], (1, e)) + rng.normal(0, sd[2], (s, e))
    ).tolist()
    ct = crossed_t(np.array(x))
    g, se, df = _naive_crossed(x)
    assert float(ct.mean) == pytest.approx(g, abs=1e-12)
    assert float(ct.se) == pytest.approx(se, rel=1e-9)
    assert float(ct.df) == pytest.approx(df, rel=1e-9)
    batched = crossed_t(np.stack([np.array(x)] * 3))
    np.testing.assert_allclose(batched.se, [se] * 3, rtol=1e-9)


def test_crossed_interval_carries_the_shared_episode_effect():
    # Seeds agree perfectly (no seed effect) but the episodes shared by all seeds vary: the grand
    # mean still has the episode-sampling error sd_ep / sqrt(E), which a t over seed means misses.
    rng = np.random.default_rng(2)
    ep = rng.normal(0, 0.1, (1, 400))
    x = 0.5 + ep + rng.normal(0, 1e-4, (3, 400))
    res = seed_level(x)
    assert res.se == pytest.approx(0.1 / np.sqrt(400), rel=0.2)
    seed_means = x.mean(1)
    assert res.se > 20 * seed_means.std(ddof=1) / np.sqrt(3)


def test_seed_level_p_value_and_per_seed_signs():
    rng = np.random.default_rng(4)
    b = rng.random((3, 300))
    noise = rng.normal(0, 0.05, (3, 300))
    tied = seed_paired(b + noise, b)
    assert 0.0 <= tied.p_value <= 1.0 and not tied.p_value < 0.01
    clear = seed_paired(b + 0.05 + noise, b)
    assert clear.p_value < 0.01 and clear.positive == 3 and clear.negative == 0
    mixed = seed_paired(b + np.array([[0.06], [0.05], [-0.04]]) + noise, b)
    assert (mixed.positive, mixed.negative) == (2, 1)
    # the low end stays inside the per-seed spread's t interval: 3 seeds disagreeing cannot be "significant"
    assert mixed.low < 0 < mixed.high and mixed.p_value > 0.05


def test_two_seeds_carry_a_note_and_bootstrap_stays_available():
    x = np.random.default_rng(0).random((2, 50))
    res = seed_level(x)
    assert "at least 3 seeds" in res.note and np.isfinite(res.low)
    boot = seed_level(x, method="bootstrap", n_boot=200)
    # accuracies near 0.5 are far from 0: every draw is above, the inverted interval's p is 0
    assert "bootstrap" in boot.method and boot.p_value == 0.0
    with pytest.raises(ValueError, match="crossed, bootstrap"):
        seed_level(x, method="jackknife")


def test_bootstrap_p_is_the_percentile_interval_inverted():
    draws = np.arange(1, 201) / 100 - 0.1  # 10 of 200 draws at or below 0
    assert bootstrap_p(draws) == pytest.approx(0.1)
    rng = np.random.default_rng(3)
    diff = rng.normal(0.02, 0.05, (4, 80)) + rng.normal(0, 0.01, (4, 1))
    res = seed_paired(diff + 0.5, np.full_like(diff, 0.5), method="bootstrap", n_boot=1000, seed=2)
    assert (res.p_value < 0.05) == (res.low > 0 or res.high < 0)
