"""One option name per concept in every sub-command, the older spellings kept as aliases."""

import pandas as pd
import pytest
from _cli import argv

from fewshot_clce.cli import build_parser, main

TRAIN = argv("train --dataset digits --backbone conv4 --out r")

# (command line up to the option, canonical flag, alias, the value, the Namespace field,
#  what it holds)
SPELLINGS = [
    (TRAIN, "--losses", "--loss", ["clce"], "loss", "clce"),
    (TRAIN + ["--losses", "ce"], "--seeds", "--seed", ["3"], "seed", 3),
    (["benchmark"], "--losses", "--loss", ["ce", "clce"], "losses", ["ce", "clce"]),
    (["benchmark"], "--seeds", "--seed", ["0", "1"], "seeds", [0, 1]),
    (["benchmark"], "--heads", "--head", ["logistic[C=0.1]"], "heads", ["logistic[C=0.1]"]),
    (["benchmark"], "--episodes", "--n-episodes", ["50"], "episodes", 50),
    (
        ["evaluate", "r", "--dataset", "digits"],
        "--heads",
        "--head",
        ["centroid", "logistic[C=0.1]"],
        "head",
        ["centroid", "logistic[C=0.1]"],
    ),
    (
        ["evaluate", "r", "--dataset", "digits"],
        "--episodes",
        "--n-episodes",
        ["50"],
        "n_episodes",
        50,
    ),
    (
        ["compare", "a", "b", "--dataset", "digits"],
        "--heads",
        "--head",
        ["centroid"],
        "head",
        ["centroid"],
    ),
    (
        ["compare", "a", "b", "--dataset", "digits"],
        "--episodes",
        "--n-episodes",
        ["50"],
        "n_episodes",
        50,
    ),
    (["episodes", "make", "--dataset", "digits"], "--episode-seed", "--seed", ["4"], "seed", 4),
]


@pytest.mark.parametrize("prefix, canonical, alias, values, dest, expected", SPELLINGS)
def test_canonical_name_and_alias_parse_alike(prefix, canonical, alias, values, dest, expected):
    parser = build_parser()
    for flag in (canonical, alias):
        assert getattr(parser.parse_args(prefix + [flag, *values]), dest) == expected, flag


@pytest.mark.parametrize("command", ["train", "benchmark", "evaluate", "compare"])
def test_help_shows_the_canonical_names(command, capsys):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = capsys.readouterr().out
    wanted = {
        "train": ["--losses", "--seeds", "--progress"],
        "benchmark": ["--losses", "--seeds", "--heads", "--episodes", "--progress"],
        "evaluate": ["--heads", "--episodes", "--manifests"],
        "compare": ["--heads", "--episodes"],
    }[command]
    assert all(flag in text for flag in wanted)


def test_evaluate_episodes_takes_a_count_or_the_older_manifest_list(tmp_path, monkeypatch):
    parser = build_parser()
    args = parser.parse_args(["evaluate", "r", "--episodes", "a.npz", "b.npz"])
    assert args.episodes == ["a.npz", "b.npz"] and args.n_episodes is None
    args = parser.parse_args(["evaluate", "r", "--manifests", "a.npz"])
    assert args.episodes == ["a.npz"] and args.n_episodes is None
    monkeypatch.chdir(tmp_path)
    (tmp_path / "100").write_bytes(
        b""
    )  # a file that happens to be named like a number is a manifest
    assert parser.parse_args(["evaluate", "r", "--episodes", "100"]).episodes == ["100"]


def test_evaluate_refuses_an_unknown_head_option_in_one_line(capsys):
    with pytest.raises(SystemExit) as stop:
        main(argv("evaluate r --dataset digits --heads logistic[D=1]"))
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "--heads" in err and "takes C" in err and "unknown D" in err
    assert "Traceback" not in err


@pytest.mark.slow
def test_train_then_evaluate_with_a_head_option(tmp_path, capsys, monkeypatch):
    """The user's walk: train with the canonical names, evaluate with logistic[C=0.1] on
    drawn episodes."""
    monkeypatch.chdir(tmp_path)
    assert (
        main(
            argv(
                "train --dataset digits --backbone conv4 --losses ce --seeds "
                "1 --out run --epochs 1 --batch-size 32 --steps-per-epoch 2 "
                "--val-episodes 10 --val-queries 5 --device cpu"
            )
        )
        == 0
    )
    printed = capsys.readouterr().out.strip().splitlines()
    assert len(printed) == 1 and printed[0].startswith("best epoch ")
    assert printed[0].endswith(
        f"checkpoint {tmp_path.joinpath('run', 'checkpoint_best.pt').relative_to(tmp_path)}"
    )
    assert (
        main(
            argv(
                "evaluate run --dataset digits --shots 1 --queries 5 "
                "--episodes 12 --heads centroid logistic[C=0.1] --out "
                "eval.csv --no-cache"
            )
        )
        == 0
    )
    results = pd.read_csv(tmp_path / "eval.csv")
    assert set(results["head"]) == {"centroid", "logistic[C=0.1]"} and len(results) == 2 * 12
