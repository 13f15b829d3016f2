"""Words of the messages and reports that depend on a number."""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Integral
from typing import Union


def epochs_text(epochs: Union[int, Sequence[int]]) -> str:
    """``"1 epoch"``, ``"3 epochs"``, ``"3, 10 epochs"``: a budget or a list of budgets."""
    values = [int(epochs)] if isinstance(epochs, Integral) else [int(e) for e in epochs]
    word = "epoch" if values == [1] else "epochs"
    return f"{', '.join(map(str, values))} {word}"


def points_text(value: float, low: float, high: float) -> str:
    """A difference of two accuracies (fractions) in signed percentage points with its interval:
    ``"+2.61 [+0.34, +4.88]"``; without an interval the value alone, without a value a dash."""
    if not math.isfinite(value):
        return "—"
    if not (math.isfinite(low) and math.isfinite(high)):
        return f"{100 * value:+.2f}"
    return f"{100 * value:+.2f} [{100 * low:+.2f}, {100 * high:+.2f}]"
