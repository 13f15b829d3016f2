"""What the commands write to the console: bars only on a terminal, train's summary line,
glyphs' first render."""

import sys

import pytest
from _cli import argv

from fewshot_clce import create_dataset
from fewshot_clce.cli import build_parser, main
from fewshot_clce.commands.benchmark import config_from_args

TRAIN = argv(
    "train --dataset digits --backbone conv4 --losses ce --epochs "
    "1 --batch-size 32 --steps-per-epoch 3 --val-episodes 5 "
    "--val-queries 5 --device cpu"
)


def test_train_bars_only_when_asked_or_on_a_terminal(tmp_path, capsys):
    """stderr captured (a file, as in a Slurm log): no bar; --progress forces it."""
    assert main(TRAIN + ["--out", str(tmp_path / "quiet")]) == 0
    quiet = capsys.readouterr()
    assert "batch" not in quiet.err and "\r" not in quiet.err
    assert quiet.out.startswith("best epoch ") and "val accuracy" in quiet.out
    assert main(TRAIN + ["--out", str(tmp_path / "bars"), "--progress"]) == 0
    assert "epoch 1" in capsys.readouterr().err


def test_benchmark_progress_follows_the_terminal_unless_told(monkeypatch, capsys):
    parser = build_parser()
    assert (
        config_from_args(parser.parse_args(["benchmark"])).progress is False
    )  # stderr is captured
    forced = config_from_args(parser.parse_args(["benchmark", "--progress"]))
    assert forced.progress is True and "--progress" in forced.command.split()
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert config_from_args(parser.parse_args(["benchmark"])).progress is True
    assert config_from_args(parser.parse_args(["benchmark", "--no-progress"])).progress is False
    with pytest.raises(SystemExit):
        parser.parse_args(["benchmark", "--progress", "--no-progress"])
    assert "not allowed with" in capsys.readouterr().err


def test_train_summary_names_the_best_epoch_and_its_checkpoint(tmp_path, capsys):
    from fewshot_clce.commands.train import summary_line

    (tmp_path / "metrics.csv").write_text(
        "epoch,loss,val_acc,best\n0,,0.40,\n1,2.0,0.55,True\n2,1.5,0.50,False\n"
    )
    assert summary_line(tmp_path) == (
        f"best epoch 1 of 2: val accuracy 55.00%; checkpoint {tmp_path / 'checkpoint_best.pt'}"
    )


def test_glyphs_first_render_says_what_it_does(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FEWSHOT_CLCE_CACHE", str(tmp_path))
    create_dataset("glyphs", max_per_block=1)
    err = capsys.readouterr().err
    assert "glyphs: first use: rendering 17 classes x 20 images" in err and str(tmp_path) in err
    assert "class/s" not in err  # stderr is not a terminal: no bar
    create_dataset("glyphs", max_per_block=1)
    assert capsys.readouterr().err == ""  # read from the cache, silently
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    create_dataset("glyphs", max_per_block=1, seed=5)
    err = capsys.readouterr().err
    assert (
        "glyphs: first use" in err
        and "glyphs: " in err.split("\n", 1)[1]
        and "class" in err.split("\n", 1)[1]
    )
