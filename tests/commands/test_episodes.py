import json

import numpy as np
import pytest
from _cli import argv
from PIL import Image

from fewshot_clce.cli import main
from fewshot_clce.data import create_dataset
from fewshot_clce.episodes import EpisodeSet, sample_episodes


def test_make_one_file_per_shot_and_show(tmp_path, capsys):
    args = argv(
        "episodes make --dataset digits --split val --ways 5 --shots "
        "1 5 --queries 15 --episodes 30 --seed 3 --out-dir {out_dir}",
        out_dir=tmp_path,
    )
    assert main(args) == 0
    one = tmp_path / "digits_val_5way_1shot_15query.npz"
    five = tmp_path / "digits_val_5way_5shot_15query.npz"
    split = create_dataset("digits").split("val")
    eps = EpisodeSet.load(five, split=split)
    assert eps == sample_episodes(split, 5, 5, 15, 30, 3)
    assert EpisodeSet.load(one).shots == 1
    assert eps.meta["made_by"] == (
        "fewshot-clce episodes make --dataset digits --split val --ways 5 "
        "--shots 5 --queries 15 --episodes 30 --seed 3"
    )
    capsys.readouterr()
    assert main(["episodes", "show", str(five)]) == 0
    out = capsys.readouterr().out
    assert "30 x 5-way 5-shot 15-query" in out and f"fingerprint {split.fingerprint}" in out
    png = tmp_path / "grid.png"
    assert main(argv("episodes show {five} --out {out} --episode 2", five=five, out=png)) == 0
    assert "checked:     matches digits/val" in capsys.readouterr().out
    with Image.open(png) as im:
        assert im.format == "PNG" and im.size[0] > im.size[1] > 100
    assert main(argv("episodes show {five} --out {out} --episode 30", five=five, out=png)) == 2
    assert "episode 30 does not exist; the file holds episodes 0 to 29" in capsys.readouterr().err
    assert main(["episodes", "show", str(five), "--out", str(tmp_path / "grid.jpg")]) == 2
    assert "image grids are written as PNG" in capsys.readouterr().err
    assert not (tmp_path / "grid.jpg").exists()


def test_make_refuses_overwrite_and_ambiguous_out(tmp_path, capsys):
    out = tmp_path / "e.npz"
    base = argv("episodes make --dataset digits --episodes 5 --shots 1 --out {out}", out=out)
    assert main(base) == 0
    first = out.read_bytes()
    assert main(base + ["--seed", "1"]) == 2
    assert "exists; pass --force" in capsys.readouterr().err and out.read_bytes() == first
    assert main(base + ["--seed", "1", "--force"]) == 0 and out.read_bytes() != first
    assert main(argv("episodes make --dataset digits --shots 1 5 --out {out}", out=out)) == 2
    assert "put {shots} in it" in capsys.readouterr().err
    tpl = str(tmp_path / "x_{shots}.npz")
    assert (
        main(argv("episodes make --dataset digits --episodes 5 --shots 1 5 --out {out}", out=tpl))
        == 0
    )
    assert (tmp_path / "x_1.npz").exists() and (tmp_path / "x_5.npz").exists()


@pytest.mark.parametrize(
    "extra, msg",
    [
        (
            ["--ways", "7", "--split", "val"],
            "7-way episodes need 7 classes but digits/val has 6 classes",
        ),
        (["--shots", "170"], "class '7@0' has 179 samples"),
        (["--queries", "0"], "queries must be at least 1, got 0"),
        (["--split", "test"], "dataset 'digits' has no split 'test'"),
    ],
)
def test_make_errors(tmp_path, capsys, extra, msg):
    assert (
        main(
            argv("episodes make --dataset digits --out {out} --shots 1", out=tmp_path / "e.npz")
            + extra
        )
        == 2
    )
    assert msg in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_show_and_convert_check_the_dataset(tmp_path, capsys):
    path = tmp_path / "e.npz"
    split = create_dataset("digits").split("val")
    eps = sample_episodes(split, 5, 1, 2, 4, 0)
    eps.fingerprint = "0" * 16
    eps.save(path)
    assert main(["episodes", "show", str(path), "--dataset", "digits"]) == 2
    assert (
        f"fingerprint {'0' * 16}, but this split's fingerprint is {split.fingerprint}"
        in capsys.readouterr().err
    )
    good = sample_episodes(split, 5, 1, 2, 4, 0).save(tmp_path / "good.npz")
    assert (
        main(
            argv(
                "episodes convert {good} {target} --dataset digits",
                good=good,
                target=tmp_path / "good.csv",
            )
        )
        == 0
    )
    assert EpisodeSet.load(tmp_path / "good.csv", split=split) == EpisodeSet.load(good)
    assert (
        main(["episodes", "convert", str(tmp_path / "good.csv"), str(tmp_path / "back.npz")]) == 0
    )
    assert np.array_equal(EpisodeSet.load(tmp_path / "back.npz").query, EpisodeSet.load(good).query)


def test_show_and_convert_refuse_a_manifest_whose_queries_are_its_supports(tmp_path, capsys):
    split = create_dataset("digits").split("novel")
    eps = sample_episodes(split, 5, 5, 15, 8, 0)
    eps.query[:, :, :5] = eps.support  # fingerprint intact, episodes not
    np.savez(
        tmp_path / "bad.npz",
        meta=np.array(json.dumps(eps.metadata())),
        classes=eps.classes,
        support=eps.support,
        query=eps.query,
    )
    for args in (
        ["show", str(tmp_path / "bad.npz"), "--dataset", "digits"],
        ["convert", str(tmp_path / "bad.npz"), str(tmp_path / "bad.csv"), "--dataset", "digits"],
    ):
        assert main(["episodes", *args]) == 2
        err = capsys.readouterr().err
        assert (
            f"sample {eps.support[0, 0, 0]} appears twice in episode 0" in err and "bad.npz" in err
        )
    assert not (tmp_path / "bad.csv").exists()


