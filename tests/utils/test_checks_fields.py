"""utils.checks.check_fields: the constraints a config field declares in its metadata, checked in
one place for training, the benchmark and the command line."""

from dataclasses import dataclass, field
from typing import Optional

import pytest

from fewshot_clce.utils.checks import SettingError, check_fields


def _f(default, **meta):
    return field(default=default, metadata={"help": "", **meta})


@dataclass
class Toy:
    name: str = _f("x", required=True)
    sizes: list[int] = field(
        default_factory=lambda: [1],
        metadata={"help": "", "nonempty": True, "minimum": 1, "distinct": True},
    )
    rate: float = _f(0.5, within=(0, 1, "open"))
    scale: Optional[float] = _f(None, check="positive", hint=" (omit it for none)")
    kind: str = _f("a", valid=("a", "b"), choice_of="a kind")


@pytest.mark.parametrize(
    "given, message",
    [
        ({"name": ""}, "name is required"),
        ({"sizes": []}, "sizes needs at least one value"),
        ({"sizes": [1, 0]}, r"sizes values must be at least 1, got \[0\]"),
        ({"sizes": [2, 2]}, r"sizes repeats a value: \[2, 2\]"),
        ({"rate": 1.0}, r"rate must be a number in \[0, 1\), got 1.0"),
        (
            {"scale": float("nan")},
            r"scale must be a positive finite number, got nan \(omit it for none\)",
        ),
        ({"kind": "c"}, "kind 'c' is not a kind; valid: a, b"),
    ],
)
def test_each_declared_constraint_refuses_with_the_setting_named(given, message):
    with pytest.raises(SettingError, match="^" + message):
        check_fields(Toy(**given))


def test_values_within_the_constraints_and_none_pass():
    check_fields(Toy(sizes=[1, 3], rate=0.0, scale=None, kind="b"))


def test_the_command_line_names_the_flag():
    with pytest.raises(SettingError) as info:
        check_fields(Toy(kind="c"))
    assert info.value.message_for(lambda n: "--" + n) == "--kind 'c' is not a kind; valid: a, b"
