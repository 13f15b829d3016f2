"""``fewshot-clce train``: fine-tune a backbone on a dataset's base classes (options from TrainConfig)."""
from __future__ import annotations

import argparse
import os
import sys


def add_parser(sub) -> None:
    from ..training.config import TrainConfig
    from ._from_config import add_config_arguments

    p = sub.add_parser(
        "train", help="fine-tune a backbone on the base classes of a dataset",
        description="Fine-tune a backbone on the base classes of a dataset with a registered loss, "
                    "scoring it on fixed validation episodes after every epoch. Under torchrun "
                    "(torchrun --nproc_per_node N -m fewshot_clce train ...) it trains with DDP.")
    add_config_arguments(p, TrainConfig)
    p.add_argument("--hp", nargs="+", default=None, metavar="[LOSS.]NAME=VALUE", type=_hp,
                   help="a value of any hyper-parameter the loss declares, e.g. --hp "
                        "detach_weights=false margin=0.3 (or in brackets: "
                        "--loss 'arcface[margin=0.3]')")
    p.set_defaults(func=run)


def _hp(text: str):
    import argparse

    from ..losses.plugins import parse_hp

    try:
        loss, name, values = parse_hp(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    if len(values) != 1:
        raise argparse.ArgumentTypeError(f"--hp {text!r}: train takes one value per "
                                         "hyper-parameter (the benchmark sweeps several)")
    return loss, name, values[0]


def loss_options(args: argparse.Namespace) -> dict:
    """The ``--hp`` values, checked to be about the loss being trained.

    Raises:
        ValueError: an ``--hp`` naming another loss.
    """
    from ..losses.plugins import load_loss_class, loss_name, split_reference

    options = {}
    for loss, name, value in args.hp or []:
        if loss is not None:
            ref = split_reference(args.loss)[0]
            if loss not in (ref, loss_name(load_loss_class(ref))):
                raise ValueError(f"--hp {loss}.{name}={value}: the loss trained is {args.loss!r}, "
                                 f"not {loss!r}")
        options[name] = value
    return options


def run(args: argparse.Namespace) -> int:
    from ..training.run_folder import CheckpointWriteError
    from ..training.config import TrainConfig
    from ..training.trainer import train

    from ._from_config import given_values

    config = TrainConfig(**given_values(args, TrainConfig), loss_options=loss_options(args))
    try:
        run_dir = train(config)
    except CheckpointWriteError as e:  # an OSError: not among the CLI's one-line user errors
        print(f"fewshot-clce train: error: {e.strerror}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"fewshot-clce train: interrupted; finished epochs are in {config.out}; add --resume to the "
              f"same command to continue", file=sys.stderr)
        return 130
    if int(os.environ.get("RANK", "0")) == 0:  # under torchrun, one line for the whole job
        print(run_dir)
    return 0
