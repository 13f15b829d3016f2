"""Augmentation presets for training and the evaluation ``Preprocess`` (resize + normalise).

Training augmentation works on whole batches: one random affine transform per image and view
(random resized crop, rotation, flip) applied with a single ``grid_sample`` that also resizes
to the output size, then batched colour jitter and random grayscale. Every random draw comes
from the ``torch.Generator`` passed in, so a seeded run augments the same way on every machine.

Presets (choices of this toolkit, tuned for few-shot base training, not taken from a paper):

- ``glyph``: grayscale characters and digits (Omniglot-like, <= 32 px): crops keeping 70-100% of
  the area, rotation within +-10 degrees, no flips (a mirrored glyph is another glyph), no colour.
- ``cifar``: 32 px colour images: crops of 35-100% of the area, horizontal flips, colour jitter
  0.4 (p=0.8), grayscale (p=0.2).
- ``imagenet``: larger colour images (84 px mini-ImageNet, CUB): crops of 25-100% of the area,
  flips, colour jitter 0.4 (p=0.8), grayscale (p=0.2).

Evaluating a backbone on images of another kind than it was trained on (cross-domain) adapts
them in :class:`Preprocess`: grayscale to RGB by repeating the channel, RGB to grayscale by
luminance (ITU-R BT.601 weights, :data:`LUMA_WEIGHTS`), then the usual resize; any other
channel count is refused (:func:`check_channels`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F

# ITU-R BT.601 luma weights of R, G, B: the luminance of an RGB image (as Pillow's "L" conversion).
LUMA_WEIGHTS = (0.299, 0.587, 0.114)


@dataclass(frozen=True)
class AugmentPreset:
    """Parameters of one augmentation preset (see the module docstring)."""

    name: str
    crop_scale: tuple[float, float]
    crop_ratio: tuple[float, float]
    rotate_degrees: float
    hflip: bool
    jitter: float
    jitter_p: float
    grayscale_p: float
    padding_mode: str
    mean: tuple[float, ...]
    std: tuple[float, ...]


PRESETS: dict[str, AugmentPreset] = {
    "glyph": AugmentPreset(
        "glyph", (0.7, 1.0), (0.85, 1.18), 10.0, False, 0.0, 0.0, 0.0, "border", (0.5,), (0.5,)
    ),
    "cifar": AugmentPreset(
        "cifar",
        (0.35, 1.0),
        (0.75, 1.33),
        0.0,
        True,
        0.4,
        0.8,
        0.2,
        "reflection",
        (0.507, 0.487, 0.441),
        (0.267, 0.256, 0.276),
    ),
    "imagenet": AugmentPreset(
        "imagenet",
        (0.25, 1.0),
        (0.75, 1.33),
        0.0,
        True,
        0.4,
        0.8,
        0.2,
        "reflection",
        (0.485, 0.456, 0.406),
        (0.229, 0.224, 0.225),
    ),
}


def choose_preset(image_shape: Sequence[int]) -> str:
    """The preset for images ``[C, H, W]``: glyph for grayscale, cifar up to 40 px, else imagenet."""
    channels, height, width = image_shape
    if channels == 1:
        return "glyph"
    return "cifar" if max(height, width) <= 40 else "imagenet"


def _norm_stats(
    preset: AugmentPreset, channels: int
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std for ``channels`` (a colour preset's average for grayscale data)."""
    if len(preset.mean) == channels:
        return preset.mean, preset.std
    mean = sum(preset.mean) / len(preset.mean)
    std = sum(preset.std) / len(preset.std)
    return (mean,) * channels, (std,) * channels


def can_adapt(channels: int, to: int) -> bool:
    """Whether images of ``channels`` channels can be fed to a backbone taking ``to``: equal, or 1 <-> 3."""
    return channels == to or {channels, to} == {1, 3}


def check_channels(
    channels: int, to: int, what: str = "the images", backbone: str = "the backbone"
) -> None:
    """Refuse images whose channel count cannot be adapted to the backbone's.

    Raises:
        ValueError: naming both counts and what can be adapted.
    """
    if not can_adapt(channels, to):
        raise ValueError(
            f"{what} have {channels} channel{'s' * (channels != 1)} but {backbone} takes {to}; "
            f"only grayscale (1) and RGB "
            f"(3) images are adapted to each other: evaluate a backbone made for {channels}-channel "
            f"images, or convert the images to grayscale or RGB"
        )


def luminance(x: torch.Tensor) -> torch.Tensor:
    """``[B, 3, H, W]`` RGB -> ``[B, 1, H, W]`` ITU-R BT.601 luminance (:data:`LUMA_WEIGHTS`)."""
    w = torch.tensor(LUMA_WEIGHTS, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x * w).sum(1, keepdim=True)


