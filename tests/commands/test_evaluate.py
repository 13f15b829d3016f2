import numpy as np
import pandas as pd
import pytest

from fewshot_clce.cli import main
from fewshot_clce.comparison import compare_runs
from fewshot_clce.data import create_dataset
from fewshot_clce.episodes import EpisodeSet, sample_episodes
from fewshot_clce.evaluation import evaluate_run
from fewshot_clce.training import TrainConfig, train

pytestmark = pytest.mark.slow  # trains two tiny runs (about 20 s)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two tiny digits runs (CE and SupCon, a few steps each) and episode manifests."""
    root = tmp_path_factory.mktemp("eval")
    dirs = []
    for loss, seed in (("ce", 0), ("supcon", 1)):
        cfg = TrainConfig(
            dataset="digits",
            backbone="conv4",
            loss=loss,
            out=str(root / f"run_{loss}"),
            epochs=1,
            batch_size=32,
            steps_per_epoch=2,
            val_episodes=10,
            val_queries=5,
            progress=False,
            device="cpu",
            seed=seed,
        )
        dirs.append(train(cfg))
    ds = create_dataset("digits")
    novel = sample_episodes(ds.split("novel"), ways=5, shots=1, queries=5, episodes=20, seed=0)
    val = sample_episodes(ds.split("val"), ways=3, shots=2, queries=5, episodes=15, seed=1)
    paths = [novel.save(root / "novel.npz"), val.save(root / "val.npz")]
    return root, dirs, paths


