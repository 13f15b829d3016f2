"""Backbones: ``conv4`` and ``resnet12`` (registered into timm), any timm model, local weights.

Both few-shot backbones end in global average pooling, so their embedding width does not
depend on the input size (64 for ``conv4``, 640 for ``resnet12``) and they accept any image
size the datasets give, 8x8 digits included: each stage max-pools by 2 only while the feature
map is at least 2 px on both sides, so small inputs keep a 1x1 map instead of failing.
``conv4(global_pool="flatten")`` gives the classic ProtoNet embedding instead (1600-d at 84 px).

``create_backbone`` builds any of them through ``timm.create_model(..., num_classes=0)`` and
``embedding_dim`` measures the feature width with one dummy forward pass.
"""
from __future__ import annotations

import difflib
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import timm
import torch
import torch.nn.functional as F
from timm.layers import DropBlock2d
from timm.models import register_model
from torch import nn

from ..utils.registry import UnknownNameError
from ..utils.safe_load import load_checkpoint

# The few-shot backbones this module adds to timm's registry.
FEWSHOT_BACKBONES = ("conv4", "resnet12")


class WeightsUnavailableError(FileNotFoundError):
    """Pretrained weights could not be found locally nor downloaded."""


def _pool_if_possible(x: torch.Tensor) -> torch.Tensor:
    """2x2 max-pool ``[B, C, H, W] -> [B, C, H//2, W//2]`` while both sides are >= 2 px, else identity."""
    if min(x.shape[-2:]) >= 2:
        return F.max_pool2d(x, 2)
    return x


class _FewShotNet(nn.Module):
    """timm-style interface shared by the few-shot backbones.

    Subclasses set ``num_features`` and implement ``forward_features`` (``[B, C, H, W] -> [B, D, h, w]``).
    """

    num_features: int
    global_pool: str = "avg"

    def _init_head(self, num_classes: int, drop_rate: float) -> None:
        self.num_classes = num_classes
        self.drop_rate = drop_rate
        self.head = nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def get_classifier(self) -> nn.Module:
        return self.head

    def reset_classifier(self, num_classes: int, global_pool: Optional[str] = None) -> None:
        self._init_head(num_classes, self.drop_rate)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """``[B, D, h, w] -> [B, D]`` pooled features (``pre_logits``) or ``[B, num_classes]`` logits."""
        if self.global_pool == "flatten":
            x = x.flatten(1)  # [B, D * h * w]
        else:
            x = x.mean(dim=(2, 3))  # [B, D]
        if pre_logits:
            return x
        x = F.dropout(x, self.drop_rate, self.training) if self.drop_rate else x
        return self.head(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C, H, W] -> [B, D]`` features when ``num_classes == 0``, else ``[B, num_classes]`` logits."""
        return self.forward_head(self.forward_features(x))


class Conv4(_FewShotNet):
    """Four blocks of [3x3 conv 64, batch norm, ReLU, 2x2 max-pool] (Vinyals et al. 2016; Snell et al. 2017).

    Args:
        in_chans: input channels.
        num_classes: classifier outputs; 0 returns the pooled features.
        width: channels of every block.
        global_pool: ``"avg"`` (``width``-d features for any input size) or ``"flatten"``
            (``width * h * w``, size-dependent, the original ProtoNet embedding).
    """

    def __init__(self, in_chans: int = 3, num_classes: int = 0, width: int = 64, global_pool: str = "avg",
                 drop_rate: float = 0.0):
        super().__init__()
        if global_pool not in ("avg", "flatten"):
            raise ValueError(f"conv4 global_pool must be 'avg' or 'flatten', got {global_pool!r}")
        self.global_pool = global_pool
        self.blocks = nn.ModuleList()
        chans = in_chans
        for _ in range(4):
            self.blocks.append(nn.Sequential(nn.Conv2d(chans, width, 3, padding=1, bias=False),
                                             nn.BatchNorm2d(width), nn.ReLU(inplace=True)))
            chans = width
        self.num_features = width
        self.pretrained_cfg = {"architecture": "conv4", "first_conv": "blocks.0.0", "classifier": "head"}
        self._init_head(num_classes, drop_rate)
        self._init_weights()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C, H, W] -> [B, width, H', W']`` with H' = H / 16 (at least 1)."""
        for block in self.blocks:
            x = _pool_if_possible(block(x))
        return x


class _ResidualBlock(nn.Module):
    """ResNet-12 block: 3 x (3x3 conv, BN, LeakyReLU 0.1) with a 1x1 shortcut, then pool and DropBlock."""

    def __init__(self, in_chans: int, out_chans: int, drop_block_rate: float, block_size: int):
        super().__init__()
        layers: List[nn.Module] = []
        for i in range(3):
            layers += [nn.Conv2d(in_chans if i == 0 else out_chans, out_chans, 3, padding=1, bias=False),
                       nn.BatchNorm2d(out_chans)]
            if i < 2:
                layers.append(nn.LeakyReLU(0.1, inplace=True))
        self.body = nn.Sequential(*layers)
        self.shortcut = nn.Sequential(nn.Conv2d(in_chans, out_chans, 1, bias=False), nn.BatchNorm2d(out_chans))
        self.drop_block = DropBlock2d(drop_block_rate, block_size) if drop_block_rate > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.leaky_relu(self.body(x) + self.shortcut(x), 0.1)
        return self.drop_block(_pool_if_possible(x))


