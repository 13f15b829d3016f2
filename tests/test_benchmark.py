"""The benchmark end to end on a tiny real setting (digits, conv4, 1 epoch)."""
import shutil

import pandas as pd
import pytest

from fewshot_clce.benchmark import run_benchmark
from fewshot_clce.cli import main

from tiny_benchmark import tiny_benchmark, tiny_config

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    return tiny_benchmark(tmp_path_factory)


def test_tiny_benchmark_writes_everything(tiny):
    out, res = tiny
    assert len(res.trained) == 4 and not res.reused  # ce and clce, 2 seeds each
    for name in ("config.json", "per_episode.csv", "summary.csv", "summary_all.csv", "summary.md", "results.json",
                 "selection.csv", "REPORT.md", "report.ipynb", "plots/accuracy_digits.png",
                 "plots/differences_digits.png", "plots/tsne_digits.png"):
        assert (out / name).is_file(), name
    df = pd.read_csv(out / "per_episode.csv")
    assert set(df["split"]) == {"val", "novel"} and set(df["shots"]) == {1, 5}
    assert {"run", "loss", "seed", "lam", "temperature", "beta", "batch_size", "backbone", "accuracy"} <= set(df.columns)
    novel = df[df["split"] == "novel"]
    # every run on the very same episodes
    assert novel.groupby(["run", "shots"])["episode"].nunique().eq(40).all()
    assert df.loc[df["loss"] == "ce", "lam"].isna().all()
    assert set(df.loc[df["loss"] == "clce", "lam"]) == {0.5}
    assert df.loc[df["loss"] == "clce", "temperature"].notna().all()  # the loss default, recorded
    summary = pd.read_csv(out / "summary.csv")
    assert set(summary["ci_kind"]) == {"seed"} and (summary["n_seeds"] == 2).all()
    assert summary.loc[summary["loss"] == "clce", "delta"].notna().all()


def test_rerun_reuses_finished_work(tiny, tmp_path):
    out, _ = tiny
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    again = run_benchmark(tiny_config(), copy, log=lambda m: None)
    assert again.trained == [] and len(again.reused) == 4
    assert again.evaluated == [] and len(again.reused_evaluations) == 4


def test_interrupted_benchmark_redoes_only_what_is_missing(tiny, tmp_path, monkeypatch):
    from fewshot_clce import training

    out, _ = tiny
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    # as if interrupted during the first epoch of one training, and before one evaluation was written
    run = copy / "runs" / "digits" / "clce-lam0.5-bs64-s1"
    for f in ("checkpoint_best.pt", "checkpoint_last.pt"):
        (run / f).unlink()
    metrics = pd.read_csv(run / "metrics.csv")
    metrics[metrics["epoch"] == 0].to_csv(run / "metrics.csv", index=False)
    (copy / "results" / "digits" / "ce-bs64-s1.csv").unlink()
    calls = []
    real = training.train
    monkeypatch.setattr(training, "train", lambda cfg: calls.append(cfg) or real(cfg))
    res = run_benchmark(tiny_config(), copy, log=lambda m: None)
    assert [c.out for c in calls] == [str(copy / "runs" / "digits" / "clce-lam0.5-bs64-s1")]
    assert res.trained == ["clce-lam0.5-bs64-s1"] and len(res.reused) == 3
    assert sorted(res.evaluated) == ["ce-bs64-s1", "clce-lam0.5-bs64-s1"]


def test_other_configuration_is_refused_unless_force(tiny, tmp_path, capsys):
    out, _ = tiny
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    args = ["benchmark", "--dataset", "digits", "--losses", "ce", "clce", "--epochs", "2", "--out", str(copy)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "another configuration" in err and "--force" in err
    # --force with more episodes and a 2-shot setting no committed manifest covers: the trainings
    # are the same and are reused, the evaluations are redone, the 2-shot episodes are generated
    lines = []
    res = run_benchmark(tiny_config(episodes=50, shots=[1, 2]), copy, force=True, log=lines.append)
    assert res.trained == [] and len(res.evaluated) == 4
    made = copy / "episodes" / "digits_novel_5way_2shot_15query_50ep_seed0.npz"
    assert made.is_file() and any(f"2-shot: 50 from {made}" in line for line in lines)
    assert any("1-shot: 50 from" in line and "/episodes/digits_novel_5way_1shot" in line for line in lines)
    assert set(pd.read_csv(copy / "summary.csv")["shots"]) == {1, 2}


def test_unknown_names_and_impossible_episodes_are_clear(tmp_path, capsys):
    assert main(["benchmark", "--dataset", "digits", "--losses", "ce", "worm", "--out", str(tmp_path / "a")]) == 2
    assert "unknown loss 'worm'" in capsys.readouterr().err
    assert main(["benchmark", "--dataset", "nowhere", "--out", str(tmp_path / "b")]) == 2
    assert "nowhere" in capsys.readouterr().err
    assert main(["benchmark", "--dataset", "digits", "--ways", "20", "--epochs", "1", "--out", str(tmp_path / "c")]) == 2
    assert "20-way" in capsys.readouterr().err



def test_plan_lists_every_training_with_its_state(tiny, capsys):
    out, _ = tiny
    args = ["benchmark", "--dataset", "digits", "--losses", "ce", "clce", "--shots", "1", "5", "--heads", "centroid",
            "--episodes", "40", "--val-episodes", "20", "--seeds", "0", "1", "--lambda", "0.5", "--epochs", "1",
            "--out", str(out), "--plan"]
    assert main(args) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == f"4 trainings into {out}/runs/"
    assert all(line.startswith("[finished] fewshot-clce train --dataset digits") for line in lines[:-1])
    assert any("--loss clce" in line and "--lambda 0.5" in line and "--seed 1" in line for line in lines)


def test_dataset_options_in_the_name_reach_results_and_plots(tmp_path):
    """A dataset given with loader options keeps its full name in rows, run folders and file names."""
    from fewshot_clce.benchmark import run_benchmark

    spec = "glyphs[max_per_block=2]"
    cfg = tiny_config(datasets=[spec], losses=["ce", "clce"], seeds=[0], shots=[1], episodes=10, val_episodes=5,
                      batch_size=[16], train_options={"val_episodes": 5, "steps_per_epoch": 2},
                      manifests_dir=str(tmp_path / "no-committed"))
    out = tmp_path / "out"
    res = run_benchmark(cfg, out, log=lambda m: None)
    df = res.analysis.per_episode
    assert set(df["dataset"]) == {spec}
    assert (out / "runs" / spec).is_dir() and (out / "plots").is_dir()
    made = sorted(p.name for p in (out / "episodes").glob("*.npz"))
    assert made and all(name.startswith("glyphs-max_per_block-2_") for name in made)
    assert (out / "REPORT.md").is_file()


@pytest.mark.parametrize("flag", ["--episodes", "--val-episodes"])
def test_absurd_episode_counts_are_refused_before_anything_is_written(tmp_path, capsys, flag):
    out = tmp_path / "bench"
    assert main(["benchmark", "--dataset", "digits", "--losses", "ce", "--epochs", "1", flag, "10000000000",
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{flag} 10000000000" in err and "GiB" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()