def test_evaluate_writes_csv_prints_table_and_refuses_overwrite(runs, capsys):
    root, (run_a, _), paths = runs
    out = root / "a.csv"
    argv = [
        "evaluate",
        str(run_a),
        "--episodes",
        *map(str, paths),
        "--head",
        "centroid",
        "logistic",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert (
        "± " in printed and "95% CI: t interval over episodes" in printed and "logistic" in printed
    )
    assert "episode noise only" in printed  # one run, one seed: no seed-level claim
    df = pd.read_csv(out)
    assert len(df) == 2 * (20 + 15)
    assert (
        set(df["split"]) == {"novel", "val"}
        and (df["run"] == "run_ce").all()
        and (df["loss"] == "ce").all()
    )
    assert {"lam", "batch_size", "backbone", "manifest"} <= set(df.columns)
    before = out.read_bytes()
    assert main(argv) == 2
    assert "--force" in capsys.readouterr().err and out.read_bytes() == before
    assert main(argv + ["--force", "--ci", "normal"]) == 0
    assert "95% CI: normal interval over episodes" in capsys.readouterr().out


def test_second_evaluation_uses_the_feature_cache(runs, monkeypatch):
    root, (run_a, _), paths = runs
    first = evaluate_run(run_a, paths[:1], ["centroid"])
    calls = []
    import fewshot_clce.features as features

    real = features._forward
    monkeypatch.setattr(features, "_forward", lambda *a, **k: calls.append(1) or real(*a, **k))
    second = evaluate_run(run_a, paths[:1], ["centroid"])
    assert calls == []
    pd.testing.assert_frame_equal(first, second)


def test_compare_prints_paired_table(runs, capsys):
    root, (run_a, run_b), paths = runs
    assert (
        main(["compare", str(run_a), str(run_b), "--episodes", str(paths[0]), "--head", "centroid"])
        == 0
    )
    captured = capsys.readouterr()
    out = captured.out
    assert "A = run_ce, B = run_supcon" in out
    # digits has 6 novel classes: 5-way episodes repeat them, and compare says so
    assert "WARNING: the novel split of digits has 6 classes for 5-way episodes" in captured.err
    # two runs of one seed each: the p-value and W/T/L say they are episode-level
    assert "p (Wilcoxon, episode-level)" in out and "W/T/L (episodes)" in out
    table = compare_runs(run_a, run_b, paths[0], ["centroid"])
    assert table["paired_episodes"].iloc[0] == 20 and (table["run"] == "run_ce").all()
    assert table["wins"].iloc[0] + table["ties"].iloc[0] + table["losses"].iloc[0] == 20
    # the printed row carries the same numbers, and the CI method with its level below the table
    lines = out.strip().splitlines()
    row = lines[-3]
    t = table.iloc[0]
    half = (t["delta_ci_high"] - t["delta_ci_low"]) / 2
    assert (
        f"{100 * t['delta']:+.2f} ± {100 * half:.2f}" in row
        and "95% CI: t interval over episodes" in lines[-2]
    )
    assert f"{t['wins']}/{t['ties']}/{t['losses']}" in row and f"{100 * t['mean']:.2f}" in row
    assert table["wins"].dtype == "Int64"  # counts, not floats
    assert f"{100 * t['baseline_mean']:.2f}" in row and "seed-to-seed" in lines[-1]
    # the footer says the p-value and W/T/L, not only the CI, ignore seed noise
    assert "p and W/T/L are episode-level too (seed noise ignored)" in lines[-1]


@pytest.mark.slow
def test_clear_errors(runs, capsys, tmp_path):
    root, (run_a, _), paths = runs
    other = EpisodeSet([[0, 1]], [[[0], [1]]], [[[2], [3]]], dataset="glyphs", split="novel")
    other.save(tmp_path / "glyphs.npz")
    assert (
        main(
            [
                "evaluate",
                str(run_a),
                "--episodes",
                str(tmp_path / "glyphs.npz"),
                "--out",
                str(tmp_path / "x.csv"),
            ]
        )
        == 2
    )
    # another dataset is evaluated cross-domain, so these episodes are checked against the glyphs data
    assert "episodes of glyphs/novel: episode 0 lists sample 1" in capsys.readouterr().err
    wrong_fp = EpisodeSet.load(paths[0])
    wrong_fp.fingerprint = "0" * 16
    with pytest.raises(ValueError, match="fingerprint"):
        evaluate_run(run_a, [wrong_fp], ["centroid"])
    (tmp_path / "empty_run").mkdir()
    assert main(["evaluate", str(tmp_path / "empty_run"), "--episodes", str(paths[0])]) == 2
    assert "has no checkpoint_best.pt" in capsys.readouterr().err
    assert not (tmp_path / "empty_run" / "evaluation.csv").exists()


def test_cl2n_head_uses_the_base_split_mean(runs):
    root, (run_a, _), paths = runs
    df = evaluate_run(run_a, paths[:1], ["centroid_cl2n", "centroid"])
    assert set(df["head"]) == {"centroid_cl2n", "centroid"} and df["accuracy"].between(0, 1).all()
    # centring changes the decisions of at least some episodes
    a = df[df["head"] == "centroid_cl2n"]["accuracy"].to_numpy()
    b = df[df["head"] == "centroid"]["accuracy"].to_numpy()
    assert not np.array_equal(a, b)


def test_one_way_manifest_is_refused_by_evaluate_and_compare(runs, capsys, tmp_path):
    """1-way episodes would score 100.00 ± 0.00 with the centroid head: refused before any work."""
    root, (run_a, run_b), paths = runs
    one_way = EpisodeSet.load(paths[0])
    one_way = EpisodeSet(
        one_way.classes[:, :1],
        one_way.support[:, :1],
        one_way.query[:, :1],
        one_way.dataset,
        one_way.split,
        one_way.fingerprint,
        one_way.seed,
    )
    path = one_way.save(tmp_path / "one_way.npz")
    out = tmp_path / "x.csv"
    assert main(["evaluate", str(run_a), "--episodes", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "at least 2 classes" in err and not out.exists()
    assert main(["compare", str(run_a), str(run_b), "--episodes", str(path)]) == 2
    assert "at least 2 classes" in capsys.readouterr().err


@pytest.mark.parametrize("where", ["folder", "under a file", "unwritable"])
@pytest.mark.parametrize("command", ["evaluate", "compare"])
def test_an_out_that_cannot_be_written_is_refused_before_evaluating(
    runs, tmp_path, capsys, monkeypatch, where, command
):
    from _faults import make_unwritable

    import fewshot_clce.comparison
    import fewshot_clce.evaluation

    def never(*args, **kwargs):
        raise AssertionError("the evaluation ran before --out was checked")

    root, (run_a, run_b), paths = runs
    if where == "folder":
        out = tmp_path
    elif where == "under a file":
        (tmp_path / "file").write_text("x")
        out = tmp_path / "file" / "e.csv"
    else:
        make_unwritable(tmp_path, monkeypatch)
        out = tmp_path / "e.csv"
    monkeypatch.setattr(fewshot_clce.evaluation, "evaluate_run", never)
    monkeypatch.setattr(fewshot_clce.comparison, "evaluate_run", never)
    runs_args = [str(run_a)] if command == "evaluate" else [str(run_a), str(run_b)]
    assert (
        main([command, *runs_args, "--episodes", str(paths[0]), "--out", str(out), "--force"]) == 2
    )
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--out" in err, err


def test_a_full_disk_when_writing_results_is_one_line_and_keeps_the_old_file(
    runs, tmp_path, capsys, monkeypatch
):
    from _faults import disk_full

    root, (run_a, _), paths = runs
    out = tmp_path / "e.csv"
    out.write_text("the previous results\n")
    monkeypatch.setattr(pd.DataFrame, "to_csv", lambda self, *a, **k: disk_full())
    assert (
        main(
            [
                "evaluate",
                str(run_a),
                "--episodes",
                str(paths[0]),
                "--head",
                "centroid",
                "--out",
                str(out),
                "--force",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(out) in err and "No space left on device" in err, err
    assert out.read_text() == "the previous results\n" and [p.name for p in tmp_path.iterdir()] == [
        "e.csv"
    ]


def test_a_run_folder_named_like_a_formula_is_written_as_text(runs, tmp_path, capsys):
    import csv
    import shutil

    from fewshot_clce.utils.files import read_csv

    root, (run_a, run_b), paths = runs
    name = '=HYPERLINK("evil.example","x")'  # a folder name: no slash
    evil = tmp_path / name
    shutil.copytree(run_a, evil)
    out = tmp_path / "e.csv"
    assert (
        main(
            [
                "evaluate",
                str(evil),
                "--episodes",
                str(paths[0]),
                "--head",
                "centroid",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows and all(r["run"] == "'" + name for r in rows)
    assert float(rows[0]["accuracy"]) >= 0
    assert set(read_csv(out)["run"]) == {name}
    cmp_out = tmp_path / "c.csv"
    assert (
        main(
            [
                "compare",
                str(evil),
                str(run_b),
                "--episodes",
                str(paths[0]),
                "--head",
                "centroid",
                "--out",
                str(cmp_out),
            ]
        )
        == 0
    )
    with open(cmp_out, newline="") as f:
        assert all(r["run"] == "'" + name for r in csv.DictReader(f))
