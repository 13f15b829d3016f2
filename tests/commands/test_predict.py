"""`fewshot-clce predict` end to end on tiny image folders written here, and its one-line errors."""

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from fewshot_clce.backbones.factory import create_backbone
from fewshot_clce.cli import main

# Two classes that a random Conv-4 tells apart: dark images with a bright left half, and the mirror.
SIDE = 16


def _image(path, bright_left: bool, rng) -> None:
    pixels = rng.integers(0, 40, (SIDE, SIDE, 3)).astype(np.uint8)
    half = slice(0, SIDE // 2) if bright_left else slice(SIDE // 2, SIDE)
    pixels[:, half] = rng.integers(215, 256, (SIDE, SIDE // 2, 3))
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


@pytest.fixture()
def folders(tmp_path):
    rng = np.random.default_rng(0)
    for cls, left in (("left", True), ("right", False)):
        for i in range(3):
            _image(tmp_path / "support" / cls / f"{i}.png", left, rng)
            _image(tmp_path / "labelled" / cls / f"q{i}.png", left, rng)
    _image(tmp_path / "loose" / "a.png", True, rng)
    _image(tmp_path / "loose" / "b.png", False, rng)
    weights = tmp_path / "conv4.pt"
    torch.manual_seed(0)
    torch.save(create_backbone("conv4", 3).state_dict(), weights)
    return tmp_path, weights


def test_predict_cli_classifies_folders_and_writes_the_csv(folders, capsys):
    root, weights = folders
    out = root / "pred.csv"
    argv = [
        "predict",
        "--backbone",
        "conv4",
        "--checkpoint",
        str(weights),
        "--support",
        str(root / "support"),
        "--query",
        str(root / "labelled"),
        str(root / "loose" / "a.png"),
        "--heads",
        "centroid",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    table = pd.read_csv(out)
    assert list(table.columns[:3]) == ["image", "predicted", "probability"]
    assert {"p(left)", "p(right)", "true", "correct"} <= set(table.columns)
    assert len(table) == 7
    np.testing.assert_allclose(table["p(left)"] + table["p(right)"], 1.0, atol=1e-6)
    labelled = table[table["true"].notna()]
    assert (
        labelled["predicted"] == labelled["true"]
    ).all()  # the halves are far apart in feature space
    assert table.loc[table["image"].str.endswith("a.png"), "predicted"].item() == "left"
    assert "accuracy: 100.0% on the 6 images" in printed and "(64-d features)" in printed
    assert "q0.png" in printed and "left" in printed
    assert main(argv) == 2 and "--force" in capsys.readouterr().err  # no silent overwrite
    assert (
        main(argv[:-2] + ["--out", str(root / "p2.csv"), "--heads", "logistic"]) == 0
    )  # logistic too
    assert "predictions: " in capsys.readouterr().out


def test_predict_function_for_notebooks(folders):
    from fewshot_clce import predict

    root, weights = folders
    table = predict(
        root / "support", root / "loose", backbone="conv4[global_pool=flatten]", checkpoint=weights
    )
    assert list(table["predicted"]) == ["left", "right"]
    assert (
        table.attrs["accuracy"] is None and table.attrs["embedding_dim"] == 64
    )  # 16 px -> 1x1 x 64


@pytest.mark.parametrize(
    "case, message",
    [
        ("empty_class", r"class folder '.*support/right' holds no images"),
        (
            "one_class",
            r"support folder '.*support' has 1 class folder; "
            r"a prediction needs at least two classes",
        ),
        ("not_image", r"'.*support/left/notes.txt' is not an image"),
        ("broken_image", r"broken.png"),
        ("empty_query", r"query folder '.*empty' holds no images"),
        ("missing_support", r"support folder '.*nowhere' does not exist"),
    ],
)
def test_predict_bad_input_is_one_line_naming_the_path(folders, capsys, case, message):
    import re
    import shutil

    root, weights = folders
    support, query = root / "support", root / "loose"
    if case == "empty_class":
        shutil.rmtree(support / "right")
        (support / "right").mkdir()
    elif case == "one_class":
        shutil.rmtree(support / "right")
    elif case == "not_image":
        (support / "left" / "notes.txt").write_text("hello")
    elif case == "broken_image":
        (support / "left" / "broken.png").write_bytes(b"not a png")
    elif case == "empty_query":
        query = root / "empty"
        query.mkdir()
    elif case == "missing_support":
        support = root / "nowhere"
    code = main(
        [
            "predict",
            "--backbone",
            "conv4",
            "--checkpoint",
            str(weights),
            "--support",
            str(support),
            "--query",
            str(query),
            "--out",
            str(root / "x.csv"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert re.search(message, err), err
