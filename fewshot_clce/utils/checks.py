"""Checks of user-given numbers, each naming the setting and the value it got.

Every command runs them before loading data or writing a file, so a value that cannot work (a
negative size, NaN, a 1-way episode) is one line, not a wrong result later. NaN fails every
comparison, so each check states what it accepts and refuses everything else.

A refusal is a :class:`SettingError`: in Python it names the setting as the API spells it
(``grad_clip must be a positive finite number, got -1``); the command line shows the flag instead
(``--grad-clip must be ...``), see :meth:`SettingError.message_for`.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Callable, Iterable
from typing import Optional

MIN_WAYS = 2


class SettingError(ValueError):
    """A setting's value cannot work.

    Args:
        setting: the setting's name in the Python API (``grad_clip``, ``val_episodes``).
        text: the message with ``{setting}`` where the setting's name goes, and ``{setting:other}``
            where another setting's does (plain text otherwise: braces elsewhere are kept).
    """

    MARK = re.compile(r"\{setting(?::(\w+))?\}")

    def __init__(self, setting: str, text: str):
        self.setting, self.text = setting, text
        super().__init__(self.message_for(lambda name: name))

    def message_for(self, name_of: Callable[[str], str]) -> str:
        """The message with the settings named by ``name_of`` (e.g. their command-line flags)."""
        return self.MARK.sub(lambda m: name_of(m.group(1) or self.setting), self.text)


def _real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def is_integer(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def at_least(name: str, value, minimum: int = 1, hint: str = "") -> int:
    """``value`` if it is an integer >= ``minimum``.

    Raises:
        SettingError: "epochs must be at least 1, got 0".
    """
    if not is_integer(value):
        raise SettingError(name, "{setting} must be an integer, got " + f"{value!r}{hint}")
    if value < minimum:
        raise SettingError(name, "{setting} must be at least " + f"{minimum}, got {value!r}{hint}")
    return int(value)


# The largest input side a backbone is given: few-shot images are 28 to 224 pixels, and one
# float32 RGB image of this side already takes 48 MiB (a batch of 64, 3 GiB).
MAX_IMAGE_SIZE = 2048


def image_size(name: str, value) -> int:
    """``value`` if it is an integer input side in ``[1, MAX_IMAGE_SIZE]``.

    Raises:
        SettingError: naming the value and the bound, saying how to go on.
    """
    at_least(name, value, hint=" (omit it to keep the dataset's own size)")
    if value > MAX_IMAGE_SIZE:
        gib = 3 * 4 * value * value / 2**30
        raise SettingError(
            name,
            "{setting} " + f"{value} is larger than the {MAX_IMAGE_SIZE} "
            f"pixels this toolkit resizes images to (one {value} x {value} RGB "
            f"image takes {gib:.1f} GiB as float32); give a smaller size, or omit "
            "it to keep the dataset's own",
        )
    return int(value)


def seed(name: str, value) -> int:
    """``value`` if it is a non-negative integer (numpy's seed sequences take no negative seeds)."""
    if not is_integer(value) or value < 0:
        raise SettingError(name, "{setting} must be a non-negative integer, got " + repr(value))
    return int(value)


def ways(name: str, value) -> int:
    """``value`` if an episode of that many classes can be classified (at least 2)."""
    if not is_integer(value) or value < MIN_WAYS:
        raise SettingError(
            name,
            "{setting} " + f"{value!r}: a classification episode needs at least {MIN_WAYS} "
            f"classes (with 1 every query is trivially right); pass "
            + "{setting} "
            + f"{MIN_WAYS} or more",
        )
    return int(value)


def positive(name: str, value, hint: str = "") -> float:
    """``value`` if it is a finite number > 0."""
    if not _real(value) or not math.isfinite(value) or value <= 0:
        raise SettingError(
            name, "{setting} must be a positive finite number, got " + f"{value!r}{hint}"
        )
    return float(value)


def in_range(
    name: str, value, low: float, high: float, high_open: bool = False, hint: str = ""
) -> float:
    """``value`` if it is a finite number in ``[low, high]`` (``[low, high)`` with ``high_open``)."""
    ok = (
        _real(value)
        and math.isfinite(value)
        and low <= value
        and (value < high if high_open else value <= high)
    )
    if not ok:
        interval = f"[{low:g}, {high:g}{')' if high_open else ']'}"
        raise SettingError(
            name, "{setting} must be a number in " + f"{interval}, got {value!r}{hint}"
        )
    return float(value)


def non_negative(name: str, value, hint: str = "") -> float:
    """``value`` if it is a finite number >= 0."""
    if not _real(value) or not math.isfinite(value) or value < 0:
        raise SettingError(
            name, "{setting} must be a finite number >= 0, got " + f"{value!r}{hint}"
        )
    return float(value)


def each(check, name: str, values: Optional[Iterable], *args, **kwargs) -> None:
    """Apply ``check`` to every value of a list setting (``None`` entries mean "the default")."""
    for v in values or ():
        if v is not None:
            check(name, v, *args, **kwargs)


_NAMED_CHECKS = {
    "seed": seed,
    "ways": ways,
    "image_size": image_size,
    "positive": positive,
    "non_negative": non_negative,
}


def check_fields(config) -> None:
    """Check every field of the dataclass ``config`` against the constraints its metadata
    declares; the one place where those constraints are applied (training, the benchmark and
    the command line all come here).

    A field's metadata may declare (a list field's values are checked one by one; ``None`` means
    "the default" and passes):

    - ``required``: a value must be given;
    - ``nonempty``: a list needs at least one value;
    - ``minimum``: an integer at least this;
    - ``check``: one of ``seed``, ``ways``, ``image_size``, ``positive``, ``non_negative``;
    - ``within``: ``(low, high)`` or ``(low, high, "open")`` (high excluded);
    - ``hint``: text added to those messages;
    - ``choice_of`` (what a value is: "an executor") with ``valid``, else the command line's
      ``choices``: the values it may take;
    - ``distinct``: a list may not repeat a value.

    Raises:
        SettingError: naming the field and the value.
    """
    import dataclasses

    for f in dataclasses.fields(config):
        meta, value = f.metadata, getattr(config, f.name)
        if meta.get("required") and not value:
            raise SettingError(f.name, "{setting} is required")
        if value is None:
            continue
        values = list(value) if isinstance(value, (list, tuple)) else None
        if meta.get("nonempty") and not values:
            raise SettingError(f.name, "{setting} needs at least one value")
        _check_values(f.name, meta, values if values is not None else [value], values is not None)
        if meta.get("distinct") and len(set(values)) != len(values):
            raise SettingError(f.name, "{setting} repeats a value: " + str(values))


def _check_values(name: str, meta, values: list, is_list: bool) -> None:
    """The per-value constraints of :func:`check_fields`."""
    hint = meta.get("hint", "")
    if "minimum" in meta:
        if is_list:
            bad = [v for v in values if not (is_integer(v) and v >= meta["minimum"])]
            if bad:
                raise SettingError(
                    name, "{setting} values must be at least " + f"{meta['minimum']}, got {bad}"
                )
        else:
            at_least(name, values[0], meta["minimum"], hint=hint)
    for v in values:
        if "check" in meta:
            _NAMED_CHECKS[meta["check"]](name, v, **({"hint": hint} if hint else {}))
        if "within" in meta:
            low, high, *open_ = meta["within"]
            in_range(name, v, low, high, high_open=bool(open_), hint=hint)
        valid = meta.get("valid", meta.get("choices"))
        if meta.get("choice_of") and v not in valid:
            raise SettingError(
                name, "{setting} " + f"{v!r} is not {meta['choice_of']}; valid: " + ", ".join(valid)
            )
