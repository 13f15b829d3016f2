import numpy as np
from _cli import argv
from PIL import Image

from fewshot_clce.cli import main


def _size(path):
    with Image.open(path) as im:
        assert im.format == "PNG"
        return im.size


def test_show_writes_a_grid_sized_by_classes_and_images(tmp_path, capsys):
    out = tmp_path / "grid.png"
    assert (
        main(argv("show digits --split novel --out {out} --classes 3 --per-class 4", out=out)) == 0
    )
    assert "wrote" in capsys.readouterr().out
    w, h = _size(out)
    wide, tall = tmp_path / "wide.png", tmp_path / "tall.png"
    assert main(argv("show digits --out {out} --classes 3 --per-class 8", out=wide)) == 0
    assert main(argv("show digits --out {out} --classes 6 --per-class 4", out=tall)) == 0
    assert _size(wide)[0] > w and _size(wide)[1] == h
    assert _size(tall)[1] > h and _size(tall)[0] == w
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".tmp"] == []


def test_show_seed_picks_the_images(tmp_path):
    paths = [tmp_path / f"{i}.png" for i in range(3)]
    for p, seed in zip(paths, (1, 1, 2)):
        assert (
            main(
                argv(
                    "show digits --out {out} --classes 2 --per-class 3 --seed {seed}",
                    out=p,
                    seed=seed,
                )
            )
            == 0
        )
    a, b, c = (np.asarray(Image.open(p)) for p in paths)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_show_folder_dataset_in_color(tmp_path):
    root = tmp_path / "data"
    for c, color in enumerate([(255, 0, 0), (0, 255, 0), (0, 0, 255)]):
        (root / f"k{c}").mkdir(parents=True)
        for i in range(2):
            Image.new("RGB", (8, 8), color).save(root / f"k{c}" / f"{i}.png")
    out = tmp_path / "g.png"
    assert (
        main(argv("show {dataset} --split base --out {out}", dataset=f"folder:{root}", out=out))
        == 0
    )
    pixels = np.asarray(Image.open(out).convert("RGB")).reshape(-1, 3)
    # the base class's colour is drawn: some pixel is pure red, green or blue
    pure = {tuple(p) for p in pixels} & {(255, 0, 0), (0, 255, 0), (0, 0, 255)}
    assert len(pure) == 1


def test_show_errors(tmp_path, capsys):
    out = tmp_path / "grid.png"
    out.write_bytes(b"keep me")
    assert main(["show", "digits", "--out", str(out)]) == 2
    assert "exists; pass --force" in capsys.readouterr().err and out.read_bytes() == b"keep me"
    assert main(argv("show digits --out {out} --force --classes 1 --per-class 1", out=out)) == 0
    assert _size(out)
    assert main(["show", "nope", "--out", str(tmp_path / "x.png")]) == 2
    assert "unknown dataset 'nope'; valid names:" in capsys.readouterr().err
    assert main(argv("show digits --split test --out {out}", out=tmp_path / "x.png")) == 2
    assert "has no split 'test'" in capsys.readouterr().err
    assert main(argv("show digits --classes 0 --out {out}", out=tmp_path / "x.png")) == 2
    assert "--classes must be at least 1, got 0" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()
    assert main(["show", "digits", "--out", str(tmp_path / "grid.jpg")]) == 2
    assert (
        "'" + str(tmp_path / "grid.jpg") + "': image grids are written as PNG"
        in capsys.readouterr().err
    )
    assert not (tmp_path / "grid.jpg").exists()
