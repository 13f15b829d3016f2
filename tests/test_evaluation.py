import numpy as np
import pandas as pd
import pytest
import torch
from _evaltools import CountingNet, make_split

from fewshot_clce import compare_results, evaluate_features, summarize
from fewshot_clce.episodes import manifest_digest, sample_episodes
from fewshot_clce.features import extract_features
from fewshot_clce.heads import CentroidHead


@pytest.fixture(scope="module")
def setup():
    split = make_split(n=80)
    episodes = sample_episodes(split, ways=3, shots=2, queries=4, episodes=30, seed=0)
    net = CountingNet()
    feats = extract_features(net, split, episodes.used_indices(), cache=False)
    return split, episodes, feats


def test_evaluate_features_schema_and_naive_accuracy(setup):
    split, episodes, feats = setup
    df = evaluate_features(
        feats, episodes, ["centroid", "logistic"], meta={"run": "r1", "loss": "ce", "seed": 3}
    )
    for col in [
        "run",
        "loss",
        "seed",
        "dataset",
        "split",
        "head",
        "ways",
        "shots",
        "queries",
        "episode",
        "accuracy",
        "manifest",
    ]:
        assert col in df.columns
    assert len(df) == 2 * len(episodes)
    assert set(df["head"]) == {"centroid", "logistic"} and (df["dataset"] == "toy").all()
    assert df["accuracy"].between(0, 1).all()
    # The centroid accuracies against a per-episode loop on the raw features.
    cen = df[df["head"] == "centroid"].set_index("episode")["accuracy"]
    for e in range(len(episodes)):
        ep = episodes[e]
        protos = torch.stack([feats.lookup(ep.support[c]).mean(0) for c in range(3)])
        q = feats.lookup(ep.query.reshape(-1))
        pred = torch.cdist(q, protos).argmin(1).numpy()
        assert cen[e] == pytest.approx((pred == np.repeat(np.arange(3), 4)).mean())


def test_summary_records_ci_method(setup):
    from scipy import stats

    _, episodes, feats = setup
    df = evaluate_features(feats, episodes, [CentroidHead()])
    s = summarize(df, baseline=None, split=None, by="run")  # the one default: t over episodes
    assert (
        len(s) == 1
        and s["ci_method"].iloc[0].startswith("t interval")
        and s["n_episodes"].iloc[0] == 30
    )
    assert s["mean"].iloc[0] == pytest.approx(df["accuracy"].mean())
    lo, hi = stats.t.interval(0.95, 29, loc=df["accuracy"].mean(), scale=stats.sem(df["accuracy"]))
    assert (s["ci_low"].iloc[0], s["ci_high"].iloc[0]) == pytest.approx((lo, hi))
    assert (
        summarize(df, baseline=None, split=None, by="run", ci_method="normal")["ci_method"]
        .iloc[0]
        .startswith("normal interval")
    )


def test_compare_results_pairs_and_refuses_other_episodes(setup):
    split, episodes, feats = setup
    a = evaluate_features(feats, episodes, ["centroid"], meta={"run": "a"})
    b = a.assign(run="b", accuracy=np.clip(a["accuracy"] - 0.05, 0, 1))
    table = compare_results(a, b)
    assert len(table) == 1 and table["run"].iloc[0] == "a" and table["baseline"].iloc[0] == "b"
    assert table["wins"].iloc[0] + table["ties"].iloc[0] == 30 and table["delta"].iloc[0] > 0
    assert table["wtl_kind"].iloc[0] == "episode" and table["paired_episodes"].iloc[0] == 30
    # two result files of one run name are told apart rather than compared with themselves
    same = compare_results(a, a.assign(accuracy=b["accuracy"]))
    assert (same["run"].iloc[0], same["baseline"].iloc[0]) == ("a (A)", "a (B)")
    assert same["delta"].iloc[0] == pytest.approx(table["delta"].iloc[0])
    other = sample_episodes(split, ways=3, shots=2, queries=4, episodes=30, seed=1)
    assert manifest_digest(other) != manifest_digest(episodes)
    c = evaluate_features(
        feats
        if set(other.used_indices()) <= set(feats.indices)
        else extract_features(CountingNet(), split, other.used_indices(), cache=False),
        other,
        ["centroid"],
        meta={"run": "c"},
    )
    with pytest.raises(ValueError, match="not evaluated on the same episodes"):
        compare_results(a, c)
    with pytest.raises(ValueError, match="twice"):
        compare_results(pd.concat([a, a]), b)
