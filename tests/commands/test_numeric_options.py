"""Numeric options that cannot work are refused by flag name, before any data is loaded or file written."""

import numpy as np
import pytest

import fewshot_clce.data
from fewshot_clce.cli import main
from fewshot_clce.episodes import sample_episodes
from fewshot_clce.training import TrainConfig, train

TRAIN = [
    "train",
    "--dataset",
    "digits",
    "--backbone",
    "conv4",
    "--loss",
    "clce",
    "--epochs",
    "1",
    "--batch-size",
    "16",
    "--steps-per-epoch",
    "2",
    "--val-episodes",
    "5",
    "--no-progress",
    "--device",
    "cpu",
]


@pytest.fixture
def no_work(monkeypatch):
    """Loading a dataset fails the test: a refused option must be refused before that."""

    def refuse(*args, **kwargs):
        raise AssertionError("a dataset was loaded before the bad option was refused")

    monkeypatch.setattr(fewshot_clce.data, "create_dataset", refuse)


def _refused(argv, capsys, *fragments):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in err, err
    return err


@pytest.mark.parametrize(
    "extra, fragments",
    [
        (["--grad-clip", "-1"], ["--grad-clip", "-1"]),
        (["--grad-clip", "0"], ["--grad-clip"]),
        (["--grad-clip", "nan"], ["--grad-clip", "nan"]),
        (["--weight-decay", "-1"], ["--weight-decay", "-1"]),
        (["--weight-decay", "nan"], ["--weight-decay"]),
        (["--image-size", "0"], ["--image-size", "0"]),
        (["--image-size", "-5"], ["--image-size", "-5"]),
        (["--lr", "nan"], ["--lr", "nan"]),
        (["--lr", "inf"], ["--lr", "inf"]),
        (["--lr", "-0.1"], ["--lr"]),
        (["--momentum", "-0.5"], ["--momentum"]),
        (["--momentum", "1.5"], ["--momentum"]),
        (["--momentum", "nan"], ["--momentum"]),
        (["--warmup-epochs", "nan"], ["--warmup-epochs"]),
        (["--warmup-epochs", "-1"], ["--warmup-epochs"]),
        (["--lambda", "nan"], ["--lambda"]),
        (["--lambda", "2"], ["--lambda", "2"]),
        (["--temperature", "0"], ["--temperature"]),
        (["--temperature", "nan"], ["--temperature"]),
        (["--beta", "-1"], ["--beta"]),
        (["--label-smoothing", "1"], ["--label-smoothing"]),
        (["--drop-block-rate", "-0.1"], ["--drop-block-rate"]),
        (["--drop-block-rate", "nan"], ["--drop-block-rate"]),
        (["--drop-block-rate", "0.1"], ["--drop-block-rate", "conv4"]),  # conv4 has no DropBlock
        (["--val-ways", "1"], ["--val-ways", "at least 2 classes"]),
        (["--val-ways", "0"], ["--val-ways"]),
        (["--val-shots", "0"], ["--val-shots"]),
        (["--seed", "-1"], ["--seed", "-1"]),
        (["--val-seed", "-3"], ["--val-seed", "-3"]),
        (["--projection-dim", "0"], ["--projection-dim"]),
        (["--views", "0"], ["--views"]),
        (["--epochs", "0"], ["--epochs"]),
        (["--num-workers", "-1"], ["--num-workers"]),
    ],
)
def test_train_refuses_values_that_cannot_work(tmp_path, capsys, no_work, extra, fragments):
    out = tmp_path / "run"
    _refused(TRAIN + ["--out", str(out)] + extra, capsys, *fragments)
    assert not out.exists()


def test_drop_block_rate_reaches_a_backbone_that_takes_it(tmp_path):
    """resnet12 takes --drop-block-rate, so the check is about the backbone, not the option."""
    from fewshot_clce.training.trainer import _check

    _check(
        TrainConfig(
            dataset="digits",
            backbone="resnet12",
            loss="ce",
            out=str(tmp_path / "r"),
            drop_block_rate=0.1,
        )
    )
    with pytest.raises(ValueError, match="^drop_block_rate must be a number in \\[0, 1\\)"):
        _check(
            TrainConfig(
                dataset="digits",
                backbone="resnet12",
                loss="ce",
                out=str(tmp_path / "r"),
                drop_block_rate=1.5,
            )
        )


def test_train_api_refuses_grad_clip_below_zero(tmp_path):
    with pytest.raises(
        ValueError, match="^grad_clip must be a positive"
    ):  # the API's name, not the flag
        train(
            TrainConfig(
                dataset="digits",
                backbone="conv4",
                loss="ce",
                out=str(tmp_path / "r"),
                grad_clip=-1.0,
            )
        )
    assert not (tmp_path / "r").exists()


BENCH = [
    "benchmark",
    "--dataset",
    "digits",
    "--losses",
    "ce",
    "clce",
    "--epochs",
    "1",
    "--no-progress",
]


