import numpy as np
import pandas as pd
import pytest
from scipy.stats import t as student_t
from scipy.stats import wilcoxon
from synthetic_results import make_results

from fewshot_clce.report.analysis import analyse
from fewshot_clce.report.tables import ci_legend, summary_markdown
from fewshot_clce.stats import selection
from fewshot_clce.stats.seeds import TRUSTED_SEEDS, seed_matrix, seed_paired
from fewshot_clce.stats.summary import (
    ACCURACY_COLUMNS,
    PAIRED_COLUMNS,
    config_label,
    config_sort_key,
    summarize,
)


def test_config_label_leaves_out_unused_hparams():
    assert (
        config_label("clce", {"lam": 0.5, "temperature": 0.1, "beta": 1.0, "batch_size": 64})
        == "clce(lam=0.5,t=0.1,beta=1,bs=64)"
    )
    assert config_label("ce", {"lam": float("nan"), "batch_size": 64}) == "ce(bs=64)"
    assert config_label("ce", {}) == "ce"


def test_single_seed_summary_uses_episode_ci_and_pairs_with_ce():
    df = make_results({"ce": 0.0, "clce": 0.08}, seeds=[0], episodes=200)
    s = summarize(df)
    assert set(s["ci_kind"]) == {"episode"}
    clce = s[(s["loss"] == "clce") & (s["shots"] == 1)].iloc[0]
    cell = df[(df["split"] == "novel") & (df["shots"] == 1)]
    a = cell[cell["loss"] == "clce"].sort_values("episode")["accuracy"].to_numpy()
    b = cell[cell["loss"] == "ce"].sort_values("episode")["accuracy"].to_numpy()
    assert clce["mean"] == pytest.approx(a.mean())
    # the one default interval is Student's t on n - 1 degrees of freedom
    half = student_t.ppf(0.975, len(a) - 1) * a.std(ddof=1) / np.sqrt(len(a))
    assert clce["ci_high"] - clce["mean"] == pytest.approx(half, rel=1e-6)
    assert clce["delta"] == pytest.approx((a - b).mean())
    assert clce["delta_ci_low"] > 0 and clce["p_value"] < 0.01
    # one seed: the test and the counts are episode-level, and say so
    assert (clce["p_kind"], clce["wtl_kind"], clce["delta_ci_kind"]) == (
        "episode",
        "episode",
        "episode",
    )
    assert (
        clce["p_value"] == pytest.approx(wilcoxon(a - b).pvalue)
        and clce["p_value"] == clce["p_episode"]
    )
    assert clce["wins"] + clce["ties"] + clce["losses"] == 200 and clce["wins"] == clce["ep_wins"]
    assert np.isnan(clce["p_seed"])
    assert np.isnan(clce["seed_ci_low"]) and "cannot be computed" in clce["note"]
    ce = s[(s["loss"] == "ce") & (s["shots"] == 1)].iloc[0]
    assert np.isnan(ce["delta"])


def test_several_seeds_use_the_crossed_t_interval_and_seed_level_test():
    df = make_results({"ce": 0.0, "clce": 0.03}, seeds=[0, 1, 2], episodes=80, seed_sd=0.03)
    s = summarize(df)
    row = s[(s["loss"] == "clce") & (s["shots"] == 5)].iloc[0]
    assert row["ci_kind"] == "seed" and row["n_seeds"] == 3 and "random-effects" in row["ci_method"]
    cell = df[(df["split"] == "novel") & (df["shots"] == 5)]
    mat = lambda loss: seed_matrix(cell[cell["loss"] == loss]).to_numpy()  # noqa: E731
    direct = seed_paired(mat("clce"), mat("ce"))
    assert row["delta"] == pytest.approx(direct.mean)
    assert (row["delta_ci_low"], row["delta_ci_high"]) == pytest.approx((direct.low, direct.high))
    # the headline p-value and W/T/L are seed-level: the crossed model's test, seeds counted
    assert (
        row["p_kind"] == "seed" and row["p_value"] == pytest.approx(direct.p_value) == row["p_seed"]
    )
    assert (row["wtl_kind"], row["wins"], row["losses"]) == (
        "seed",
        direct.positive,
        direct.negative,
    )
    assert row["wins"] + row["ties"] + row["losses"] == 3
    # the episode-level Wilcoxon and counts stay in their own columns
    d = mat("clce").mean(0) - mat("ce").mean(0)
    assert row["p_episode"] == pytest.approx(wilcoxon(d).pvalue)
    assert (
        row["ep_wins"] + row["ep_ties"] + row["ep_losses"] == 80 and row["ep_wins"] == (d > 0).sum()
    )
    assert row["seeds_agree"] == f"{direct.agree}/3"
    per_seed = [float(x) for x in row["delta_per_seed"].split()]
    np.testing.assert_allclose(per_seed, direct.per_seed, atol=1e-4)
    # the seed-level interval is wider than the episode-only one: seed noise is real here
    assert row["seed_ci_high"] - row["seed_ci_low"] > row["ep_ci_high"] - row["ep_ci_low"]


