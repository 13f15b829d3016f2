"""Checkpoints of the field's codebases, read into this toolkit's ``conv4`` and ``resnet12``.

Each known layout is declared once in :data:`LAYOUTS`: which codebase wrote it, which backbone of
this toolkit holds the same network, how its keys are renamed, which keys are not the backbone's
(a classifier), and which backbone options make its weights load and compute the same features.
A layout is recognised from the keys alone (every key the backbone owns must follow its rules);
widths are then read off the weights' shapes (:func:`shape_options`).

============================  =========  ==========================================================
layout                        backbone   keys (source -> toolkit)
============================  =========  ==========================================================
RFS / MetaOptNet ResNet-12    resnet12   ``layer1.0.conv1`` -> ``blocks.0.body.0``, ``downsample``
                                         -> ``shortcut`` (also easyfsl's ``feat_resnet12`` and
                                         learn2learn's ``ResNet12Backbone``)
FEAT ResNet-12                resnet12   the same under ``encoder.`` (FEAT saves its whole model)
learn2learn ResNet-12         resnet12   the same under ``features.``
easyfsl ResNet-12             resnet12   ``conv1``/``bn1`` -> ``stem``, ``layerS.B.conv1`` ->
                                         ``blocks.S-1.B.body.0`` (``design="stride"``, ReLU)
ProtoNet Conv-4               conv4      ``encoder.I.0`` (conv, with bias) -> ``blocks.I.0``
learn2learn CNN4              conv4      ``features.I.conv`` / ``.normalize`` ->
                                         ``blocks.I.0`` / ``.1``
============================  =========  ==========================================================

torchvision and timm files need no layout: timm's models take them as they are.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Optional

import torch

# ResNet-12 blocks of the MetaOptNet family: their BasicBlock's names -> _ResidualBlock's
_RESNET12_BLOCK = (
    (r"conv1\.", "body.0."),
    (r"bn1\.", "body.1."),
    (r"conv2\.", "body.3."),
    (r"bn2\.", "body.4."),
    (r"conv3\.", "body.6."),
    (r"bn3\.", "body.7."),
    (r"downsample\.0\.", "shortcut.0."),
    (r"downsample\.1\.", "shortcut.1."),
)
# torchvision's BasicBlock (easyfsl's ResNet-12) -> _StridedBlock's
_STRIDED_BLOCK = (
    (r"conv1\.", "body.0."),
    (r"bn1\.", "body.1."),
    (r"conv2\.", "body.3."),
    (r"bn2\.", "body.4."),
    (r"downsample\.0\.", "shortcut.0."),
    (r"downsample\.1\.", "shortcut.1."),
)
_BN_OR_CONV_TAIL = r"(weight|bias|running_mean|running_var|num_batches_tracked)$"


def _metaoptnet_rules(prefix: str) -> tuple[tuple[str, str], ...]:
    return tuple(
        (rf"^{re.escape(prefix)}layer([1-4])\.0\.{src}{_BN_OR_CONV_TAIL}", f"blocks.<S>.{dst}\\2")
        for src, dst in _RESNET12_BLOCK
    )


@dataclass(frozen=True)
class Layout:
    """A checkpoint layout of another codebase.

    Attributes:
        source: the codebase and network, as reported ("easyfsl ResNet-12").
        backbone: this toolkit's backbone that holds the same network.
        rules: ``(pattern, replacement)`` on each key; ``<S>`` in a replacement is the matched
            stage number minus one (the source counts stages from 1, this toolkit from 0).
        ignore: patterns of keys that are not the backbone's (a classifier).
        options: backbone options that make the weights load and give the same features.
    """

    source: str
    backbone: str
    rules: tuple[tuple[str, str], ...]
    ignore: tuple[str, ...] = ()
    options: Mapping[str, object] = field(default_factory=dict)

    def rename(self, key: str) -> Optional[str]:
        """The toolkit's name of ``key``, or None when no rule applies."""
        for pattern, replacement in self.rules:
            match = re.match(pattern, key)
            if match:
                if "<S>" in replacement:  # the stage number: 1-based there, 0-based here
                    replacement = replacement.replace("<S>", str(int(match.group(1)) - 1))
                return match.expand(replacement)
        return None

    def ignored(self, key: str) -> bool:
        return any(re.match(p, key) for p in self.ignore)

    def coverage(self, keys: Sequence[str]) -> float:
        """The fraction of ``keys`` (ignored ones left out) that its rules rename."""
        own = [k for k in keys if not self.ignored(k)]
        return sum(self.rename(k) is not None for k in own) / len(own) if own else 0.0


