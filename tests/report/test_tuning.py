"""What was tuned and what was fixed, choices at the edge of their grid, and the sensitivity plots."""

import json

import pytest
from synthetic_results import make_results

from fewshot_clce.report.analysis import analyse
from fewshot_clce.report.sensitivity import sensitivity_lines, write_sensitivity_plots
from fewshot_clce.report.tuning import grid_edges, tuning_markdown, tuning_rows
from fewshot_clce.report.writer import console_text


def _results(best_lam: float, betas=(0.0, 1.0)):
    """CLCE peaking at ``best_lam`` (on val and novel alike), SupCon at τ = 0.1, CE flat."""

    def effect(loss, hp, split):
        if loss == "clce":
            return (
                -0.5 * abs(hp["lam"] - best_lam)
                + 0.01 * hp["beta"]
                - 0.3 * abs(hp["temperature"] - 0.1)
            )
        if loss == "supcon":
            return -0.3 * abs(hp["temperature"] - 0.1)
        return 0.0

    return make_results(
        {"ce": 0.0, "supcon": -0.05, "clce": 0.02},
        seeds=(0, 1, 2),
        episodes=40,
        grid={
            "lam": [0.05, 0.1, 0.2],
            "temperature": [0.05, 0.1, 0.2],
            "beta": list(betas),
            "batch_size": [64],
        },
        hp_effect=effect,
        seed_sd=0.002,
        episode_sd=0.05,
    )


def test_a_choice_at_the_end_of_its_grid_is_flagged_with_a_wider_grid():
    an = analyse(_results(best_lam=0.0), n_boot=50)
    edges = grid_edges(an.chosen, an.per_episode)
    lam = [e for e in edges if e.hparam == "lam"]
    assert len(lam) == 1 and lam[0].chosen == 0.05 and lam[0].end == "lowest"
    assert lam[0].suggestion == (0.025, 0.05, 0.1)
    assert "λ = 0.05, chosen on val, is the lowest value tried (0.05, 0.1, 0.2)" in lam[0].text()
    assert "--lambda 0.025 0.05 0.1" in lam[0].text()
    # β = 1 (the highest of {0, 1}) is at an open end; β = 0 would be at its bound and is never flagged
    assert [e.end for e in edges if e.hparam == "beta"] == ["highest"]
    assert "WARNING: choices at the edge of their grid" in console_text(an)


def test_an_interior_choice_is_not_flagged():
    an = analyse(_results(best_lam=0.1, betas=(0.0,)), n_boot=50)
    assert [e for e in grid_edges(an.chosen, an.per_episode) if e.hparam == "lam"] == []
    assert "edge of their grid" not in console_text(an)


def test_what_was_tuned_and_what_was_fixed_per_loss():
    an = analyse(_results(best_lam=0.1, betas=(0.0,)), n_boot=50)
    rows = {(r["loss"], r["hparam"]): r for r in tuning_rows(an.chosen, an.per_episode)}
    assert rows[("clce", "lam")]["how"] == "tuned on val" and rows[("clce", "lam")]["values"] == [
        0.05,
        0.1,
        0.2,
    ]
    assert rows[("clce", "beta")]["how"] == "fixed" and rows[("clce", "beta")]["values"] == [0.0]
    assert rows[("supcon", "temperature")]["how"] == "tuned on val"
    assert ("supcon", "lam") not in rows  # a loss is described by the hyper-parameters it takes
    assert rows[("ce", "batch_size")]["how"] == "fixed"
    text = tuning_markdown(an.chosen, an.per_episode, "3 epochs")
    assert "| toy | clce | λ | tuned on val | 0.05, 0.1, 0.2 | 0.1 |" in text
    assert "Nothing of ce was tuned" in text and "The same for every loss: 3 epochs." in text


