"""Words of the messages and reports that depend on a number."""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral
from typing import Union


def epochs_text(epochs: Union[int, Sequence[int]]) -> str:
    """``"1 epoch"``, ``"3 epochs"``, ``"3, 10 epochs"``: a budget or a list of budgets."""
    values = [int(epochs)] if isinstance(epochs, Integral) else [int(e) for e in epochs]
    word = "epoch" if values == [1] else "epochs"
    return f"{', '.join(map(str, values))} {word}"