def test_convert_binds_a_table_to_the_split_it_was_checked_against(tmp_path, capsys):
    split = create_dataset("digits").split("val")
    eps = sample_episodes(split, 5, 1, 2, 4, 0)
    rows = ["episode,role,class,sample"]  # a hand-made table: no header lines, class names
    for e in range(len(eps)):
        for role, idx in (("support", eps.support), ("query", eps.query)):
            rows += [
                f"{e},{role},{split.class_names[c]},{i}"
                for c, s in zip(eps.classes[e], idx[e])
                for i in s
            ]
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    assert (
        main(
            argv(
                "episodes convert {source} {target} --dataset digits --split val",
                source=tmp_path / "t.csv",
                target=tmp_path / "t.npz",
            )
        )
        == 0
    )
    out = EpisodeSet.load(tmp_path / "t.npz")
    assert (out.dataset, out.split, out.fingerprint) == ("digits", "val", split.fingerprint)
    assert out.meta["split_size"] == len(split) and out.meta["class_names"] == split.class_names
    assert np.array_equal(out.support, eps.support) and np.array_equal(out.query, eps.query)
    # bound: refused by another split of the same shape
    with pytest.raises(ValueError, match="drawn from split 'val', not 'novel'"):
        EpisodeSet.load(tmp_path / "t.npz", split=create_dataset("digits").split("novel"))
    # an .npz without a fingerprint is bound as well
    bare = EpisodeSet(eps.classes, eps.support, eps.query)
    bare.save(tmp_path / "bare.npz")
    assert (
        main(
            argv(
                "episodes convert {source} {target} --dataset digits --split val",
                source=tmp_path / "bare.npz",
                target=tmp_path / "bound.npz",
            )
        )
        == 0
    )
    assert EpisodeSet.load(tmp_path / "bound.npz").fingerprint == split.fingerprint
    capsys.readouterr()
    # without --dataset nothing is checked, and the command says so
    assert (
        main(["episodes", "convert", str(tmp_path / "bare.npz"), str(tmp_path / "still_bare.csv")])
        == 0
    )
    assert "not bound to a split" in capsys.readouterr().err


def test_make_refuses_an_absurd_episode_count_in_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:  # not an integer: argparse's one-line error
        main(
            argv(
                "episodes make --dataset digits --episodes 1e10 --out-dir {out_dir}",
                out_dir=tmp_path,
            )
        )
    assert (
        stop.value.code == 2 and "--episodes: invalid int value: '1e10'" in capsys.readouterr().err
    )
    # an integer too large to hold: refused before anything is drawn, for every --shots value
    assert (
        main(
            argv(
                "episodes make --dataset digits --shots 1 5 --episodes "
                "10000000000 --out-dir {out_dir}",
                out_dir=tmp_path,
            )
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "--episodes 10000000000" in err and "GiB" in err and len(err.strip().splitlines()) == 1
    assert not list(tmp_path.iterdir())


def test_make_writes_no_file_when_one_shot_setting_cannot_be_made(tmp_path, capsys):
    """--shots 1 170: the 1-shot file used to be written before 170-shot failed, so the corrected command
    was refused without --force."""
    args = argv("episodes make --dataset digits --out-dir {out_dir} --episodes 5", out_dir=tmp_path)
    assert main(args + ["--shots", "1", "170"]) == 2
    assert "170-shot" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
    assert main(args + ["--shots", "1", "5"]) == 0
    assert len(list(tmp_path.glob("*.npz"))) == 2


def test_make_takes_back_its_files_when_a_later_one_cannot_be_written(
    tmp_path, capsys, monkeypatch
):
    from fewshot_clce.episodes import EpisodeSet

    real = EpisodeSet.save
    (tmp_path / "old_5shot.npz").write_bytes(b"an older file")

    def second_fails(self, path, overwrite=True):
        if self.shots == 5:
            raise PermissionError(f"{str(path)!r}: permission denied")
        return real(self, path, overwrite)

    monkeypatch.setattr(EpisodeSet, "save", second_fails)
    assert (
        main(
            argv(
                "episodes make --dataset digits --out {out} --episodes 5",
                out=tmp_path / "new_{shots}shot.npz",
            )
        )
        == 2
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old_5shot.npz"]


def test_make_into_an_unwritable_folder_or_a_full_disk_is_one_line(tmp_path, capsys, monkeypatch):
    from _faults import disk_full, make_unwritable

    old = tmp_path / "e.npz"
    assert (
        main(argv("episodes make --dataset digits --out {out} --shots 1 --episodes 5", out=old))
        == 0
    )
    before = old.read_bytes()
    capsys.readouterr()
    monkeypatch.setattr(np, "savez_compressed", lambda *a, **k: disk_full())
    assert (
        main(
            argv(
                "episodes make --dataset digits --out {out} --shots 1 --episodes 7 --force", out=old
            )
        )
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(old) in err and "No space left on device" in err, err
    assert old.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["e.npz"]
    monkeypatch.undo()
    ro = tmp_path / "ro"
    ro.mkdir()
    make_unwritable(ro, monkeypatch)
    assert (
        main(argv("episodes make --dataset digits --out-dir {out_dir} --episodes 5", out_dir=ro))
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(ro / "digits_novel_5way_1shot_15query.npz") in err, (
        err
    )
