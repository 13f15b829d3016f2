"""Command-line options generated from a configuration dataclass (``TrainConfig``, ``BenchmarkConfig``).

Each field is one option. Its metadata says how: ``help`` (required), ``flag`` (else
``--field-name``), ``aliases``, ``choices``, ``action`` with ``cli_help`` for booleans
(``--no-tsne``), ``on_flag`` with ``on_help`` for a boolean that is also switched on by name
(``--progress`` / ``--no-progress``: None when neither is given), ``nargs``/``type``
overrides, ``api_only`` for fields the command line does not
set, and ``metavar``. Lists become ``nargs="+"``.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from collections.abc import Iterable
from typing import Any


def _unwrap(hint) -> tuple:
    """``(element type, is_list)`` of ``int``, ``Optional[int]``, ``List[int]``, ``Optional[List[float]]``..."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) is typing.Union and len(args) == 1:
        hint = args[0]
    if typing.get_origin(hint) in (list, list):
        inner = [a for a in typing.get_args(typing.get_args(hint)[0]) if a is not type(None)] or [
            typing.get_args(hint)[0]
        ]
        return inner[0], True
    return hint, False


def _with_message(parse):
    """``parse`` whose ValueError reaches the user as argparse's one-line error, message included."""

    def wrapped(text: str):
        try:
            return parse(text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    wrapped.__name__ = parse.__name__
    return wrapped


def default_of(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return f.default_factory()  # type: ignore[misc]
    return None


def _text(value) -> str:
    if isinstance(value, (list, tuple)):
        return " ".join(str(v) for v in value)
    return str(value)


def flag_of(f: dataclasses.Field) -> str:
    return f.metadata.get("flag") or "--" + f.name.replace("_", "-")


def add_config_arguments(
    parser: argparse.ArgumentParser, cls, given_only: bool = False, skip: Iterable[str] = ()
) -> None:
    """One option per field of ``cls``.

    Args:
        given_only: every option defaults to None, so that what the user typed can be told from
            what they left out (the benchmark merges presets under it); help texts still show the
            dataclass default.
        skip: fields that get no option.
    """
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        meta = dict(f.metadata)
        if f.name in skip or meta.get("api_only"):
            continue
        flags = [flag_of(f), *meta.get("aliases", ())]
        default = default_of(f)
        kwargs: dict[str, Any] = {"dest": f.name, "help": meta.get("cli_help", meta["help"])}
        if hints[f.name] is bool and "on_flag" in meta:
            pair = parser.add_mutually_exclusive_group()
            pair.add_argument(
                meta["on_flag"],
                dest=f.name,
                action="store_true",
                default=None,
                help=meta["on_help"],
            )
            pair.add_argument(
                *flags, dest=f.name, action="store_false", default=None, help=kwargs["help"]
            )
            continue
        if hints[f.name] is bool:
            kwargs["action"] = meta.get("action", "store_true")
            kwargs["default"] = None if given_only else default
        else:
            element, is_list = _unwrap(hints[f.name])
            kwargs["type"] = _with_message(meta["type"]) if "type" in meta else element
            if is_list or "nargs" in meta:
                kwargs["nargs"] = meta.get("nargs", "+")
            for key in ("choices", "required", "metavar"):
                if key in meta:
                    kwargs[key] = meta[key]
            if "choices" not in meta and "metavar" not in meta:
                kwargs["metavar"] = f.name.upper()
            if not meta.get("required"):
                kwargs["default"] = None if given_only else default
                if default not in (None, [], {}):
                    kwargs["help"] += f" (default: {_text(default)})"
        parser.add_argument(*flags, **kwargs)


def cli_fields(cls) -> dict[str, dataclasses.Field]:
    """The fields of ``cls`` that have a command-line option, by name."""
    return {f.name: f for f in dataclasses.fields(cls) if not f.metadata.get("api_only")}


def given_values(args: argparse.Namespace, cls) -> dict[str, Any]:
    """The options of ``cls`` that ``args`` holds (None: not given, for ``given_only`` parsers)."""
    names = cli_fields(cls)
    return {k: v for k, v in vars(args).items() if k in names}
