"""Checkpoints of other codebases read into conv4 / resnet12: the real classes of easyfsl and
learn2learn (installed by the test extra and `make learn2learn`), and state dicts with the key
names and shapes of RFS, MetaOptNet, FEAT and ProtoNet (whose packages do not install)."""

import pytest
import torch
from torch import nn

from fewshot_clce.backbones.factory import backbone_from_weights, create_backbone
from fewshot_clce.backbones.layouts import LAYOUTS, detect_layout
from fewshot_clce.interop.learn2learn import import_learn2learn

pytestmark = pytest.mark.slow  # full-size ResNet-12s at 84 px and a tiny training (about 60 s)


def _randomised(model: nn.Module, seed: int = 0) -> nn.Module:
    """``model`` with random batch-norm statistics and affine parameters (fresh ones are 0 and 1,
    which would hide a swapped mean and bias), in eval mode."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)) and m.running_mean is not None:
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
    return model.eval()


def _same_features(theirs: nn.Module, ours: nn.Module, size: int, channels: int = 3) -> None:
    x = torch.rand(2, channels, size, size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected, got = theirs(x), ours.eval()(x)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_easyfsl_resnet12_loads_without_options():
    from easyfsl.modules import resnet12 as easyfsl_resnet12

    theirs = _randomised(easyfsl_resnet12())
    model, imported = backbone_from_weights("resnet12", theirs.state_dict())
    assert (
        imported.describe() == "read as an easyfsl ResNet-12 checkpoint (resnet12[design=stride])"
    )
    _same_features(theirs, model, 32)


def test_easyfsl_feat_resnet12_reads_as_the_metaoptnet_layout():
    from easyfsl.modules import feat_resnet12

    theirs = _randomised(feat_resnet12())
    model, imported = backbone_from_weights("resnet12", theirs.state_dict())
    assert imported.layout.source == "RFS / MetaOptNet ResNet-12"
    _same_features(theirs, model, 84)


def test_learn2learn_resnet12_and_its_backbone():
    l2l = import_learn2learn()
    theirs = _randomised(l2l.vision.models.ResNet12(output_size=5, dropblock_dropout=0.0))
    model, imported = backbone_from_weights("resnet12", theirs.state_dict())
    assert imported.layout.source == "learn2learn ResNet-12"
    _same_features(theirs.features, model, 84)
    narrow = _randomised(
        l2l.vision.models.ResNet12Backbone(wider=False, avg_pool=False, dropblock_dropout=0.0)
    )
    model, imported = backbone_from_weights("resnet12[global_pool=flatten]", narrow.state_dict())
    assert imported.options == {"channels": "64-128-256-512"}
    _same_features(narrow, model, 32)  # un-pooled: any size (2x2 maps here)


def test_learn2learn_cnn4_gives_the_1600d_embedding():
    l2l = import_learn2learn()
    theirs = _randomised(l2l.vision.models.CNN4(output_size=5))
    model, imported = backbone_from_weights("conv4", theirs.state_dict())
    assert (
        imported.describe()
        == "read as a learn2learn CNN4 checkpoint (conv4[conv_bias=true,global_pool=flatten,"
        "width=64])"
    )
    _same_features(theirs.features, model, 84)
    backbone = _randomised(l2l.vision.models.CNN4Backbone(hidden_size=32, channels=1))
    model, imported = backbone_from_weights("conv4", backbone.state_dict(), in_chans=1)
    assert imported.layout.source == "learn2learn CNN4Backbone" and imported.options["width"] == 32
    _same_features(backbone, model, 28, channels=1)


def _metaoptnet_state(prefix: str = "", widths=(64, 160, 320, 640)) -> dict:
    """A state dict with the keys and shapes of RFS's / MetaOptNet's / FEAT's ResNet-12."""
    g = torch.Generator().manual_seed(2)
    state, prev = {}, 3
    for stage, width in enumerate(widths, start=1):
        for i in (1, 2, 3):
            state[f"{prefix}layer{stage}.0.conv{i}.weight"] = (
                torch.randn(width, prev if i == 1 else width, 3, 3, generator=g) * 0.05
            )
            for name, value in (
                ("weight", 1.0),
                ("bias", 0.0),
                ("running_mean", 0.0),
                ("running_var", 1.0),
            ):
                state[f"{prefix}layer{stage}.0.bn{i}.{name}"] = (
                    torch.full((width,), value) + 0.1 * i
                )
            state[f"{prefix}layer{stage}.0.bn{i}.num_batches_tracked"] = torch.tensor(7)
        state[f"{prefix}layer{stage}.0.downsample.0.weight"] = (
            torch.randn(width, prev, 1, 1, generator=g) * 0.05
        )
        for name, value in (
            ("weight", 1.0),
            ("bias", 0.0),
            ("running_mean", 0.0),
            ("running_var", 1.0),
        ):
            state[f"{prefix}layer{stage}.0.downsample.1.{name}"] = torch.full((width,), value)
        prev = width
    return state


