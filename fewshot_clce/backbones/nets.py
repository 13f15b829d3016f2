"""The few-shot backbones ``conv4`` and ``resnet12``, registered into timm's own registry.

This module does not import timm (a slow import in every process): :func:`register_into_timm` runs when
timm is imported (:mod:`fewshot_clce.backbones.timm_hook`), and ``resnet12`` takes timm's
DropBlock only when it drops blocks.

Both few-shot backbones end in global average pooling, so their embedding width does not
depend on the input size (64 for ``conv4``, 640 for ``resnet12``) and they accept any image
size the datasets give, 8x8 digits included: each stage max-pools by 2 only while the feature
map is at least 2 px on both sides, so small inputs keep a 1x1 map instead of failing.
``conv4(global_pool="flatten")`` gives the classic ProtoNet embedding instead (1600-d at 84 px).

Options that other codebases' versions of these networks differ by (``conv_bias`` of ProtoNet's
and learn2learn's Conv-4, ``channels``, ``slope`` and ``design="stride"`` of easyfsl's ResNet-12)
let their weights load exactly; :mod:`fewshot_clce.backbones.layouts` sets them from a checkpoint.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

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
        conv_bias: give the convolutions a bias, as ProtoNet's and learn2learn's Conv-4 do.
    """

    def __init__(
        self,
        in_chans: int = 3,
        num_classes: int = 0,
        width: int = 64,
        global_pool: str = "avg",
        drop_rate: float = 0.0,
        conv_bias: bool = False,
    ):
        super().__init__()
        if global_pool not in ("avg", "flatten"):
            raise ValueError(f"conv4 global_pool must be 'avg' or 'flatten', got {global_pool!r}")
        self.global_pool = global_pool
        self.blocks = nn.ModuleList()
        chans = in_chans
        for _ in range(4):
            conv = nn.Conv2d(chans, width, 3, padding=1, bias=bool(conv_bias))
            self.blocks.append(nn.Sequential(conv, nn.BatchNorm2d(width), nn.ReLU(inplace=True)))
            chans = width
        self.num_features = width
        self.pretrained_cfg = {
            "architecture": "conv4",
            "first_conv": "blocks.0.0",
            "classifier": "head",
        }
        self._init_head(num_classes, drop_rate)
        self._init_weights()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C, H, W] -> [B, width, H', W']`` with H' = H / 16 (at least 1)."""
        for block in self.blocks:
            x = _pool_if_possible(block(x))
        return x


