"""A backbone from outside a run folder, ready to evaluate: a weights file or timm's pretrained weights.

:func:`load_backbone` returns the same :class:`LoadedRun` as
:func:`~fewshot_clce.training.run_folder.load_run`, so evaluation treats both alike. What is not
given is taken, in this order, from:

- a checkpoint written by a training run (``checkpoint_best.pt``, ``checkpoint_last.pt``): its own
  settings (input channels, size and normalisation), so it evaluates exactly as its run folder;
- timm's ``pretrained_cfg`` for ``pretrained`` weights (input size, mean, std);
- otherwise the evaluation images: their size, and the normalisation training would use for them
  (:func:`~fewshot_clce.data.transforms.choose_preset`); the input channels are read off the
  first convolution of the weights.

The feature cache keys such a backbone by its name with the digest of the checkpoint file (and the
--checkpoint-key / --checkpoint-prefix that picked the weights out of it; or the digest of
the pretrained weights) and by the preprocessing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple, Optional

import torch

from ..utils import checks as _checks
from .weights import backbone_weights, file_id, is_run_checkpoint


class LoadedRun(NamedTuple):
    """A trained backbone and what is needed to evaluate it (see
    :func:`~fewshot_clce.training.run_folder.load_run` and :func:`load_backbone`).

    Attributes:
        dataset: the dataset spec to load the run's data with (a ``folder:`` path made absolute).
        dataset_id: the dataset's canonical identity (:func:`~fewshot_clce.data.registry.dataset_id`),
            which manifests of its data record.
    """

    backbone: torch.nn.Module
    config: dict[str, Any]
    checkpoint_path: Optional[Path]
    checkpoint_id: str
    dataset: str
    preprocess: Callable[[torch.Tensor], torch.Tensor]
    dataset_id: str


# The training dataset recorded for weights that do not say what they were trained on.
UNKNOWN = "unknown"


def _stats(name: str, values: Optional[Sequence[float]], channels: int) -> Optional[tuple]:
    """``values`` checked and broadcast to ``channels`` (one value serves every channel)."""
    if values is None:
        return None
    values = tuple(float(v) for v in values)
    if len(values) not in (1, channels):
        raise _checks.SettingError(
            name,
            "{setting} " + f"takes 1 or {channels} values for a {channels}-channel "
            f"backbone, got {len(values)}: {list(values)}",
        )
    if not all(math.isfinite(v) for v in values) or (name == "std" and min(values) <= 0):
        what = "positive finite numbers" if name == "std" else "finite numbers"
        raise _checks.SettingError(name, "{setting} " + f"must be {what}, got {list(values)}")
    return values * channels if len(values) == 1 else values


def _timm_defaults(model) -> dict[str, Any]:
    cfg = getattr(model, "pretrained_cfg", None) or {}
    out: dict[str, Any] = {}
    if cfg.get("input_size"):
        out["image_size"] = list(cfg["input_size"][1:])
    if cfg.get("mean") and cfg.get("std"):
        out["mean"], out["std"] = list(cfg["mean"]), list(cfg["std"])
    return out


def load_backbone(
    name: str,
    checkpoint: Optional[str | Path] = None,
    pretrained: bool = False,
    image_size: Optional[int | Sequence[int]] = None,
    mean: Optional[Sequence[float]] = None,
    std: Optional[Sequence[float]] = None,
    image_shape: Optional[Sequence[int]] = None,
    in_chans: Optional[int] = None,
    checkpoint_prefix: str = "",
    checkpoint_key: Optional[str] = None,
    **backbone_kwargs,
) -> LoadedRun:
    """A backbone with its evaluation preprocessing, in eval mode on the CPU.

    Args:
        name: ``conv4``, ``resnet12`` or any timm model name.
        checkpoint: a weights file: a run's checkpoint, a ``torch.save``d state dict (wrapped or not)
            or ``.safetensors``. Loaded without running code from it.
        pretrained: timm's published weights instead (cached, or downloaded when online).
        image_size: square input side, or ``(height, width)``; default see the module docstring.
        mean, std: normalisation, one value or one per channel; default see the module docstring.
        image_shape: ``[C, H, W]`` of the images to evaluate, for the defaults that depend on them.
        in_chans: input channels of pretrained weights (timm adapts the first convolution, as training
            does for grayscale data); default 3, as published. A checkpoint's own are read off it.
        checkpoint_prefix, checkpoint_key: where the backbone's weights sit in the checkpoint
            (:func:`~fewshot_clce.backbones.weights.read_state_dict`: ``"model.backbone."``,
            ``"state_dict"``); by default a run's checkpoint or the whole file.
        **backbone_kwargs: passed to the model (``global_pool="flatten"``, ...).

    Returns:
        A :class:`LoadedRun`: ``config`` holds the run's settings for a run checkpoint (else the
        backbone's name and weights), ``dataset_id`` the training dataset when known (else
        ``"unknown"``, or ``timm:NAME`` for pretrained weights), ``dataset`` its spec or "";
        ``config["checkpoint_layout"]`` says which other codebase's layout the weights were read
        as ("read as an easyfsl ResNet-12 checkpoint (resnet12[design=stride])"), when one.

    Raises:
        SettingError: for neither or both of ``checkpoint`` / ``pretrained``, or a bad size or statistic.
        FileNotFoundError: for a checkpoint that does not exist.
        WeightsUnavailableError: for pretrained weights that are not cached here and cannot be fetched.
        ValueError: for a file that holds no weights, or weights that do not fit ``name`` (naming the
            missing and unexpected keys).
    """
    from .factory import check_backbone_name

    if (checkpoint is None) == (not pretrained):
        raise _checks.SettingError(
            "checkpoint",
            "an external backbone needs its weights: pass {setting} FILE or "
            "--pretrained (one of them)"
            if checkpoint is None
            else "{setting} and --pretrained both give the weights; pass one of them",
        )
    if image_size is not None:
        image_size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
        for side in image_size:
            _checks.image_size("image_size", side)
    check_backbone_name(name)
    if checkpoint is not None:
        found = _from_checkpoint(
            name, Path(checkpoint).expanduser(), checkpoint_prefix, checkpoint_key, backbone_kwargs
        )
    else:
        found = _from_pretrained(
            name, int(in_chans or 3), backbone_kwargs
        )  # 3: what timm publishes
    found.model.eval()
    return _loaded_run(found, *_preprocessing(found, image_size, mean, std, image_shape))


class _Found(NamedTuple):
    """An external backbone's weights loaded, with what they say about themselves."""

    model: torch.nn.Module
    channels: int
    path: Optional[Path]
    weights_id: str
    defaults: dict[str, Any]  # image_size, mean, std the weights come with
    config: dict[str, Any]
    train_dataset: str
    spec: str