def test_rfs_metaoptnet_and_feat_key_names(tmp_path):
    rfs = dict(
        _metaoptnet_state(),
        **{"classifier.weight": torch.zeros(64, 640), "classifier.bias": torch.zeros(64)},
    )
    path = tmp_path / "rfs.pth"
    import argparse

    # how RFS's training script saves it: its argparse options beside the weights
    torch.save(
        {"opt": argparse.Namespace(model="resnet12", lr=0.05), "model": rfs, "epoch": 90}, path
    )
    model = create_backbone("resnet12", checkpoint=path)
    assert model.blocks[3].body[0].weight.shape == (640, 320, 3, 3)
    torch.testing.assert_close(model.blocks[1].body[6].weight, rfs["layer2.0.conv3.weight"])
    torch.save({"embedding": _metaoptnet_state(), "head": {}}, path)  # MetaOptNet's
    assert create_backbone("resnet12[global_pool=flatten]", checkpoint=path).eval()(
        torch.rand(1, 3, 84, 84)
    ).shape == (1, 640 * 5 * 5)
    feat = dict(_metaoptnet_state("encoder."), **{"slf_attn.w_qs.weight": torch.zeros(640, 640)})
    torch.save({"params": feat}, path)  # FEAT saves its whole model under "params"
    _, imported = backbone_from_weights("resnet12", feat)
    assert imported.layout.source == "FEAT ResNet-12"
    create_backbone("resnet12", checkpoint=path)


def test_protonet_conv4_key_names():
    g = torch.Generator().manual_seed(3)
    state, prev = {}, 1
    for i in range(
        4
    ):  # protonets/models/few_shot.py: encoder = Sequential(conv_block x 4, Flatten)
        state[f"encoder.{i}.0.weight"] = torch.randn(64, prev, 3, 3, generator=g) * 0.1
        state[f"encoder.{i}.0.bias"] = torch.randn(64, generator=g)
        for name in ("weight", "bias", "running_mean", "running_var"):
            state[f"encoder.{i}.1.{name}"] = torch.rand(64, generator=g) + 0.5
        state[f"encoder.{i}.1.num_batches_tracked"] = torch.tensor(1)
        prev = 64
    model, imported = backbone_from_weights("conv4", state, in_chans=1)
    assert imported.describe().startswith("read as a ProtoNet Conv-4 checkpoint")
    assert model.eval()(torch.rand(2, 1, 28, 28)).shape == (
        2,
        64,
    )  # 28 px: 1x1 map after four pools
    torch.testing.assert_close(model.blocks[2][0].bias, state["encoder.2.0.bias"])


def test_a_mismatch_names_the_closest_layout(tmp_path):
    from easyfsl.modules import resnet12 as easyfsl_resnet12

    path = tmp_path / "easyfsl.pth"
    torch.save(easyfsl_resnet12().state_dict(), path)
    with pytest.raises(
        ValueError,
        match=r"does not fit backbone 'conv4'.*missing keys.*unexpected keys "
        r"\(conv1\.weight.*closest known layout is easyfsl ResNet-12 for "
        r"--backbone resnet12",
    ):
        create_backbone("conv4", checkpoint=path)


def test_every_layout_is_detected_only_for_its_own_backbone():
    state = _metaoptnet_state()
    assert detect_layout(state, "resnet12").source == "RFS / MetaOptNet ResNet-12"
    assert detect_layout(state, "conv4") is None
    native = create_backbone("resnet12").state_dict()
    assert detect_layout(native, "resnet12") is None
    assert {layout.backbone for layout in LAYOUTS} == {"conv4", "resnet12"}


def test_prefix_and_key_pick_the_backbone(tmp_path):
    from fewshot_clce.backbones.weights import read_state_dict

    native = create_backbone("conv4", 1).state_dict()
    lightning = {"state_dict": {f"model.backbone.{k}": v for k, v in native.items()}, "epoch": 3}
    lightning["state_dict"]["model.head.weight"] = torch.zeros(5, 64)
    path = tmp_path / "lightning.ckpt"
    torch.save(lightning, path)
    state = read_state_dict(path, prefix="model.backbone.", key="state_dict")
    assert set(state) == set(native)
    with pytest.raises(
        ValueError, match=r"has no entry 'ema' \(--checkpoint-key\); it has 'state_dict', 'epoch'"
    ):
        read_state_dict(path, key="ema")
    with pytest.raises(
        ValueError, match=r"no state dict of tensors under 'encoder\.' \(--checkpoint-prefix\)"
    ):
        read_state_dict(path, prefix="encoder.")


