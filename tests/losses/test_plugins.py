"""Losses as plug-ins: named by file, module or entry point, their declared hyper-parameters on
the command line, bad input refused before any training, and runs made before the declarations."""

import textwrap
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from _cli import argv

from fewshot_clce.benchmark.config import resolve
from fewshot_clce.benchmark.plan import explicit_fields, plan_runs, run_state, train_config
from fewshot_clce.cli import main
from fewshot_clce.losses import plugins
from fewshot_clce.losses.plugins import LossError, load_loss_class

USER_LOSS = textwrap.dedent('''
    import torch.nn.functional as F
    from torch import nn
    from fewshot_clce.losses import HyperParam, LossOutput


    class MarginCE(nn.Module):
        """CE with a margin taken off the label's logit."""

        name = "margince"
        uses_logits = True
        hyperparams = (HyperParam("margin", float, 0.5, grid=(0.0, 0.5), low=0.0, label="m"),)

        def __init__(self, margin: float = 0.5):
            super().__init__()
            self.margin = margin

        def forward(self, logits, z, labels):
            flat = logits.flatten(0, 1)
            y = labels.repeat_interleave(logits.shape[1])
            loss = F.cross_entropy(flat - self.margin * F.one_hot(y, flat.shape[1]), y)
            return LossOutput(loss, {"margince": loss.detach()})


    def helper():
        return 1
''')

TINY = [
    "--dataset",
    "digits",
    "--epochs",
    "1",
    "--steps-per-epoch",
    "1",
    "--episodes",
    "5",
    "--val-episodes",
    "5",
    "--train-val-episodes",
    "5",
    "--shots",
    "1",
    "--seeds",
    "0",
    "--heads",
    "centroid",
    "--no-tsne",
    "--no-progress",
    "--device",
    "cpu",
    "--no-default-grids",
]


