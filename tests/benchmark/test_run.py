"""The benchmark end to end on a tiny real setting (digits, conv4, 1 epoch)."""

import shutil

import pandas as pd
import pytest
from _cli import argv
from tiny_benchmark import tiny_benchmark, tiny_config

from fewshot_clce.benchmark.manifests import committed_dir
from fewshot_clce.benchmark.run import run_benchmark
from fewshot_clce.cli import main
from fewshot_clce.stats.seeds import TRUSTED_SEEDS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    return tiny_benchmark(tmp_path_factory)


def test_tiny_benchmark_writes_everything(tiny):
    out, res = tiny
    assert len(res.trained) == 4 and not res.reused  # ce and clce, 2 seeds each
    for name in (
        "config.json",
        "per_episode.csv",
        "summary.csv",
        "summary_all.csv",
        "summary.md",
        "results.json",
        "selection.csv",
        "REPORT.md",
        "report.ipynb",
        "plots/accuracy_digits.png",
        "plots/differences_digits.png",
        "plots/tsne_digits.png",
    ):
        assert (out / name).is_file(), name
    df = pd.read_csv(out / "per_episode.csv")
    assert set(df["split"]) == {"val", "novel"} and set(df["shots"]) == {1, 5}
    assert {
        "run",
        "loss",
        "seed",
        "lam",
        "temperature",
        "beta",
        "batch_size",
        "backbone",
        "accuracy",
    } <= set(df.columns)
    novel = df[df["split"] == "novel"]
    # every run on the very same episodes
    assert novel.groupby(["run", "shots"])["episode"].nunique().eq(40).all()
    assert df.loc[df["loss"] == "ce", "lam"].isna().all()
    assert set(df.loc[df["loss"] == "clce", "lam"]) == {0.5}
    assert df.loc[df["loss"] == "clce", "temperature"].notna().all()  # the loss default, recorded
    summary = pd.read_csv(out / "summary.csv")
    assert set(summary["ci_kind"]) == {"seed"} and (summary["n_seeds"] == 2).all()
    assert summary.loc[summary["loss"] == "clce", "delta"].notna().all()
    # two seeds: the headline p and W/T/L are seed-level; the episode-level ones only in summary.csv
    paired = summary[summary["delta"].notna()]
    assert set(paired["p_kind"]) == {"seed"} and set(paired["wtl_kind"]) == {"seed"}
    assert (
        paired["p_episode"].notna().all()
        and (paired["ep_wins"] + paired["ep_ties"] + paired["ep_losses"] == 40).all()
    )
    md = (out / "summary.md").read_text()
    assert "p (seed-level)" in md and "W/T/L (seeds)" in md and "p (Wilcoxon" not in md
    assert (
        f"trusted from {TRUSTED_SEEDS} seeds on" in md
        and "with 2 it covered the truth less often than it states" in md
    )


def test_the_report_command_rewrites_what_the_benchmark_wrote_byte_for_byte(tiny, tmp_path):
    """The benchmark writes its report from the analysis it holds; `fewshot-clce report OUT` reads the
    result files back and analyses them again: the same report, claims and plots."""
    import shutil

    out, _ = tiny
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    written = [
        "REPORT.md",
        "report.ipynb",
        "claims.csv",
        *(
            str(p.relative_to(copy))
            for p in sorted((copy / "plots").glob("*.png"))
            if "tsne" not in p.name
        ),
    ]
    assert "plots/accuracy_digits.png" in written and "plots/differences_digits.png" in written
    for name in written:
        (copy / name).unlink()
    assert main(["report", str(copy)]) == 0
    for name in written:
        again = (
            (copy / name).read_bytes().replace(str(copy).encode(), str(out).encode())
        )  # "Generated from FOLDER"
        assert again == (out / name).read_bytes(), name


def test_rerun_reuses_finished_work(tiny, tmp_path):
    out, _ = tiny
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    again = run_benchmark(tiny_config(), copy, log=lambda m: None)
    assert again.trained == [] and len(again.reused) == 4
    assert again.evaluated == [] and len(again.reused_evaluations) == 4