def test_evaluate_cli_reads_a_learn2learn_file_and_a_lightning_file(tmp_path, capsys):
    """`evaluate --backbone conv4 --checkpoint` on learn2learn's own CNN4 file (no option
    needed), and on a Lightning checkpoint with --checkpoint-prefix/--checkpoint-key; the table
    names the width."""
    import pandas as pd

    from fewshot_clce.cli import main

    l2l = import_learn2learn()
    path = tmp_path / "l2l_cnn4.pth"
    torch.save(_randomised(l2l.vision.models.CNN4(output_size=5, channels=1)).state_dict(), path)
    common = [
        "--dataset",
        "digits",
        "--shots",
        "1",
        "--n-episodes",
        "5",
        "--queries",
        "3",
        "--head",
        "centroid",
        "--no-cache",
        "--pretrained-on",
        "imagenet",
    ]
    assert (
        main(
            [
                "evaluate",
                "--backbone",
                "conv4",
                "--checkpoint",
                str(path),
                "--out",
                str(tmp_path / "a.csv"),
                *common,
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert (
        f"{path}: read as a learn2learn CNN4 checkpoint (conv4[conv_bias=true,global_pool=flatten,"
        in printed
    )
    assert (
        " dim " in printed.splitlines()[1] and " 64 " in printed.splitlines()[2]
    )  # 8x8 digits: 64 x 1 x 1
    rows = pd.read_csv(tmp_path / "a.csv")
    assert (rows["embedding_dim"] == 64).all() and (rows["pretrained_on"] == "imagenet").all()

    native = create_backbone("conv4[global_pool=flatten]", 1).state_dict()
    lightning = {"state_dict": {f"model.backbone.{k}": v for k, v in native.items()}}
    torch.save(lightning, tmp_path / "last.ckpt")
    argv = [
        "evaluate",
        "--backbone",
        "conv4[global_pool=flatten]",
        "--checkpoint",
        str(tmp_path / "last.ckpt"),
        "--out",
        str(tmp_path / "b.csv"),
        *common,
    ]
    assert main(argv) == 2
    assert "missing keys" in capsys.readouterr().err
    assert (
        main(argv + ["--checkpoint-prefix", "model.backbone.", "--checkpoint-key", "state_dict"])
        == 0
    )


def test_comparability_warnings():
    from fewshot_clce.backbones.provenance import comparability_warnings

    on_mini = comparability_warnings(
        "mini-imagenet", "imagenet (timm tag a1_in1k)", 224, (3, 84, 84), 224
    )
    assert len(on_mini) == 1 and "ImageNet classes" in on_mini[0]
    assert comparability_warnings("cub", "imagenet", 224, (3, 84, 84), 224) == []
    small = comparability_warnings("digits", None, 224, (1, 8, 8), 224)
    assert len(small) == 1 and "8 px" in small[0] and "224 px" in small[0]
    assert comparability_warnings("digits", None, 28, (1, 8, 8), 28) == []  # 8 >= 28 / 4
    assert comparability_warnings("digits", None, 84, (1, 28, 28), 16)[0].startswith(
        "the images of digits are 16"
    )


def test_train_starts_from_a_learn2learn_file_and_its_run_evaluates(tmp_path, capsys):
    """The run keeps the options the weights needed, so `evaluate RUN_DIR` and `predict RUN_DIR`
    rebuild the same backbone (predict adapting RGB 12x12 images to the run's 8x8 grayscale)."""
    import numpy as np
    from PIL import Image

    from fewshot_clce.cli import main

    l2l = import_learn2learn()
    path = tmp_path / "l2l.pth"
    cnn4 = l2l.vision.models.CNN4(output_size=5, channels=1)
    torch.save({"state_dict": {f"model.{k}": v for k, v in cnn4.state_dict().items()}}, path)
    run = tmp_path / "run"
    train = [
        "train",
        "--dataset",
        "digits",
        "--backbone",
        "conv4",
        "--loss",
        "ce",
        "--out",
        str(run),
        "--epochs",
        "1",
        "--steps-per-epoch",
        "1",
        "--batch-size",
        "16",
        "--val-episodes",
        "5",
        "--val-queries",
        "3",
        "--no-progress",
        "--device",
        "cpu",
        "--checkpoint",
        str(path),
        "--checkpoint-prefix",
        "model.",
        "--checkpoint-key",
        "state_dict",
    ]
    assert main(train) == 0
    assert "read as a learn2learn CNN4 checkpoint" in capsys.readouterr().err
    assert (
        main(
            [
                "evaluate",
                str(run),
                "--dataset",
                "digits",
                "--shots",
                "1",
                "--n-episodes",
                "5",
                "--queries",
                "3",
                "--head",
                "centroid",
                "--no-cache",
            ]
        )
        == 0
    )
    rng = np.random.default_rng(0)
    for name in ("support/a/1.png", "support/a/2.png", "support/b/1.png", "query/x.png"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (12, 12, 3)).astype(np.uint8)).save(tmp_path / name)
    assert (
        main(
            [
                "predict",
                str(run),
                "--support",
                str(tmp_path / "support"),
                "--query",
                str(tmp_path / "query"),
                "--out",
                str(tmp_path / "p.csv"),
            ]
        )
        == 0
    )
    assert "1 image, 2 classes, head logistic" in capsys.readouterr().out


def test_timm_pretraining_is_read_from_timm_metadata():
    """timm's pretrained configuration (metadata, no weights downloaded) names ImageNet."""
    from fewshot_clce.backbones.provenance import timm_pretraining

    assert timm_pretraining("resnet18") == "imagenet (timm tag a1_in1k)"
    assert timm_pretraining("resnet18.a1_in1k[drop_rate=0.1]").startswith("imagenet")
    assert timm_pretraining("conv4") is None  # no published weights


def test_benchmark_init_checks_a_field_checkpoint_as_training_reads_it(tmp_path):
    """`benchmark --init FILE` reads the file through the layout table: learn2learn's CNN4 fits
    conv4; an easyfsl ResNet-12 given for conv4 is refused naming the layout it follows."""
    from easyfsl.modules import resnet12 as easyfsl_resnet12

    from fewshot_clce.benchmark.config import resolve
    from fewshot_clce.benchmark.init_weights import prepare_init
    from fewshot_clce.data import create_dataset

    datasets = {"digits": create_dataset("digits")}
    l2l = import_learn2learn()
    path = tmp_path / "l2l.pth"
    torch.save(l2l.vision.models.CNN4(output_size=5, channels=1).state_dict(), path)
    init = prepare_init(resolve(backbone="conv4", init=str(path), datasets=["digits"]), datasets)
    assert init.checkpoint == path.resolve()
    torch.save(easyfsl_resnet12().state_dict(), path)
    cfg = resolve(backbone="conv4", init=str(path), datasets=["digits"])
    closest = "closest known layout is easyfsl ResNet-12 for --backbone resnet12"
    with pytest.raises(ValueError, match=closest):
        prepare_init(cfg, datasets)


def test_evaluate_warns_where_the_number_would_mislead(tmp_path, capsys):
    """ImageNet pretraining on mini-ImageNet, and 8x8 images for a backbone trained at 84 px: one
    warning each on stderr, the pretraining recorded in the rows."""
    import pandas as pd
    from _dataset_fixtures import write_mini_learn2learn

    from fewshot_clce.cli import main

    write_mini_learn2learn(tmp_path / "mini-imagenet", per_class=2, size=8)
    weights = {f"backbone.{k}": v for k, v in create_backbone("conv4", 3).state_dict().items()}
    derived = {
        "in_chans": 3,
        "image_size": [84, 84],
        "mean": [0.5] * 3,
        "std": [0.25] * 3,
        "dataset_id": "elsewhere",
        "backbone_kwargs": {},
    }
    path = tmp_path / "run_checkpoint.pt"  # as a training run writes it: its size is known
    torch.save({"model": weights, "config": {"backbone": "conv4", "derived": derived}}, path)
    assert (
        main(
            [
                "evaluate",
                "--backbone",
                "conv4",
                "--checkpoint",
                str(path),
                "--dataset",
                "mini-imagenet",
                "--root",
                str(tmp_path),
                "--shots",
                "1",
                "--queries",
                "1",
                "--n-episodes",
                "3",
                "--head",
                "centroid",
                "--no-cache",
                "--pretrained-on",
                "imagenet",
                "--out",
                str(tmp_path / "r.csv"),
            ]
        )
        == 0
    )
    err = capsys.readouterr().err.splitlines()
    warnings = [line for line in err if line.startswith("warning: ")]
    assert len(warnings) == 2
    assert "pretrained on imagenet, and the classes of mini-imagenet are ImageNet" in warnings[0]
    assert "are 8 px on their smaller side, under a quarter of the 84 px" in warnings[1]
    assert (pd.read_csv(tmp_path / "r.csv")["pretrained_on"] == "imagenet").all()