def test_sensitivity_lines_and_plots(tmp_path):
    df = _results(best_lam=0.1)
    # the grid of the ablation: λ x β at τ = 0.1, and τ at one (λ, β)
    clce = df["loss"] == "clce"
    df = df[~clce | (df["temperature"] == 0.1) | ((df["lam"] == 0.1) & (df["beta"] == 1.0))]
    lines = sensitivity_lines(df, "toy", "lam")
    assert set(lines["line"]) == {
        "clce, τ=0.1, β=0",
        "clce, τ=0.1, β=1",
    }  # one line per β, λ on the x axis
    assert set(lines["split"]) == {"val", "novel"} and set(lines["value"]) == {0.05, 0.1, 0.2}
    row = lines[
        (lines["line"] == "clce, τ=0.1, β=0") & (lines["split"] == "val") & (lines["value"] == 0.1)
    ].iloc[0]
    cells = df[
        (df["loss"] == "clce")
        & (df["lam"] == 0.1)
        & (df["beta"] == 0.0)
        & (df["temperature"] == 0.1)
        & (df["split"] == "val")
    ]
    assert row["mean"] == pytest.approx(cells["accuracy"].mean())  # the selection score
    assert row["low"] < row["mean"] < row["high"] and row["seeds"] == 3
    peak = lines[(lines["split"] == "novel") & (lines["line"] == "clce, τ=0.1, β=1")].set_index(
        "value"
    )["mean"]
    assert peak.idxmax() == 0.1
    temps = sensitivity_lines(df, "toy", "temperature")
    assert set(temps["line"]) == {"supcon", "clce, λ=0.1, β=1"}
    paths = write_sensitivity_plots(df, tmp_path)
    assert sorted(p.name for p in paths) == [
        "sensitivity_toy_beta.png",
        "sensitivity_toy_lam.png",
        "sensitivity_toy_temperature.png",
    ]
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in paths)


def test_sensitivity_with_one_seed_uses_the_one_episode_level_interval():
    from fewshot_clce.stats.intervals import mean_ci

    df = _results(best_lam=0.1, betas=(0.0,))
    df = df[df["seed"] == 0]
    lines = sensitivity_lines(df, "toy", "lam")
    row = lines[
        (lines["line"] == "clce, τ=0.1") & (lines["split"] == "val") & (lines["value"] == 0.1)
    ].iloc[0]
    cells = df[
        (df["loss"] == "clce")
        & (df["lam"] == 0.1)
        & (df["temperature"] == 0.1)
        & (df["split"] == "val")
    ]
    assert row["mean"] == pytest.approx(cells["accuracy"].mean())
    # per (head, shots, episode) cell, as the score pools them; the t interval, the summaries' one default
    ci = mean_ci(cells.groupby(["head", "shots", "episode"])["accuracy"].first().to_numpy())
    assert row["seeds"] == 1 and ci.method == "t"
    assert (row["low"], row["high"]) == pytest.approx((ci.low, ci.high))


@pytest.mark.slow
def test_the_report_says_what_was_tuned_and_warns_at_the_edge(tmp_path):
    from fewshot_clce.report.writer import write_plots, write_report, write_results

    an = analyse(_results(best_lam=0.0), n_boot=50)
    config = {
        "command": "test",
        "epochs": 3,
        "backbone": "conv4",
        "seeds": [0, 1, 2],
        "baseline": "ce",
        "n_boot": 50,
    }
    write_results(tmp_path, an, config, {"total_s": 1.0})
    write_plots(tmp_path, an)
    (tmp_path / "config.json").write_text(json.dumps(config))
    write_report(tmp_path)
    report = (tmp_path / "REPORT.md").read_text()
    assert "## What was tuned on val and what was fixed, per loss" in report
    assert report.index("What was tuned") < report.index(
        "### Claim 1"
    )  # read before the claims' details
    assert "λ = 0.05, chosen on val, is the lowest value tried" in report
    assert "![sensitivity_toy_lam](plots/sensitivity_toy_lam.png)" in report
    blob = json.loads((tmp_path / "results.json").read_text())
    assert any(e["hparam"] == "lam" and e["end"] == "lowest" for e in blob["grid_edges"])
    assert "edge of their grid" in (tmp_path / "summary.md").read_text()


def _shared_names():
    """Baseline++ and ProtoNet's loss each sweep their own ``scale``, NegMargin its ``margin``
    (at most 0, where CosFace's and ArcFace's are at least 0); the best at each grid's low end."""

    def effect(loss, hp, split):
        return {"baselinepp": -0.01 * hp.get("scale", 0), "proto": -0.02 * hp.get("scale", 0)}.get(
            loss, -3 * hp.get("margin", 0)
        )

    from fewshot_clce.losses.hparams import declared_label

    df = make_results(
        {"ce": 0.0, "baselinepp": 0.01, "proto": 0.01, "negmargin": 0.01},
        seeds=(0, 1, 2),
        episodes=30,
        grid={"scale": [1.0, 2.0, 4.0], "margin": [-0.05, -0.02, -0.01]},
        hp_effect=effect,
        seed_sd=0.002,
        episode_sd=0.05,
    )
    df = df[(df["loss"] != "negmargin") | (df["scale"] == 1.0)]  # NegMargin sweeps m alone
    hp = df[["scale", "margin"]].astype(object).where(df[["scale", "margin"]].notna(), None)
    return df.assign(  # the label the benchmark writes beside each row
        config=[
            declared_label(loss, {k: v for k, v in zip(hp.columns, values) if v is not None})
            for loss, values in zip(df["loss"], hp.itertuples(index=False, name=None))
        ]
    )