@pytest.mark.slow
def test_interrupted_benchmark_redoes_only_what_is_missing(tiny, tmp_path, monkeypatch):
    from fewshot_clce.training import trainer as training

    out, _ = tiny
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    # as if interrupted during the first epoch of one training, and before one evaluation was written
    run = copy / "runs" / "digits" / "clce-lam0.5-t0.1-beta0.5-bs64-s1"
    for f in ("checkpoint_best.pt", "checkpoint_last.pt"):
        (run / f).unlink()
    metrics = pd.read_csv(run / "metrics.csv")
    metrics[metrics["epoch"] == 0].to_csv(run / "metrics.csv", index=False)
    (copy / "results" / "digits" / "ce-bs64-s1.csv").unlink()
    calls = []
    real = training.train
    monkeypatch.setattr(training, "train", lambda cfg: calls.append(cfg) or real(cfg))
    res = run_benchmark(tiny_config(), copy, log=lambda m: None)
    assert [c.out for c in calls] == [
        str(copy / "runs" / "digits" / "clce-lam0.5-t0.1-beta0.5-bs64-s1")
    ]
    assert res.trained == ["clce-lam0.5-t0.1-beta0.5-bs64-s1"] and len(res.reused) == 3
    assert sorted(res.evaluated) == ["ce-bs64-s1", "clce-lam0.5-t0.1-beta0.5-bs64-s1"]


def test_other_configuration_is_refused_unless_force(tiny, tmp_path, capsys):
    out, _ = tiny
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    args = argv("benchmark --dataset digits --losses ce clce --epochs 2 --out {out}", out=copy)
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
    committed = (
        committed_dir() / "digits_novel_5way_1shot_15query.npz"
    )  # the package's, not generated
    assert any(f"1-shot: 50 from {committed}" in line for line in lines), lines
    assert set(pd.read_csv(copy / "summary.csv")["shots"]) == {1, 2}


def test_unknown_names_and_impossible_episodes_are_clear(tmp_path, capsys):
    assert (
        main(argv("benchmark --dataset digits --losses ce worm --out {out}", out=tmp_path / "a"))
        == 2
    )
    assert "unknown loss 'worm'" in capsys.readouterr().err
    assert main(["benchmark", "--dataset", "nowhere", "--out", str(tmp_path / "b")]) == 2
    assert "nowhere" in capsys.readouterr().err
    assert (
        main(
            argv("benchmark --dataset digits --ways 20 --epochs 1 --out {out}", out=tmp_path / "c")
        )
        == 2
    )
    assert "20-way" in capsys.readouterr().err


def test_plan_lists_every_training_with_its_state(tiny, capsys):
    out, _ = tiny
    args = argv(
        "benchmark --dataset digits --losses ce clce --shots 1 5 "
        "--heads centroid --episodes 40 --val-episodes 20 --seeds 0 1 "
        "--lambda 0.5 --temperature 0.1 --beta 0.5 --epochs 1 "
        "--train-val-episodes 10 --out {out} --plan",
        out=out,
    )
    assert main(args) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == f"4 trainings into {out}/runs/"
    assert all(
        line.startswith("[finished] fewshot-clce train --dataset digits") for line in lines[:-1]
    )
    assert any(
        "--losses clce" in line and "--lambda 0.5" in line and "--seeds 1" in line for line in lines
    )
    # without the tiny runs' training option (validated on 10 episodes), they train otherwise
    assert main([a for a in args if a not in ("--train-val-episodes", "10")]) == 0
    assert all(line.startswith("[different]") for line in capsys.readouterr().out.splitlines()[:-1])


@pytest.mark.slow
def test_dataset_options_in_the_name_reach_results_and_plots(tmp_path):
    """A dataset given with loader options keeps its full name in rows, run folders and file names."""
    from fewshot_clce.benchmark.run import run_benchmark

    spec = "glyphs[max_per_block=2]"
    cfg = tiny_config(
        datasets=[spec],
        losses=["ce", "clce"],
        seeds=[0],
        shots=[1],
        episodes=10,
        val_episodes=5,
        batch_size=[16],
        train_options={"val_episodes": 5, "steps_per_epoch": 2},
        manifests_dir=str(tmp_path / "no-committed"),
    )
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
    assert (
        main(
            argv(
                "benchmark --dataset digits --losses ce --epochs 1 {flag} 10000000000 --out {out}",
                flag=flag,
                out=out,
            )
        )
        == 2
    )
    err = capsys.readouterr().err
    assert f"{flag} 10000000000" in err and "GiB" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def _quick_config(tmp_path, **changes):
    """Two one-seed trainings of two steps, 1-shot only: the smallest benchmark that has a baseline."""
    settings = dict(
        losses=["ce", "clce"],
        seeds=[0],
        shots=[1],
        episodes=12,
        val_episodes=6,
        batch_size=[16],
        train_options={"val_episodes": 5, "steps_per_epoch": 2},
        tsne=False,
        manifests_dir=str(tmp_path / "no-committed"),
    )
    return tiny_config(**dict(settings, **changes))


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """``(folder, config, BenchmarkResult)`` of the quick benchmark, made once for this module."""
    tmp = tmp_path_factory.mktemp("quick-bench")
    cfg = _quick_config(tmp)
    return tmp / "out", cfg, run_benchmark(cfg, tmp / "out", log=lambda m: None)


