"""Registering ``conv4`` and ``resnet12`` into timm as soon as timm is imported, without importing it.

``import fewshot_clce`` installs :func:`install`; from then on ``timm.create_model("resnet12")``
works whenever timm gets imported (before or after), while ``fewshot-clce --help`` and the light
commands never pay for importing timm.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys


def _register() -> None:
    importlib.import_module(f"{__package__}.nets").register_into_timm()


class _RegisteringLoader(importlib.abc.Loader):
    """timm's own loader, followed by our registration once timm's package has run."""

    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module) -> None:
        self._loader.exec_module(module)
        _register()

    def __getattr__(self, name):  # is_package, get_resource_reader, ...: timm's loader answers
        return getattr(self._loader, name)


class _TimmFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if fullname != "timm":
            return None
        sys.meta_path.remove(self)  # one import of timm is all it takes; let the others find it
        spec = importlib.util.find_spec("timm")
        if spec is not None and spec.loader is not None:
            spec.loader = _RegisteringLoader(spec.loader)
        return spec


def install() -> None:
    """Register the few-shot backbones now if timm is loaded, else when it is (once per process)."""
    if "timm" in sys.modules:
        _register()
    elif not any(isinstance(f, _TimmFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _TimmFinder())
