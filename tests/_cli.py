"""Command lines for the CLI tests, written as one line each."""

from __future__ import annotations

from typing import Any


def argv(template: str, **values: Any) -> list[str]:
    """The argument list of a command line written as one string.

    The template is split on whitespace first and each word formatted after, so a value (a path
    with spaces, a dataset spec) always stays one argument:
    ``argv("train --out {out}", out=tmp_path / "run")``.
    """
    return [word.format(**{k: str(v) for k, v in values.items()}) for word in template.split()]
