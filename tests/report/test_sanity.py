"""Sanity rows and warnings: the untrained backbone as a row of every benchmark, small novel
splits."""

import json

import pandas as pd
import pytest
from synthetic_results import make_results

from fewshot_clce.cli import main
from fewshot_clce.report.analysis import analyse
from fewshot_clce.report.sanity import few_classes_warning, sanity_warnings
from fewshot_clce.report.writer import write_report, write_results


@pytest.mark.slow  # one 1-epoch training on digits (about 30 s)
def test_benchmark_evaluates_the_untrained_backbone_and_warns_from_the_cli(tmp_path, capsys):
    import torch

    from fewshot_clce.benchmark.untrained import initial_backbone
    from fewshot_clce.training.run_folder import read_config

    out = tmp_path / "bench"
    argv = [
        "benchmark",
        "--dataset",
        "digits",
        "--losses",
        "ce",
        "--seeds",
        "0",
        "--epochs",
        "1",
        "--episodes",
        "20",
        "--val-episodes",
        "10",
        "--heads",
        "centroid",
        "--shots",
        "1",
        "--no-tsne",
        "--no-progress",
        "--device",
        "cpu",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "| untrained | centroid | 1 |" in captured.out  # a row of the printed table
    assert (
        "WARNING: the novel split of digits has 6 classes for 5-way episodes (fewer than 2 x 5)"
        in captured.err
    )
    df = pd.read_csv(out / "per_episode.csv")
    untrained = df[df["loss"] == "untrained"]
    assert set(untrained["split"]) == {"val", "novel"} and set(untrained["seed"]) == {0}
    assert set(untrained["run"]) == {"untrained-s0"} and untrained["batch_size"].isna().all()
    novel = df[df["split"] == "novel"].pivot_table(
        index="episode", columns="loss", values="accuracy"
    )
    assert len(novel) == 20 and not novel["untrained"].equals(
        novel["ce"]
    )  # same episodes, other features
    summary = pd.read_csv(out / "summary.csv")
    assert set(summary["loss"]) == {"ce", "untrained"}
    assert json.loads((out / "results.json").read_text())["novel_classes"] == {"digits": 6}
    assert not any(
        k.startswith("train/untrained")
        for k in json.loads((out / "results.json").read_text())["timing"]
    )
    # the row is the initialisation of the seed's training: rebuilt from the run's config, it is
    # the same each time it is made, and another seed's differs
    config = read_config(next((out / "runs" / "digits").iterdir()))
    a, b = initial_backbone(config, 0).state_dict(), initial_backbone(config, 0).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], initial_backbone(config, 1).state_dict()[k]) for k in a)
    text = (out / "REPORT.md").read_text()
    sanity = text.split("## Sanity checks")[1].split("\n## ")[0]
    assert "6 classes for 5-way episodes" in sanity
    beaten = (
        summary.loc[summary["loss"] == "untrained", "delta_ci_high"] < 0
    ).all()  # Δ untrained − ce
    assert ("does not beat the untrained backbone" in sanity) != beaten
    # the report command recomputes the same warnings and prints them
    assert main(["report", str(out)]) == 0
    assert "6 classes for 5-way episodes" in capsys.readouterr().err
    # a rerun reuses the untrained row's result file
    result = out / "results" / "digits" / "untrained-s0.csv"
    made = result.stat().st_mtime_ns
    assert main(argv) == 0
    assert "untrained-s0.csv" not in capsys.readouterr().err and result.stat().st_mtime_ns == made


def test_a_configuration_below_the_untrained_row_is_named(tmp_path):
    df = make_results(
        {"untrained": 0.0, "ce": 0.10, "supcon": -0.06}, seeds=[0, 1, 2], episodes=60, seed_sd=0.005
    )
    an = analyse(df, n_boot=100)
    warnings = sanity_warnings(an, {"toy": 64})
    assert len(warnings) == 1 and warnings[0].startswith(
        "WARNING: toy: supcon does not beat the untrained backbone"
    )
    assert "in 2 of 2 cells" in warnings[0]
    write_results(tmp_path, an, {"command": "x"}, {}, novel_classes={"toy": 64})
    _, findings = write_report(tmp_path)
    assert [f.claim for f in findings] == [
        "supcon beats ce"
    ]  # the untrained row is a reference, not a loss
    text = (tmp_path / "REPORT.md").read_text()
    assert "**WARNING: toy: supcon does not beat" in text and "at least 2 x ways classes" in text


def test_small_split_warning_threshold():
    assert few_classes_warning("the novel split of x", 10, 5) == ""
    assert "9 classes for 5-way" in few_classes_warning("the novel split of x", 9, 5)


def test_an_imagenet_backbone_on_mini_imagenet_is_flagged_in_the_output_and_the_report(
    tmp_path, capsys
):
    """Rows that say their backbone was pretrained on ImageNet, evaluated on mini-ImageNet: the
    report command prints the warning and REPORT.md carries it, once; the tables name the width."""
    df = make_results({"ce": 0.0, "supcon": 0.02}, seeds=[0], episodes=20, dataset="mini-imagenet")
    df["pretrained_on"] = "imagenet (timm tag a1_in1k)"
    df["embedding_dim"] = 512
    write_results(tmp_path, analyse(df, n_boot=50), {"command": "x"}, {})
    assert main(["report", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    flag = "are ImageNet classes: its novel classes are not novel to it"
    assert err.count(flag) == 1
    assert "WARNING: mini-imagenet (ce, supcon): the backbone was pretrained on imagenet" in err
    report = (tmp_path / "REPORT.md").read_text()
    sanity = report.split("## Sanity checks")[1].split("\n## ")[0]
    assert report.count(flag) == 1 and flag in sanity
    assert "| loss | head | shots | dim |" in report and "| ce | centroid | 1 | 512 |" in report
    assert "| supcon | centroid | 5 | 512 |" in (tmp_path / "summary.md").read_text()
    assert set(pd.read_csv(tmp_path / "summary.csv")["embedding_dim"]) == {512}


@pytest.mark.parametrize(
    "dataset, pretrained_on", [("digits", "imagenet"), ("mini-imagenet", None)]
)
def test_no_overlap_flag_without_both_imagenet_pretraining_and_imagenet_classes(
    dataset, pretrained_on
):
    df = make_results({"ce": 0.0}, seeds=[0], episodes=20, dataset=dataset)
    df["pretrained_on"] = pretrained_on
    warnings = sanity_warnings(analyse(df, n_boot=50), {dataset: 64})
    assert not [w for w in warnings if "ImageNet classes" in w]
