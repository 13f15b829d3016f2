"""One canonical dataset identity: a run trained on a ``folder:`` dataset is evaluated, compared and
benchmarked on manifests made with the same ``--dataset``, as a user types the commands."""

import shutil

import numpy as np
import pandas as pd
import pytest
import yaml
from _cli import argv
from PIL import Image

from fewshot_clce.cli import main
from fewshot_clce.data import create_dataset
from fewshot_clce.data.registry import dataset_id
from fewshot_clce.episodes import EpisodeSet

CLASSES = {
    "base": ["ant", "bee", "cat", "dog"],
    "val": ["eel", "fox", "gar"],
    "novel": ["gnu", "hen", "ibis"],
}
TRAIN = [
    "--backbone",
    "conv4",
    "--epochs",
    "1",
    "--steps-per-epoch",
    "2",
    "--batch-size",
    "8",
    "--device",
    "cpu",
    "--no-progress",
]


def write_folder_dataset(root, per_class=20, seed=0):
    """One folder of 16x16 grayscale PNGs per class (class-dependent brightness) and ``split.tsv``."""
    rng = np.random.default_rng(seed)
    lines = []
    for split, names in CLASSES.items():
        for c, name in enumerate(names):
            (root / name).mkdir(parents=True)
            for i in range(per_class):
                pixels = np.clip(rng.normal(40 + 60 * c, 30, (16, 16)), 0, 255).astype(np.uint8)
                Image.fromarray(pixels, "L").save(root / name / f"{i:03d}.png")
            lines.append(f"{split}\t{name}")
    (root / "split.tsv").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Data at an absolute path, one run trained from it by absolute path and one by a relative path
    typed in the data's parent folder, and novel episodes made with the same --dataset."""
    import os

    tmp = tmp_path_factory.mktemp("identity")
    root = write_folder_dataset(tmp / "data" / "mydata")
    spec = f"folder:{root}::split.tsv"
    assert (
        main(["train", "--dataset", spec, "--loss", "ce", "--out", str(tmp / "run_abs"), *TRAIN])
        == 0
    )
    here = os.getcwd()
    os.chdir(tmp / "data")
    try:
        assert (
            main(
                [
                    "train",
                    "--dataset",
                    "folder:mydata::split.tsv",
                    "--loss",
                    "supcon",
                    "--out",
                    str(tmp / "run_rel"),
                    *TRAIN,
                ]
            )
            == 0
        )
    finally:
        os.chdir(here)
    assert (
        main(
            argv(
                "episodes make --dataset {dataset} --split novel --ways 3 "
                "--shots 1 --queries 2 --episodes 12 --out {out}",
                dataset=spec,
                out=tmp / "novel.npz",
            )
        )
        == 0
    )
    return tmp, root, spec


def test_the_identity_is_the_folder_name_and_is_recorded(world, tmp_path):
    tmp, root, spec = world
    assert (
        main(
            argv(
                "episodes make --dataset {dataset} --split novel --ways 3 "
                "--shots 1 --queries 2 --episodes 12 --out-dir {out_dir}",
                dataset=spec,
                out_dir=tmp_path,
            )
        )
        == 0
    )
    made = (
        tmp_path / "folder-mydata_novel_3way_1shot_2query.npz"
    )  # named after the identity, not the path
    eps = EpisodeSet.load(made)
    assert eps == EpisodeSet.load(tmp / "novel.npz")
    assert eps.dataset == "folder:mydata" == dataset_id(spec) == create_dataset(spec).name
    config = yaml.safe_load((tmp / "run_abs" / "config.yaml").read_text())
    assert config["dataset"] == spec  # what the user typed
    assert config["derived"]["dataset_id"] == "folder:mydata"
    rel = yaml.safe_load((tmp / "run_rel" / "config.yaml").read_text())
    assert (
        rel["dataset"] == "folder:mydata::split.tsv"
        and rel["derived"]["dataset_id"] == "folder:mydata"
    )
    assert rel["derived"]["base_fingerprint"] == config["derived"]["base_fingerprint"]


