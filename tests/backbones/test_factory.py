import pytest
import timm
import torch

from fewshot_clce.backbones import (
    FEWSHOT_BACKBONES,
    WeightsUnavailableError,
    create_backbone,
    embedding_dim,
    load_weights,
)
from fewshot_clce.utils.registry import UnknownNameError

# The toolkit's own backbones plus one timm model, through the same contract.
CONTRACT = [*FEWSHOT_BACKBONES, "resnet10t"]


@pytest.mark.parametrize("name", CONTRACT)
@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 28, 28), (1, 33, 17), (3, 40, 40)])
def test_backbone_contract(name, shape):
    if name == "resnet10t" and shape[1] < 16:
        pytest.skip("timm's resnets need inputs of at least 16 px")
    torch.manual_seed(0)
    model = create_backbone(name, in_chans=shape[0])
    dim = embedding_dim(model, shape)
    model.train()
    out = model(torch.rand(3, *shape))
    assert out.shape == (3, dim)
    assert torch.isfinite(out).all()
    assert model.training, "embedding_dim must restore training mode"


def test_widths_are_the_documented_ones():
    assert embedding_dim(create_backbone("conv4", 3), (3, 84, 84)) == 64
    assert embedding_dim(create_backbone("resnet12", 1), (1, 8, 8)) == 640
    assert (
        embedding_dim(create_backbone("conv4", 3, global_pool="flatten"), (3, 84, 84)) == 64 * 5 * 5
    )


def test_embedding_dim_leaves_batch_norm_statistics_alone():
    model = create_backbone("conv4", 1)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    embedding_dim(model, (1, 8, 8))
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_timm_create_model_knows_the_fewshot_backbones():
    model = timm.create_model("resnet12", num_classes=7, in_chans=1, drop_block_rate=0.2)
    assert model(torch.rand(2, 1, 32, 32)).shape == (2, 7)
    assert timm.create_model("conv4", num_classes=0)(torch.rand(2, 3, 28, 28)).shape == (2, 64)
    assert "resnet12" in timm.list_models("resnet12")


@pytest.mark.parametrize(
    "name, in_chans, options",
    [
        ("conv4", 1, {}),
        ("conv4", 3, {"global_pool": "flatten", "width": 32}),
        ("resnet12", 3, {"drop_block_rate": 0.1, "drop_rate": None}),
        ("resnet12", 1, {"channels": (8, 16, 24, 32)}),
    ],
)
def test_the_fewshot_backbones_built_without_timm_are_timms_models(name, in_chans, options):
    """create_backbone builds conv4 and resnet12 from their entry points without importing timm:
    the same module, the same initial weights from the same seed, the same recorded options."""
    torch.manual_seed(0)
    ours = create_backbone(name, in_chans=in_chans, **options)
    torch.manual_seed(0)
    theirs = timm.create_model(name, num_classes=0, in_chans=in_chans, **options)
    assert repr(ours) == repr(theirs) and ours._model_args == theirs._model_args
    assert ours.pretrained_cfg == theirs.pretrained_cfg
    mine, other = ours.state_dict(), theirs.state_dict()
    assert list(mine) == list(other) and all(torch.equal(mine[k], other[k]) for k in mine)
    with pytest.raises(ValueError, match=rf"backbone '{name}' does not take --depth 3"):
        create_backbone(name, in_chans=in_chans, depth=3)


def test_dropblock_is_active_in_training_only():
    model = timm.create_model("resnet12", num_classes=0, drop_block_rate=0.1, in_chans=1)
    x = torch.rand(4, 1, 40, 40)
    model.eval()
    assert torch.equal(model(x), model(x))
    model.train()
    torch.manual_seed(0)
    a = model(x)
    torch.manual_seed(1)
    assert not torch.allclose(a, model(x))


def test_unknown_backbone_lists_valid_names():
    with pytest.raises(
        UnknownNameError, match=r"unknown backbone 'resnet13'.*conv4, resnet12.*timm"
    ):
        create_backbone("resnet13")