LAYOUTS: tuple[Layout, ...] = (
    Layout(
        "FEAT ResNet-12", "resnet12", _metaoptnet_rules("encoder."), ignore=(r"^(?!encoder\.)",)
    ),
    Layout(
        "learn2learn ResNet-12",
        "resnet12",
        _metaoptnet_rules("features."),
        ignore=(r"^classifier\.",),
    ),
    Layout(
        "RFS / MetaOptNet ResNet-12", "resnet12", _metaoptnet_rules(""), ignore=(r"^classifier\.",)
    ),
    Layout(
        "easyfsl ResNet-12",
        "resnet12",
        (
            (rf"^conv1\.{_BN_OR_CONV_TAIL}", r"stem.0.\1"),
            (rf"^bn1\.{_BN_OR_CONV_TAIL}", r"stem.1.\1"),
        )
        + tuple(
            (rf"^layer([1-4])\.(\d+)\.{src}{_BN_OR_CONV_TAIL}", f"blocks.<S>.\\2.{dst}\\3")
            for src, dst in _STRIDED_BLOCK
        ),
        ignore=(r"^fc\.",),
        options={"design": "stride"},
    ),
    Layout(
        "ProtoNet Conv-4",
        "conv4",
        ((rf"^encoder\.([0-3])\.([01])\.{_BN_OR_CONV_TAIL}", r"blocks.\1.\2.\3"),),
        options={"conv_bias": True, "global_pool": "flatten"},
    ),
    Layout(
        "learn2learn CNN4",
        "conv4",
        (
            (rf"^features\.([0-3])\.conv\.{_BN_OR_CONV_TAIL}", r"blocks.\1.0.\2"),
            (rf"^features\.([0-3])\.normalize\.{_BN_OR_CONV_TAIL}", r"blocks.\1.1.\2"),
        ),
        ignore=(r"^classifier\.",),
        options={"conv_bias": True, "global_pool": "flatten"},
    ),
    Layout(
        "learn2learn CNN4Backbone",
        "conv4",
        (
            (rf"^([0-3])\.conv\.{_BN_OR_CONV_TAIL}", r"blocks.\1.0.\2"),
            (rf"^([0-3])\.normalize\.{_BN_OR_CONV_TAIL}", r"blocks.\1.1.\2"),
        ),
        options={"conv_bias": True, "global_pool": "flatten"},
    ),
)


@dataclass
class ImportedWeights:
    """A state dict in this toolkit's key names, with the backbone options it needs.

    Attributes:
        state: the weights, keys renamed.
        options: backbone options the weights need (widths, conv bias, design, pooling).
        layout: the recognised layout; None for weights already in this toolkit's names.
    """

    state: dict[str, torch.Tensor]
    options: dict[str, object]
    layout: Optional[Layout] = None

    def describe(self) -> str:
        """``read as an easyfsl ResNet-12 checkpoint (resnet12[design=stride])``; "" for native
        keys."""
        if self.layout is None:
            return ""
        from ..utils.registry import format_spec

        source = self.layout.source
        article = "an" if source[0] in "aeiouAEIOU" or source.startswith("RFS") else "a"
        spec = format_spec(self.layout.backbone, self.options)
        return f"read as {article} {source} checkpoint ({spec})"


def detect_layout(state: Mapping[str, torch.Tensor], backbone: str) -> Optional[Layout]:
    """The first layout of ``backbone`` whose rules rename every key ``state`` has that it does not
    ignore; None when none does (weights in this toolkit's names included)."""
    keys = list(state)
    for layout in LAYOUTS:
        if layout.backbone == backbone and layout.coverage(keys) == 1.0:
            return layout
    return None


def closest_layout(keys: Sequence[str]) -> tuple[Optional[Layout], float]:
    """The known layout that renames the largest share of ``keys`` and that share (0 when none)."""
    scored = [(layout.coverage(keys), i) for i, layout in enumerate(LAYOUTS)]
    share, index = max(scored, key=lambda s: (s[0], -s[1]))
    return (LAYOUTS[index], share) if share > 0 else (None, 0.0)


def shape_options(state: Mapping[str, torch.Tensor], backbone: str) -> dict[str, object]:
    """Options of ``conv4`` / ``resnet12`` that weights in this toolkit's names need, read off their
    shapes: ``width`` and ``conv_bias`` of conv4, ``channels`` (and ``design``) of resnet12."""
    options: dict[str, object] = {}
    if backbone == "conv4" and "blocks.0.0.weight" in state:
        options["width"] = int(state["blocks.0.0.weight"].shape[0])
        if "blocks.0.0.bias" in state:
            options["conv_bias"] = True
    elif backbone == "resnet12":
        if "stem.0.weight" in state:
            options["design"] = "stride"
            first = [f"blocks.{i}.0.body.0.weight" for i in range(4)]
        else:
            first = [f"blocks.{i}.body.0.weight" for i in range(4)]
        if all(k in state for k in first):
            widths = tuple(int(state[k].shape[0]) for k in first)
            if widths != (64, 160, 320, 640):
                options["channels"] = "-".join(str(w) for w in widths)
    return options


def import_weights(state: Mapping[str, torch.Tensor], backbone: str) -> ImportedWeights:
    """``state`` renamed into ``backbone``'s key names when it follows a known layout, with the
    options that make it load exactly (those of the layout, then those its shapes say).

    Weights of any other backbone (a timm model) come back unchanged, with no options.

    Args:
        backbone: the backbone's name without options (``resnet12``, not ``resnet12[...]``).
    """
    if backbone not in ("conv4", "resnet12"):
        return ImportedWeights(dict(state), {})
    layout = detect_layout(state, backbone)
    renamed: dict[str, torch.Tensor] = dict(state)
    options: dict[str, object] = {}
    if layout is not None:
        renamed = {}
        for key, value in state.items():
            new = layout.rename(key)
            if new is not None:
                renamed[new] = value
        options.update(layout.options)
    options.update(shape_options(renamed, backbone))
    return ImportedWeights(renamed, options, layout)


def closest_hint(keys: list[str]) -> str:
    """``; the closest known layout is easyfsl ResNet-12 ...``, or "" when none is close."""
    layout, share = closest_layout(keys)
    if layout is None:
        return ""
    return (
        f"; the closest known layout is {layout.source} for --backbone {layout.backbone} "
        f"({share:.0%} of the keys follow it)"
    )
