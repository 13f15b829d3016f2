"""Checks of user-given numbers, each naming the option (``--grad-clip``) and the value it got.

Every command runs them before loading data or writing a file, so a value that cannot work
(a negative size, NaN, a 1-way episode) is one line naming the flag, not a wrong result later.
NaN fails every comparison, so each check states what it accepts and refuses everything else.
"""
from __future__ import annotations

import math
import numbers
from typing import Iterable, Optional

MIN_WAYS = 2


def _real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def is_integer(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def at_least(flag: str, value, minimum: int = 1, hint: str = "") -> int:
    """``value`` if it is an integer >= ``minimum``.

    Raises:
        ValueError: "--epochs must be at least 1, got 0".
    """
    if not is_integer(value):
        raise ValueError(f"{flag} must be an integer, got {value!r}{hint}")
    if value < minimum:
        raise ValueError(f"{flag} must be at least {minimum}, got {value!r}{hint}")
    return int(value)


def seed(flag: str, value) -> int:
    """``value`` if it is a non-negative integer (numpy's seed sequences take no negative seeds)."""
    if not is_integer(value) or value < 0:
        raise ValueError(f"{flag} must be a non-negative integer, got {value!r}")
    return int(value)


def ways(flag: str, value) -> int:
    """``value`` if an episode of that many classes can be classified (at least 2)."""
    if not is_integer(value) or value < MIN_WAYS:
        raise ValueError(f"{flag} {value!r}: a classification episode needs at least {MIN_WAYS} classes "
                         f"(with 1 every query is trivially right); pass {flag} {MIN_WAYS} or more")
    return int(value)


def positive(flag: str, value, hint: str = "") -> float:
    """``value`` if it is a finite number > 0."""
    if not _real(value) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{flag} must be a positive finite number, got {value!r}{hint}")
    return float(value)


def in_range(flag: str, value, low: float, high: float, high_open: bool = False, hint: str = "") -> float:
    """``value`` if it is a finite number in ``[low, high]`` (``[low, high)`` with ``high_open``)."""
    ok = _real(value) and math.isfinite(value) and low <= value and (value < high if high_open else value <= high)
    if not ok:
        interval = f"[{low:g}, {high:g}{')' if high_open else ']'}"
        raise ValueError(f"{flag} must be a number in {interval}, got {value!r}{hint}")
    return float(value)


def non_negative(flag: str, value, hint: str = "") -> float:
    """``value`` if it is a finite number >= 0."""
    if not _real(value) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{flag} must be a finite number >= 0, got {value!r}{hint}")
    return float(value)


def each(check, flag: str, values: Optional[Iterable], *args, **kwargs) -> None:
    """Apply ``check`` to every value of a list option (``None`` entries mean "the default")."""
    for v in values or ():
        if v is not None:
            check(flag, v, *args, **kwargs)


def loss_hparam(flag: str, name: str, value) -> None:
    """A loss hyper-parameter (``lam``, ``temperature``, ``beta``, ``label_smoothing``), checked as the
    losses check it, the message naming the flag."""
    from ..losses._contrastive import check_beta, check_lam, check_smoothing, check_temperature

    check = {"lam": check_lam, "temperature": check_temperature, "beta": check_beta,
             "label_smoothing": check_smoothing}[name]
    try:
        check(value)
    except ValueError as e:
        raise ValueError(f"{flag} {value!r}: {e}") from None