def _loaded_run(found: _Found, size, mean, std) -> LoadedRun:
    """``found`` as a :class:`LoadedRun` evaluated at ``size`` with ``mean`` and ``std``, which
    its config records (``derived``) beside the input channels."""
    from ..data.transforms import Preprocess

    config = dict(
        found.config,
        derived=dict(
            found.config.get("derived", {}),
            in_chans=found.channels,
            image_size=list(size) if size else None,
            mean=list(mean),
            std=list(std),
        ),
    )
    return LoadedRun(
        found.model,
        config,
        found.path,
        found.weights_id,
        found.spec,
        Preprocess(size, mean, std),
        found.train_dataset,
    )


def _from_checkpoint(
    name: str, path: Path, prefix: str, key: Optional[str], backbone_kwargs: dict[str, Any]
) -> _Found:
    """The backbone of a weights file: a run's checkpoint (with its settings) or another one."""
    from .factory import backbone_from_weights, create_backbone, split_backbone
    from .layouts import import_weights
    from .weights import first_conv_channels, load_checkpoint, read_state_dict

    if not path.is_file():
        what = (
            "is a folder (pass the weights file in it, or the folder as RUN_DIR)"
            if path.is_dir()
            else "does not exist"
        )
        raise FileNotFoundError(f"checkpoint {str(path)!r} {what}")
    obj = read_state_dict(path) if path.suffix == ".safetensors" else load_checkpoint(path)
    run_config: dict[str, Any] = obj["config"] if is_run_checkpoint(obj) else {}
    if prefix or key:
        state = read_state_dict(obj if isinstance(obj, dict) else path, prefix, key)
    else:
        state = backbone_weights(obj) if isinstance(obj, dict) else read_state_dict(path)
    derived = run_config.get("derived", {})
    backbone_kwargs = {**derived.get("backbone_kwargs", {}), **backbone_kwargs}
    channels = int(derived.get("in_chans", 0))
    if not channels:  # the weights say it: the first convolution's input channels
        imported = import_weights(state, split_backbone(name)[0])
        probe = create_backbone(name, in_chans=3, **{**imported.options, **backbone_kwargs})
        channels = first_conv_channels(probe, imported.state) or 3
    model, imported = backbone_from_weights(
        name, state, in_chans=channels, source=path, **backbone_kwargs
    )
    weights_id = f"{name}:{file_id(path)}"
    if prefix or key:  # two parts of one file are two backbones
        weights_id += f":{key or ''}:{prefix}"
    defaults = {k: derived[k] for k in ("image_size", "mean", "std") if k in derived}
    config = dict(run_config) if run_config else {"backbone": name, "checkpoint": str(path)}
    if imported.layout is not None:
        config["checkpoint_layout"] = imported.describe()
    if not run_config:  # a run's own config says its training size (derived image_size)
        config["trained_image_size"] = defaults.get("image_size")
    train_dataset = derived.get("dataset_id") or UNKNOWN
    spec = derived.get("dataset_spec") or run_config.get("dataset") or ""
    return _Found(model, channels, path, weights_id, defaults, config, train_dataset, spec)