def test_a_grid_edge_is_judged_by_the_range_of_the_loss_that_declares_it():
    """NegMargin at m = -0.05, the lowest tried, can go lower (its margin is at most 0); the
    first loss declaring a ``margin`` (CosFace, ArcFace: at least 0) must not decide."""
    from fewshot_clce.losses.hparams import edge_of

    assert edge_of("margin", -0.05, [-0.05, -0.02, -0.01], loss="negmargin") == "lowest"
    assert edge_of("margin", 0.0, [0.0, 0.2, 0.35], loss="cosface") is None  # at its bound
    assert edge_of("margin", -0.01, [-0.05, -0.02, -0.01], loss="negmargin") == "highest"
    df = _shared_names()
    an = analyse(df, n_boot=50)
    edges = {(e.loss, e.hparam): e for e in grid_edges(an.chosen, an.per_episode)}
    assert edges[("negmargin", "margin")].end == "lowest"
    assert edges[("negmargin", "margin")].suggestion == (-0.08, -0.05, -0.02)
    assert "--hp negmargin.margin=-0.08,-0.05,-0.02" in edges[("negmargin", "margin")].text()


def test_each_loss_gets_a_sensitivity_plot_of_its_own_hyper_parameters(tmp_path):
    """``scale`` of Baseline++ and of ProtoNet's loss are two hyper-parameters: a plot each, on
    the log axis their declarations ask for; a switch (detach_weights) is left to the tables."""
    df = _shared_names()
    proto = sensitivity_lines(df, "toy", "scale", loss="proto")
    assert set(proto["line"]) == {"proto"} and set(proto["value"]) == {1.0, 2.0, 4.0}
    paths = write_sensitivity_plots(df, tmp_path)
    assert sorted(p.name for p in paths) == [
        "sensitivity_toy_baselinepp_scale.png",
        "sensitivity_toy_negmargin_margin.png",
        "sensitivity_toy_proto_scale.png",
    ]
    switch = make_results({"ce": 0.0, "clce": 0.01}, seeds=(0,), episodes=5)
    switch["detach_weights"] = [
        None if loss == "ce" else bool(i % 2) for i, loss in enumerate(switch["loss"])
    ]
    assert write_sensitivity_plots(switch, tmp_path / "switch") == []


def test_an_ablation_table_shows_the_losses_that_swept_it_beside_the_baseline(tmp_path):
    from fewshot_clce.report.sections import _sweep_sections

    df = _shared_names()
    an = analyse(df, n_boot=50)
    sections = {s.split("\n", 1)[0]: s for s in _sweep_sections(an, tmp_path)}
    margin = sections["## Ablation: margin"]
    assert "(negmargin), beside the baseline ce" in margin
    rows = [line.split("|")[1].strip() for line in margin.splitlines() if line.startswith("| ")]
    assert set(rows[1:]) == {"ce", "negmargin"}  # not Baseline++ nor ProtoNet's loss
    scale = sections["## Ablation: scale"]
    rows = [line.split("|")[1].strip() for line in scale.splitlines() if line.startswith("| ")]
    assert set(rows[1:]) == {"ce", "baselinepp", "proto"}


def test_the_tuning_table_shows_a_switch_as_true_or_false_and_the_shared_settings_read_well():
    from fewshot_clce.report.tuning import common_settings

    df = make_results({"ce": 0.0, "clce": 0.01}, seeds=(0,), episodes=5)
    df["detach_weights"] = [None if loss == "ce" else True for loss in df["loss"]]
    an = analyse(df, n_boot=50)
    table = tuning_markdown(an.chosen, an.per_episode)
    assert "| toy | clce | detach_weights | fixed | true | true |" in table
    config = {"epochs": 1, "backbone": "conv4", "train_options": {"val_episodes": 20}}
    assert common_settings(config).startswith("1 epoch, conv4 backbone, ")
    assert "20 val episodes after each epoch" in common_settings(config)
    config = {"epochs": 3, "train_options": {"steps_per_epoch": 5}}
    assert common_settings(config).startswith("3 epochs, ")
    assert "steps per epoch 5" in common_settings(config)
