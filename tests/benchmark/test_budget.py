"""The budget axis: ``benchmark --epochs A B`` runs the benchmark at each budget and reports across them."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from _cli import argv

from fewshot_clce.benchmark.budget import check_budgets
from fewshot_clce.benchmark.budget_convergence import (
    budget_gains,
    converged_budget,
    convergence,
    convergence_lines,
    loss_converged_budgets,
)
from fewshot_clce.benchmark.budget_report import converged_claim_lines
from fewshot_clce.cli import main
from fewshot_clce.training.loop import epoch_steps

TINY = [
    "--dataset",
    "digits",
    "--losses",
    "ce",
    "clce",
    "--backbone",
    "conv4",
    "--shots",
    "1",
    "--heads",
    "centroid",
    "--episodes",
    "20",
    "--val-episodes",
    "10",
    "--seeds",
    "0",
    "--lambda",
    "0.5",
    "--no-progress",
    "--no-tsne",
]


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    out = tmp_path_factory.mktemp("budget") / "out"
    assert main(["benchmark", *TINY, "--epochs", "2", "1", "--out", str(out)]) == 0
    return out


@pytest.mark.slow
def test_each_budget_is_a_whole_benchmark_and_the_report_spans_them(study):
    for epochs in (1, 2):
        folder = study / f"epochs-{epochs}"
        assert json.loads((folder / "config.json").read_text())["epochs"] == epochs
        assert (folder / "REPORT.md").is_file()
        runs = sorted((folder / "runs" / "digits").iterdir())
        assert len(runs) == 2  # ce and clce
        for run in runs:
            assert f"epochs: {epochs}" in (run / "config.yaml").read_text()
    table = pd.read_csv(study / "budget.csv")
    assert sorted(table["epochs"].unique()) == [1, 2]
    assert set(table["loss"]) == {
        "ce",
        "clce",
        "untrained",
    }  # the untrained backbone: a reference row
    clce = table[(table["loss"] == "clce") & (table["epochs"] == 2)].iloc[0]
    summary = pd.read_csv(study / "epochs-2" / "summary.csv")
    row = summary[(summary["loss"] == "clce") & (summary["split"] == "novel")].iloc[0]
    assert clce["delta"] == pytest.approx(
        row["delta"]
    )  # the budget's own benchmark, not a recomputation
    text = (study / "BUDGET.md").read_text()
    assert text.startswith(
        "# Budget study: clce against ce\n"
    )  # the untrained row is a reference, not compared
    assert "| 1 epoch | 2 epochs |" in text
    assert "clce − ce" in text
    assert "## Convergence" in text and "## Claims per budget" in text
    assert "| digits | ce | 1 -> 2 |" in text  # the across-budget table
    assert set(pd.read_csv(study / "budget_gains.csv")["loss"]) == {"ce", "clce"}
    conv = pd.read_csv(study / "convergence.csv")
    assert set(conv["epochs"]) == {1, 2} and set(conv["loss"]) == {"ce", "clce"}
    assert (study / "plots" / "budget_digits.png").stat().st_size > 0
    assert (study / "plots" / "val_curves_digits.png").stat().st_size > 0


@pytest.mark.slow
def test_a_rerun_resumes_and_the_report_command_rewrites_the_same_report(study, capsys):
    before = {
        p: p.stat().st_mtime_ns for p in study.glob("epochs-*/runs/digits/*/checkpoint_best.pt")
    }
    assert len(before) == 4
    assert main(["benchmark", *TINY, "--epochs", "1", "2", "--out", str(study)]) == 0
    assert {p: p.stat().st_mtime_ns for p in before} == before  # nothing retrained
    text = (study / "BUDGET.md").read_text()
    (study / "BUDGET.md").unlink()
    assert main(["report", str(study)]) == 0
    assert (study / "BUDGET.md").read_text() == text
    assert "BUDGET.md" in capsys.readouterr().out


@pytest.mark.slow
def test_a_study_of_another_configuration_is_refused(study, capsys):
    assert (
        main(["benchmark", *TINY[:-2], "--epochs", "1", "2", "--shots", "5", "--out", str(study)])
        == 2
    )
    err = capsys.readouterr().err
    assert "another configuration" in err and "shots" in err


@pytest.mark.parametrize("values, message", [(["3", "3"], "repeats"), (["0", "3"], "at least 1")])
def test_bad_budgets_are_one_line_before_anything_is_written(tmp_path, capsys, values, message):
    out = tmp_path / "out"
    assert main(["benchmark", *TINY, "--epochs", *values, "--out", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_check_budgets_sorts_and_needs_two():
    assert check_budgets([30, 3, 10]) == [3, 10, 30]
    with pytest.raises(ValueError, match="two or more"):
        check_budgets([3])


def _curves(gains_per_epoch, seeds=(0, 1, 2), epochs=10, noise=0.0):
    rng = np.random.default_rng(0)
    rows = []
    for s in seeds:
        for e in range(epochs + 1):
            jitter = rng.normal(0, noise)
            rows.append(
                {
                    "epochs": epochs,
                    "dataset": "d",
                    "loss": "ce",
                    "config": "ce(bs=64)",
                    "run": f"r{s}",
                    "seed": s,
                    "epoch": e,
                    "val_acc": 0.5 + gains_per_epoch * e + jitter,
                }
            )
    return pd.DataFrame(rows)


def test_convergence_tells_a_rising_curve_from_a_flat_one():
    rising = convergence(_curves(0.01, noise=0.001)).iloc[0]
    assert rising["state"] == "still rising"
    assert rising["gain"] == pytest.approx(0.01 * 2, abs=0.002)  # 3 last epochs: two epochs of gain
    flat = convergence(_curves(0.0, noise=0.01)).iloc[0]
    assert flat["state"] == "flat"
    one = convergence(_curves(0.01, seeds=(0,))).iloc[0]
    assert one["state"] == "one seed: not judged"


def _budget_curves(final_by_budget, loss="ce", seeds=(0, 1, 2), noise=0.002):
    """Val curves that end at final_by_budget[E] at each budget E, per seed with small noise."""
    rng = np.random.default_rng(1)
    frames = []
    for epochs, final in final_by_budget.items():
        for s in seeds:
            frame = _curves(0.0, seeds=(s,), epochs=epochs)
            frame["val_acc"] = final + rng.normal(0, noise)
            frame["loss"], frame["config"] = loss, f"{loss}(bs=64)"
            frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def test_a_budget_is_long_enough_when_the_next_gains_nothing_beyond_seed_noise():
    """A schedule that decays to 0 flattens every training's last epochs; the budget that is
    long enough is read across budgets, paired by seed."""
    curves = pd.concat(
        [
            _budget_curves({3: 0.90, 10: 0.95, 30: 0.95}, loss="ce"),
            _budget_curves({3: 0.93, 10: 0.95, 30: 0.951}, loss="clce"),
        ]
    )
    gains = budget_gains(curves).set_index(["loss", "from_epochs"])
    assert gains.loc[("ce", 3), "state"] == "still rising"
    assert gains.loc[("ce", 3), "gain"] == pytest.approx(0.05, abs=0.005)
    assert gains.loc[("ce", 10), "state"] == "flat"
    assert gains.loc[("clce", 3), "state"] == "still rising"
    assert converged_budget(budget_gains(curves)) == 10
    # every training's own curve ends level: that reading alone would call 3 epochs converged
    assert not convergence(curves)["state"].eq("still rising").any()
    still = _budget_curves({3: 0.90, 10: 0.93, 30: 0.96})
    assert converged_budget(budget_gains(still)) is None
    # two seeds: the interval is shown, but too wide to call a budget long enough
    two = budget_gains(_budget_curves({3: 0.95, 10: 0.95}, seeds=(0, 1)))
    assert two["state"].tolist() == ["2 seeds: not judged"] and converged_budget(two) is None


def test_equal_steps_take_the_largest_batch_s_pass():
    assert epoch_steps(20_000, 64) == 312
    assert epoch_steps(20_000, 64, equal_to_batch=256) == 78
    assert epoch_steps(20_000, 32, equal_to_batch=256) == 78
    assert epoch_steps(20_000, 256, equal_to_batch=256) == 78
    assert epoch_steps(20_000, 64, cap=10, equal_to_batch=256) == 10


def test_steps_as_batch_below_the_batch_size_is_refused(tmp_path, capsys):
    code = main(
        argv(
            "train --dataset digits --backbone conv4 --loss ce --out "
            "{out} --batch-size 64 --steps-as-batch 32 --no-progress",
            out=tmp_path / "r",
        )
    )
    assert code == 2
    assert "--steps-as-batch 32 is below --batch-size 64" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_steps_as_batch_trains_the_larger_batch_s_steps_and_is_recorded(tmp_path):
    out = tmp_path / "r"
    assert (
        main(
            argv(
                "train --dataset digits --backbone conv4 --loss ce --out "
                "{out} --batch-size 16 --steps-as-batch 256 --epochs 1 "
                "--val-episodes 5 --no-progress",
                out=out,
            )
        )
        == 0
    )
    assert "steps_as_batch: 256" in (out / "config.yaml").read_text()
    import torch

    from fewshot_clce.data import create_dataset

    n_base = len(create_dataset("digits").split("base"))
    state = torch.load(out / "checkpoint_last.pt", map_location="cpu", weights_only=False)
    assert (
        state["scheduler"]["last_epoch"] == n_base // 256
    )  # not the n_base // 16 steps of its own pass


def test_budget_gains_average_a_loss_s_several_chosen_configurations_per_seed():
    """A study with a profile (one chosen configuration per batch size) still pairs by seed."""
    one = _budget_curves({3: 0.90, 10: 0.95})
    other = _budget_curves({3: 0.92, 10: 0.95})
    other["config"] = "ce(bs=32)"
    gains = budget_gains(pd.concat([one, other])).iloc[0]
    assert gains["config_from"] == "ce(bs=32), ce(bs=64)" and gains["n_seeds"] == 3
    assert gains["gain"] == pytest.approx(0.04, abs=0.005) and gains["state"] == "still rising"


def _three_losses_gains():
    """ce and clce gain nothing after 10 epochs; supcon still gains from 10 to 30."""
    curves = pd.concat(
        [
            _budget_curves({3: 0.90, 10: 0.95, 30: 0.95}, loss="ce"),
            _budget_curves({3: 0.93, 10: 0.95, 30: 0.951}, loss="clce"),
            _budget_curves({3: 0.80, 10: 0.85, 30: 0.90}, loss="supcon"),
        ]
    )
    return curves, budget_gains(curves)


def test_each_loss_gets_its_own_converged_budget_when_not_every_loss_converged():
    curves, gains = _three_losses_gains()
    assert loss_converged_budgets(gains) == {
        ("d", "ce"): 10,
        ("d", "clce"): 10,
        ("d", "supcon"): None,
    }
    assert converged_budget(gains) is None
    text = "\n".join(convergence_lines(convergence(curves), gains))
    assert "No budget is shown converged for every loss" in text
    assert "- d ce: long enough from 10 epochs (10 -> 30 flat)" in text
    assert "- d supcon: not shown converged; a longer budget still gains (10 -> 30: +5." in text


def test_a_claim_is_stated_at_the_budgets_where_its_losses_have_converged():
    _, gains = _three_losses_gains()
    claims = pd.DataFrame(
        [
            (e, claim, verdict, what)
            for e, verdicts in {
                3: ("supported", "contradicted"),
                10: ("inconclusive",) * 2,
                30: ("inconclusive", "contradicted"),
            }.items()
            for claim, verdict, what in zip(
                ("clce beats ce", "supcon beats ce"), verdicts, ("clce − ce", "supcon − ce")
            )
        ]
        + [(10, "β=1 beats β=0", "supported", "β=1 − β=0")]
        + [(3, "clce beats ce early", "supported", "clce − ce")],
        columns=["epochs", "claim", "verdict", "what"],
    )
    lines = converged_claim_lines(claims, gains)
    assert lines == [
        "- **clce beats ce**: inconclusive at 10, 30 epochs (clce and ce converged from 10 epochs)",
        "- **supcon beats ce**: no converged verdict: supcon is not shown converged at any budget measured",
        "- **clce beats ce early**: not checked at any of those budgets (clce and ce converged from "
        "10 epochs)",
    ]  # the 3-epoch "supported" is left out; the β claim names no loss of the study
