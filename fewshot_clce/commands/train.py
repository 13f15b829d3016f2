"""``fewshot-clce train``: fine-tune a backbone on a dataset's base classes (options from TrainConfig)."""

from __future__ import annotations

import argparse
import os
import sys


def add_parser(sub) -> None:
    from ..training.config import TrainConfig
    from ._from_config import add_config_arguments

    p = sub.add_parser(
        "train",
        help="fine-tune a backbone on the base classes of a dataset",
        description="Fine-tune a backbone on the base classes of a dataset with a registered loss, "
        "scoring it on fixed validation episodes after every epoch. Under torchrun "
        "(torchrun --nproc_per_node N -m fewshot_clce train ...) it trains with DDP.",
    )
    add_config_arguments(p, TrainConfig)
    p.add_argument(
        "--hp",
        nargs="+",
        default=None,
        metavar="[LOSS.]NAME=VALUE",
        type=_hp,
        help="a value of any hyper-parameter the loss declares, e.g. --hp "
        "detach_weights=false margin=0.3 (or in brackets: "
        "--loss 'arcface[margin=0.3]')",
    )
    p.set_defaults(func=run, flag_of=_flag)


def _flag(setting: str) -> str:
    """The ``train`` flag of a TrainConfig field, for one-line errors naming it."""
    import dataclasses

    from ..training.config import TrainConfig
    from ._from_config import flag_of

    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    return flag_of(fields[setting]) if setting in fields else "--" + setting.replace("_", "-")


def summary_line(run_dir) -> str:
    """One line on a finished run: its best epoch, that epoch's val accuracy, the checkpoint path.

    Read from the run folder's ``metrics.csv`` (the epoch whose ``best`` is set last is the one
    ``checkpoint_best.pt`` holds).
    """
    import csv
    from pathlib import Path

    from ..training import run_folder as _rundir

    with open(Path(run_dir) / _rundir.METRICS, newline="") as f:
        rows = [r for r in csv.DictReader(f) if r.get("val_acc") not in (None, "")]
    best = [r for r in rows if r.get("best") == "True"] or rows
    row = best[-1]
    last_epoch = max(int(float(r["epoch"])) for r in rows)
    return (
        f"best epoch {int(float(row['epoch']))} of {last_epoch}: val accuracy "
        f"{100 * float(row['val_acc']):.2f}%; checkpoint {Path(run_dir) / _rundir.BEST}"
    )


def _hp(text: str):
    import argparse

    from ..losses.plugins import parse_hp

    try:
        loss, name, values = parse_hp(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    if len(values) != 1:
        raise argparse.ArgumentTypeError(
            f"--hp {text!r}: train takes one value per "
            "hyper-parameter (the benchmark sweeps several)"
        )
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
                raise ValueError(
                    f"--hp {loss}.{name}={value}: the loss trained is {args.loss!r}, not {loss!r}"
                )
        options[name] = value
    return options


def run(args: argparse.Namespace) -> int:
    from ..training.config import TrainConfig
    from ..training.run_folder import CheckpointWriteError
    from ..training.trainer import train
    from ._from_config import given_values

    given = given_values(args, TrainConfig)
    if given.get("progress") is None:  # bars only where someone watches; --progress forces them
        given["progress"] = sys.stderr.isatty()
    config = TrainConfig(**given, loss_options=loss_options(args))
    try:
        run_dir = train(config)
    except CheckpointWriteError as e:  # an OSError: not among the CLI's one-line user errors
        print(f"fewshot-clce train: error: {e.strerror}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(
            f"fewshot-clce train: interrupted; finished epochs are in {config.out}; add --resume to the "
            f"same command to continue",
            file=sys.stderr,
        )
        return 130
    if int(os.environ.get("RANK", "0")) == 0:  # under torchrun, one line for the whole job
        print(summary_line(run_dir))
    return 0
