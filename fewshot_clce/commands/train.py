"""``fewshot-clce train``: fine-tune a backbone on a dataset's base classes (options from TrainConfig)."""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import typing


def _arg_type(hint) -> type:
    """``int`` for ``int`` and ``Optional[int]``, and so on."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[0] if args else hint


def add_parser(sub) -> None:
    from ..training.config import TrainConfig

    p = sub.add_parser(
        "train", help="fine-tune a backbone on the base classes of a dataset",
        description="Fine-tune a backbone on the base classes of a dataset with a registered loss, "
                    "scoring it on fixed validation episodes after every epoch. Under torchrun "
                    "(torchrun --nproc_per_node N -m fewshot_clce train ...) it trains with DDP.")
    hints = typing.get_type_hints(TrainConfig)
    for f in dataclasses.fields(TrainConfig):
        meta = dict(f.metadata)
        flags = [meta.pop("flag", "--" + f.name.replace("_", "-")), *meta.pop("aliases", ())]
        help_text = meta.pop("help")
        kwargs = {"dest": f.name, "help": meta.pop("cli_help", help_text)}
        if hints[f.name] is bool:
            kwargs["action"] = meta.pop("action", "store_true")
        else:
            kwargs.update(type=_arg_type(hints[f.name]), **meta)
            if "choices" not in meta:
                kwargs["metavar"] = f.name.upper()
            if not meta.get("required"):
                kwargs["default"] = f.default
                kwargs["help"] += f" (default: {f.default})" if f.default is not None else ""
        p.add_argument(*flags, **kwargs)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..training.run_folder import CheckpointWriteError
    from ..training.config import TrainConfig
    from ..training.trainer import train

    names = {f.name for f in dataclasses.fields(TrainConfig)}
    config = TrainConfig(**{k: v for k, v in vars(args).items() if k in names})
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
