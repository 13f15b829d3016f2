"""A small name -> factory registry shared by datasets, losses, backbones and heads, and the
``name[key=value,...]`` grammar that carries a factory's options inside its name.

Keyword validation lives here and nowhere else: :meth:`Registry.check_options` compares the
options given with the factory's signature and names the ones it takes.
"""

from __future__ import annotations

import builtins
import inspect
import re
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class UnknownNameError(KeyError):
    """Raised for a name that is not registered; the message lists the valid names."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0])


def parse_spec(
    spec: str, kind: str = "option", example: str = "name[key=value]"
) -> tuple[str, dict[str, object]]:
    """Split ``"name[key=value,...]"`` into the name and its options.

    Values read as int, float, ``true``/``false`` or plain strings, so that options travel inside
    a name wherever the name goes (configs, result tables, command lines):
    ``cub[split=closerlook]``, ``logistic[C=0.1]``.

    Args:
        kind: what the options are for, in messages ("dataset", "head").
        example: a well-formed spec to show in messages.

    Raises:
        ValueError: for a malformed option list.
    """
    match = re.fullmatch(r"([^\[\]]+)\[(.*)\]", spec.strip())
    if not match:
        return spec, {}
    name, body = match.group(1), match.group(2)
    options: dict[str, object] = {}
    for item in filter(None, (part.strip() for part in body.split(","))):
        key, eq, value = item.partition("=")
        if not eq or not key.strip() or not value.strip():
            raise ValueError(
                f"{kind} option {item!r} in {spec!r} is not key=value; write e.g. {example!r}"
            )
        options[key.strip()] = option_value(value.strip())
    return name, options


def option_value(text: str) -> object:
    """``"true"`` -> True, ``"5"`` -> 5, ``"0.1"`` -> 0.1, anything else stays text."""
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def format_spec(name: str, options: Mapping[str, object]) -> str:
    """The inverse of :func:`parse_spec`, options sorted: ``logistic[C=0.1]``."""
    if not options:
        return name

    def text(v: object) -> str:
        if isinstance(v, bool):
            return str(v).lower()
        return f"{v:g}" if isinstance(v, float) else str(v)

    return f"{name}[{','.join(f'{k}={text(v)}' for k, v in sorted(options.items()))}]"


class Registry(Generic[T]):
    """Maps names to factories (functions or classes).

    Args:
        kind: what the registry holds ("dataset", "loss", ...), used in messages.
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._factories: dict[str, Callable[..., T]] = {}
        self._meta: dict[str, dict[str, Any]] = {}

    def register(self, name: str, factory: Callable[..., T] | None = None, **meta: Any):
        """Register ``factory`` under ``name``; usable as a decorator.

        Raises:
            ValueError: if ``name`` is already registered.
        """

        def _add(f: Callable[..., T]) -> Callable[..., T]:
            if name in self._factories:
                raise ValueError(f"{self.kind} {name!r} is already registered; pick another name")
            self._factories[name] = f
            self._meta[name] = dict(meta)
            return f

        return _add(factory) if factory is not None else _add

    def get(self, name: str) -> Callable[..., T]:
        try:
            return self._factories[name]
        except KeyError:
            raise UnknownNameError(
                f"unknown {self.kind} {name!r}; valid names: {', '.join(self.list()) or '(none)'}"
            ) from None

    def options(self, name: str) -> dict[str, Any]:
        """The keyword options the factory of ``name`` takes, with their defaults
        (``inspect.Parameter.empty`` for required ones)."""
        params = inspect.signature(self.get(name)).parameters
        return {
            k: p.default
            for k, p in params.items()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and k != "self"
        }

    def takes_any(self, name: str) -> bool:
        """Whether the factory accepts arbitrary keywords (``**kwargs``)."""
        return any(
            p.kind is p.VAR_KEYWORD for p in inspect.signature(self.get(name)).parameters.values()
        )

    def check_options(
        self, name: str, options: Mapping[str, Any], exclude: tuple[str, ...] = ()
    ) -> None:
        """Refuse options the factory of ``name`` does not take, naming the ones it does.

        Args:
            exclude: parameters of the factory that are not options a user sets (filled in by the
                toolkit itself, e.g. a dataset's ``root`` or a head's ``base_mean``).

        Raises:
            ValueError: ``"loss 'ce' takes label_smoothing; got unknown beta"``.
        """
        valid = [k for k in self.options(name) if k not in exclude]
        takes_any = self.takes_any(name)
        unknown = sorted(k for k in options if k in exclude or (k not in valid and not takes_any))
        if unknown:
            raise ValueError(
                f"{self.kind} {name!r} takes {', '.join(valid) or 'no options'}; "
                f"got unknown {', '.join(unknown)}"
            )

    def create(self, name: str, *args: Any, **kwargs: Any) -> T:
        """Build the object registered under ``name``, its keyword options checked first."""
        self.check_options(name, kwargs)
        return self.get(name)(*args, **kwargs)

    def meta(self, name: str) -> dict[str, Any]:
        self.get(name)
        return dict(self._meta[name])

    def list(self) -> builtins.list[str]:
        return sorted(self._factories)

    def __contains__(self, name: object) -> bool:
        return name in self._factories