@pytest.mark.parametrize(
    "damage",
    ["truncated", "cut mid-row", "episode repeated", "accuracy out of range", "not a table"],
)
def test_a_damaged_result_file_is_recomputed_not_reused(quick, tmp_path, damage):
    """A result file that does not hold every expected episode is evaluated again, and the log says so."""
    out, cfg, first = quick
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    result = copy / "results" / "digits" / "ce-bs16-s0.csv"
    text = result.read_text()
    lines = text.splitlines(keepends=True)
    if damage == "truncated":  # header and 9 rows: what a user's editor or a full disk may leave
        result.write_text("".join(lines[:10]))
    elif damage == "cut mid-row":
        result.write_text(text[: len(text) // 2])
    elif damage == "episode repeated":
        result.write_text("".join(lines[:-1] + [lines[1]]))
    elif damage == "accuracy out of range":
        df = pd.read_csv(result)
        df.loc[3, "accuracy"] = 1.5
        df.to_csv(result, index=False)
    else:
        result.write_bytes(b"\x00\xff garbage\n\x01,\x02\n")
    log = []
    res = run_benchmark(cfg, copy, log=log.append)
    assert res.evaluated == ["ce-bs16-s0"] and res.reused_evaluations == [
        "clce-lam0.5-t0.1-beta0.5-bs16-s0"
    ]
    said = [m for m in log if str(result) in m]
    assert said and "re-evaluating" in said[0], log
    assert "incomplete" in said[0] or "unreadable" in said[0]
    # the numbers are the first run's, on every episode
    pd.testing.assert_frame_equal(
        pd.read_csv(copy / "per_episode.csv"), pd.read_csv(out / "per_episode.csv")
    )
    assert (copy / "summary.md").read_text() == (out / "summary.md").read_text()


def test_the_summary_footnote_counts_the_episodes_of_each_cell(quick):
    """summary.md says how many episodes each cell rests on, from the data, not from the largest cell."""
    from fewshot_clce.report.analysis import analyse
    from fewshot_clce.report.sections import dataset_tables

    out, cfg, first = quick
    assert "over 12 episodes per cell" in (out / "summary.md").read_text()
    df = pd.read_csv(out / "per_episode.csv")
    short = df[
        ~(
            (df["run"] == "clce-lam0.5-t0.1-beta0.5-bs16-s0")
            & (df["split"] == "novel")
            & (df["episode"] >= 9)
        )
    ]
    table = dataset_tables(analyse(short, n_boot=50))["digits"]
    assert "over 12 episodes per cell" not in table
    assert "9 to 12 episodes" in table
    header, rule, *rows = [line for line in table.splitlines() if line.startswith("|")]
    col = [c.strip() for c in header.strip("|").split("|")].index("episodes")
    cells = {r.split("|")[1].strip(): r.strip("|").split("|")[col].strip() for r in rows}
    assert cells == {
        "untrained": "12",
        "ce": "12",
        "clce": "9",
    }  # the untrained row has every episode


def test_a_failed_start_leaves_no_output_folder_behind(quick, tmp_path, capsys):
    """20-way episodes on digits are found impossible only when the manifests are drawn, after config.json
    was written: the folder must go again, so that the corrected command needs no --force."""
    out, cfg, first = quick
    new = tmp_path / "results" / "bench"
    assert (
        main(
            argv(
                "benchmark --dataset digits --ways 20 --epochs 1 --no-progress --out {out}", out=new
            )
        )
        == 2
    )
    assert "20-way" in capsys.readouterr().err
    assert not (tmp_path / "results").exists()
    # a folder that held a benchmark keeps its config.json and episodes even under --force
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    before = {p.relative_to(copy): p.read_bytes() for p in copy.rglob("*") if p.is_file()}
    with pytest.raises(ValueError, match="20-way"):
        run_benchmark(_quick_config(tmp_path, ways=20), copy, force=True, log=lambda m: None)
    assert {p.relative_to(copy): p.read_bytes() for p in copy.rglob("*") if p.is_file()} == before
    # the corrected command runs into the folder the failed one had named
    res = run_benchmark(_quick_config(tmp_path), new, log=lambda m: None)
    assert len(res.trained) == 2


def test_a_dataset_without_a_split_the_benchmark_needs_is_named_before_anything_is_written(
    tmp_path, capsys
):
    from PIL import Image

    root = tmp_path / "imgs"
    for c in "abcdef":
        (root / c).mkdir(parents=True)
        for i in range(3):
            Image.new("L", (8, 8), color=40 * i).save(root / c / f"{i}.png")
    split_file = tmp_path / "split.tsv"
    split_file.write_text(
        "".join(f"base\t{c}\n" for c in "abc") + "".join(f"novel\t{c}\n" for c in "def")
    )
    out = tmp_path / "bench"
    assert (
        main(
            argv(
                "benchmark --dataset {dataset} --ways 2 --epochs 1 --no-progress --out {out}",
                dataset=f"folder:{root}::{split_file}",
                out=out,
            )
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "needs a 'val' split" in err and "has base, novel" in err
    assert not out.exists()


def test_a_truncated_config_json_is_named(quick, tmp_path, capsys):
    out, cfg, first = quick
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    (copy / "config.json").write_text((out / "config.json").read_text()[:40])
    err = _refused_benchmark(copy, capsys)
    assert str(copy / "config.json") in err and "--force" in err and "--out" in err
    (copy / "config.json").write_bytes(b"\xff\xfe\x00")
    assert str(copy / "config.json") in _refused_benchmark(copy, capsys)
    assert main(["report", str(copy)]) == 2
    assert str(copy / "config.json") in capsys.readouterr().err


def _refused_benchmark(out, capsys):
    args = argv(
        "benchmark --dataset digits --losses ce clce --shots 1 "
        "--heads centroid --episodes 12 --val-episodes 6 --seeds 0 "
        "--lambda 0.5 --batch-size 16 --epochs 1 --no-progress --out "
        "{out}",
        out=out,
    )
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_a_full_disk_or_an_unusable_out_is_one_line_naming_the_file(
    quick, tmp_path, capsys, monkeypatch
):
    from _faults import disk_full

    out, cfg, first = quick
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    before = (copy / "per_episode.csv").read_bytes()
    real = pd.DataFrame.to_csv
    monkeypatch.setattr(
        pd.DataFrame,
        "to_csv",
        lambda self, path, *a, **k: (
            disk_full() if ".per_episode.csv." in str(path) else real(self, path, *a, **k)
        ),
    )
    with pytest.raises(OSError) as info:
        run_benchmark(cfg, copy, log=lambda m: None)
    assert str(copy / "per_episode.csv") in str(info.value) and "No space left" in str(info.value)
    assert (copy / "per_episode.csv").read_bytes() == before
    (tmp_path / "file").write_text("x")
    err = _refused_benchmark(tmp_path / "file" / "bench", capsys)
    assert str(tmp_path / "file") in err


def test_precision_reaches_every_training_and_a_rerun_at_another_precision_reuses_the_runs(
    tmp_path, capsys
):
    """`--precision float32`, as a user types it, is given to every training (config.yaml says so); like
    the thread count it says how a run was computed, not what it is, so a rerun at another precision
    reuses the runs."""
    import yaml

    from fewshot_clce.cli import main

    out = tmp_path / "out"
    args = argv(
        "benchmark --dataset digits --losses ce --shots 1 --heads "
        "centroid --episodes 10 --val-episodes 6 --seeds 0 --epochs 1 "
        "--no-progress --no-tsne --manifests {manifests} --out {out}",
        manifests=tmp_path / "manifests",
        out=out,
    )
    assert main(args + ["--precision", "float32"]) == 0
    assert "1 trained, 0 reused" in capsys.readouterr().out
    (run_dir,) = (out / "runs" / "digits").iterdir()
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["precision"] == "float32"
    assert main(args + ["--precision", "bfloat16"]) == 0
    assert "0 trained, 1 reused" in capsys.readouterr().out
    with pytest.raises(SystemExit) as stop:
        main(argv("benchmark --dataset digits --precision fp8 --out {out}", out=tmp_path / "x"))
    assert stop.value.code == 2
    assert "invalid choice: 'fp8'" in capsys.readouterr().err and not (tmp_path / "x").exists()


def test_the_summary_tables_name_each_rows_embedding_size(quick):
    """summary.csv, summary.md and REPORT.md name the width of the features each row was measured
    on, as the per-episode rows record it."""
    out, cfg, first = quick
    df = pd.read_csv(out / "per_episode.csv")
    (dim,) = set(df["embedding_dim"])
    assert dim == 64  # conv4, globally pooled
    summary = pd.read_csv(out / "summary.csv")
    assert set(summary["embedding_dim"]) == {dim}
    for name in ("summary.md", "REPORT.md"):
        text = (out / name).read_text()
        assert "| loss | head | shots | dim |" in text, name
        for loss in ("untrained", "ce", "clce"):
            assert f"| {loss} | centroid | 1 | {dim} |" in text, (name, loss)
