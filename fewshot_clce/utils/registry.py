"""A small name -> factory registry shared by datasets, losses, backbones and heads."""
from __future__ import annotations

from typing import Any, Callable, Dict, Generic, List, TypeVar

T = TypeVar("T")


class UnknownNameError(KeyError):
    """Raised for a name that is not registered; the message lists the valid names."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0])


class Registry(Generic[T]):
    """Maps names to factories.

    Args:
        kind: what the registry holds ("dataset", "loss", ...), used in messages.
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._factories: Dict[str, Callable[..., T]] = {}
        self._meta: Dict[str, Dict[str, Any]] = {}

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

    def create(self, name: str, *args: Any, **kwargs: Any) -> T:
        """Build the object registered under ``name``."""
        return self.get(name)(*args, **kwargs)

    def meta(self, name: str) -> Dict[str, Any]:
        self.get(name)
        return dict(self._meta[name])

    def list(self) -> List[str]:
        return sorted(self._factories)

    def __contains__(self, name: object) -> bool:
        return name in self._factories