class ResNet12(_FewShotNet):
    """The few-shot ResNet-12 (Oreshkin et al. 2018; Lee et al. 2019): 64-160-320-640 channels.

    Args:
        in_chans: input channels.
        num_classes: classifier outputs; 0 returns the pooled 640-d features.
        channels: output channels of the four residual blocks.
        drop_block_rate: DropBlock probability in the last two blocks (0 disables it).
        drop_block_size: side of the dropped blocks (clipped to the feature map).
        drop_rate: dropout before the classifier.
    """

    def __init__(self, in_chans: int = 3, num_classes: int = 0, channels: Sequence[int] = (64, 160, 320, 640),
                 drop_block_rate: float = 0.0, drop_block_size: int = 5, drop_rate: float = 0.0):
        super().__init__()
        if len(channels) != 4:
            raise ValueError(f"resnet12 needs 4 channel widths, got {tuple(channels)}")
        blocks, prev = [], in_chans
        for i, c in enumerate(channels):
            blocks.append(_ResidualBlock(prev, c, drop_block_rate if i >= 2 else 0.0, drop_block_size))
            prev = c
        self.blocks = nn.Sequential(*blocks)
        self.num_features = channels[-1]
        self.pretrained_cfg = {"architecture": "resnet12", "first_conv": "blocks.0.body.0", "classifier": "head"}
        self._init_head(num_classes, drop_rate)
        self._init_weights()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C, H, W] -> [B, 640, H', W']`` with H' = H / 16 (at least 1)."""
        return self.blocks(x)


def _no_pretrained(name: str, pretrained: bool) -> None:
    if pretrained:
        raise WeightsUnavailableError(
            f"backbone {name!r} has no published pretrained weights; train it from scratch (drop "
            f"--pretrained) or load your own with --checkpoint FILE")


# timm passes its own options (pretrained_cfg, cache_dir, ...) to every entry point; they mean
# nothing for these models, which have no published weights.
_TIMM_ONLY = ("pretrained_cfg", "pretrained_cfg_overlay", "cache_dir")


@register_model
def conv4(pretrained: bool = False, **kwargs) -> Conv4:
    """timm entry point for :class:`Conv4`."""
    _no_pretrained("conv4", pretrained)
    return Conv4(**{k: v for k, v in kwargs.items() if k not in _TIMM_ONLY})


@register_model
def resnet12(pretrained: bool = False, **kwargs) -> ResNet12:
    """timm entry point for :class:`ResNet12`."""
    _no_pretrained("resnet12", pretrained)
    return ResNet12(**{k: v for k, v in kwargs.items() if k not in _TIMM_ONLY})


def list_backbones() -> List[str]:
    """The few-shot backbones of this toolkit (any ``timm.list_models()`` name works too)."""
    return list(FEWSHOT_BACKBONES)


def check_backbone_name(name: str) -> None:
    """Raise UnknownNameError, listing this toolkit's backbones and close timm names, for an unknown one."""
    if timm.is_model(timm.models.get_arch_name(name)):
        return
    close = difflib.get_close_matches(name, timm.list_models(), n=4)
    hint = f"; close timm names: {', '.join(close)}" if close else ""
    raise UnknownNameError(f"unknown backbone {name!r}; valid names: {', '.join(FEWSHOT_BACKBONES)}, "
                           f"or any timm model (timm.list_models()){hint}")


def create_backbone(name: str, in_chans: int = 3, pretrained: bool = False,
                    checkpoint: Optional[str | Path] = None, **kwargs) -> nn.Module:
    """A backbone mapping ``[B, in_chans, H, W]`` images to ``[B, D]`` pooled features.

    Args:
        name: ``conv4``, ``resnet12`` or any timm model name (``resnet18``, ``resnet18.a1_in1k``).
        in_chans: channels of the input images (timm adapts pretrained first convolutions).
        pretrained: load timm's published weights (needs them cached or a network connection).
        checkpoint: local weights to load afterwards (``.safetensors`` or a ``torch.save``d state dict).
        **kwargs: passed to the model (``drop_block_rate=0.1``, ``global_pool="flatten"``, ...).

    Raises:
        UnknownNameError: for a name neither here nor in timm, listing the valid ones.
        ValueError: when the model does not take one of ``kwargs`` (naming it as a flag).
        WeightsUnavailableError: when ``pretrained`` weights do not exist or cannot be fetched.
        ValueError: when ``checkpoint`` belongs to another architecture (naming the keys that differ).
    """
    check_backbone_name(name)
    if pretrained and not timm.models.is_model_pretrained(timm.models.get_arch_name(name)) \
            and timm.models.get_arch_name(name) not in FEWSHOT_BACKBONES:
        raise WeightsUnavailableError(f"timm has no pretrained weights for {name!r}; drop --pretrained "
                                      f"or pick a model from timm.list_pretrained()")
    try:
        model = timm.create_model(name, pretrained=pretrained, num_classes=0, in_chans=in_chans, **kwargs)
    except WeightsUnavailableError:
        raise
    except TypeError as e:
        if "unexpected keyword argument" not in str(e) or not kwargs:
            raise
        given = ", ".join(f"--{k.replace('_', '-')} {v!r}" for k, v in kwargs.items())
        raise ValueError(f"backbone {name!r} does not take {given}; drop it, or pick a backbone that does "
                         "(resnet12 takes --drop-block-rate)") from None
    except (OSError, RuntimeError) as e:
        if not pretrained:
            raise
        raise WeightsUnavailableError(
            f"could not fetch timm's pretrained weights for {name!r} (no network here? {type(e).__name__}: "
            f"{e}); download them once on a connected machine (they are cached under ~/.cache/huggingface), "
            f"or pass --checkpoint FILE with local weights, or drop --pretrained") from None
    if checkpoint is not None:
        load_weights(model, checkpoint, name)
    return model