@pytest.fixture
def user_loss(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my_loss.py").write_text(USER_LOSS)
    return tmp_path


def test_a_loss_from_a_file_a_module_and_an_entry_point(user_loss, monkeypatch):
    from_file = load_loss_class("./my_loss.py:MarginCE")
    assert plugins.loss_name(from_file) == "margince"
    monkeypatch.syspath_prepend(str(user_loss))
    assert plugins.loss_name(load_loss_class("my_loss:MarginCE")) == "margince"

    class EntryPoint:
        name, value = "published", "my_loss:MarginCE"

        def load(self):
            return from_file

    monkeypatch.setattr(plugins, "_entry_points", lambda: {"published": EntryPoint()})
    assert load_loss_class("published") is from_file
    assert "published" in plugins.available()
    monkeypatch.setattr(plugins, "_entry_points", lambda: {"ce": EntryPoint()})
    with pytest.raises(LossError, match="two losses under the name 'ce'"):
        load_loss_class("ce")
    record = plugins.source_record("./my_loss.py:MarginCE", from_file)
    assert record["import_path"] == f"{(user_loss / 'my_loss.py').resolve()}:MarginCE"
    assert len(record["sha256"]) == 64


@pytest.mark.parametrize(
    "losses, extra, message",
    [
        (
            ["ce", "./broken.py:X"],
            [],
            "loss './broken.py:X': file './broken.py' fails to import (RuntimeError: boom)",
        ),
        (
            ["ce", "./my_loss.py:helper"],
            [],
            "loss './my_loss.py:helper' names 'helper', which is not a loss class",
        ),
        (
            ["ce", "./my_loss.py:MarginCE[gamma=1]"],
            [],
            "loss 'margince' does not take gamma; it takes margin (a number >= 0, default 0.5)",
        ),
        (
            ["ce", "./my_loss.py:MarginCE"],
            ["--hp", "margince.gamma=1"],
            "loss 'margince' does not take gamma",
        ),
        (
            ["ce", "./my_loss.py:MarginCE"],
            ["--hp", "margince.margin=-1"],
            "loss 'margince': hyper-parameter margin must be a number >= 0; got -1",
        ),
        (
            ["ce", "clce"],
            ["--hp", "clce.detach_weights=maybe"],
            "loss 'clce': hyper-parameter detach_weights must be true or false; got 'maybe'",
        ),
        (
            ["ce", "./my_loss.py:MarginCE", "./copy.py:MarginCE"],
            [],
            "two losses under one name 'margince'",
        ),
        (
            ["ce", "nosuchloss"],
            [],
            "unknown loss 'nosuchloss'; valid names: arcface, baselinepp, ce",
        ),
    ],
)
def test_bad_loss_input_is_one_line_before_anything_is_written(
    user_loss, capsys, losses, extra, message
):
    (user_loss / "broken.py").write_text("raise RuntimeError('boom')\n")
    (user_loss / "copy.py").write_text(USER_LOSS)
    out = user_loss / "out"
    assert main(["benchmark", *TINY, "--losses", *losses, *extra, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()


@pytest.mark.slow
def test_a_loss_in_a_users_file_runs_through_the_benchmark_cli(user_loss, capsys):
    out = user_loss / "out"
    args = [
        "benchmark",
        *TINY,
        "--losses",
        "ce",
        "./my_loss.py:MarginCE",
        "--hp",
        "margince.margin=0.3",
        "--image-size",
        "16",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    summary = pd.read_csv(out / "summary.csv")
    assert set(summary["loss"]) == {"ce", "margince", "untrained"}
    assert "margince(m=0.3,bs=64)" in set(summary["config"]) and set(
        summary["margin"].dropna()
    ) == {0.3}
    assert "margince(m=0.3,bs=64)" in (out / "summary.md").read_text()
    config = yaml.safe_load(
        (out / "runs" / "digits" / "margince-m0.3-bs64-s0" / "config.yaml").read_text()
    )
    assert config["loss"] == "./my_loss.py:MarginCE" and config["loss_options"] == {"margin": 0.3}
    assert (
        config["image_size"] == 16
        and config["steps_per_epoch"] == 1
        and config["val_episodes"] == 5
    )
    assert (
        config["derived"]["loss_source"]["sha256"]
        == plugins.source_record("x", load_loss_class("./my_loss.py:MarginCE"))["sha256"]
    )
    capsys.readouterr()

    # a changed loss file is never taken for the same training
    (user_loss / "my_loss.py").write_text(USER_LOSS + "\n# changed\n")
    assert main(args + ["--plan"]) == 0
    plan = capsys.readouterr().out
    assert "[finished] fewshot-clce train --dataset digits --backbone conv4 --losses ce " in plan
    assert (
        "[different] fewshot-clce train --dataset digits --backbone conv4 "
        "--losses ./my_loss.py:MarginCE" in plan
    )


def test_a_pml_loss_trains_end_to_end_through_the_adapter(tmp_path, capsys):
    pytest.importorskip("pytorch_metric_learning")
    from fewshot_clce.backbones.weights import load_checkpoint

    out = tmp_path / "run"
    assert (
        main(
            argv(
                "train --dataset digits --backbone conv4 --loss "
                "pml:ArcFaceLoss[margin=20] --hp scale=16 --epochs 1 "
                "--steps-per-epoch 2 --val-episodes 5 --no-progress --device "
                "cpu --out {out}",
                out=out,
            )
        )
        == 0
    )
    config = yaml.safe_load((out / "config.yaml").read_text())
    assert config["loss"] == "pml:ArcFaceLoss"
    assert config["loss_options"]["margin"] == 20 and config["loss_options"]["scale"] == 16
    state = load_checkpoint(out / "checkpoint_last.pt")
    weights = state["model"][
        "criterion.loss.W"
    ]  # the class weights: trained and saved with the model
    assert weights.shape == (64, 8)  # [embedding, digits' base classes]
    # every parameter, the class weights included, is the optimizer's and got a gradient
    # (SGD keeps a momentum buffer for each)
    params = [
        k
        for k in state["model"]
        if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))
    ]
    assert sum(len(g["params"]) for g in state["optimizer"]["param_groups"]) == len(params)
    assert len(state["optimizer"]["state"]) == len(params)
    assert torch.isfinite(weights).all()


def _todays_run(folder: Path, loss: str, values: dict, epochs: int = 3) -> None:
    """A finished run folder as the code before the loss declarations wrote it."""
    folder.mkdir(parents=True)
    config = {
        "dataset": "glyphs",
        "backbone": "conv4",
        "loss": loss,
        "out": str(folder),
        "epochs": epochs,
        "batch_size": 64,
        "steps_per_epoch": None,
        "lr": 0.05,
        "optimizer": "sgd",
        "momentum": 0.9,
        "weight_decay": 0.0005,
        "warmup_epochs": 0.5,
        "grad_clip": None,
        "lam": None,
        "temperature": None,
        "beta": None,
        "label_smoothing": None,
        **values,
        "views": 2,
        "augment": "glyph",
        "image_size": None,
        "projection_dim": 128,
        "drop_block_rate": 0.0,
        "pretrained": False,
        "checkpoint": None,
        "val_ways": 5,
        "val_shots": 5,
        "val_queries": 15,
        "val_episodes": 100,
        "val_seed": 0,
        "seed": 0,
        "data_root": None,
        "device": "cpu",
        "num_workers": 0,
        "threads": 1,
        "precision": "float32",
        "progress": False,
        "resume": False,
        "force": False,
        "derived": {
            "dataset_id": "glyphs",
            "in_chans": 1,
            "embedding_dim": 64,
            "num_classes": 967,
            "init_digest": None,
            "version": "0.1.0",
        },
    }
    (folder / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    (folder / "metrics.csv").write_text(
        "epoch,val_acc\n" + "".join(f"{e},0.5\n" for e in range(epochs + 1))
    )
    (folder / "checkpoint_best.pt").write_bytes(b"")


def test_runs_made_before_the_declarations_are_the_same_trainings(tmp_path):
    from fewshot_clce.losses import CLCELoss
    from fewshot_clce.training.config import with_loss_defaults
    from fewshot_clce.training.resume import _comparable

    runs = tmp_path / "runs" / "glyphs"
    _todays_run(runs / "ce-bs64-s0", "ce", {"label_smoothing": 0.0})
    _todays_run(runs / "supcon-t0.05-bs64-s0", "supcon", {"temperature": 0.05})
    _todays_run(
        runs / "clce-lam0.1-t0.1-beta1-bs64-s0",
        "clce",
        {"lam": 0.1, "temperature": 0.1, "beta": 1.0, "label_smoothing": 0.0},
    )
    cfg = resolve(
        datasets=["glyphs"],
        losses=["ce", "supcon", "clce"],
        epochs=3,
        default_grids=False,
        train_options={"val_episodes": 100, "warmup_epochs": 0.5},
    )
    specs = plan_runs(cfg)
    assert sorted(s.name for s in specs) == sorted(p.name for p in runs.iterdir())
    assert [
        run_state(s.run_dir(tmp_path), train_config(s, cfg, tmp_path), explicit_fields(s, cfg))
        for s in specs
    ] == ["finished"] * 3
    # the other value of the new switch is another training, in another folder
    detached = plan_runs(
        resolve(
            datasets=["glyphs"],
            losses=["ce", "clce"],
            epochs=3,
            default_grids=False,
            hp=["clce.detach_weights=true,false"],
        )
    )
    assert [s.name for s in detached if s.loss == "clce"] == [
        "clce-lam0.1-t0.1-beta1-bs64-s0",
        "clce-lam0.1-t0.1-beta1-detach0-bs64-s0",
    ]
    assert [train_config(s, cfg, tmp_path).loss_options for s in detached if s.loss == "clce"] == [
        {"detach_weights": True},
        {"detach_weights": False},
    ]

    # resuming compares the whole configuration: the old one reads as detach_weights=True
    old = yaml.safe_load((runs / "clce-lam0.1-t0.1-beta1-bs64-s0" / "config.yaml").read_text())
    new = dict(
        old,
        loss_options={"detach_weights": True},
        derived=dict(old["derived"], loss_source={"reference": "clce", "sha256": "0" * 64}),
    )
    assert _comparable(with_loss_defaults(old, CLCELoss)) == _comparable(new)
    assert _comparable(with_loss_defaults(old, CLCELoss)) != _comparable(
        dict(new, loss_options={"detach_weights": False})
    )

    # result rows carry every declared value and the loss's own label
    spec = next(s for s in specs if s.loss == "clce")
    rows = spec.annotate(pd.DataFrame({"accuracy": [0.5]}), spec.run_dir(tmp_path), "conv4")
    assert rows["detach_weights"].tolist() == [True] and rows["lam"].tolist() == [0.1]
    assert rows["config"].tolist() == ["clce(lam=0.1,t=0.1,beta=1,bs=64)"]


def test_benchmark_takes_every_training_option(tmp_path, capsys):
    args = argv(
        "benchmark --dataset digits --losses ce --seeds 0 "
        "--no-default-grids --image-size 32 --steps-per-epoch 10 "
        "--optimizer adamw --views 1 --augment glyph "
        "--train-val-episodes 7 --val-episodes 9 --lr 0.01 --out "
        "{out} --plan",
        out=tmp_path / "out",
    )
    assert main(args) == 0
    plan = capsys.readouterr().out
    for part in (
        "--image-size 32",
        "--steps-per-epoch 10",
        "--optimizer adamw",
        "--views 1",
        "--augment glyph",
        "--val-episodes 7",
        "--lr 0.01",
    ):
        assert part in plan, (part, plan)
    from fewshot_clce.cli import build_parser
    from fewshot_clce.commands.benchmark import config_from_args

    cfg = config_from_args(build_parser().parse_args(args))
    assert cfg.val_episodes == 9 and cfg.train_options["val_episodes"] == 7
    assert "--train-val-episodes 7" in cfg.command and "--image-size 32" in cfg.command


def test_train_reads_hyper_parameters_from_brackets_flags_and_hp(tmp_path):
    from fewshot_clce.cli import build_parser
    from fewshot_clce.commands.train import loss_options
    from fewshot_clce.training.build import resolved_loss_fields
    from fewshot_clce.training.config import TrainConfig
    from fewshot_clce.training.trainer import _create_loss

    base = argv("train --dataset digits --backbone conv4 --out {out}", out=tmp_path / "run")
    args = build_parser().parse_args(
        base + ["--loss", "clce[beta=0.5]", "--lambda", "0.3", "--hp", "clce.detach_weights=false"]
    )
    config = TrainConfig(
        **{k: v for k, v in vars(args).items() if k in TrainConfig.__dataclass_fields__},
        loss_options=loss_options(args),
    )
    fields = resolved_loss_fields(_create_loss(config))
    assert fields == {
        "loss": "clce",
        "lam": 0.3,
        "temperature": 0.1,
        "beta": 0.5,
        "label_smoothing": 0.0,
        "loss_options": {"detach_weights": False},
    }
    other = build_parser().parse_args(base + ["--loss", "ce", "--hp", "clce.lam=0.2"])
    with pytest.raises(ValueError, match="the loss trained is 'ce', not 'clce'"):
        loss_options(other)
    with pytest.raises(
        ValueError, match="loss 'ce' does not take margin; it takes label_smoothing"
    ):
        _create_loss(
            TrainConfig(
                dataset="digits", backbone="conv4", loss="ce", out="x", loss_options={"margin": 0.1}
            )
        )
