"""The dataset registry: ``register_dataset`` / ``create_dataset`` / ``list_datasets``."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Dict, List, Optional

from ..registry import Registry
from .base import FewShotDataset

DATASETS: Registry[FewShotDataset] = Registry("dataset")
ROOT_ENV = "FEWSHOT_CLCE_DATA"


def register_dataset(name: str, *, description: str, embedded: bool = False,
                     classes: Optional[Dict[str, int]] = None,
                     available: Optional[Callable[[Optional[Path]], bool]] = None,
                     layout: str = ""):
    """Decorator registering a dataset factory ``f(root=None, **options) -> FewShotDataset``.

    Args:
        description: one line for ``fewshot-clce datasets``.
        embedded: True when the data ships with installed packages (no download, no root).
        classes: published class count per split, shown before the data is found.
        available: ``f(root) -> bool``, whether the data can be loaded from ``root`` here.
        layout: what the loader expects on disk, for messages and the README.
    """
    return lambda f: DATASETS.register(name, f, description=description, embedded=embedded,
                                       classes=dict(classes or {}), available=available, layout=layout)


def default_root(root: Optional[str | os.PathLike] = None) -> Optional[Path]:
    """``root`` if given, else ``$FEWSHOT_CLCE_DATA``, else None."""
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get(ROOT_ENV)
    return Path(env).expanduser() if env else None


def create_dataset(name: str, root: Optional[str | os.PathLike] = None, **options) -> FewShotDataset:
    """Build a registered dataset, or ``folder:PATH[:SPLITFILE]`` for a folder of class folders.

    Raises:
        UnknownNameError: for an unknown name, listing the valid ones.
    """
    if name.startswith("folder:"):
        from .folder import folder_dataset

        spec = name[len("folder:"):]
        path, _, split_file = spec.partition("::")
        return folder_dataset(path, split_file=split_file or options.pop("split_file", None), **options)
    factory = DATASETS.get(name)
    meta = DATASETS.meta(name)
    if meta["embedded"]:
        return factory(**options)
    return factory(root=default_root(root), **options)


def list_datasets() -> List[str]:
    return DATASETS.list()


def dataset_info(name: str) -> dict:
    return DATASETS.meta(name)
