"""The dataset registry: ``register_dataset`` / ``create_dataset`` / ``list_datasets``."""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Optional

from ..utils.registry import Registry, parse_spec
from .base import FewShotDataset

DATASETS: Registry[FewShotDataset] = Registry("dataset")
ROOT_ENV = "FEWSHOT_CLCE_DATA"


def register_dataset(
    name: str,
    *,
    description: str,
    embedded: bool = False,
    classes: Optional[dict[str, int]] = None,
    available: Optional[Callable[[Optional[Path]], bool]] = None,
    unextracted: Optional[Callable[[Optional[Path]], Optional[Path]]] = None,
    unbuilt: Optional[Callable[[], Optional[str]]] = None,
    layout: str = "",
):
    """Decorator registering a dataset factory ``f(root=None, **options) -> FewShotDataset``.

    Args:
        description: one line for ``fewshot-clce datasets``.
        embedded: True when the data ships with installed packages (no download, no root).
        classes: published class count per split, shown before the data is found.
        available: ``f(root) -> bool``, whether the data can be loaded from ``root`` here.
        unextracted: ``f(root) -> Path or None``, the archive the loader would extract on first
            use when only the archive is here; probes (``fewshot-clce datasets``) call this
            instead of loading, so that listing never extracts anything.
        unbuilt: ``f() -> text or None``, what the loader of an embedded dataset would build and
            cache on first use, while it is not built; probes list the dataset without building it.
        layout: what the loader expects on disk, for messages and the README.
    """
    return lambda f: DATASETS.register(
        name,
        f,
        description=description,
        embedded=embedded,
        classes=dict(classes or {}),
        available=available,
        unextracted=unextracted,
        unbuilt=unbuilt,
        layout=layout,
    )


def default_root(root: Optional[str | os.PathLike] = None) -> Optional[Path]:
    """``root`` if given, else ``$FEWSHOT_CLCE_DATA``, else None."""
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get(ROOT_ENV)
    return Path(env).expanduser() if env else None


def parse_dataset_spec(spec: str) -> tuple[str, dict[str, object]]:
    """Split ``"name[key=value,...]"`` into the name and its loader options (see
    :func:`fewshot_clce.utils.registry.parse_spec`), so that a dataset option travels inside the
    name everywhere a dataset name goes: ``cub[split=closerlook]``,
    ``omniglot[rotations=true,val_alphabets=5]``.

    Raises:
        ValueError: for a malformed option list.
    """
    return parse_spec(spec, "dataset", "omniglot[rotations=true,val_alphabets=5]")


# Loader options that say how to obtain the data, not which data: left out of the identity.
NOT_IDENTITY = frozenset({"download", "transform"})


def _registered(name: str, options: dict[str, object]):
    """The factory of ``name[options]``, its registry entry and the options merged (keywords win).

    Raises:
        UnknownNameError: for an unknown name, listing the valid ones.
        ValueError: for an option the loader does not take, naming the ones it does.
    """
    name, spec_options = parse_dataset_spec(name)
    options = {**spec_options, **options}
    factory = DATASETS.get(name)
    try:
        DATASETS.check_options(name, options, exclude=("root",))
    except ValueError:
        valid = [k for k in DATASETS.options(name) if k != "root"]
        raise ValueError(
            f"dataset {name!r} takes no option {', '.join(map(repr, sorted(set(options) - set(valid))))}; "
            f"its options: {', '.join(valid) or '(none)'}"
        ) from None
    return name, factory, options


def _option_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # 84.0 and 84 are one option value
    return str(value)


