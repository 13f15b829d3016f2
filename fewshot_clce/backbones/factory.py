"""``create_backbone``: any backbone by name through ``timm.create_model(..., num_classes=0)``, and
``embedding_dim``, the feature width measured with one dummy forward pass.

``conv4`` and ``resnet12`` are built by their timm entry points without importing timm, a slow
import in every process that trains or evaluates (each ``--jobs`` or submitit training among them;
docs/performance.md); the result is the model ``timm.create_model`` gives
(``tests/backbones/test_factory.py``).
"""

from __future__ import annotations

import difflib
import inspect
import re
from pathlib import Path
from typing import Any, Optional

import torch
from torch import nn

from ..utils.registry import UnknownNameError, parse_spec
from .layouts import ImportedWeights
from .nets import ENTRY_POINTS, FEWSHOT_BACKBONES, WeightsUnavailableError
from .weights import load_weights


def list_backbones() -> list[str]:
    """The few-shot backbones of this toolkit (any ``timm.list_models()`` name works too)."""
    return list(FEWSHOT_BACKBONES)


def split_backbone(name: str) -> tuple[str, dict[str, Any]]:
    """``"conv4[global_pool=flatten]"`` -> ``("conv4", {"global_pool": "flatten"})``.

    Raises:
        ValueError: for a malformed option list.
    """
    return parse_spec(name, "backbone", "conv4[global_pool=flatten]")


def backbone_options(name: str) -> list[str]:
    """The options ``conv4`` / ``resnet12`` take in ``name[key=value]`` (the constructor's arguments
    that the toolkit does not set itself)."""
    from .nets import Conv4, ResNet12

    cls = {"conv4": Conv4, "resnet12": ResNet12}[name]
    return [p for p in inspect.signature(cls).parameters if p not in ("in_chans", "num_classes")]


def check_backbone_name(name: str) -> None:
    """Raise UnknownNameError, listing this toolkit's backbones and close timm names, for an
    unknown one (``name`` may carry options: ``resnet12[channels=64-128-256-512]``)."""
    name, _ = split_backbone(name)
    if name in ENTRY_POINTS:
        return
    import timm

    if timm.is_model(timm.models.get_arch_name(name)):
        return
    close = difflib.get_close_matches(name, timm.list_models(), n=4)
    hint = f"; close timm names: {', '.join(close)}" if close else ""
    raise UnknownNameError(
        f"unknown backbone {name!r}; valid names: {', '.join(FEWSHOT_BACKBONES)}, "
        f"or any timm model (timm.list_models()){hint}"
    )


