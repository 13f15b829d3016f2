"""The standard class splits (package data in ``data/splits/``) and checks against them."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from functools import cache
from importlib import resources
from typing import Optional

import numpy as np

from .base import ArraySplit


@cache
def split_list(filename: str) -> tuple:
    """Class names listed in ``data/splits/<filename>``, in file order.

    ``.tsv`` files hold ``superclass<TAB>class``; the class (last column) is returned.
    """
    text = resources.files(__package__).joinpath("splits").joinpath(filename).read_text()
    names = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            names.append(line.split("\t")[-1].split(",")[0].strip())
    return tuple(names)


def check_classes(
    dataset: str, split: str, found: Collection[str], expected: Sequence[str], source: str
) -> None:
    """Raise unless the classes ``found`` in ``source`` are exactly the ``expected`` split.

    Raises:
        ValueError: naming up to five missing and five unexpected classes.
    """
    found_set, expected_set = set(found), set(expected)
    if found_set == expected_set:
        return
    missing = [c for c in expected if c not in found_set]
    extra = sorted(found_set - expected_set)
    parts = []
    if missing:
        parts.append(f"{len(missing)} of its {len(expected)} classes are missing ({_few(missing)})")
    if extra:
        parts.append(f"{len(extra)} classes are not in the standard {split} split ({_few(extra)})")
    raise ValueError(
        f"{dataset} {split} split from {source}: "
        + "; ".join(parts)
        + ". The file is incomplete or uses another split; re-download it"
    )


def _few(names: Sequence[str]) -> str:
    shown = ", ".join(repr(str(n)) for n in list(names)[:5])
    return shown + (", ..." if len(names) > 5 else "")


def labels_for(sample_classes: Sequence[str], classes: Sequence[str]) -> np.ndarray:
    """``[N]`` int64 index of each sample's class name within ``classes``."""
    index: dict[str, int] = {c: i for i, c in enumerate(classes)}
    return np.fromiter(
        (index[c] for c in sample_classes), dtype=np.int64, count=len(sample_classes)
    )


def array_split(
    dataset: str,
    split: str,
    images: np.ndarray,
    sample_classes: Sequence[str],
    expected: Sequence[str],
    source: str,
    transform: Optional[Callable] = None,
) -> ArraySplit:
    """An :class:`ArraySplit` whose class ``i`` is ``expected[i]``, after checking the classes.

    Args:
        images: ``[N, H, W, C]`` (or ``[N, H, W]``) uint8.
        sample_classes: ``[N]`` class name of every image.
        expected: the split's class names, in the order that defines the labels.
        source: file the images came from, for messages.
    """
    check_classes(dataset, split, set(sample_classes), expected, source)
    labels = labels_for(sample_classes, expected)
    return ArraySplit(dataset, split, images, labels, list(expected), transform=transform)
