"""Attributes of a package imported from its submodules on first use (PEP 562).

Subpackages whose modules pull in heavy libraries (timm, pandas, matplotlib) re-export their
public names through this, so that ``import fewshot_clce`` and ``fewshot-clce --help`` stay quick.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable


def lazy_exports(package: str, names: dict[str, str]) -> Callable[[str], object]:
    """A module ``__getattr__`` that imports ``names[attr]`` (a module relative to ``package``) on first use."""

    def __getattr__(attr: str) -> object:
        if attr in names:
            return getattr(importlib.import_module(names[attr], package), attr)
        raise AttributeError(f"module {package!r} has no attribute {attr!r}")

    return __getattr__


def lazy_dir(eager: list[str], names: dict[str, str]) -> Callable[[], list[str]]:
    return lambda: sorted(set(eager) | set(names))