def create_backbone(
    name: str,
    in_chans: int = 3,
    pretrained: bool = False,
    checkpoint: Optional[str | Path] = None,
    **kwargs,
) -> nn.Module:
    """A backbone mapping ``[B, in_chans, H, W]`` images to ``[B, D]`` pooled features.

    Args:
        name: ``conv4``, ``resnet12`` or any timm model name (``resnet18``, ``resnet18.a1_in1k``),
            with options if any: ``conv4[global_pool=flatten]`` (the options of ``kwargs`` win).
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
    spec = name
    name, spec_options = split_backbone(name)
    kwargs = {**spec_options, **kwargs}
    if checkpoint is not None:
        from .weights import read_state_dict

        state = read_state_dict(checkpoint)
        model, _ = backbone_from_weights(spec, state, in_chans, source=checkpoint, **kwargs)
        return model
    try:
        model = _instantiate(name, in_chans, pretrained, kwargs)
    except WeightsUnavailableError:
        raise
    except TypeError as e:
        if "unexpected keyword argument" not in str(e) or not kwargs:
            raise
        bad = re.search(r"unexpected keyword argument '(\w+)'", str(e))
        if bad and bad.group(1) in spec_options:
            options = backbone_options(name) if name in ENTRY_POINTS else []
            takes = f"; it takes {', '.join(options)}" if options else ""
            raise ValueError(
                f"backbone {name!r} has no option {bad.group(1)!r} (in {spec!r}){takes}"
            ) from None
        given = ", ".join(f"--{k.replace('_', '-')} {v!r}" for k, v in kwargs.items())
        raise ValueError(
            f"backbone {name!r} does not take {given}; drop it, or pick a backbone that does "
            "(resnet12 takes --drop-block-rate)"
        ) from None
    except (OSError, RuntimeError) as e:
        if not pretrained:
            raise
        # the hub's own text is several sentences; its class name says enough (LocalEntryNotFoundError)
        raise WeightsUnavailableError(
            f"timm's pretrained weights for {name!r} are not cached here and could not be downloaded (no "
            f"network here? {type(e).__name__}); download them once on a connected machine (they are cached "
            f"under ~/.cache/huggingface, or $HF_HOME), or pass --checkpoint FILE with local weights, or drop "
            f"--pretrained"
        ) from None
    return model


def _instantiate(name: str, in_chans: int, pretrained: bool, kwargs: dict) -> nn.Module:
    """The model ``name`` without a classifier, made as ``timm.create_model`` makes it; the
    errors of the model's constructor pass through (:func:`create_backbone` words them).

    Raises:
        WeightsUnavailableError: when ``pretrained`` and timm publishes no weights for ``name``.
    """
    if name in ENTRY_POINTS:
        # what timm.create_model does with an entry point: options set to None dropped, the entry
        # point called, the options kept on the model
        options = {
            k: v
            for k, v in dict(num_classes=0, in_chans=in_chans, **kwargs).items()
            if v is not None
        }
        model = ENTRY_POINTS[name](pretrained=pretrained, **options)
        model._model_args = options
        return model
    import timm

    if (
        pretrained
        and not timm.models.is_model_pretrained(timm.models.get_arch_name(name))
        and timm.models.get_arch_name(name) not in FEWSHOT_BACKBONES
    ):
        raise WeightsUnavailableError(
            f"timm has no pretrained weights for {name!r}; drop --pretrained "
            f"or pick a model from timm.list_pretrained()"
        )
    return timm.create_model(
        name, pretrained=pretrained, num_classes=0, in_chans=in_chans, **kwargs
    )


def backbone_from_weights(
    name: str,
    state: dict[str, torch.Tensor],
    in_chans: int = 3,
    source: Optional[str | Path] = None,
    **kwargs,
) -> tuple[nn.Module, ImportedWeights]:
    """A backbone built with the options its weights need, the weights loaded strictly.

    Weights saved by another codebase's Conv-4 or ResNet-12 (:mod:`~fewshot_clce.backbones.layouts`)
    are renamed into this toolkit's names, and the options that make them load exactly (widths,
    convolution biases, the ResNet-12 design, the pooling of the original) are set; options given
    in ``name`` or ``kwargs`` win over those.

    Args:
        name: as for :func:`create_backbone` (options allowed).
        state: the weights (:func:`~fewshot_clce.backbones.weights.read_state_dict`).
        source: the file they came from, for messages.

    Returns:
        The model (train mode, on the CPU) and what was read: ``.describe()`` says which layout.

    Raises:
        ValueError: for weights that do not fit, naming missing and unexpected keys and the
            closest known layout.
    """
    from .layouts import import_weights

    base, spec_options = split_backbone(name)
    imported = import_weights(state, base)
    options = {**imported.options, **spec_options, **kwargs}
    imported.options = {k: options[k] for k in imported.options}
    model = create_backbone(base, in_chans=in_chans, **options)
    load_weights(model, imported.state, name, source=source)
    return model, imported


@torch.no_grad()
def embedding_dim(model: nn.Module, input_shape: tuple[int, int, int]) -> int:
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


def pretrained_digest(name: str) -> str:
    """The digest (:func:`~fewshot_clce.backbones.weights.state_digest`) of timm's published weights for
    ``name`` as a 3-channel backbone without classifier: one number for "these starting weights",
    whatever channel count a training then adapts them to.

    Raises:
        WeightsUnavailableError: when the weights are neither cached nor downloadable.
    """
    from .weights import state_digest

    return state_digest(create_backbone(name, in_chans=3, pretrained=True).state_dict())