def dataset_id(spec: str, **options) -> str:
    """The canonical identity of a dataset: what manifests, run configs and result rows record, and
    what evaluation and the benchmark compare. :func:`create_dataset` names the dataset (and its
    splits, whose fingerprints include it) by it.

    - ``folder:PATH[::SPLITFILE]``: ``folder:<name of the folder>`` (or the ``name=`` option), the
      same wherever the data lies and however its path is written; which split file was used and
      what the files hold is covered by the splits' fingerprints, the real guard.
    - ``name[key=value,...]``: the registered name and the options that select the data, sorted,
      leaving out those at their default value and those that only fetch it (:data:`NOT_IDENTITY`):
      ``cub[split=closerlook]``; ``cub``, ``cub[split=default]`` and ``cub[download=true]`` are ``cub``.

    Nothing is loaded.

    Raises:
        UnknownNameError: for an unknown name, listing the valid ones.
        ValueError: for an option the loader does not take, or a malformed option list.
    """
    if spec.startswith("folder:"):
        if options.get("name"):
            return str(options["name"])
        path = spec[len("folder:") :].partition("::")[0]
        return f"folder:{Path(path).expanduser().resolve().name}"
    name, factory, options = _registered(spec, options)
    defaults = DATASETS.options(name)
    kept = {
        k: v
        for k, v in options.items()
        if k not in NOT_IDENTITY
        and not (
            k in defaults
            and defaults[k] is not inspect.Parameter.empty
            and _option_text(defaults[k]) == _option_text(v)
        )
    }
    if not kept:
        return name
    return f"{name}[{','.join(f'{k}={_option_text(v)}' for k, v in sorted(kept.items()))}]"


def reload_spec(spec: str) -> str:
    """``spec`` with a ``folder:`` path (and a split file found from the working directory) made
    absolute, so that a run's data can be loaded again from any working directory; other specs
    unchanged."""
    if not spec.startswith("folder:"):
        return spec
    path, sep, split_file = spec[len("folder:") :].partition("::")
    root = Path(path).expanduser().resolve()
    if split_file:
        given = Path(split_file).expanduser()
        if not given.is_absolute() and given.exists():  # folder_dataset looks here first
            split_file = str(given.resolve())
    return f"folder:{root}{sep}{split_file}"


def create_dataset(
    name: str, root: Optional[str | os.PathLike] = None, **options
) -> FewShotDataset:
    """Build a registered dataset, or ``folder:PATH[::SPLITFILE]`` for a folder of class folders.

    Loader options come as keywords or inside the name (``cub[split=closerlook]``, see
    :func:`parse_dataset_spec`); keywords win. The dataset and its splits are named by
    :func:`dataset_id`.

    Raises:
        UnknownNameError: for an unknown name, listing the valid ones.
        ValueError: for an option the loader does not take, naming the ones it does.
    """
    identity = dataset_id(name, **options)
    if name.startswith("folder:"):
        from .folder import folder_dataset

        spec = name[len("folder:") :]
        path, _, split_file = spec.partition("::")
        dataset = folder_dataset(
            path, split_file=split_file or options.pop("split_file", None), **options
        )
    else:
        name, factory, options = _registered(name, options)
        if DATASETS.meta(name)["embedded"]:
            dataset = factory(**options)
        else:
            dataset = factory(root=default_root(root), **options)
    dataset.rename(identity)
    return dataset


def require_splits(
    dataset: FewShotDataset,
    needed: Sequence[str],
    user: str,
    uses: str,
    fix: str,
    name: Optional[str] = None,
    scope: str = "",
) -> None:
    """Refuse a dataset that lacks a split its user needs, before anything is read from it.

    Args:
        needed: the split names, checked in this order.
        user: who needs them, as the message starts ("training").
        uses: what the splits are for, said in parentheses.
        fix: how to give a dataset those splits.
        name: the dataset as the user named it (default: its identity).
        scope: said after "split" (" of every dataset").

    Raises:
        ValueError: naming the first missing split, the dataset and the splits it has.
    """
    for split in needed:
        if split not in dataset.splits:
            raise ValueError(
                f"{user} needs a {split!r} split{scope} ({uses}); dataset "
                f"{name or dataset.name!r} has {', '.join(dataset.splits)}. {fix}"
            )


def list_datasets() -> list[str]:
    return DATASETS.list()


def dataset_info(name: str) -> dict:
    return DATASETS.meta(name)
