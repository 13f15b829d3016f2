"""The dataset registry: ``register_dataset`` / ``create_dataset`` / ``list_datasets``."""
from __future__ import annotations

import inspect
import os
import re
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

from ..registry import Registry
from .base import FewShotDataset

DATASETS: Registry[FewShotDataset] = Registry("dataset")
ROOT_ENV = "FEWSHOT_CLCE_DATA"


def register_dataset(name: str, *, description: str, embedded: bool = False,
                     classes: Optional[Dict[str, int]] = None,
                     available: Optional[Callable[[Optional[Path]], bool]] = None,
                     unextracted: Optional[Callable[[Optional[Path]], Optional[Path]]] = None,
                     layout: str = ""):
    """Decorator registering a dataset factory ``f(root=None, **options) -> FewShotDataset``.

    Args:
        description: one line for ``fewshot-clce datasets``.
        embedded: True when the data ships with installed packages (no download, no root).
        classes: published class count per split, shown before the data is found.
        available: ``f(root) -> bool``, whether the data can be loaded from ``root`` here.
        unextracted: ``f(root) -> Path or None``, the archive the loader would extract on first
            use when only the archive is here; probes (``fewshot-clce datasets``) call this
            instead of loading, so that listing never extracts anything.
        layout: what the loader expects on disk, for messages and the README.
    """
    return lambda f: DATASETS.register(name, f, description=description, embedded=embedded,
                                       classes=dict(classes or {}), available=available, unextracted=unextracted,
                                       layout=layout)


def default_root(root: Optional[str | os.PathLike] = None) -> Optional[Path]:
    """``root`` if given, else ``$FEWSHOT_CLCE_DATA``, else None."""
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get(ROOT_ENV)
    return Path(env).expanduser() if env else None


def parse_dataset_spec(spec: str) -> Tuple[str, Dict[str, object]]:
    """Split ``"name[key=value,...]"`` into the name and its loader options.

    Values read as int, float, ``true``/``false`` or plain strings, so a dataset option travels
    inside the name everywhere a dataset name goes (training configs, evaluation, benchmarks):
    ``cub[split=closerlook]``, ``omniglot[rotations=true,val_alphabets=5]``.

    Raises:
        ValueError: for a malformed option list.
    """
    match = re.fullmatch(r"([^\[\]]+)\[(.*)\]", spec.strip())
    if not match:
        return spec, {}
    name, body = match.group(1), match.group(2)
    options: Dict[str, object] = {}
    for item in filter(None, (part.strip() for part in body.split(","))):
        key, eq, value = item.partition("=")
        if not eq or not key.strip() or not value.strip():
            raise ValueError(f"dataset option {item!r} in {spec!r} is not key=value; "
                             f"write e.g. 'omniglot[rotations=true,val_alphabets=5]'")
        options[key.strip()] = _option_value(value.strip())
    return name, options


def _option_value(text: str) -> object:
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def create_dataset(name: str, root: Optional[str | os.PathLike] = None, **options) -> FewShotDataset:
    """Build a registered dataset, or ``folder:PATH[::SPLITFILE]`` for a folder of class folders.

    Loader options come as keywords or inside the name (``cub[split=closerlook]``, see
    :func:`parse_dataset_spec`); keywords win.

    Raises:
        UnknownNameError: for an unknown name, listing the valid ones.
        ValueError: for an option the loader does not take, naming the ones it does.
    """
    if name.startswith("folder:"):
        from .folder import folder_dataset

        spec = name[len("folder:"):]
        path, _, split_file = spec.partition("::")
        return folder_dataset(path, split_file=split_file or options.pop("split_file", None), **options)
    name, spec_options = parse_dataset_spec(name)
    options = {**spec_options, **options}
    factory = DATASETS.get(name)
    meta = DATASETS.meta(name)
    accepted = inspect.signature(factory).parameters
    takes_any = any(p.kind is p.VAR_KEYWORD for p in accepted.values())
    unknown = [k for k in options if k not in accepted and not takes_any]
    if unknown:
        valid = [k for k, p in accepted.items()
                 if k != "root" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        raise ValueError(f"dataset {name!r} takes no option {', '.join(map(repr, unknown))}; "
                         f"its options: {', '.join(valid) or '(none)'}")
    if meta["embedded"]:
        return factory(**options)
    return factory(root=default_root(root), **options)


def list_datasets() -> List[str]:
    return DATASETS.list()


def dataset_info(name: str) -> dict:
    return DATASETS.meta(name)