def _from_pretrained(name: str, channels: int, backbone_kwargs: dict[str, Any]) -> _Found:
    """timm's published weights of ``name``, with the input settings timm publishes with them."""
    from .factory import create_backbone
    from .weights import state_digest

    model = create_backbone(name, in_chans=channels, pretrained=True, **backbone_kwargs)
    weights_id = f"{name}:pretrained:{state_digest(model.state_dict())}"
    defaults = _timm_defaults(model)
    config = {
        "backbone": name,
        "pretrained": True,
        "trained_image_size": defaults.get("image_size"),
    }
    return _Found(model, channels, None, weights_id, defaults, config, f"timm:{name}", "")


def _preprocessing(found: _Found, image_size, mean, std, image_shape) -> tuple:
    """``(size, mean, std)``: as given, else as the weights say, else as training would choose
    for ``image_shape`` (see the module docstring)."""
    from ..data.transforms import choose_preset, eval_preprocess

    channels, defaults = found.channels, found.defaults
    if image_size is not None:
        size = tuple(int(v) for v in image_size)
    elif defaults.get("image_size"):
        size = tuple(int(s) for s in defaults["image_size"])
    else:
        size = tuple(int(s) for s in image_shape[1:]) if image_shape is not None else None
    mean, std = _stats("mean", mean, channels), _stats("std", std, channels)
    if mean is None or std is None:
        if defaults.get("mean"):
            fallback = (tuple(defaults["mean"]), tuple(defaults["std"]))
        elif image_shape is not None:
            shape = (channels, *(size or image_shape[1:]))
            like = eval_preprocess(
                choose_preset(shape), shape[1:], channels
            )  # as a training run would
            fallback = (like.mean, like.std)
        else:
            raise _checks.SettingError(
                "mean",
                "pass {setting} and --std: the weights do not say how their images were normalised",
            )
        mean = mean or _stats("mean", fallback[0], channels)
        std = std or _stats("std", fallback[1], channels)
    return size, mean, std