@torch.no_grad()
def embedding_dim(model: nn.Module, input_shape: Tuple[int, int, int]) -> int:
    """Width D of ``model``'s output for inputs ``[C, H, W]``, measured by one dummy forward pass."""
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    was_training = model.training
    model.eval()  # batch norm in training mode would update its statistics
    try:
        out = model(torch.zeros(2, *input_shape, device=device))
    finally:
        model.train(was_training)
    return int(out.reshape(2, -1).shape[1])  # [2, D]


def read_state_dict(source: str | Path | dict) -> Dict[str, torch.Tensor]:
    """Weights from a file (safetensors, a state dict, a training checkpoint of this toolkit) or a dict.

    Loading never runs code from the file (``torch.load(weights_only=True)``). A checkpoint written
    by ``fewshot-clce train`` gives its backbone's weights; ``module.`` prefixes (DDP) are removed.

    Raises:
        FileNotFoundError: if the file does not exist.
        ValueError: if it holds no tensors or something else than weights.
    """
    if isinstance(source, dict):
        return _backbone_state(source, "the given state dict")
    path = Path(source).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            obj = load_file(str(path))
        except Exception as e:  # SafetensorError and friends: name the file instead
            raise ValueError(f"cannot read {str(path)!r} as safetensors ({e})") from None
    else:
        obj = load_checkpoint(path)  # weights_only: refuses pickled objects
    return _backbone_state(obj, repr(str(path)))


def _backbone_state(obj, where: str) -> Dict[str, torch.Tensor]:
    """The backbone's tensors from a state dict or a checkpoint dict, without DDP prefixes."""
    if isinstance(obj, dict) and isinstance(obj.get("model"), dict):
        obj = {k[len("backbone."):]: v for k, v in obj["model"].items() if k.startswith("backbone.")}
    elif isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not obj or not all(torch.is_tensor(v) for v in obj.values()):
        raise ValueError(f"{where} holds no state dict of tensors")
    return {k[len("module."):] if k.startswith("module.") else k: v for k, v in obj.items()}


def load_weights(model: nn.Module, path: str | Path | dict, name: str = "") -> None:
    """Load local weights (a file or a loaded checkpoint dict) into ``model`` strictly, with a clear
    error when they do not fit.

    Classifier weights of a timm checkpoint are dropped (the backbone has ``num_classes=0``);
    missing batch-norm counters are tolerated.

    Raises:
        ValueError: naming missing keys, unexpected keys and shape mismatches.
    """
    state = read_state_dict(path)
    own = model.state_dict()
    head = (getattr(model, "pretrained_cfg", None) or {}).get("classifier")
    heads = (head,) if isinstance(head, str) else tuple(head or ())
    state = {k: v for k, v in state.items()
             if k in own or not any(k.startswith(h + ".") for h in heads)}
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in own]
    mismatched = [f"{k} is {list(state[k].shape)} in the checkpoint but {list(own[k].shape)} in the model"
                  for k in state if k in own and state[k].shape != own[k].shape]
    if missing or unexpected or mismatched:
        problems = []
        if missing:
            problems.append(f"{len(missing)} missing keys ({', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''})")
        if unexpected:
            problems.append(f"{len(unexpected)} unexpected keys ({', '.join(unexpected[:3])}"
                            f"{', ...' if len(unexpected) > 3 else ''})")
        if mismatched:
            problems.append(f"shape mismatch: {mismatched[0]}"
                            + (f" (and {len(mismatched) - 1} more)" if len(mismatched) > 1 else ""))
        source = "the given weights" if isinstance(path, dict) else repr(str(path))
        raise ValueError(f"checkpoint {source} does not fit backbone {name or type(model).__name__!r}: "
                         f"{'; '.join(problems)}; was it saved from another backbone or with other "
                         f"channels? use the --backbone it was trained with")
    model.load_state_dict(state, strict=False)
