"""Option types and option groups that several sub-commands share: numbers as argparse types, the
dataset folder, a backbone given without a run folder, and the ``--out``/``--force`` pair."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Optional

BACKBONE_HELP = (
    "conv4, resnet12 or any timm model name, with options as NAME[key=value,...]: "
    "conv4[global_pool=flatten] is the literature's 1,600-d Conv-4 (at 84 px), "
    "resnet12 its 640-d ResNet-12; resnet12[channels=64-128-256-512] another width"
)

# Settings (argparse dests) that describe a backbone given with --backbone, not a run folder's.
BACKBONE_OPTIONS = (
    "checkpoint",
    "pretrained",
    "image_size",
    "mean",
    "std",
    "checkpoint_prefix",
    "checkpoint_key",
)


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def add_root_option(p, help: str = "folder holding downloaded datasets") -> None:
    """``--root`` (``--data-root`` as ``train`` spells it): the folder datasets are read from."""
    p.add_argument("--root", "--data-root", dest="root", default=None, help=help)


def add_run_dir_argument(p: argparse.ArgumentParser) -> None:
    """``RUN_DIR``, the run folder whose backbone is used: optional, as ``--backbone`` replaces it."""
    p.add_argument(
        "run_dir",
        metavar="RUN_DIR",
        nargs="?",
        default=None,
        help="folder written by `fewshot-clce train` (or none, with --backbone)",
    )


def add_backbone_options(
    p: argparse.ArgumentParser,
    checkpoint_help: str,
    image_size_help: str,
    channel_help: str = "",
    pretrained_on_help: Optional[str] = None,
) -> None:
    """The group "a backbone without a run folder": ``--backbone``, ``--checkpoint`` and where it
    keeps the weights, ``--pretrained``, and the preprocessing (``--image-size``; ``--mean`` and
    ``--std``, whose help ends with ``channel_help``).

    With ``pretrained_on_help``, ``--pretrained-on`` goes on ``p`` itself (a run folder's weights
    have a pretraining too), after the checkpoint options in the usage line.
    """
    ext = p.add_argument_group("a backbone without a run folder")
    ext.add_argument("--backbone", default=None, help=BACKBONE_HELP)
    ext.add_argument("--checkpoint", default=None, metavar="FILE", help=checkpoint_help)
    ext.add_argument(
        "--checkpoint-prefix",
        default="",
        metavar="PREFIX",
        help="keep the weights under this key prefix, without it (Lightning: "
        "model.backbone.; a whole model: backbone.); DDP's module. is always "
        "removed",
    )
    ext.add_argument(
        "--checkpoint-key",
        default=None,
        metavar="KEY",
        help="the checkpoint entry holding the weights (state_dict, model, params, "
        "ema.model; default: the first of state_dict, model, params, embedding)",
    )
    if pretrained_on_help:
        p.add_argument("--pretrained-on", default=None, metavar="DATA", help=pretrained_on_help)
    ext.add_argument(
        "--pretrained", action="store_true", help="timm's published weights (cached, or online)"
    )
    ext.add_argument(
        "--image-size", type=positive_int, default=None, metavar="S", help=image_size_help
    )
    for flag, metavar, what in (("--mean", "M", "mean"), ("--std", "S", "std")):
        ext.add_argument(
            flag,
            nargs="+",
            type=number,
            default=None,
            metavar=metavar,
            help=f"normalisation {what}{channel_help}",
        )


def check_backbone_source(args: argparse.Namespace, nothing: str) -> None:
    """A run folder or ``--backbone``, not both, not neither (``nothing`` opens that message), and
    no option of a ``--backbone`` given with a run folder.

    Raises:
        ValueError: naming the option to drop or to add.
    """
    if args.run_dir and args.backbone:
        raise ValueError(f"pass RUN_DIR {args.run_dir!r} or --backbone {args.backbone!r}, not both")
    if not args.run_dir and not args.backbone:
        raise ValueError(
            f"{nothing}: pass a run folder (RUN_DIR) or --backbone NAME with --checkpoint FILE or "
            "--pretrained"
        )
    typed = [k for k in BACKBONE_OPTIONS if getattr(args, k) not in (None, False, "")]
    if args.run_dir and typed:
        flag = "--" + typed[0].replace("_", "-")
        raise ValueError(
            f"{flag} describes a backbone given with --backbone; a run folder brings its own "
            f"weights and preprocessing: drop {flag}"
        )


def check_out(out: Path, force: bool) -> None:
    """``--out`` can be written and, without ``--force``, does not exist yet.

    Raises:
        FileExistsError, OSError: naming the file.
    """
    from ..utils import files as _io

    _io.check_output_file(out, "--out")
    if out.exists() and not force:
        raise FileExistsError(
            f"{str(out)!r} exists; pass --force to replace it or --out to write elsewhere"
        )
