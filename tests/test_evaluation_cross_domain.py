"""Evaluate anything on anything: a run on another dataset's episodes (images adapted), and backbones
that no run folder holds (a weights file, timm's pretrained weights), through the API and the CLI."""

import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from _cli import argv
from PIL import Image

from fewshot_clce import summarize
from fewshot_clce.cli import main
from fewshot_clce.data import create_dataset
from fewshot_clce.episodes import EpisodeSet, sample_episodes
from fewshot_clce.evaluation import evaluate_backbone, evaluate_run

pytestmark = pytest.mark.slow  # trains two tiny runs (about 20 s)

GLYPHS = "glyphs[max_per_block=2]"
TRAIN = [
    "--backbone",
    "conv4",
    "--epochs",
    "1",
    "--steps-per-epoch",
    "2",
    "--batch-size",
    "32",
    "--val-episodes",
    "10",
    "--val-queries",
    "5",
    "--device",
    "cpu",
    "--no-progress",
]


def write_rgb_folder(root, per_class=8, size=16, seed=0):
    """Four classes of RGB PNGs (a class-dependent colour plus noise) and a split file naming them novel."""
    rng = np.random.default_rng(seed)
    colours = [(200, 40, 40), (40, 200, 40), (40, 40, 200), (200, 200, 40)]
    lines = []
    for c, colour in enumerate(colours):
        name = f"colour{c}"
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = np.clip(np.array(colour) + rng.normal(0, 40, (size, size, 3)), 0, 255).astype(
                np.uint8
            )
            Image.fromarray(pixels, "RGB").save(root / name / f"{i}.png")
        lines.append(f"novel\t{name}")
    (root / "split.tsv").write_text("\n".join(lines) + "\n")
    return f"folder:{root}::split.tsv"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A glyphs run and a digits run trained as a user types it, RGB PNGs, and episodes of each dataset."""
    tmp = tmp_path_factory.mktemp("xdomain")
    for name, dataset in (("glyph_run", GLYPHS), ("digit_run", "digits")):
        assert (
            main(["train", "--dataset", dataset, "--loss", "ce", "--out", str(tmp / name), *TRAIN])
            == 0
        )
    rgb = write_rgb_folder(tmp / "rgb")
    digits = sample_episodes(create_dataset("digits").split("novel"), 5, 1, 5, 12, seed=0)
    glyphs = sample_episodes(create_dataset(GLYPHS).split("novel"), 5, 1, 5, 12, seed=0)
    colours = sample_episodes(create_dataset(rgb).split("novel"), 3, 1, 3, 10, seed=0)
    paths = {
        k: e.save(tmp / f"{k}.npz")
        for k, e in (("digits", digits), ("glyphs", glyphs), ("rgb", colours))
    }
    return tmp, rgb, paths


def _no_features(monkeypatch):
    """Make any feature extraction fail loudly: errors must come before the work."""
    import fewshot_clce.features as features

    def forbidden(*args, **kwargs):
        raise AssertionError("features were extracted before the error")

    monkeypatch.setattr(features, "_forward", forbidden)


def test_a_glyphs_run_on_digits_records_both_datasets_and_the_adaptation(world):
    tmp, rgb, paths = world
    df = evaluate_run(tmp / "glyph_run", [paths["digits"]], ["centroid", "logistic"], cache=False)
    assert (
        len(df) == 2 * 12
        and np.isfinite(df["accuracy"]).all()
        and df["accuracy"].between(0, 1).all()
    )
    assert set(df["train_dataset"]) == {GLYPHS} and set(df["dataset"]) == {"digits"}
    assert set(df["adaptation"]) == {"8x8 -> 28x28"}  # digits are upsampled to the run's input size
    # the run's own episodes: nothing adapted, and summaries keep the two apart
    own = evaluate_run(tmp / "glyph_run", [paths["glyphs"]], ["centroid"], cache=False)
    assert set(own["adaptation"]) == {"none"} and set(own["dataset"]) == {GLYPHS}
    table = summarize(
        pd.concat([df[df["head"] == "centroid"], own]), baseline=None, split=None, by="run"
    )
    assert set(zip(table["train_dataset"], table["dataset"])) == {
        (GLYPHS, "digits"),
        (GLYPHS, GLYPHS),
    }


def test_a_glyphs_run_on_a_folder_of_rgb_pngs_takes_their_luminance(world):
    tmp, rgb, paths = world
    df = evaluate_run(tmp / "glyph_run", [paths["rgb"]], ["centroid"], dataset=rgb, cache=False)
    assert np.isfinite(df["accuracy"]).all() and len(df) == 10
    assert set(df["dataset"]) == {"folder:rgb"} and set(df["train_dataset"]) == {GLYPHS}
    assert set(df["adaptation"]) == {"3 -> 1 channels (ITU-R BT.601 luminance), 16x16 -> 28x28"}
    # a folder dataset's episodes do not say where its files are: the error asks for --dataset
    with pytest.raises(ValueError, match=r"pass its path, --dataset folder:PATH"):
        evaluate_run(tmp / "glyph_run", [paths["rgb"]], ["centroid"], cache=False)


def test_the_fingerprint_check_against_the_evaluation_data_stays(world):
    tmp, rgb, paths = world
    forged = EpisodeSet.load(paths["digits"])
    forged.fingerprint = "0" * 16
    with pytest.raises(ValueError, match="fingerprint"):
        evaluate_run(tmp / "glyph_run", [forged], ["centroid"], cache=False)
    with pytest.raises(ValueError, match="drawn from dataset 'digits', not from --dataset 'glyphs"):
        evaluate_run(
            tmp / "glyph_run", [paths["digits"]], ["centroid"], dataset=GLYPHS, cache=False
        )


def test_a_checkpoint_file_evaluates_to_the_same_numbers_as_its_run_folder(world, tmp_path):
    tmp, rgb, paths = world
    heads = ["centroid", "logistic", "centroid_cl2n"]
    run = evaluate_run(tmp / "glyph_run", [paths["glyphs"]], heads, cache=False)
    copy = tmp_path / "copy.pt"
    shutil.copy(tmp / "glyph_run" / "checkpoint_best.pt", copy)
    as_file = evaluate_backbone(
        "conv4", [paths["glyphs"]], checkpoint=copy, heads=heads, cache=False
    )
    np.testing.assert_array_equal(as_file["accuracy"].to_numpy(), run["accuracy"].to_numpy())
    assert set(as_file["train_dataset"]) == {GLYPHS} and set(as_file["loss"]) == {"ce"}
    # the bare backbone weights, with the run's preprocessing typed out
    from fewshot_clce.training.run_folder import load_run

    torch.save(load_run(tmp / "glyph_run").backbone.state_dict(), tmp_path / "bare.pt")
    bare = evaluate_backbone(
        "conv4",
        [paths["glyphs"]],
        checkpoint=tmp_path / "bare.pt",
        image_size=28,
        mean=[0.5],
        std=[0.5],
        heads=heads,
        cache=False,
    )
    np.testing.assert_array_equal(bare["accuracy"].to_numpy(), run["accuracy"].to_numpy())
    assert set(bare["train_dataset"]) == {"unknown"} and set(bare["run"]) == {"bare.pt"}


def test_the_feature_cache_keys_an_external_backbone_by_file_digest_and_preprocessing(
    world, tmp_path, monkeypatch
):
    import fewshot_clce.features as features
    from fewshot_clce.backbones.factory import create_backbone

    tmp, rgb, paths = world
    cache = tmp_path / "cache"
    weights = tmp_path / "w.pt"
    torch.manual_seed(0)
    torch.save(create_backbone("conv4", in_chans=1).state_dict(), weights)
    first = evaluate_backbone(
        "conv4", [paths["digits"]], checkpoint=weights, heads=["centroid"], cache=cache
    )
    calls = []
    real = features._forward
    monkeypatch.setattr(features, "_forward", lambda *a, **k: calls.append(1) or real(*a, **k))
    again = evaluate_backbone(
        "conv4", [paths["digits"]], checkpoint=weights, heads=["centroid"], cache=cache
    )
    assert calls == [] and again["accuracy"].equals(first["accuracy"])
    evaluate_backbone(
        "conv4",
        [paths["digits"]],
        checkpoint=weights,
        image_size=16,
        heads=["centroid"],
        cache=cache,
    )
    assert len(calls) == 1  # other preprocessing: other features
    torch.manual_seed(1)
    torch.save(
        create_backbone("conv4", in_chans=1).state_dict(), weights
    )  # same path, other weights
    other = evaluate_backbone(
        "conv4", [paths["digits"]], checkpoint=weights, heads=["centroid"], cache=cache
    )
    assert len(calls) == 2 and not other["accuracy"].equals(first["accuracy"])


def test_bad_input_is_one_line_before_any_work(world, tmp_path, capsys, monkeypatch):
    from fewshot_clce.backbones.factory import create_backbone

    tmp, rgb, paths = world
    torch.save(create_backbone("conv4", in_chans=2).state_dict(), tmp_path / "two.pt")
    torch.save(create_backbone("resnet12", in_chans=1).state_dict(), tmp_path / "resnet12.pt")
    (tmp_path / "notes.pt").write_text("not weights")
    _no_features(monkeypatch)
    out = tmp_path / "x.csv"
    cases = [
        (
            ["--checkpoint", str(tmp_path / "two.pt"), "--dataset", "digits"],
            "the images of digits/novel have 1 channel but backbone 'two.pt' takes 2",
        ),
        (
            ["--checkpoint", str(tmp_path / "resnet12.pt"), "--dataset", "digits"],
            "does not fit backbone 'conv4': 20 missing keys (blocks.0.0.weight, blocks.0.1.weight, blocks.0.1.bias, ...); 96 unexpected keys (blocks.0.body.0.weight",
        ),
        (
            ["--checkpoint", str(tmp_path / "nope.pt"), "--dataset", "digits"],
            "nope.pt' does not exist",
        ),
        (["--checkpoint", str(tmp_path / "notes.pt"), "--dataset", "digits"], "notes.pt"),
        (
            ["--checkpoint", str(tmp_path / "two.pt"), "--pretrained", "--dataset", "digits"],
            "pass one of them",
        ),
        (["--dataset", "digits"], "needs its weights: pass --checkpoint FILE or --pretrained"),
        (
            ["--checkpoint", str(tmp_path / "two.pt"), "--dataset", "digits", "--std", "0"],
            "--std must be positive",
        ),
    ]
    for extra, expected in cases:
        assert main(["evaluate", "--backbone", "conv4", *extra, "--out", str(out)]) == 2, extra
        err = capsys.readouterr().err
        assert expected in err and len(err.strip().splitlines()) == 1, (extra, err)
        assert not out.exists()
    assert (
        main(argv("evaluate {run} --backbone conv4 --dataset digits", run=tmp / "glyph_run")) == 2
    )
    assert "not both" in capsys.readouterr().err
    assert (
        main(
            argv(
                "evaluate --backbone conv4 --checkpoint {checkpoint} --dataset digits",
                checkpoint=tmp_path / "two.pt",
            )
        )
        == 2
    )
    assert "pass --out CSV" in capsys.readouterr().err


def test_pretrained_weights_that_are_not_cached_give_an_offline_message(
    world, tmp_path, capsys, monkeypatch
):
    import timm
    from huggingface_hub.errors import LocalEntryNotFoundError

    def offline(
        *args, **kwargs
    ):  # what the hub raises without a connection and without a cached copy
        raise LocalEntryNotFoundError(
            "Cannot find the requested files in the disk cache and outgoing "
            "traffic has been disabled."
        )

    monkeypatch.setattr(timm.models._builder, "load_pretrained", offline)
    _no_features(monkeypatch)
    assert (
        main(
            argv(
                "evaluate --backbone resnet10t --pretrained --dataset digits --out {out}",
                out=tmp_path / "x.csv",
            )
        )
        == 2
    )
    err = capsys.readouterr().err
    assert (
        "pretrained weights for 'resnet10t' are not cached here" in err
        and len(err.strip().splitlines()) == 1
    )


def test_the_user_commands_end_to_end(world, tmp_path, capsys):
    """evaluate a run on another dataset, evaluate its checkpoint file, compare two runs on a third dataset."""
    tmp, rgb, paths = world
    assert (
        main(
            argv(
                "evaluate {run} --dataset digits --shots 1 --n-episodes 20 "
                "--head centroid --out {out}",
                run=tmp / "glyph_run",
                out=tmp_path / "on_digits.csv",
            )
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert f"trained on {GLYPHS}, evaluated on digits (images adapted: 8x8 -> 28x28)" in printed
    df = pd.read_csv(tmp_path / "on_digits.csv")
    assert (
        set(df["train_dataset"]) == {GLYPHS} and set(df["dataset"]) == {"digits"} and len(df) == 20
    )
    # the committed digits manifest was used: its first 20 episodes
    from fewshot_clce.benchmark.manifests import committed_dir
    from fewshot_clce.episodes import manifest_digest

    committed = EpisodeSet.load(committed_dir() / "digits_novel_5way_1shot_15query.npz")[:20]
    assert set(df["manifest"]) == {manifest_digest(committed)}
    assert (
        main(
            argv(
                "evaluate --backbone conv4 --checkpoint {checkpoint} "
                "--dataset digits --shots 1 --n-episodes 20 --head centroid "
                "--out {out}",
                checkpoint=tmp / "glyph_run" / "checkpoint_best.pt",
                out=tmp_path / "file.csv",
            )
        )
        == 0
    )
    capsys.readouterr()
    np.testing.assert_array_equal(pd.read_csv(tmp_path / "file.csv")["accuracy"], df["accuracy"])
    assert (
        main(
            argv(
                "compare {run_a} {run_b} --episodes {episodes} --dataset "
                "{dataset} --head centroid --out {out}",
                run_a=tmp / "glyph_run",
                run_b=tmp / "digit_run",
                episodes=paths["rgb"],
                dataset=rgb,
                out=tmp_path / "cmp.csv",
            )
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "A = glyph_run, B = digit_run" in out and "folder:rgb" in out
    cmp = pd.read_csv(tmp_path / "cmp.csv")
    assert (
        cmp["paired_episodes"].iloc[0] == 10 and cmp["baseline_train_dataset"].iloc[0] == "digits"
    )
    assert (
        cmp["train_dataset"].iloc[0].startswith("glyphs") and cmp["dataset"].iloc[0] == "folder:rgb"
    )
