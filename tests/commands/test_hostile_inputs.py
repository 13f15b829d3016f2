"""Hostile or damaged files met on the user's path: one-line errors naming the file, never a
traceback, and nothing run from the file."""

import os
import sys

import pytest
from _cli import argv

from fewshot_clce.cli import main


@pytest.mark.parametrize(
    "text,reason",
    [
        (
            "dataset: digits\nbatch_size: !!python/object/apply:os.system ['touch {marker}']\n",
            "YAML tag",
        ),
        ("dataset: [digits\n", "not valid YAML"),
        ("- just\n- a list\n", "not a mapping"),
        (b"dataset: \xff\xfe\n", "not UTF-8"),
    ],
)
def test_unreadable_run_config_is_a_one_line_error(tmp_path, capsys, text, reason):
    from fewshot_clce.benchmark.config import resolve
    from fewshot_clce.benchmark.plan import plan_runs

    marker = tmp_path / "pwned"
    out = tmp_path / "bench"
    cfg = resolve(datasets=["digits"], losses=["ce"], seeds=[0], epochs=1)
    run_dir = plan_runs(cfg)[0].run_dir(out)
    run_dir.mkdir(parents=True)
    config = run_dir / "config.yaml"
    if isinstance(text, bytes):
        config.write_bytes(text)
    else:
        config.write_text(text.format(marker=marker))
    args = argv(
        "benchmark --dataset digits --losses ce --seeds 0 --epochs 1 --out {out} --plan", out=out
    )
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    assert str(config) in err and reason in err
    assert not marker.exists()


def _classes(root, names=("a", "b", "c", "d", "e"), per_class=3):
    from PIL import Image

    for c in names:
        (root / c).mkdir(parents=True)
        for i in range(per_class):
            Image.new("L", (6, 6), 40 * i).save(root / c / f"{i}.png")
    return root


@pytest.mark.skipif(sys.platform != "linux", reason="file names are bytes only on Linux")
@pytest.mark.parametrize("where", ["file", "class folder"])
def test_non_utf8_file_name_is_a_one_line_error(tmp_path, capsys, where):
    from PIL import Image

    root = _classes(tmp_path / "toy")
    if where == "file":
        bad = os.fsencode(root / "b") + b"/caf\xe9.png"  # Latin-1 bytes, not UTF-8
        Image.new("L", (6, 6), 9).save(root / "b" / "tmp.png")
        os.rename(os.fsencode(root / "b" / "tmp.png"), bad)
    else:
        bad = os.fsencode(root) + b"/caf\xe9"
        os.rename(os.fsencode(root / "b"), bad)
    for args in (
        argv(
            "show {dataset} --split base --out {out}",
            dataset=f"folder:{root}",
            out=tmp_path / "g.png",
        ),
        *(
            argv(
                "episodes make --dataset {dataset} --split {split} --ways 2 "
                "--shots 1 --queries 1 --episodes 2 --out {out}",
                dataset=f"folder:{root}",
                split=s,
                out=tmp_path / f"{s}.npz",
            )
            for s in ("base", "val", "novel")
        ),
    ):
        assert main(args) == 2, args
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and "Traceback" not in err
        assert "caf\\xe9" in err and "not valid UTF-8" in err, err