def test_the_hierarchical_bootstrap_gives_its_interval_and_its_own_p_value():
    df = make_results(
        {"ce": 0.0, "clce": 0.03}, seeds=[0, 1, 2], episodes=40, seed_sd=0.03, shots=(5,)
    )
    crossed = summarize(df).iloc[1]
    boot = summarize(df, seed_method="bootstrap", n_boot=300, boot_seed=4).iloc[1]
    assert "hierarchical" in boot["ci_method"] and "hierarchical" in boot["delta_ci_method"]
    cell = df[df["split"] == "novel"]
    mat = lambda loss: seed_matrix(cell[cell["loss"] == loss]).to_numpy()  # noqa: E731
    direct = seed_paired(mat("clce"), mat("ce"), n_boot=300, seed=4, method="bootstrap")
    assert (boot["delta_ci_low"], boot["delta_ci_high"]) == pytest.approx((direct.low, direct.high))
    # interval and p from the same method: the bootstrap's p is its percentile interval inverted
    assert (
        boot["p_value"] == pytest.approx(direct.p_value) and boot["p_value"] != crossed["p_value"]
    )
    assert "bootstrap" in boot["p_method"] and "random-effects" in crossed["p_method"]
    assert (boot["p_value"] < 0.05) == (boot["delta_ci_low"] > 0 or boot["delta_ci_high"] < 0)


def _three_seeds_one_against(episodes=300):
    """CLCE 5 points above CE on seeds 0 and 1, 4 below on seed 2; episodes shared, as in issue 18."""
    rng = np.random.default_rng(7)
    base = rng.uniform(0.4, 0.9, episodes)
    rows = []
    for seed, shift in enumerate((0.06, 0.05, -0.04)):
        for loss, acc in (
            ("ce", base),
            ("clce", np.clip(base + shift + rng.normal(0, 0.03, episodes), 0, 1)),
        ):
            rows += [
                dict(
                    run=f"{loss}-s{seed}",
                    loss=loss,
                    seed=seed,
                    dataset="digits",
                    split="novel",
                    head="centroid",
                    ways=5,
                    shots=5,
                    queries=15,
                    episode=e,
                    accuracy=float(a),
                )
                for e, a in enumerate(acc)
            ]
    return pd.DataFrame(rows)


def test_a_seed_that_disagrees_shows_in_the_seed_level_p_and_counts_not_an_episode_level_p():
    s = summarize(_three_seeds_one_against())
    row = s[s["loss"] == "clce"].iloc[0]
    # over episodes the difference looks overwhelming; over seeds it is not
    assert row["p_episode"] < 1e-4 and row["ep_wins"] > 200
    assert row["p_value"] > 0.05 and row["delta_ci_low"] < 0 < row["delta_ci_high"]
    assert (row["wins"], row["ties"], row["losses"]) == (2, 0, 1)
    table = summary_markdown(s)
    header, _, _, clce = table.splitlines()
    assert "p (seed-level)" in header and "W/T/L (seeds)" in header and "Wilcoxon" not in header
    assert "<0.0001" not in table and "| 2/0/1 |" in clce and f"{row['p_value']:.4f}" in clce
    legend = ci_legend(s)
    assert f"trusted from {TRUSTED_SEEDS} seeds" in legend and "p_episode" in legend


def test_with_one_seed_the_table_says_its_p_value_is_episode_level():
    s = summarize(make_results({"ce": 0.0, "clce": 0.08}, seeds=[0], episodes=50))
    header = summary_markdown(s).splitlines()[0]
    assert "p (Wilcoxon, episode-level)" in header and "W/T/L (episodes)" in header
    assert "seed noise ignored" in ci_legend(s) and f"trusted from {TRUSTED_SEEDS}" in ci_legend(s)


