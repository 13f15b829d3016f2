"""The closing lines of a benchmark quote the committed budget study, read from its table."""

import pandas as pd
import pytest

from fewshot_clce.benchmark.committed_budget import RESULTS, committed_budget_lines


def _study(tmp_path, rows):
    folder = tmp_path / "toy-budget"
    folder.mkdir()
    cols = ["epochs", "dataset", "loss", "head", "shots", "n_seeds", "baseline", "delta"]
    cols += ["delta_ci_low", "delta_ci_high", "delta_ci_kind"]
    pd.DataFrame(rows, columns=cols).to_csv(folder / "budget.csv", index=False)
    return tmp_path


def test_the_line_gives_each_compared_loss_per_budget_at_1_shot_centroid(tmp_path):
    results = _study(
        tmp_path,
        [
            [10, "toy", "clce", "centroid", 1, 3, "ce(bs=64)", 0.002, -0.003, 0.007, "seed"],
            [3, "toy", "clce", "centroid", 1, 3, "ce(bs=64)", 0.026, 0.003, 0.049, "seed"],
            [3, "toy", "clce", "logistic", 1, 3, "ce(bs=64)", 0.5, 0.4, 0.6, "seed"],
            [3, "toy", "supcon", "centroid", 1, 3, "ce(bs=64)", -0.1, -0.2, 0.0, "seed"],
            [3, "toy", "ce", "centroid", 1, 3, "ce(bs=64)", None, None, None, None],
            [3, "toy", "untrained", "centroid", 1, 3, "ce(bs=64)", -0.4, -0.5, -0.3, "seed"],
        ],
    )
    (line,) = committed_budget_lines(["toy"], ["untrained", "ce", "clce"], "ce", results)
    assert line == (
        "The committed budget study on toy (results/toy-budget/BUDGET.md; 3 seeds, each loss "
        "re-chosen on val at each budget), Δ at 1-shot centroid: clce − ce +2.60 [+0.30, +4.90] "
        "at 3 epochs, +0.20 [-0.30, +0.70] at 10 epochs."
    )
    assert committed_budget_lines(["toy"], ["ce", "lsce"], "ce", results) == []  # not in it
    assert committed_budget_lines(["other"], ["ce", "clce"], "ce", results) == []  # no study
    assert committed_budget_lines(["toy"], ["supcon", "clce"], "supcon", results) == []


def test_the_line_says_which_compared_losses_have_converged(tmp_path):
    results = _study(
        tmp_path,
        [
            [3, "toy", "clce", "centroid", 1, 3, "ce(bs=64)", 0.026, 0.003, 0.049, "seed"],
            [3, "toy", "supcon", "centroid", 1, 3, "ce(bs=64)", -0.1, -0.2, 0.0, "seed"],
        ],
    )
    cols = ["dataset", "loss", "from_epochs", "to_epochs", "state"]
    pd.DataFrame(
        [
            ["toy", "ce", 3, 10, "still rising"],
            ["toy", "ce", 10, 30, "flat"],
            ["toy", "clce", 3, 10, "flat"],
            ["toy", "clce", 10, 30, "falling"],
            ["toy", "supcon", 3, 10, "still rising"],
            ["toy", "supcon", 10, 30, "still rising"],
            ["toy", "lsce", 10, 30, "flat"],  # not compared here
        ],
        columns=cols,
    ).to_csv(results / "toy-budget" / "budget_gains.csv", index=False)
    (line,) = committed_budget_lines(["toy"], ["ce", "supcon", "clce"], "ce", results)
    assert line.endswith(
        " Converged (a longer budget gains nothing beyond the seed noise): ce from 10 epochs, "
        "clce from 3 epochs; not shown for supcon by 30 epochs."
    )
    (line,) = committed_budget_lines(["toy"], ["ce", "clce"], "ce", results)
    assert line.endswith("seed noise): ce from 10 epochs, clce from 3 epochs.")


def test_the_committed_glyphs_study_is_quoted_as_committed():
    table = pd.read_csv(RESULTS / "glyphs-budget" / "budget.csv")
    (line,) = committed_budget_lines(["glyphs"], ["ce", "supcon", "clce"], "ce")
    for r in (
        table[(table["head"] == "centroid") & (table["shots"] == 1)]
        .dropna(subset=["delta"])
        .itertuples()
    ):
        if r.loss in ("supcon", "clce"):
            assert f"{100 * r.delta:+.2f} [{100 * r.delta_ci_low:+.2f}, " in line
            assert f"at {r.epochs} epochs" in line


@pytest.mark.slow
def test_the_benchmark_ends_with_the_committed_study_of_its_dataset(tmp_path, monkeypatch, capsys):
    from fewshot_clce.benchmark import committed_budget
    from fewshot_clce.cli import main

    results = _study(
        tmp_path,
        [[3, "digits", "clce", "centroid", 1, 3, "ce(bs=64)", 0.026, 0.003, 0.049, "seed"]],
    )
    (results / "toy-budget").rename(results / "digits-budget")
    monkeypatch.setattr(committed_budget, "RESULTS", results)
    args = ["benchmark", "--dataset", "digits", "--losses", "ce", "clce", "--no-default-grids"]
    args += ["--epochs", "1", "--steps-per-epoch", "1", "--episodes", "5", "--val-episodes", "5"]
    args += ["--train-val-episodes", "5", "--seeds", "0", "--heads", "centroid", "--no-tsne"]
    args += ["--no-progress", "--device", "cpu", "--out", str(tmp_path / "out")]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert (
        "The committed budget study on digits (results/digits-budget/BUDGET.md; 3 seeds, each "
        "loss re-chosen on val at each budget), Δ at 1-shot centroid: clce − ce +2.60 "
        "[+0.30, +4.90] at 3 epochs." in out
    )