def adapt_channels(x: torch.Tensor, to: int) -> torch.Tensor:
    """``[B, C, H, W]`` -> ``[B, to, H, W]``: unchanged, grayscale repeated into RGB, or RGB to luminance.

    Raises:
        ValueError: for a channel count that cannot be adapted (see :func:`check_channels`).
    """
    c = x.shape[1]
    if c == to:
        return x
    check_channels(c, to)
    if c == 1:
        return x.expand(-1, to, -1, -1)  # [B, 3, H, W], one gray plane seen three times
    return luminance(x)  # [B, 1, H, W]


class Preprocess:
    """Evaluation transform: raw batch ``[B, C, H, W]`` in [0, 1] -> resized, normalised backbone input.

    No randomness. ``repr`` is stable and names every parameter, so it can key feature caches.

    Args:
        size: output ``(height, width)``; None keeps the input size.
        mean, std: per-channel normalisation (their length is the backbone's channel count).
        in_channels: channels of the images given, when they differ from the backbone's: they are
            adapted first (see :func:`adapt_channels`). None: the backbone's own.

    Raises:
        ValueError: when ``in_channels`` cannot be adapted to the backbone's channels.
    """

    def __init__(
        self,
        size: Optional[Sequence[int]],
        mean: Sequence[float],
        std: Sequence[float],
        in_channels: Optional[int] = None,
    ):
        self.size = tuple(int(s) for s in size) if size is not None else None
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)
        self.in_channels = (
            None if in_channels is None or int(in_channels) == len(self.mean) else int(in_channels)
        )
        if self.in_channels is not None:
            check_channels(self.in_channels, len(self.mean))

    @property
    def channels(self) -> int:
        """Channels of the backbone's input."""
        return len(self.mean)

    def adapted_to(
        self, image_shape: Sequence[int], what: str = "the images", backbone: str = "the backbone"
    ) -> Preprocess:
        """This preprocessing for raw images ``[C, H, W]`` of another dataset (their channels adapted).

        Args:
            what, backbone: how the images and the backbone are named in the error.

        Raises:
            ValueError: when ``C`` cannot be adapted to this backbone's channels.
        """
        check_channels(int(image_shape[0]), self.channels, what, backbone)
        return Preprocess(self.size, self.mean, self.std, in_channels=int(image_shape[0]))

    def describe(self, image_shape: Sequence[int]) -> str:
        """What is done to raw images ``[C, H, W]`` besides normalising: ``"1 -> 3 channels (gray
        repeated), 8x8 -> 28x28"``, or ``"none"``."""
        c, h, w = (int(v) for v in image_shape)
        parts = []
        if c != self.channels:
            how = "gray repeated" if c == 1 else "ITU-R BT.601 luminance"
            parts.append(f"{c} -> {self.channels} channels ({how})")
        if self.size is not None and (h, w) != self.size:
            parts.append(f"{h}x{w} -> {self.size[0]}x{self.size[1]}")
        return ", ".join(parts) or "none"

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C, H, W]`` in [0, 1] -> ``[B, channels, *size]`` normalised."""
        given = self.in_channels or self.channels
        if x.ndim != 4 or x.shape[1] != given:
            raise ValueError(f"expected images [B, {given}, H, W], got shape {tuple(x.shape)}")
        x = x.float()
        if given > self.channels:  # fewer planes to resize
            x = adapt_channels(x, self.channels)
        if self.size is not None and tuple(x.shape[-2:]) != self.size:
            x = F.interpolate(
                x, size=self.size, mode="bilinear", align_corners=False, antialias=True
            )
        if given < self.channels:
            x = adapt_channels(x, self.channels)
        return normalize(x, self.mean, self.std)

    def __repr__(self) -> str:
        # in_channels only when set, so that the feature caches of unadapted runs keep their keys
        extra = f", in_channels={self.in_channels}" if self.in_channels is not None else ""
        return f"Preprocess(size={self.size}, mean={self.mean}, std={self.std}{extra})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Preprocess) and repr(self) == repr(other)

    def __hash__(self) -> int:
        return hash(repr(self))


def normalize(x: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """``[B, C, H, W]`` -> ``(x - mean) / std`` per channel."""
    m = torch.tensor(mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)  # [1, C, 1, 1]
    s = torch.tensor(std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    return (x - m) / s


def _uniform(n: int, low: float, high: float, g: torch.Generator) -> torch.Tensor:
    return torch.rand(n, generator=g) * (high - low) + low


class Augment:
    """Batched training augmentation producing several views per image.

    Args:
        preset: a name in ``PRESETS`` or an :class:`AugmentPreset`.
        size: output ``(height, width)`` of every view.
        channels: image channels (selects the normalisation statistics).
    """

    def __init__(self, preset: str | AugmentPreset, size: Sequence[int], channels: int):
        if isinstance(preset, str):
            if preset not in PRESETS:
                raise ValueError(
                    f"unknown augmentation preset {preset!r}; valid: {', '.join(PRESETS)}, auto"
                )
            preset = PRESETS[preset]
        self.preset = preset
        self.size = (int(size[0]), int(size[1]))
        self.mean, self.std = _norm_stats(preset, channels)

    def _affine(self, n: int, g: torch.Generator) -> torch.Tensor:
        """``[n, 2, 3]`` affine maps from output to input coordinates (crop, rotation, flip)."""
        p = self.preset
        area = _uniform(n, *p.crop_scale, g)
        log_ratio = _uniform(n, math.log(p.crop_ratio[0]), math.log(p.crop_ratio[1]), g)
        ratio = torch.exp(log_ratio)
        # Crop sides as fractions of the image side; clipped so the crop fits in the image.
        w = torch.sqrt(area * ratio).clamp(max=1.0)
        h = torch.sqrt(area / ratio).clamp(max=1.0)
        cx = (torch.rand(n, generator=g) * 2 - 1) * (1 - w)
        cy = (torch.rand(n, generator=g) * 2 - 1) * (1 - h)
        angle = _uniform(n, -p.rotate_degrees, p.rotate_degrees, g) * (math.pi / 180)
        flip = (
            torch.where(torch.rand(n, generator=g) < 0.5, -1.0, 1.0) if p.hflip else torch.ones(n)
        )
        cos, sin = torch.cos(angle), torch.sin(angle)
        theta = torch.stack(
            [
                torch.stack([cos * w * flip, -sin * h, cx], dim=1),
                torch.stack([sin * w * flip, cos * h, cy], dim=1),
            ],
            dim=1,
        )  # [n, 2, 3]
        return theta

    def _color(self, x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        """Brightness, contrast and saturation jitter and random grayscale on ``[n, 3, h, w]``."""
        p = self.preset
        n = x.shape[0]

        def factor() -> torch.Tensor:
            apply = torch.rand(n, generator=g) < p.jitter_p
            f = _uniform(n, 1 - p.jitter, 1 + p.jitter, g)
            return (
                torch.where(apply, f, torch.ones(n)).to(x.device).view(n, 1, 1, 1)
            )  # [n, 1, 1, 1]

        x = x * factor()
        gray = luminance(x)  # [n, 1, h, w]
        x = (x - gray.mean((2, 3), keepdim=True)) * factor() + gray.mean((2, 3), keepdim=True)
        gray = luminance(x)
        x = (x - gray) * factor() + gray
        to_gray = (torch.rand(n, generator=g) < p.grayscale_p).to(x.device).view(n, 1, 1, 1)
        x = torch.where(to_gray, luminance(x).expand_as(x), x)
        return x.clamp_(0, 1)

    def __call__(self, x: torch.Tensor, views: int, generator: torch.Generator) -> torch.Tensor:
        """Augment a raw batch.

        Args:
            x: ``[B, C, H, W]`` float in [0, 1] (any device).
            views: augmented views per image.
            generator: CPU generator for every random draw.

        Returns:
            ``[B, views, C, *size]`` normalised views.
        """
        b, c = x.shape[:2]
        # grid_sample does not antialias: shrink large images first, to the size at which the
        # smallest crop still maps about one input pixel to one output pixel.
        limit = [math.ceil(s / math.sqrt(self.preset.crop_scale[0])) for s in self.size]
        if x.shape[2] > limit[0] or x.shape[3] > limit[1]:
            x = F.interpolate(
                x.float(), size=limit, mode="bilinear", align_corners=False, antialias=True
            )
        x = x.float().repeat_interleave(
            views, dim=0
        )  # [B * views, C, H, W], views of an image adjacent
        theta = self._affine(b * views, generator).to(x.device)
        grid = F.affine_grid(theta, [b * views, c, *self.size], align_corners=False)
        x = F.grid_sample(
            x, grid, mode="bilinear", padding_mode=self.preset.padding_mode, align_corners=False
        )
        if c == 3 and (self.preset.jitter > 0 or self.preset.grayscale_p > 0):
            x = self._color(x, generator)
        x = normalize(x, self.mean, self.std)
        return x.view(b, views, c, *self.size)  # [B, views, C, h, w]

    def __repr__(self) -> str:
        return f"Augment(preset={self.preset.name!r}, size={self.size}, mean={self.mean}, std={self.std})"


def eval_preprocess(preset: str, size: Sequence[int], channels: int) -> Preprocess:
    """The evaluation :class:`Preprocess` matching a training preset (same size and normalisation)."""
    mean, std = _norm_stats(PRESETS[preset], channels)
    return Preprocess(size, mean, std)