@pytest.mark.parametrize(
    "extra, fragments",
    [
        (["--ways", "1"], ["--ways", "at least 2 classes"]),
        (["--ways", "0"], ["--ways"]),
        (["--lr", "nan"], ["--lr", "nan"]),
        (["--lr", "0"], ["--lr"]),
        (["--lambda", "nan"], ["--lambda", "nan"]),
        (["--lambda", "0.5", "1.5"], ["--lambda", "1.5"]),
        (["--temperature", "-1"], ["--temperature"]),
        (["--beta", "-1"], ["--beta"]),
        (["--seeds", "0", "-1"], ["--seeds", "-1"]),
        (["--episode-seed", "-1"], ["--episode-seed"]),
        (["--time-budget", "nan"], ["--time-budget"]),
        (["--time-budget", "-5"], ["--time-budget"]),
        (["--queries", "0"], ["--queries"]),
        (["--episodes", "0"], ["--episodes"]),
        (["--val-episodes", "-1"], ["--val-episodes"]),
        (["--batch-size", "0"], ["--batch-size"]),
        (["--shots", "0"], ["--shots"]),
    ],
)
def test_benchmark_refuses_values_that_cannot_work(tmp_path, capsys, no_work, extra, fragments):
    out = tmp_path / "bench"
    _refused(BENCH + ["--out", str(out)] + extra, capsys, *fragments)
    assert not out.exists()


def test_benchmark_api_checks_its_other_numbers():
    from fewshot_clce.benchmark.config import resolve

    for field, value, flag in (
        ("n_boot", 0, "n_boot"),
        ("boot_seed", -1, "boot_seed"),
        ("tsne_classes", 0, "tsne_classes"),
        ("tsne_per_class", 0, "tsne_per_class"),
    ):
        with pytest.raises(ValueError, match=flag):
            resolve(**{field: value})


@pytest.mark.parametrize(
    "extra, fragments",
    [
        (["--ways", "1"], ["--ways", "at least 2 classes"]),
        (["--ways", "0"], ["--ways"]),
        (["--shots", "0"], ["--shots"]),
        (["--queries", "-2"], ["--queries"]),
        (["--episodes", "0"], ["--episodes"]),
        (["--seed", "-1"], ["--seed", "-1"]),
    ],
)
def test_episodes_make_refuses_values_that_cannot_work(tmp_path, capsys, no_work, extra, fragments):
    _refused(
        [
            "episodes",
            "make",
            "--dataset",
            "digits",
            "--out",
            str(tmp_path / "e.npz"),
            "--shots",
            "1",
        ]
        + extra,
        capsys,
        *fragments,
    )
    assert not list(tmp_path.iterdir())


def test_one_way_episodes_are_refused_by_the_api():
    with pytest.raises(ValueError, match="at least 2 classes"):
        sample_episodes(np.repeat(np.arange(5), 20), ways=1, shots=1, queries=5, episodes=3, seed=0)


@pytest.mark.parametrize(
    "extra, fragments",
    [
        (["--classes", "0"], ["--classes"]),
        (["--per-class", "-1"], ["--per-class"]),
        (["--seed", "-1"], ["--seed", "-1"]),
    ],
)
def test_show_refuses_values_that_cannot_work(tmp_path, capsys, no_work, extra, fragments):
    _refused(["show", "digits", "--out", str(tmp_path / "g.png")] + extra, capsys, *fragments)
    assert not list(tmp_path.iterdir())


def test_episodes_show_refuses_a_negative_episode(tmp_path, capsys):
    path = sample_episodes(
        np.repeat(np.arange(5), 20),
        ways=2,
        shots=1,
        queries=1,
        episodes=3,
        seed=0,
        dataset="digits",
        split_name="novel",
    ).save(tmp_path / "e.npz")
    _refused(["episodes", "show", str(path), "--episode", "-1"], capsys, "--episode", "-1")


@pytest.mark.parametrize("value", ["0", "-3"])
def test_report_refuses_n_boot_below_one(tmp_path, capsys, value):
    _refused(["report", str(tmp_path), "--n-boot", value], capsys, "--n-boot", value)


def test_one_way_manifests_are_refused_before_evaluation():
    import torch

    from fewshot_clce.episodes import EpisodeSet
    from fewshot_clce.evaluation import evaluate_features
    from fewshot_clce.features import FeatureTable

    one_way = EpisodeSet(
        np.zeros((3, 1), int),
        np.arange(3).reshape(3, 1, 1),
        np.arange(3, 6).reshape(3, 1, 1),
        dataset="toy",
        split="novel",
    )
    feats = FeatureTable(np.arange(6), torch.randn(6, 4))
    for head in ("centroid", "logistic"):
        with pytest.raises(
            ValueError, match="1-way episodes; a classification episode needs at least 2 classes"
        ):
            evaluate_features(feats, one_way, head)


@pytest.mark.parametrize(
    "options, flag",
    [
        ({"grad_clip": -1.0}, "grad_clip"),
        ({"weight_decay": -1.0}, "weight_decay"),
        ({"image_size": 0}, "image_size"),
        ({"drop_block_rate": 0.1}, "conv4"),
        ({"val_ways": 1}, "at least 2 classes"),
    ],
)
def test_benchmark_checks_train_options_before_its_folder_is_made(tmp_path, no_work, options, flag):
    from fewshot_clce.benchmark.config import resolve
    from fewshot_clce.benchmark.run import run_benchmark

    cfg = resolve(
        datasets=["digits"], losses=["ce", "clce"], epochs=1, train_options=options, progress=False
    )
    with pytest.raises(ValueError, match=flag):
        run_benchmark(cfg, tmp_path / "bench", log=lambda m: None)
    assert not (tmp_path / "bench").exists()
