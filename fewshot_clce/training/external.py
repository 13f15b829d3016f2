"""A backbone from outside a run folder, ready to evaluate: a weights file or timm's pretrained weights.

:func:`load_backbone` returns the same :class:`~fewshot_clce.training.run_folder.LoadedRun` as
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
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

from ..utils import checks as _checks
from .run_folder import LoadedRun, backbone_weights, file_id, is_run_checkpoint

# The training dataset recorded for weights that do not say what they were trained on.
UNKNOWN = "unknown"


def _stats(name: str, values: Optional[Sequence[float]], channels: int) -> Optional[tuple]:
    """``values`` checked and broadcast to ``channels`` (one value serves every channel)."""
    if values is None:
        return None
    values = tuple(float(v) for v in values)
    if len(values) not in (1, channels):
        raise _checks.SettingError(name, "{setting} " + f"takes 1 or {channels} values for a {channels}-channel "
                                   f"backbone, got {len(values)}: {list(values)}")
    if not all(math.isfinite(v) for v in values) or (name == "std" and min(values) <= 0):
        what = "positive finite numbers" if name == "std" else "finite numbers"
        raise _checks.SettingError(name, "{setting} " + f"must be {what}, got {list(values)}")
    return values * channels if len(values) == 1 else values


def _timm_defaults(model) -> Dict[str, Any]:
    cfg = getattr(model, "pretrained_cfg", None) or {}
    out: Dict[str, Any] = {}
    if cfg.get("input_size"):
        out["image_size"] = list(cfg["input_size"][1:])
    if cfg.get("mean") and cfg.get("std"):
        out["mean"], out["std"] = list(cfg["mean"]), list(cfg["std"])
    return out


def load_backbone(name: str, checkpoint: Optional[str | Path] = None, pretrained: bool = False,
                  image_size: Optional[int | Sequence[int]] = None, mean: Optional[Sequence[float]] = None,
                  std: Optional[Sequence[float]] = None, image_shape: Optional[Sequence[int]] = None,
                  in_chans: Optional[int] = None, checkpoint_prefix: str = "",
                  checkpoint_key: Optional[str] = None, **backbone_kwargs) -> LoadedRun:
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
    from ..backbones.factory import (backbone_from_weights, check_backbone_name, create_backbone,
                                     split_backbone)
    from ..backbones.layouts import import_weights
    from ..backbones.weights import first_conv_channels, read_state_dict, state_digest
    from ..data.transforms import Preprocess, choose_preset, eval_preprocess
    from ..utils.safe_load import load_checkpoint

    if (checkpoint is None) == (not pretrained):
        raise _checks.SettingError("checkpoint", "an external backbone needs its weights: pass {setting} FILE or "
                                   "--pretrained (one of them)" if checkpoint is None else
                                   "{setting} and --pretrained both give the weights; pass one of them")
    if image_size is not None:
        image_size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
        for side in image_size:
            _checks.image_size("image_size", side)
    check_backbone_name(name)
    run_config: Dict[str, Any] = {}
    if checkpoint is not None:
        path = Path(checkpoint).expanduser()
        if not path.is_file():
            what = "is a folder (pass the weights file in it, or the folder as RUN_DIR)" if path.is_dir() \
                else "does not exist"
            raise FileNotFoundError(f"checkpoint {str(path)!r} {what}")
        obj = read_state_dict(path) if path.suffix == ".safetensors" else load_checkpoint(path)
        if is_run_checkpoint(obj):
            run_config = obj["config"]
        if checkpoint_prefix or checkpoint_key:
            state = read_state_dict(obj if isinstance(obj, dict) else path, checkpoint_prefix,
                                    checkpoint_key)
        else:
            state = backbone_weights(obj) if isinstance(obj, dict) else read_state_dict(path)
        derived = run_config.get("derived", {})
        backbone_kwargs = {**derived.get("backbone_kwargs", {}), **backbone_kwargs}
        channels = int(derived.get("in_chans", 0))
        if not channels:  # the weights say it: the first convolution's input channels
            imported = import_weights(state, split_backbone(name)[0])
            probe = create_backbone(name, in_chans=3, **{**imported.options, **backbone_kwargs})
            channels = first_conv_channels(probe, imported.state) or 3
        model, imported = backbone_from_weights(name, state, in_chans=channels, source=path,
                                                **backbone_kwargs)
        weights_id = f"{name}:{file_id(path)}"
        if checkpoint_prefix or checkpoint_key:  # two parts of one file are two backbones
            weights_id += f":{checkpoint_key or ''}:{checkpoint_prefix}"
        defaults = {k: derived[k] for k in ("image_size", "mean", "std") if k in derived}
        config = dict(run_config) if run_config else {"backbone": name, "checkpoint": str(path)}
        if imported.layout is not None:
            config["checkpoint_layout"] = imported.describe()
        if not run_config:  # a run's own config says its training size (derived image_size)
            config["trained_image_size"] = defaults.get("image_size")
        train_dataset = derived.get("dataset_id") or UNKNOWN
        spec = derived.get("dataset_spec") or run_config.get("dataset") or ""
    else:
        path = None
        channels = int(in_chans or 3)  # 3: what timm publishes
        model = create_backbone(name, in_chans=channels, pretrained=True, **backbone_kwargs)
        weights_id = f"{name}:pretrained:{state_digest(model.state_dict())}"
        defaults = _timm_defaults(model)
        config = {"backbone": name, "pretrained": True,
                  "trained_image_size": defaults.get("image_size")}
        train_dataset, spec = f"timm:{name}", ""
    model.eval()
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
            like = eval_preprocess(choose_preset(shape), shape[1:], channels)  # as a training run would
            fallback = (like.mean, like.std)
        else:
            raise _checks.SettingError("mean", "pass {setting} and --std: the weights do not say how their images "
                                       "were normalised")
        mean = mean or _stats("mean", fallback[0], channels)
        std = std or _stats("std", fallback[1], channels)
    config = dict(config, derived=dict(config.get("derived", {}), in_chans=channels,
                                       image_size=list(size) if size else None, mean=list(mean), std=list(std)))
    return LoadedRun(model, config, path, weights_id, spec, Preprocess(size, mean, std), train_dataset)
