import pytest
from _cli import argv

from fewshot_clce.cli import main


def test_datasets_lists_digits(capsys):
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    assert "digits" in out and "novel" in out and "yes" in out


def test_datasets_lists_glyphs_without_rendering_them(capsys, tmp_path, monkeypatch):
    """Listing never builds: with no glyphs cache, glyphs is listed as here, with its class counts and
    what its first use does, and nothing is rendered or written."""
    from fewshot_clce.data import glyphs

    monkeypatch.setenv("FEWSHOT_CLCE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(
        glyphs, "build_glyphs", lambda *a, **k: pytest.fail("the listing rendered glyphs")
    )
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if line.split()[:1] == ["glyphs"]]
    assert rows == [
        ["glyphs", "base", "967", "-", "-", "yes"],
        ["glyphs", "val", "114", "-", "-", "yes"],
        ["glyphs", "novel", "471", "-", "-", "yes"],
    ]
    path = glyphs.cache_path(create=False)
    assert (
        f"glyphs: rendered from matplotlib's fonts by the first command that loads it, cached as "
        f"{path}" in out
    )
    assert not (tmp_path / "cache" / "glyphs").exists()


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "usage: fewshot-clce" in capsys.readouterr().out


def test_datasets_says_where_missing_data_belongs(capsys, tmp_path):
    assert main(["datasets", "--root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"Not found under {tmp_path}:" in out
    assert "  cifar-fs: expected under --root: cifar-100-python/" in out
    assert "glyphs" not in out.split("Not found")[1]  # embedded datasets are always here
    assert main(["datasets", "--root", str(tmp_path / "typo")]) == 0
    assert (
        f"Not found under {tmp_path / 'typo'} (that folder does not exist):"
        in capsys.readouterr().out
    )


class _Payload:
    def __reduce__(self):
        import os

        return (os.system, ("echo should-not-run",))


def test_refused_pickle_is_a_one_line_error(capsys, tmp_path):
    import pickle

    folder = tmp_path / "CIFAR-FS"
    folder.mkdir()
    for part in ("train", "val", "test"):
        with open(folder / f"CIFAR_FS_{part}.pickle", "wb") as f:
            pickle.dump({"data": _Payload(), "labels": [0]}, f)
    assert (
        main(argv("show cifar-fs --root {root} --out {out}", root=tmp_path, out=tmp_path / "g.png"))
        == 2
    )
    captured = capsys.readouterr()
    assert "should-not-run" not in captured.out
    err = captured.err.strip()
    assert "\n" not in err and "Traceback" not in err
    assert (
        err.startswith("fewshot-clce show: error: refusing to load")
        and "CIFAR_FS_train.pickle" in err
    )
    assert not (tmp_path / "g.png").exists()


def test_every_command_takes_root_and_data_root():
    from fewshot_clce.cli import build_parser

    parser = build_parser()
    base = {
        "datasets": [],
        "show": ["digits", "--out", "g.png"],
        "episodes make": ["--dataset", "digits"],
        "episodes show": ["f.npz"],
        "episodes convert": ["a.csv", "b.npz"],
        "train": ["--dataset", "digits", "--backbone", "conv4", "--loss", "ce", "--out", "r"],
        "evaluate": ["r", "--episodes", "f.npz"],
        "compare": ["a", "b", "--episodes", "f.npz"],
    }
    for command, args in base.items():
        for flag in ("--root", "--data-root"):
            ns = parser.parse_args(command.split() + args + [flag, "/data"])
            assert (getattr(ns, "root", None) or getattr(ns, "data_root", None)) == "/data", (
                command,
                flag,
            )


def test_settings_are_named_as_the_api_spells_them_and_as_flags_on_the_command_line(
    tmp_path, capsys
):
    """The library says `views`/`batch_size`; the command line says `--views`/`--batch-size`."""
    from fewshot_clce.training import TrainConfig, train
    from fewshot_clce.utils.checks import SettingError

    cfg = TrainConfig(
        dataset="digits",
        backbone="conv4",
        loss="supcon",
        out=str(tmp_path / "r"),
        epochs=1,
        resume=True,
        force=True,
    )
    with pytest.raises(SettingError, match="^resume continues a run and force starts it over"):
        train(cfg)
    with pytest.raises(SettingError, match="needs positives: set views to 2 or raise batch_size"):
        train(
            TrainConfig(
                dataset="digits",
                backbone="conv4",
                loss="supcon",
                out=str(tmp_path / "s"),
                views=1,
                batch_size=1,
                epochs=1,
            )
        )
    args = argv(
        "train --dataset digits --backbone conv4 --loss supcon --out "
        "{out} --epochs 1 --resume --force",
        out=tmp_path / "r",
    )
    assert main(args) == 2
    assert "error: --resume continues a run and --force starts it over" in capsys.readouterr().err
    (tmp_path / "file").write_text("x")
    assert (
        main(
            argv(
                "train --dataset digits --backbone conv4 --loss ce --out {out} --epochs 1",
                out=tmp_path / "file",
            )
        )
        == 2
    )
    assert f"error: --out '{tmp_path / 'file'}' is a file" in capsys.readouterr().err
    err = SettingError("views", "set {setting} to 2 or raise {setting:batch_size}")
    assert str(err) == "set views to 2 or raise batch_size"
    assert (
        err.message_for(lambda n: "--" + n.replace("_", "-"))
        == "set --views to 2 or raise --batch-size"
    )


def test_benchmark_help_names_init_where_training_says_checkpoint(capsys):
    """The training options the benchmark takes keep train's help, with training's --checkpoint
    (which the benchmark sets from --init) named as the benchmark's own option."""
    with pytest.raises(SystemExit):
        main(["benchmark", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--checkpoint-prefix PREFIX with --init FILE: keep the weights" in text
    assert "--checkpoint-key KEY with --init FILE: the checkpoint entry" in text
    assert "with --checkpoint:" not in text
