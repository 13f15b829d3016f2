"""Weights files, the one place that reads them: a checkpoint loaded without running code from it
(:func:`load_checkpoint`), the state dict in it (:func:`read_state_dict`), a training run's
backbone (:func:`backbone_weights`), loading weights into a backbone strictly, naming what does not
fit, and digests that identify weights and files.

A checkpoint is read with ``torch.load(weights_only=True)``; when torch refuses one, the globals
the file asks for are read off its pickle without running it, to name them in the error
(:mod:`fewshot_clce.backbones.pickle_globals`).
"""

from __future__ import annotations

import hashlib
import os
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional, Union

import torch
from torch import nn

from .pickle_globals import globals_named_in, plain_reason, refused_globals

# Keys under which training scripts wrap their weights: most, RFS ("model"), FEAT ("params"),
# MetaOptNet ("embedding": its backbone's own state dict).
CONTAINER_KEYS = ("state_dict", "model", "params", "embedding")


def read_state_dict(
    source: str | Path | dict, prefix: str = "", key: Optional[str] = None
) -> dict[str, torch.Tensor]:
    """Weights from a file (safetensors or a ``torch.save``d dict) or from a loaded dict.

    Loading never runs code from the file (``torch.load(weights_only=True)``). A dict that wraps
    its weights under one of :data:`CONTAINER_KEYS` (the usual ways training scripts save them) is
    unwrapped, and ``module.`` prefixes (DDP) are removed.

    Args:
        prefix: keep only the keys that start with it, without it (``"backbone."`` picks the
            backbone out of a whole model's state dict; ``"model.backbone."`` out of Lightning's).
        key: the entry of the checkpoint dict that holds the weights (dots go deeper:
            ``"state_dict"``, ``"ema.model"``); default: the first of :data:`CONTAINER_KEYS` there.

    Raises:
        FileNotFoundError: if the file does not exist.
        ValueError: if it holds no tensors (under ``key`` and ``prefix``) or something else than
            weights.
    """
    if isinstance(source, dict):
        return _tensors(_entry(source, key, "the given state dict"), "the given state dict", prefix)
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
    return _tensors(_entry(obj, key, repr(str(path))), repr(str(path)), prefix)


# Where the backbone's weights sit in a training run's checkpoint "model" state dict
# (TrainingModel.backbone).
BACKBONE_PREFIX = "backbone."


def is_run_checkpoint(obj: Any) -> bool:
    """Whether a loaded checkpoint was written by a training run (``fewshot-clce train``)."""
    return (
        isinstance(obj, dict)
        and isinstance(obj.get("model"), dict)
        and isinstance(obj.get("config"), dict)
        and any(k.startswith(BACKBONE_PREFIX) for k in obj["model"])
    )


def backbone_weights(
    source, prefix: str = "", key: Optional[str] = None
) -> dict[str, torch.Tensor]:
    """Backbone weights from a run's checkpoint, or from any weights file or state dict.

    Args:
        source: a path (``.pt`` / ``.pth`` / ``.safetensors``) or a loaded dict.
        prefix, key: where the weights sit in another tool's checkpoint (``--checkpoint-prefix``,
            ``--checkpoint-key``: :func:`read_state_dict`); either one given, a run's checkpoint
            is read the same way.

    Raises:
        FileNotFoundError, ValueError: see :func:`read_state_dict`.
    """
    obj = source
    if not isinstance(source, dict):
        path = Path(source).expanduser()
        if path.suffix != ".safetensors" and path.is_file():
            obj = load_checkpoint(path)
    if prefix or key:
        return read_state_dict(obj if isinstance(obj, dict) else source, prefix, key)
    if is_run_checkpoint(obj):
        return read_state_dict(obj["model"], prefix=BACKBONE_PREFIX)
    return read_state_dict(obj if isinstance(obj, dict) else source)


def _entry(obj, key: Optional[str], where: str):
    """``obj[key]`` (dots go deeper), naming the entries there when it has no such one."""
    if not key:
        return obj
    for part in key.split("."):
        if not isinstance(obj, dict) or part not in obj:
            there = (
                ", ".join(repr(k) for k in list(obj)[:8]) if isinstance(obj, dict) else "no entries"
            )
            raise ValueError(f"{where} has no entry {key!r} (--checkpoint-key); it has {there}")
        obj = obj[part]
    return obj


def _tensors(obj, where: str, prefix: str) -> dict[str, torch.Tensor]:
    """The tensors of a state dict (unwrapped from a checkpoint dict), DDP prefixes removed."""
    for key in CONTAINER_KEYS:
        if (
            isinstance(obj, dict)
            and isinstance(obj.get(key), dict)
            and not torch.is_tensor(obj.get(key))
        ):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not all(torch.is_tensor(v) for v in obj.values()):
        raise ValueError(f"{where} holds no state dict of tensors")
    obj = {k[len("module.") :] if k.startswith("module.") else k: v for k, v in obj.items()}
    if prefix:
        obj = {k[len(prefix) :]: v for k, v in obj.items() if k.startswith(prefix)}
    if not obj:
        under = f" under {prefix!r} (--checkpoint-prefix)" if prefix else ""
        raise ValueError(f"{where} holds no state dict of tensors{under}")
    return obj


