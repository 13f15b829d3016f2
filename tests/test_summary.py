import numpy as np
import pytest
from scipy.stats import norm

from fewshot_clce.stats import seeds as seedstats

from fewshot_clce.stats import selection
from fewshot_clce.report.analysis import analyse
from fewshot_clce.stats.summary import config_label, summarize

from synthetic_results import make_results


def test_config_label_leaves_out_unused_hparams():
    assert config_label("clce", {"lam": 0.5, "temperature": 0.1, "beta": 1.0, "batch_size": 64}) == \
        "clce(lam=0.5,t=0.1,beta=1,bs=64)"
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
    half = norm.ppf(0.975) * a.std(ddof=1) / np.sqrt(len(a))
    assert clce["ci_high"] - clce["mean"] == pytest.approx(half, rel=1e-6)
    assert clce["delta"] == pytest.approx((a - b).mean())
    assert clce["delta_ci_low"] > 0 and clce["p_value"] < 0.01
    assert clce["wins"] + clce["ties"] + clce["losses"] == 200
    assert np.isnan(clce["seed_ci_low"]) and "cannot be computed" in clce["note"]
    ce = s[(s["loss"] == "ce") & (s["shots"] == 1)].iloc[0]
    assert np.isnan(ce["delta"])


def test_several_seeds_use_the_hierarchical_bootstrap_seed_by_seed():
    df = make_results({"ce": 0.0, "clce": 0.03}, seeds=[0, 1, 2], episodes=80, seed_sd=0.03)
    s = summarize(df, n_boot=300, boot_seed=4)
    row = s[(s["loss"] == "clce") & (s["shots"] == 5)].iloc[0]
    assert row["ci_kind"] == "seed" and row["n_seeds"] == 3 and "hierarchical" in row["ci_method"]
    cell = df[(df["split"] == "novel") & (df["shots"] == 5)]
    mat = lambda loss: seedstats.seed_matrix(cell[cell["loss"] == loss]).to_numpy()  # noqa: E731
    direct = seedstats.seed_paired(mat("clce"), mat("ce"), n_boot=300, seed=4)
    assert row["delta"] == pytest.approx(direct.mean)
    assert (row["delta_ci_low"], row["delta_ci_high"]) == pytest.approx((direct.low, direct.high))
    assert row["seeds_agree"] == f"{direct.agree}/3"
    per_seed = [float(x) for x in row["delta_per_seed"].split()]
    np.testing.assert_allclose(per_seed, direct.per_seed, atol=1e-4)
    # the seed-level interval is wider than the episode-only one: seed noise is real here
    assert row["seed_ci_high"] - row["seed_ci_low"] > row["ep_ci_high"] - row["ep_ci_low"]


def test_selection_uses_val_only():
    # lam=0.9 is best on val, lam=0.1 on novel: the choice must be 0.9
    def effect(loss, hp, split):
        if loss != "clce":
            return 0.0
        good = 0.9 if split == "val" else 0.1
        return 0.1 if hp["lam"] == good else 0.0

    df = make_results({"ce": 0.0, "clce": 0.0}, seeds=[0], grid={"lam": [0.1, 0.9]}, hp_effect=effect)
    chosen = selection.select(df)
    row = chosen[chosen["loss"] == "clce"].iloc[0]
    assert row["lam"] == 0.9 and row["candidates"] == 2
    res = analyse(df, n_boot=100)
    assert set(res.main.loc[res.main["loss"] == "clce", "config"]) == {"clce(lam=0.9)"}
    assert res.swept == ["lam"]
    assert len(res.all_configs[res.all_configs["loss"] == "clce"]) == 2 * 2  # 2 configs x 2 shots


def test_batch_size_profile_pairs_with_ce_at_the_same_batch_size():
    df = make_results({"ce": 0.0, "supcon": -0.02, "clce": 0.02}, seeds=[0, 1], episodes=30,
                      grid={"batch_size": [32, 256], "temperature": [0.1]})
    res = analyse(df, n_boot=100)
    prof = res.profiles["batch_size"]
    for bs in (32, 256):
        rows = prof[(prof["batch_size"] == bs) & (prof["loss"] != "ce")]
        assert set(rows["baseline"]) == {f"ce(bs={bs})"}
    assert len(res.main[res.main["loss"] == "ce"]) == 2  # one CE config chosen, 2 shot settings


def test_missing_val_with_sweep_is_an_error_and_schema_is_checked():
    df = make_results({"ce": 0.0, "clce": 0.0}, seeds=[0], splits=("novel",), grid={"lam": [0.1, 0.9]})
    with pytest.raises(ValueError, match="val"):
        analyse(df)
    with pytest.raises(ValueError, match="accuracy"):
        analyse(df.drop(columns="accuracy"))
    ok = analyse(make_results({"ce": 0.0, "clce": 0.0}, seeds=[0], splits=("novel",)), n_boot=50)
    assert set(ok.main["loss"]) == {"ce", "clce"}