class _ResidualBlock(nn.Module):
    """ResNet-12 block: 3 x (3x3 conv, BN, LeakyReLU) with a 1x1 shortcut, then pool, DropBlock."""

    def __init__(
        self,
        in_chans: int,
        out_chans: int,
        drop_block_rate: float,
        block_size: int,
        slope: float = 0.1,
    ):
        super().__init__()
        self.slope = slope
        layers: list[nn.Module] = []
        for i in range(3):
            layers += [
                nn.Conv2d(in_chans if i == 0 else out_chans, out_chans, 3, padding=1, bias=False),
                nn.BatchNorm2d(out_chans),
            ]
            if i < 2:
                layers.append(nn.LeakyReLU(slope, inplace=True))
        self.body = nn.Sequential(*layers)
        self.shortcut = nn.Sequential(
            nn.Conv2d(in_chans, out_chans, 1, bias=False), nn.BatchNorm2d(out_chans)
        )
        self.drop_block = _drop_block(drop_block_rate, block_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.leaky_relu(self.body(x) + self.shortcut(x), self.slope)
        return self.drop_block(_pool_if_possible(x))


class _StridedBlock(nn.Module):
    """Two-convolution residual block that downsamples by a strided convolution (easyfsl's
    ResNet-12, built from torchvision's BasicBlock): 3x3 conv (stride), BN, act, 3x3 conv, BN,
    + shortcut, act."""

    def __init__(
        self,
        in_chans: int,
        out_chans: int,
        stride: int,
        slope: float,
        drop_block_rate: float,
        block_size: int,
    ):
        super().__init__()
        self.slope = slope
        self.body = nn.Sequential(
            nn.Conv2d(in_chans, out_chans, 3, stride, padding=1, bias=False),
            nn.BatchNorm2d(out_chans),
            nn.LeakyReLU(slope, inplace=True),
            nn.Conv2d(out_chans, out_chans, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_chans),
        )
        if stride != 1 or in_chans != out_chans:
            self.shortcut: nn.Module = nn.Sequential(
                nn.Conv2d(in_chans, out_chans, 1, stride, bias=False), nn.BatchNorm2d(out_chans)
            )
        else:
            self.shortcut = nn.Identity()
        self.drop_block = _drop_block(drop_block_rate, block_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop_block(F.leaky_relu(self.body(x) + self.shortcut(x), self.slope))


def _drop_block(rate: float, block_size: int) -> nn.Module:
    if rate > 0:
        from timm.layers import DropBlock2d

        return DropBlock2d(rate, block_size)
    return nn.Identity()


# ResNet-12 designs: "pool" is Oreshkin et al.'s (one 3-conv block per stage, max-pooled; RFS,
# MetaOptNet, FEAT, learn2learn); "stride" is easyfsl's (a 3x3 stem, then 1, 1, 2, 1 two-conv
# blocks per stage that downsample by strided convolutions; ReLU).
RESNET12_DESIGNS = {"pool": (1, 1, 1, 1), "stride": (1, 1, 2, 1)}


def _channels(value) -> tuple:
    """``(64, 160, 320, 640)`` from a sequence or from the CLI's text ``64-160-320-640``."""
    if isinstance(value, str):
        try:
            value = [int(v) for v in value.replace("/", "-").split("-")]
        except ValueError:
            raise ValueError(
                f"resnet12 channels must be 4 integers such as 64-160-320-640, got {value!r}"
            ) from None
    value = tuple(int(v) for v in value)
    if len(value) != 4 or min(value) < 1:
        raise ValueError(
            f"resnet12 needs 4 positive channel widths (channels=64-160-320-640), got {value}"
        )
    return value


class ResNet12(_FewShotNet):
    """The few-shot ResNet-12 (Oreshkin et al. 2018; Lee et al. 2019): 64-160-320-640 channels.

    Args:
        in_chans: input channels.
        num_classes: classifier outputs; 0 returns the pooled 640-d features.
        channels: output channels of the four stages (``"64-160-320-640"`` from the CLI).
        drop_block_rate: DropBlock probability in the last two stages (0 disables it).
        drop_block_size: side of the dropped blocks (clipped to the feature map).
        drop_rate: dropout before the classifier.
        global_pool: ``"avg"`` (``channels[-1]``-d features) or ``"flatten"`` (MetaOptNet's
            16,000-d embedding at 84 px).
        slope: negative slope of the leaky ReLUs (default 0.1 for ``design="pool"``, 0 = ReLU
            for ``"stride"``).
        design: ``"pool"`` (Oreshkin et al., max-pooled 3-conv blocks) or ``"stride"`` (easyfsl's
            ``resnet12``: a stem, 1-1-2-1 two-conv blocks with strided convolutions).
    """

    def __init__(
        self,
        in_chans: int = 3,
        num_classes: int = 0,
        channels: Sequence[int] | str = (64, 160, 320, 640),
        drop_block_rate: float = 0.0,
        drop_block_size: int = 5,
        drop_rate: float = 0.0,
        global_pool: str = "avg",
        slope: Optional[float] = None,
        design: str = "pool",
    ):
        super().__init__()
        channels = _channels(channels)
        if design not in RESNET12_DESIGNS:
            raise ValueError(
                f"resnet12 design must be one of {', '.join(RESNET12_DESIGNS)}, got {design!r}"
            )
        if global_pool not in ("avg", "flatten"):
            raise ValueError(
                f"resnet12 global_pool must be 'avg' or 'flatten', got {global_pool!r}"
            )
        self.global_pool = global_pool
        slope = float(slope) if slope is not None else (0.1 if design == "pool" else 0.0)
        stages: list[nn.Module] = []
        if design == "pool":
            prev = in_chans
            for i, c in enumerate(channels):
                rate = drop_block_rate if i >= 2 else 0.0
                stages.append(_ResidualBlock(prev, c, rate, drop_block_size, slope))
                prev = c
            first_conv = "blocks.0.body.0"
        else:
            stem_width = 64  # easyfsl's stem is 64 wide whatever the stages are
            self.stem = nn.Sequential(
                nn.Conv2d(in_chans, stem_width, 3, padding=1, bias=False),
                nn.BatchNorm2d(stem_width),
                nn.LeakyReLU(slope, inplace=True),
            )
            prev = stem_width
            for i, (c, n) in enumerate(zip(channels, RESNET12_DESIGNS[design])):
                rate = drop_block_rate if i >= 2 else 0.0
                stage = [
                    _StridedBlock(
                        prev if j == 0 else c,
                        c,
                        2 if i > 0 and j == 0 else 1,
                        slope,
                        rate,
                        drop_block_size,
                    )
                    for j in range(n)
                ]
                stages.append(nn.Sequential(*stage))
                prev = c
            first_conv = "stem.0"
        self.blocks = nn.Sequential(*stages)
        self.num_features = channels[-1]
        self.pretrained_cfg = {
            "architecture": "resnet12",
            "first_conv": first_conv,
            "classifier": "head",
        }
        self._init_head(num_classes, drop_rate)
        self._init_weights()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C, H, W] -> [B, 640, H', W']`` with H' = H / 16 (at least 1), H / 8 for
        ``design="stride"``."""
        if hasattr(self, "stem"):
            x = self.stem(x)
        return self.blocks(x)


def _no_pretrained(name: str, pretrained: bool) -> None:
    if pretrained:
        raise WeightsUnavailableError(
            f"backbone {name!r} has no published pretrained weights; train it from scratch (drop "
            f"--pretrained) or load your own with --checkpoint FILE"
        )


# timm passes its own options (pretrained_cfg, cache_dir, ...) to every entry point; they mean
# nothing for these models, which have no published weights.
_TIMM_ONLY = ("pretrained_cfg", "pretrained_cfg_overlay", "cache_dir")


def conv4(pretrained: bool = False, **kwargs) -> Conv4:
    """timm entry point for :class:`Conv4`."""
    _no_pretrained("conv4", pretrained)
    return Conv4(**{k: v for k, v in kwargs.items() if k not in _TIMM_ONLY})


def resnet12(pretrained: bool = False, **kwargs) -> ResNet12:
    """timm entry point for :class:`ResNet12`."""
    _no_pretrained("resnet12", pretrained)
    return ResNet12(**{k: v for k, v in kwargs.items() if k not in _TIMM_ONLY})


# name -> timm entry point, as timm's registry holds them once registered
ENTRY_POINTS = {"conv4": conv4, "resnet12": resnet12}
_registered = False


def register_into_timm() -> None:
    """Add the entry points to timm's registry (imports timm; once per process)."""
    global _registered
    if not _registered:
        from timm.models import register_model

        for fn in ENTRY_POINTS.values():
            register_model(fn)
        _registered = True