def load_weights(
    model: nn.Module, path: str | Path | dict, name: str = "", source: str | Path | None = None
) -> None:
    """Load local weights (a file or a loaded checkpoint dict) into ``model`` strictly, with a clear
    error when they do not fit.

    Classifier weights of a timm checkpoint are dropped (the backbone has ``num_classes=0``);
    missing batch-norm counters are tolerated.

    Args:
        name: the backbone's name, for messages.
        source: the file the weights came from, for messages (when ``path`` is a loaded dict).

    Raises:
        ValueError: naming missing keys, unexpected keys and shape mismatches.
    """
    state = read_state_dict(path)
    own = model.state_dict()
    head = (getattr(model, "pretrained_cfg", None) or {}).get("classifier")
    heads = (head,) if isinstance(head, str) else tuple(head or ())
    state = {
        k: v for k, v in state.items() if k in own or not any(k.startswith(h + ".") for h in heads)
    }
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in own]
    mismatched = [
        f"{k} is {list(state[k].shape)} in the checkpoint but {list(own[k].shape)} in the model"
        for k in state
        if k in own and state[k].shape != own[k].shape
    ]
    if missing or unexpected or mismatched:
        problems = []
        if missing:
            problems.append(
                f"{len(missing)} missing keys ({', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''})"
            )
        if unexpected:
            problems.append(
                f"{len(unexpected)} unexpected keys ({', '.join(unexpected[:3])}"
                f"{', ...' if len(unexpected) > 3 else ''})"
            )
        if mismatched:
            problems.append(
                f"shape mismatch: {mismatched[0]}"
                + (f" (and {len(mismatched) - 1} more)" if len(mismatched) > 1 else "")
            )
        if source is None and isinstance(path, dict):
            where = "the given weights"
        else:
            where = repr(str(source if source is not None else path))
        from .layouts import closest_hint

        raise ValueError(
            f"checkpoint {where} does not fit backbone {name or type(model).__name__!r}: "
            f"{'; '.join(problems)}; was it saved from another backbone or with other "
            f"channels? use the --backbone it was trained with, or "
            f"--checkpoint-prefix / --checkpoint-key to pick the backbone's weights "
            f"out of the file{closest_hint(list(state)) if unexpected else ''}"
        )
    model.load_state_dict(state, strict=False)


def state_digest(state: dict[str, torch.Tensor]) -> str:
    """First 16 hex digits of a sha256 over a state dict: every key, dtype, shape and value, in key order.

    Identifies weights that exist only in memory (timm's pretrained ones); a weights file is
    identified by the digest of its bytes instead.
    """
    h = hashlib.sha256()
    for key in sorted(state):
        t = state[key].detach().cpu().contiguous()
        h.update(f"{key}\0{t.dtype}\0{tuple(t.shape)}\0".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()[:16]


def file_id(path: Path) -> str:
    """First 16 hex digits of the sha256 of a file (identifies a weights file by its bytes)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def first_conv_channels(model: nn.Module, state: dict[str, torch.Tensor]) -> Optional[int]:
    """Input channels of the first convolution in ``state``, found by ``model``'s ``pretrained_cfg``
    (``first_conv``); None when the model does not name it or the weights lack it."""
    first = (getattr(model, "pretrained_cfg", None) or {}).get("first_conv")
    weight = state.get(f"{first}.weight") if isinstance(first, str) else None
    return int(weight.shape[1]) if weight is not None and weight.ndim == 4 else None


def load_checkpoint(
    path: str | os.PathLike, map_location: Union[str, Callable, None] = "cpu"
) -> Any:
    """``torch.load`` restricted to tensors and plain containers (``weights_only=True``).

    Raises:
        FileNotFoundError: naming the path.
        ValueError: when the file holds anything but tensors, numbers, strings and containers,
            or is not a checkpoint at all; the message names the file.
    """
    import argparse
    import warnings

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist")
    try:
        with warnings.catch_warnings():
            # torch warns about pickle protocols it may not read; the error below says what matters
            warnings.filterwarnings("ignore", message=".*pickle protocol", category=UserWarning)
            # RFS and other scripts save their argparse options beside the weights: a Namespace
            # is an attribute bag (restored by setting attributes, whose values stay
            # restricted), never code
            with torch.serialization.safe_globals([argparse.Namespace]):
                return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        # torch's text advises loading the file unsafely (weights_only=False, allowlisting the
        # global), which would run its code; its wording changes between versions. None of it is
        # passed on: the message is built from what the file itself asks for.
        refused = refused_globals(path)
        if refused is None:  # no pickle could be read from it: an image, a text file, ...
            raise ValueError(
                f"cannot read checkpoint {str(path)!r}: it is not a PyTorch checkpoint"
            ) from None
        refused = refused or globals_named_in(str(e))
        if refused:
            what = (
                f"it asks for the global{'s' if len(refused) > 1 else ''} {', '.join(refused[:3])}"
                f"{' and more' if len(refused) > 3 else ''}"
            )
        else:
            reason = plain_reason(str(e))
            what = "torch's safe loader cannot read it" + (f" ({reason})" if reason else "")
        raise ValueError(
            f"refusing to load checkpoint {str(path)!r}: {what}; a checkpoint may only hold tensors, "
            "numbers, strings and plain containers, because unpickling anything else can run code "
            "(nothing from the file was run)"
        ) from None
    except (RuntimeError, EOFError, KeyError, IndexError) as e:
        detail = (
            str(e).strip().splitlines()[0] if str(e).strip() else "the file is empty or truncated"
        )
        raise ValueError(
            f"cannot read checkpoint {str(path)!r}: it is not a complete PyTorch checkpoint "
            f"({type(e).__name__}: {detail})"
        ) from None