def test_pretrained_without_published_weights_is_refused():
    with pytest.raises(
        WeightsUnavailableError, match="conv4.*no published pretrained weights.*--checkpoint"
    ):
        create_backbone("conv4", pretrained=True)


def test_pretrained_offline_gives_a_clear_message(monkeypatch):
    from huggingface_hub.errors import LocalEntryNotFoundError

    def offline(
        *args, **kwargs
    ):  # what the hub raises without a connection and without a cached copy
        raise LocalEntryNotFoundError(
            "Cannot find the requested files in the disk cache and outgoing "
            "traffic has been disabled."
        )

    monkeypatch.setattr(timm.models._builder, "load_pretrained", offline)
    with pytest.raises(WeightsUnavailableError) as info:
        create_backbone("resnet10t", pretrained=True)
    message = str(info.value)
    assert (
        "pretrained weights for 'resnet10t' are not cached here and could not be downloaded"
        in message
    )
    assert "--checkpoint" in message and "LocalEntryNotFoundError" in message
    assert "disk cache" not in message  # one line of ours, not the hub's paragraph


@pytest.mark.parametrize("fmt", ["pt", "safetensors"])
def test_checkpoint_round_trip(tmp_path, fmt):
    torch.manual_seed(0)
    source = create_backbone("conv4", 1).eval()
    path = tmp_path / f"w.{fmt}"
    if fmt == "pt":
        torch.save(
            {f"module.{k}": v for k, v in source.state_dict().items()}, path
        )  # as DDP saves it
    else:
        from safetensors.torch import save_file

        save_file(source.state_dict(), str(path))
    torch.manual_seed(1)
    loaded = create_backbone("conv4", 1, checkpoint=path).eval()
    x = torch.rand(2, 1, 8, 8)
    assert torch.equal(source(x), loaded(x))


def test_checkpoint_of_another_backbone_names_the_keys(tmp_path):
    path = tmp_path / "resnet12.pt"
    torch.save(create_backbone("resnet12", 1).state_dict(), path)
    with pytest.raises(
        ValueError,
        match=r"does not fit backbone 'conv4'.*missing keys \(blocks\.0\.0\.weight.*"
        r"unexpected keys",
    ):
        create_backbone("conv4", 1, checkpoint=path)


def test_checkpoint_with_other_channels_names_the_shape(tmp_path):
    path = tmp_path / "rgb.pt"
    torch.save(create_backbone("conv4", 3).state_dict(), path)
    with pytest.raises(
        ValueError,
        match=r"shape mismatch: blocks\.0\.0\.weight is \[64, 3, 3, 3\] in the "
        r"checkpoint but \[64, 1, 3, 3\]",
    ):
        create_backbone("conv4", 1, checkpoint=path)


def test_timm_checkpoint_with_classifier_loads_into_the_headless_backbone(tmp_path):
    path = tmp_path / "timm.pt"
    full = timm.create_model("resnet10t", num_classes=10)
    torch.save(full.state_dict(), path)
    model = create_backbone("resnet10t", 3)
    load_weights(model, path, "resnet10t")
    assert torch.equal(model.conv1[0].weight, full.conv1[0].weight)


def test_checkpoint_that_is_not_weights_is_refused_without_running_it(tmp_path):
    path = tmp_path / "object.pt"
    torch.save({"layer": torch.nn.Linear(2, 2)}, path)  # a pickled module, not a state dict
    with pytest.raises(ValueError, match="refusing to load checkpoint .*object.pt"):
        create_backbone("conv4", 1, checkpoint=path)
    with pytest.raises(FileNotFoundError, match="missing.pt.*does not exist"):
        create_backbone("conv4", 1, checkpoint=tmp_path / "missing.pt")


def test_corrupt_safetensors_is_a_clear_error(tmp_path):
    path = tmp_path / "broken.safetensors"
    path.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(ValueError, match="cannot read .*broken.safetensors.* as safetensors"):
        create_backbone("conv4", 1, checkpoint=path)