def test_evaluate_and_compare_runs_trained_on_a_folder(world, capsys, monkeypatch):
    tmp, root, spec = world
    made = str(tmp / "novel.npz")
    # evaluated from another working directory: the run trained by relative path reloads its data
    monkeypatch.chdir(tmp)
    for run in ("run_abs", "run_rel"):
        out = tmp / f"{run}.csv"
        assert (
            main(
                argv(
                    "evaluate {run} --episodes {episodes} --head centroid --no-cache --out {out}",
                    run=tmp / run,
                    episodes=made,
                    out=out,
                )
            )
            == 0
        ), capsys.readouterr().err
        df = pd.read_csv(out)
        assert len(df) == 12 and set(df["dataset"]) == {"folder:mydata"}
    capsys.readouterr()
    assert (
        main(
            argv(
                "compare {run_a} {run_b} --episodes {episodes} --head centroid --no-cache",
                run_a=tmp / "run_abs",
                run_b=tmp / "run_rel",
                episodes=made,
            )
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "run_abs" in out and "run_rel" in out and "folder:mydata" in out


def test_relative_path_and_a_copy_give_the_same_manifests(world, monkeypatch, capsys):
    tmp, root, spec = world
    copy = tmp / "elsewhere" / "mydata"
    shutil.copytree(root, copy)
    monkeypatch.chdir(tmp / "elsewhere")
    assert (
        main(
            argv(
                "episodes make --dataset folder:../data/mydata::split.tsv "
                "--split novel --ways 3 --shots 1 --queries 2 --episodes 12 "
                "--out rel.npz"
            )
        )
        == 0
    )
    assert (
        main(
            argv(
                "episodes make --dataset folder:mydata::split.tsv --split "
                "novel --ways 3 --shots 1 --queries 2 --episodes 12 --out "
                "copy.npz"
            )
        )
        == 0
    )
    original = EpisodeSet.load(tmp / "novel.npz")
    assert EpisodeSet.load("rel.npz") == original == EpisodeSet.load("copy.npz")
    # a run trained on the original evaluates on the copy's manifests, and the other way round
    assert (
        main(
            argv(
                "evaluate {run} --episodes copy.npz --head centroid --no-cache --out copy.csv",
                run=tmp / "run_abs",
            )
        )
        == 0
    ), capsys.readouterr().err


def test_other_data_under_the_same_name_is_refused_by_fingerprint(world, tmp_path, capsys):
    tmp, root, spec = world
    other = write_folder_dataset(tmp_path / "mydata", per_class=21, seed=1)
    assert (
        main(
            argv(
                "episodes make --dataset {dataset} --split novel --ways 3 "
                "--shots 1 --queries 2 --episodes 5 --out {out}",
                dataset=f"folder:{other}::split.tsv",
                out=tmp_path / "other.npz",
            )
        )
        == 0
    )
    capsys.readouterr()
    assert (
        main(
            argv(
                "evaluate {run} --episodes {episodes} --no-cache --out {out}",
                run=tmp / "run_abs",
                episodes=tmp_path / "other.npz",
                out=tmp_path / "x.csv",
            )
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "fingerprint" in err and not (tmp_path / "x.csv").exists()


def test_another_dataset_is_evaluated_cross_domain_and_another_folder_needs_its_path(
    world, tmp_path, capsys
):
    tmp, root, spec = world
    assert (
        main(
            argv(
                "episodes make --dataset digits --shots 1 --episodes 3 --out {out}",
                out=tmp_path / "digits.npz",
            )
        )
        == 0
    )
    capsys.readouterr()
    assert (
        main(
            argv(
                "evaluate {run} --episodes {episodes} --out {out}",
                run=tmp / "run_abs",
                episodes=tmp_path / "digits.npz",
                out=tmp_path / "x.csv",
            )
        )
        == 0
    ), capsys.readouterr().err
    df = pd.read_csv(tmp_path / "x.csv")
    assert set(df["train_dataset"]) == {"folder:mydata"} and set(df["dataset"]) == {"digits"}
    # episodes of another folder dataset do not say where it lies: the error names the option that does
    other = write_folder_dataset(tmp_path / "otherdata", per_class=21, seed=1)
    assert (
        main(
            argv(
                "episodes make --dataset {dataset} --split novel --ways 3 "
                "--shots 1 --queries 2 --episodes 5 --out {out}",
                dataset=f"folder:{other}::split.tsv",
                out=tmp_path / "other.npz",
            )
        )
        == 0
    )
    capsys.readouterr()
    assert (
        main(
            argv(
                "evaluate {run} --episodes {episodes} --out {out}",
                run=tmp / "run_abs",
                episodes=tmp_path / "other.npz",
                out=tmp_path / "y.csv",
            )
        )
        == 2
    )
    err = capsys.readouterr().err
    assert (
        "'folder:otherdata'" in err
        and "--dataset folder:PATH" in err
        and not (tmp_path / "y.csv").exists()
    )
    assert (
        main(
            argv(
                "evaluate {run} --episodes {episodes} --dataset {dataset} --out {out}",
                run=tmp / "run_abs",
                episodes=tmp_path / "other.npz",
                dataset=f"folder:{other}::split.tsv",
                out=tmp_path / "y.csv",
            )
        )
        == 0
    )


@pytest.mark.slow
def test_benchmark_on_a_folder_dataset(world, tmp_path, capsys):
    tmp, root, spec = world
    out = tmp_path / "bench"
    command = argv(
        "benchmark --dataset {dataset} --losses ce --seeds 0 --epochs 1 --batch-size 8 --ways 3 "
        "--shots 1 --queries 2 --heads centroid --episodes 6 --val-episodes 3 --no-tsne "
        "--no-progress --device cpu --out {out}",
        dataset=spec,
        out=out,
    )
    assert main(command) == 0, capsys.readouterr().err
    assert (
        "Every run trained 1 epoch: these comparisons hold at that budget"
        in capsys.readouterr().out
    )
    per_episode = pd.read_csv(out / "per_episode.csv")
    # the trained run and the untrained backbone, each on 6 novel and 3 val episodes
    assert set(per_episode["dataset"]) == {"folder:mydata"} and len(per_episode) == 2 * (6 + 3)
    assert set(per_episode["loss"]) == {"ce", "untrained"}
    assert (out / "runs" / "folder:mydata" / "ce-bs8-s0").is_dir()
    made = sorted(p.name for p in (out / "episodes").glob("*.npz"))
    assert made and all(name.startswith("folder-mydata_") for name in made)
    # the benchmark's manifests serve a run trained outside it, and the other way round
    novel = next(p for p in (out / "episodes").glob("*novel*.npz"))
    assert (
        main(
            argv(
                "evaluate {run} --episodes {episodes} --head centroid --no-cache --out {out}",
                run=tmp / "run_abs",
                episodes=novel,
                out=tmp_path / "x.csv",
            )
        )
        == 0
    )
    capsys.readouterr()
    # re-running resumes: nothing trained or evaluated again
    assert main(command) == 0
    assert "0 trained, 1 reused; 0 evaluated, 1 evaluations reused" in capsys.readouterr().out


def test_the_identity_of_registered_datasets_with_options():
    assert dataset_id("digits") == "digits"
    assert dataset_id("glyphs[max_per_block=2]") == "glyphs[max_per_block=2]"
    # options in any order, at their defaults, or that only fetch data do not change it
    assert (
        dataset_id("cub[image_size=84, split=closerlook, download=true]") == "cub[split=closerlook]"
    )
    assert dataset_id("cub[split=default]") == "cub" == dataset_id("cub", split="default")
    assert (
        dataset_id("omniglot[val_alphabets=5,rotations=true]")
        == "omniglot[rotations=true,val_alphabets=5]"
    )
    with pytest.raises(ValueError, match="takes no option 'colour'"):
        dataset_id("cub[colour=red]")
    ds = create_dataset("glyphs[max_per_block=2]")
    assert ds.name == "glyphs[max_per_block=2]"
    assert all(s.dataset == ds.name for s in ds.splits.values())


def test_show_draws_a_folder_manifest_given_its_path(world, tmp_path, capsys):
    tmp, root, spec = world
    made = str(tmp / "novel.npz")
    assert main(["episodes", "show", made, "--out", str(tmp_path / "g.png")]) == 2
    assert (
        "pass --dataset folder:PATH" in capsys.readouterr().err
        and not (tmp_path / "g.png").exists()
    )
    assert (
        main(
            argv(
                "episodes show {made} --dataset {dataset} --out {out}",
                made=made,
                dataset=spec,
                out=tmp_path / "g.png",
            )
        )
        == 0
    )
    assert "checked:     matches folder:mydata/novel" in capsys.readouterr().out


def test_benchmark_refuses_two_datasets_of_one_identity(tmp_path, capsys):
    out = tmp_path / "bench"
    a, b = f"folder:{tmp_path / 'a' / 'mydata'}", f"folder:{tmp_path / 'b' / 'mydata'}"
    assert (
        main(
            argv(
                "benchmark --dataset {dataset} {b} --losses ce --out {out}", dataset=a, b=b, out=out
            )
        )
        == 2
    )
    err = capsys.readouterr().err
    assert (
        f"--dataset {a!r} and {b!r} are one dataset ('folder:mydata')" in err and not out.exists()
    )
