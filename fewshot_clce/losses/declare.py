"""What a loss declares about its hyper-parameters: :class:`HyperParam`.

A loss class lists its hyper-parameters in ``hyperparams`` (a tuple of :class:`HyperParam`). The
command line, the benchmark's grids, run names, result columns, the choice on val and the report
read that declaration; nothing else needs to know the loss::

    class MyLoss(nn.Module):
        name = "myloss"
        uses_logits = True
        hyperparams = (HyperParam("margin", float, 0.2, grid=(0.1, 0.2, 0.4), low=0.0),)

        def __init__(self, margin: float = 0.2): ...
        def forward(self, logits, z, labels) -> LossOutput: ...
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Optional


@dataclass(frozen=True)
class HyperParam:
    """One hyper-parameter of a loss.

    Attributes:
        name: keyword of the loss's constructor; column of result tables.
        type: ``float``, ``int``, ``bool`` or ``str`` (one of ``choices``).
        default: the value used when none is given.
        grid: the values the benchmark tries by default (empty: the default alone).
        low, high: the valid range (None: unbounded); ``low_open`` / ``high_open`` exclude the end.
        label: key in run names and configuration labels (default: ``name``).
        scale: axis of sensitivity plots, ``"linear"`` or ``"log"``.
        help: one line for help texts.
        named_at_default: whether run names and labels spell the value out when it is the default
            (False keeps names short for switches that are rarely changed).
        choices: the valid values of a ``str`` hyper-parameter.
    """

    name: str
    type: type = float
    default: Any = None
    grid: tuple[Any, ...] = ()
    low: Optional[float] = None
    high: Optional[float] = None
    low_open: bool = False
    high_open: bool = False
    label: str = ""
    scale: str = "linear"
    help: str = ""
    named_at_default: bool = True
    choices: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """The key of this hyper-parameter in run names and labels."""
        return self.label or self.name

    def accepts(self) -> str:
        """What a valid value is, in words: ``"a number in [0, 1)"``."""
        if self.type is bool:
            return "true or false"
        if self.type is str:
            return "one of " + ", ".join(self.choices)
        what = "an integer" if self.type is int else "a number"
        if self.low is None and self.high is None:
            return what
        if self.high is None:
            return f"{what} {'>' if self.low_open else '>='} {self.low:g}"
        if self.low is None:
            return f"{what} {'<' if self.high_open else '<='} {self.high:g}"
        return (
            f"{what} in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}"
            f"{')' if self.high_open else ']'}"
        )

    def coerce(self, value: Any) -> Any:
        """``value`` as this hyper-parameter's type, checked against its range.

        Raises:
            ValueError: ``"must be a number in [0, 1); got 2"``.
        """
        if self.type is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "false"):
                return value.lower() == "true"
            raise ValueError(f"must be {self.accepts()}; got {value!r}")
        if self.type is str:
            if isinstance(value, str) and value in self.choices:
                return value
            raise ValueError(f"must be {self.accepts()}; got {value!r}")
        if isinstance(value, bool) or not isinstance(value, (numbers.Real, str)):
            raise ValueError(f"must be {self.accepts()}; got {value!r}")
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"must be {self.accepts()}; got {value!r}") from None
        if not math.isfinite(number) or (self.type is int and number != int(number)):
            raise ValueError(f"must be {self.accepts()}; got {value!r}")
        too_low = self.low is not None and (
            number < self.low or (self.low_open and number == self.low)
        )
        too_high = self.high is not None and (
            number > self.high or (self.high_open and number == self.high)
        )
        if too_low or too_high:
            raise ValueError(f"must be {self.accepts()}; got {value!r}")
        return int(number) if self.type is int else number

    @property
    def bounds(self) -> tuple[Optional[float], Optional[float]]:
        return (self.low, self.high)


def declared(loss_cls: Any) -> dict[str, HyperParam]:
    """The hyper-parameters a loss class declares, by name, in declaration order.

    Raises:
        ValueError: a declaration that is not a sequence of :class:`HyperParam`, declares a name
            twice, or whose default or grid values are outside its own range.
    """
    what = f"loss {getattr(loss_cls, 'name', '') or getattr(loss_cls, '__name__', loss_cls)!r}"
    items: Sequence = getattr(loss_cls, "hyperparams", ()) or ()
    out: dict[str, HyperParam] = {}
    for h in items:
        if not isinstance(h, HyperParam):
            raise ValueError(
                f"{what} declares {h!r} in hyperparams; each entry must be a "
                "fewshot_clce.losses.HyperParam"
            )
        if h.name in out:
            raise ValueError(f"{what} declares hyper-parameter {h.name!r} twice")
        for v in (h.default, *h.grid):
            try:
                h.coerce(v)
            except ValueError as e:
                raise ValueError(
                    f"{what}: hyper-parameter {h.name!r} {e} (its own default or grid)"
                ) from None
        out[h.name] = h
    return out


def check_hparam(loss: str, h: HyperParam, value: Any) -> Any:
    """``value`` coerced to ``h``'s type; a one-line error naming the loss, the parameter and
    what it accepts otherwise."""
    from .hparams import HPARAMS

    try:
        return h.coerce(value)
    except ValueError as e:
        flag = f" ({HPARAMS[h.name].flag})" if h.name in HPARAMS else ""
        raise ValueError(f"loss {loss!r}: hyper-parameter {h.name}{flag} {e}") from None
