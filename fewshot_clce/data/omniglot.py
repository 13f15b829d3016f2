"""``omniglot``: 1,623 handwritten characters from 50 alphabets, 20 drawings each (Lake et al. 2015).

Reads the official ``images_background/`` and ``images_evaluation/`` folders
(``<alphabet>/<characterNN>/*.png``, 105x105 grayscale) under the data root or its ``omniglot/``
or ``omniglot-py/`` (torchvision's) sub-folder, or extracts ``images_background.zip`` /
``images_evaluation.zip`` found there first.

- base: the 964 characters of the 30 background alphabets;
- novel: the 659 characters of the 20 evaluation alphabets;
- val: none by default; ``val_alphabets=k`` holds out the last ``k`` background alphabets (in
  sorted order) as validation classes.

``rotations=True`` adds every base character rotated by 90, 180 and 270 degrees as three more
base classes (``"Alphabet/character01@90"``), as is common for Omniglot training.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Optional

import numpy as np

from ..utils.archives import extract
from ._download import candidate_dirs, data_roots, fetch_all, not_found
from .base import FewShotDataset, FileSplit
from .registry import register_dataset

NAME = "omniglot"
PARTS = ("images_background", "images_evaluation")
SUBDIRS = ("omniglot", "omniglot-py", "Omniglot")
LAYOUT = (
    "  images_background/<Alphabet>/<characterNN>/*.png   (30 alphabets, base classes)\n"
    "  images_evaluation/<Alphabet>/<characterNN>/*.png   (20 alphabets, novel classes)\n"
    "  or images_background.zip + images_evaluation.zip (extracted on first use);\n"
    "  directly under the root or in omniglot/ or omniglot-py/"
)
HOW_TO_GET = (
    "the two zips from https://github.com/brendenlake/omniglot (via torchvision's Omniglot source)."
)


class RotatedFileSplit(FileSplit):
    """A :class:`FileSplit` whose sample ``i`` is its file rotated by ``quarter_turns[i]`` x 90 degrees
    counter-clockwise."""

    def __init__(self, *args, quarter_turns: Sequence[int], **kwargs):
        super().__init__(*args, **kwargs)
        self.quarter_turns = np.asarray(quarter_turns, dtype=np.int64)
        if len(self.quarter_turns) != len(self.paths):
            raise ValueError(f"{len(self.quarter_turns)} rotations for {len(self.paths)} images")

    def _read(self, index: int) -> np.ndarray:
        img = super()._read(index)  # [H, W]
        k = int(self.quarter_turns[index]) % 4
        return np.ascontiguousarray(np.rot90(img, k, axes=(0, 1))) if k else img

    def _identity(self) -> Iterable[bytes]:
        yield from super()._identity()
        yield self.quarter_turns.astype("<i8").tobytes()


def find(root: Path) -> Optional[tuple]:
    """``("folders" | "zips", folder)`` where both parts are found under ``root``, or None."""
    for d in candidate_dirs(root, SUBDIRS):
        if all((d / p).is_dir() for p in PARTS):
            return "folders", d
        if all((d / p).is_dir() or (d / f"{p}.zip").is_file() for p in PARTS):
            return "zips", d
    return None


def unextracted_archive(root) -> Optional[Path]:
    """The first zip :func:`omniglot` would extract on first use, or None when both parts are
    extracted (or nothing is found)."""
    found = next((f for f in map(find, data_roots(root)) if f), None)
    if found is None:
        return None
    return next((found[1] / f"{p}.zip" for p in PARTS if not (found[1] / p).is_dir()), None)


def _characters(part: Path, alphabets: list[str]) -> tuple[list[str], list[int], list[str]]:
    """Relative paths, character names and file lists of the characters of ``alphabets``."""
    paths: list[str] = []
    labels: list[int] = []
    names: list[str] = []
    for alphabet in alphabets:
        for char in sorted(c.name for c in (part / alphabet).iterdir() if c.is_dir()):
            files = sorted(
                f.name for f in (part / alphabet / char).iterdir() if f.suffix.lower() == ".png"
            )
            if not files:
                raise ValueError(
                    f"{part / alphabet / char} has no .png drawings; the Omniglot copy is incomplete"
                )
            paths.extend(f"{alphabet}/{char}/{f}" for f in files)
            labels.extend([len(names)] * len(files))
            names.append(f"{alphabet}/{char}")
    return paths, labels, names


def _alphabets(part: Path) -> list[str]:
    found = sorted(a.name for a in part.iterdir() if a.is_dir())
    if not found:
        raise ValueError(f"{part} holds no alphabet folders")
    return found


def omniglot(
    root=None,
    rotations: bool = False,
    val_alphabets: int = 0,
    image_size: int = 105,
    download: bool = False,
    transform=None,
) -> FewShotDataset:
    """Omniglot, background alphabets as base classes and evaluation alphabets as novel.

    Args:
        rotations: add each base character at 90 / 180 / 270 degrees as extra base classes.
        val_alphabets: number of background alphabets (the last, sorted) held out as a ``val`` split.
        image_size: side the 105x105 drawings are resized to.
        download: fetch the two zips into the root (``omniglot-py/``) when nothing is found.
    """
    roots = data_roots(root)
    found = next((f for f in map(find, roots) if f), None)
    if found is None:
        if not download:
            raise not_found(NAME, roots, LAYOUT, HOW_TO_GET)
        from torchvision.datasets import Omniglot

        files = [
            (
                f"{Omniglot.download_url_prefix}/{p}.zip",
                f"omniglot-py/{p}.zip",
                Omniglot.zips_md5[p],
            )
            for p in PARTS
        ]
        fetch_all(NAME, files, roots[0], LAYOUT)
        found = ("zips", roots[0] / "omniglot-py")
    folder = found[1]
    for p in PARTS:
        if not (folder / p).is_dir():
            extract(folder / f"{p}.zip", folder)
    background, evaluation = (folder / p for p in PARTS)
    bg_alphabets = _alphabets(background)
    if not 0 <= val_alphabets < len(bg_alphabets):
        raise ValueError(
            f"val_alphabets={val_alphabets} must lie in [0, {len(bg_alphabets)}): there are "
            f"{len(bg_alphabets)} background alphabets"
        )
    cut = len(bg_alphabets) - val_alphabets
    size = (image_size, image_size)
    splits: dict[str, FileSplit] = {}
    paths, labels, names = _characters(background, bg_alphabets[:cut])
    turns = [0] * len(paths)
    if rotations:
        # Copy k (k = 1, 2, 3) of every drawing is turned k x 90 degrees and labelled k * n + label.
        n, m = len(names), len(paths)
        turns = [k for k in range(4) for _ in range(m)]
        labels = [lab + k * n for k in range(4) for lab in labels]
        paths = paths * 4
        names = names + [f"{c}@{90 * k}" for k in (1, 2, 3) for c in names]
    splits["base"] = RotatedFileSplit(
        NAME,
        "base",
        background,
        paths,
        labels,
        names,
        mode="L",
        size=size,
        transform=transform,
        quarter_turns=turns,
    )
    if val_alphabets:
        paths, labels, names = _characters(background, bg_alphabets[cut:])
        splits["val"] = FileSplit(
            NAME, "val", background, paths, labels, names, mode="L", size=size, transform=transform
        )
    paths, labels, names = _characters(evaluation, _alphabets(evaluation))
    splits["novel"] = FileSplit(
        NAME, "novel", evaluation, paths, labels, names, mode="L", size=size, transform=transform
    )
    return FewShotDataset(NAME, splits, description=f"Omniglot from {folder}")


register_dataset(
    NAME,
    description="Omniglot: background alphabets base, evaluation alphabets novel, 105x105",
    classes={"base": 964, "novel": 659},
    available=lambda root: any(find(r) for r in data_roots(root)),
    unextracted=unextracted_archive,
    layout="images_background/ + images_evaluation/ (or their .zip)",
)(omniglot)
