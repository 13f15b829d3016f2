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
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..training.run_folder import CheckpointWriteError
    from ..training.config import TrainConfig
    from ..training.trainer import train

    from ._from_config import given_values

    config = TrainConfig(**given_values(args, TrainConfig))
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