def test_one_column_schema_for_configs_runs_and_comparisons():
    import fewshot_clce
    from fewshot_clce import compare_results

    df = make_results({"ce": 0.0, "clce": 0.05}, seeds=[0, 1], episodes=30, shots=(5,))
    stats_cols = list(ACCURACY_COLUMNS + PAIRED_COLUMNS)
    by_config = summarize(df)
    runs = summarize(df, by="run", baseline=None, split=None)  # what evaluate prints
    one_a, one_b = (df[(df["run"] == r)] for r in ("clce--s0", "ce--s1"))
    cmp = compare_results(one_a, one_b)
    for table in (by_config, runs, cmp):
        assert list(table.columns[-len(stats_cols) :]) == stats_cols
    assert list(runs.columns) == list(cmp.columns)
    assert fewshot_clce.summarize is summarize  # one summary function, one set of defaults
    assert (
        len(runs) == 4 * 2
        and set(runs["ci_kind"]) == {"episode"}
        and (runs["baseline"] == "").all()
    )
    # compare: run A against run B on the same episodes, although their seeds differ
    row = cmp[cmp["split"] == "novel"].iloc[0]
    a = one_a[one_a["split"] == "novel"].sort_values("episode")["accuracy"].to_numpy()
    b = one_b[one_b["split"] == "novel"].sort_values("episode")["accuracy"].to_numpy()
    assert (row["run"], row["baseline"]) == ("clce--s0", "ce--s1")
    assert row["mean"] == pytest.approx(a.mean()) and row["baseline_mean"] == pytest.approx(
        b.mean()
    )
    assert row["delta"] == pytest.approx((a - b).mean()) and row["p_kind"] == "episode"
    with pytest.raises(ValueError, match="group a summary by 'seed'"):
        summarize(df, by="seed")


def test_selection_uses_val_only():
    # lam=0.9 is best on val, lam=0.1 on novel: the choice must be 0.9
    def effect(loss, hp, split):
        if loss != "clce":
            return 0.0
        good = 0.9 if split == "val" else 0.1
        return 0.1 if hp["lam"] == good else 0.0

    df = make_results(
        {"ce": 0.0, "clce": 0.0}, seeds=[0], grid={"lam": [0.1, 0.9]}, hp_effect=effect
    )
    chosen = selection.select(df)
    row = chosen[chosen["loss"] == "clce"].iloc[0]
    assert row["lam"] == 0.9 and row["candidates"] == 2
    res = analyse(df, n_boot=100)
    assert set(res.main.loc[res.main["loss"] == "clce", "config"]) == {"clce(lam=0.9)"}
    assert res.swept == ["lam"]
    assert len(res.all_configs[res.all_configs["loss"] == "clce"]) == 2 * 2  # 2 configs x 2 shots


def test_batch_size_profile_pairs_with_ce_at_the_same_batch_size():
    df = make_results(
        {"ce": 0.0, "supcon": -0.02, "clce": 0.02},
        seeds=[0, 1],
        episodes=30,
        grid={"batch_size": [32, 256], "temperature": [0.1]},
    )
    res = analyse(df, n_boot=100)
    prof = res.profiles["batch_size"]
    for bs in (32, 256):
        rows = prof[(prof["batch_size"] == bs) & (prof["loss"] != "ce")]
        assert set(rows["baseline"]) == {f"ce(bs={bs})"}
    assert len(res.main[res.main["loss"] == "ce"]) == 2  # one CE config chosen, 2 shot settings


def test_missing_val_with_sweep_is_an_error_and_schema_is_checked():
    df = make_results(
        {"ce": 0.0, "clce": 0.0}, seeds=[0], splits=("novel",), grid={"lam": [0.1, 0.9]}
    )
    with pytest.raises(ValueError, match="val"):
        analyse(df)
    with pytest.raises(ValueError, match="accuracy"):
        analyse(df.drop(columns="accuracy"))
    ok = analyse(make_results({"ce": 0.0, "clce": 0.0}, seeds=[0], splits=("novel",)), n_boot=50)
    assert set(ok.main["loss"]) == {"ce", "clce"}


def test_a_losss_configurations_are_listed_in_the_order_of_their_values():
    """A batch-size or λ profile reads 32, 64, 256 and 0.05, 0.1, 0.2, not in string order
    (``bs=256`` before ``bs=32``)."""
    df = make_results(
        {"ce": 0.0, "clce": 0.02},
        seeds=[0, 1],
        episodes=20,
        grid={"batch_size": [256, 32, 64], "lam": [0.2, 0.05, 0.1]},
    )
    res = analyse(df, n_boot=100)
    for table, hp, want in (
        (res.profiles["batch_size"], "batch_size", [32, 64, 256]),
        (res.profiles["lam"], "lam", [0.05, 0.1, 0.2]),
    ):
        unit = table[(table["loss"] == "clce") & (table["shots"] == 1)]
        assert list(unit[hp]) == want
    every = res.all_configs
    unit = every[(every["loss"] == "clce") & (every["shots"] == 5)]
    assert list(unit["config"]) == sorted(unit["config"], key=config_sort_key)
    assert list(unit[["lam", "batch_size"]].itertuples(index=False, name=None))[:4] == [
        (0.05, 32),  # the label's first value (lam=...) first, then bs=..., each as a number
        (0.05, 64),
        (0.05, 256),
        (0.1, 32),
    ]
