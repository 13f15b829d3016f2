"""The ``fewshot-clce`` command line: one sub-command per module in ``fewshot_clce.commands``."""

from __future__ import annotations

import argparse
import importlib
import os
import pickle
import sys
from typing import Optional

from ._version import __version__
from .utils.checks import SettingError
from .utils.registry import UnknownNameError

# Each module defines ``add_parser(subparsers)``, which sets ``func`` on its parser.
COMMANDS = [
    "datasets",
    "episodes",
    "show",
    "train",
    "evaluate",
    "compare",
    "predict",
    "benchmark",
    "report",
]

# Errors that come from what the user asked for or from the machine (a full disk, a read-only
# folder: every OSError): printed as one line, no traceback.
# pickle.UnpicklingError covers safe_pickle.UnsafePickleError: a data file that was refused.
USER_ERRORS = (ValueError, UnknownNameError, OSError, pickle.UnpicklingError)


def default_flag(setting: str) -> str:
    """A setting's flag where the sub-command does not say otherwise: ``val_episodes`` -> ``--val-episodes``."""
    return "--lambda" if setting == "lam" else "--" + setting.replace("_", "-")


def error_text(e: BaseException, flag_of=default_flag) -> str:
    """The one-line message of a user error: an ``OSError(errno, message)`` without its ``[Errno N]`` prefix,
    a refused setting named by its flag (``flag_of``: the sub-command's ``flag_of``, if it sets one)."""
    if isinstance(e, SettingError):
        text = e.message_for(flag_of)
    elif isinstance(e, OSError) and e.strerror and e.filename is None and len(e.args) == 2:
        text = e.strerror
    else:
        text = str(e)
    # a name read from the user's files (a class folder, a dataset) may hold a line break
    return text.replace("\r", "\\r").replace("\n", "\\n")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fewshot-clce", description="Few-shot episodic evaluation of CLCE and other losses."
    )
    parser.add_argument("--version", action="version", version=f"fewshot-clce {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"fewshot_clce.commands.{name}").add_parser(sub)
    return parser


def main(argv: Optional[list[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (
        BrokenPipeError
    ):  # output piped into `head` and the like: not an error (an OSError: caught first)
        sys.stderr.close()
        return 0
    except USER_ERRORS as e:
        if args.debug or os.environ.get("FEWSHOT_CLCE_DEBUG"):
            raise
        print(
            f"fewshot-clce {args.command}: error: {error_text(e, getattr(args, 'flag_of', default_flag))}",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        print(
            f"fewshot-clce {args.command}: interrupted; finished work is kept, "
            "re-run the same command to resume",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())
