"""Import paths of the flat 0.x layout, kept working: ``fewshot_clce.seedstats`` is
``fewshot_clce.stats.seeds``, and so on (the same module object, not a copy).

New code should import from the subpackages; these names exist so that notebooks and scripts
written against the earlier layout keep running.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

ALIASES = {
    "safe_load": "utils.safe_pickle",
    "archives": "utils.archives",
    "registry": "utils.registry",
    "augment": "data.transforms",
    "episode_table": "episodes.table",
    "episode_sampler": "episodes.sampler",
    "episode_plot": "episodes.plot",
    "model": "training.model",
    "train_config": "training.config",
    "seedstats": "stats.seeds",
    "summary": "stats.summary",
    "selection": "stats.selection",
    "analysis": "report.analysis",
    "claims": "report.claims",
    "tables": "report.tables",
    "plots": "report.plots",
    "embeddings": "report.embeddings",
    "benchconfig": "benchmark.config",
    "runplan": "benchmark.plan",
    "manifests": "benchmark.manifests",
    "estimate": "benchmark.estimate",
}


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, target: str):
        self.target = target

    def create_module(self, spec):
        return None  # a placeholder; exec_module swaps in the real module

    def exec_module(self, module) -> None:
        # The import system reads the module back from sys.modules after this call, so the
        # alias name ends up bound to the target module itself, attributes untouched.
        sys.modules[module.__name__] = importlib.import_module(self.target)


class _AliasFinder(importlib.abc.MetaPathFinder):
    def __init__(self, package: str):
        self.prefix = package + "."
        self.package = package

    def find_spec(self, fullname, path=None, target=None):
        if not fullname.startswith(self.prefix):
            return None
        old = fullname[len(self.prefix):]
        if old not in ALIASES:
            return None
        return importlib.util.spec_from_loader(fullname, _AliasLoader(f"{self.package}.{ALIASES[old]}"))


def install(package: str) -> None:
    """Make the old module names of ``package`` importable (once per process)."""
    if not any(isinstance(f, _AliasFinder) and f.package == package for f in sys.meta_path):
        # First, so that an old name never reaches a finder that could resolve it elsewhere.
        sys.meta_path.insert(0, _AliasFinder(package))
