"""``folder:PATH``: a few-shot dataset from a folder of class folders, read with Pillow.

Layout: one sub-folder per class (``PATH/cat/1.png``), or two levels as Omniglot is laid out
(``PATH/Greek/alpha/1.png``, class name ``Greek/alpha``); both may be mixed. Files and folders
whose names start with ``.`` are ignored, and so are files other than images at the top of
``PATH`` (a README, the split file); every other file in a class folder must be an image
(extensions in :data:`IMAGE_EXTENSIONS`) and a regular file (a FIFO, device or broken link is an
error naming it, and is never opened), and a class folder may not hold sub-folders.

Split file (``folder:PATH::SPLITFILE`` or ``split_file=``): plain text, one class per line as
``split<TAB>class`` with ``split`` one of ``base``, ``val``, ``novel`` and ``class`` a name as
above; blank lines and lines starting with ``#`` are skipped. Classes it does not name are
left out. A relative path is looked up from the working directory, then inside ``PATH``.

Without a split file the split is deterministic: the top-level folders (alphabets, or classes
in a one-level layout) are sorted by name and shuffled with ``numpy.random.default_rng(split_seed)``;
the first 20% (at least one) go to ``novel``, the next 20% to ``val`` (at least one when there
are three or more), the rest to ``base``, as Omniglot splits by alphabet. With fewer than three
top-level folders the classes themselves are shuffled and split that way.

Checks at construction: every image file is opened with Pillow, which reads its header
(cheap: format and size, no pixel decoding), so a non-image or unreadable file is an error
naming it, and so is one whose header declares more than
:data:`~fewshot_clce.data.image_files.MAX_IMAGE_PIXELS` pixels (a decompression bomb); ``verify=True``
also runs Pillow's full ``verify()`` (reads every file). A file whose pixels are damaged past its
header is reported, by name, when it is first read.

Images are converted to ``L`` when the first image is grayscale, else ``RGB`` (or ``mode=``),
and keep their size when all share one, else are resized to 84x84 (or ``size=``).
"""

from __future__ import annotations

import os
import warnings
from collections import Counter
from pathlib import Path
from typing import Optional

import numpy as np

from .base import SPLIT_NAMES, FewShotDataset, FileSplit, check_utf8_name
from .image_files import open_image

IMAGE_EXTENSIONS = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm"}
)
DEFAULT_FRACTIONS = {"novel": 0.2, "val": 0.2}
RESIZE_WHEN_MIXED = (84, 84)
GRAY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "F"})


def _visible(entries) -> list[os.DirEntry]:
    return sorted((e for e in entries if not e.name.startswith(".")), key=lambda e: e.name)


def scan_classes(root: Path) -> dict[str, list[str]]:
    """Class name -> image paths relative to ``root``, sorted; the layout rules of the module.

    Raises:
        ValueError: for a folder mixing files and sub-folders, a non-image file, an empty class
            folder, or fewer than two classes.
    """
    classes: dict[str, list[str]] = {}

    def add_class(folder: Path, name: str, files: list[os.DirEntry]) -> None:
        check_utf8_name(folder, "class folder name")
        for f in files:
            check_utf8_name(f.path)
            if Path(f.name).suffix.lower() not in IMAGE_EXTENSIONS:
                raise ValueError(
                    f"{f.path!r} is not an image (extensions read: "
                    f"{', '.join(sorted(IMAGE_EXTENSIONS))}); move it out of {str(root)!r}"
                )
            if not f.is_file():  # a FIFO, socket, device or broken link: never opened
                raise ValueError(
                    f"{f.path!r} is not a regular file (a FIFO, device, socket or broken link); "
                    f"only regular files are read as images: move it out of {str(root)!r}"
                )
        if not files:
            raise ValueError(
                f"class folder {str(folder)!r} holds no images; add some or remove the folder"
            )
        classes[name] = [(Path(name) / f.name).as_posix() for f in files]

    with os.scandir(root) as it:
        top = _visible(it)
    for entry in top:
        if not entry.is_dir() and Path(entry.name).suffix.lower() not in IMAGE_EXTENSIONS:
            continue  # a README or split file beside the class folders
        if not entry.is_dir():
            raise ValueError(
                f"{entry.path!r} is a file at the top of {str(root)!r}; put every image in a "
                "class folder (PATH/class/image or PATH/alphabet/character/image)"
            )
        with os.scandir(entry.path) as it:
            inner = _visible(it)
        dirs, files = [e for e in inner if e.is_dir()], [e for e in inner if not e.is_dir()]
        if dirs and files:
            raise ValueError(
                f"folder {entry.path!r} holds both files ({files[0].name!r}) and folders "
                f"({dirs[0].name!r}); a class folder holds only images, an alphabet folder "
                "only class folders"
            )
        if not dirs:
            add_class(Path(entry.path), entry.name, files)
            continue
        for sub in dirs:
            with os.scandir(sub.path) as it:
                inner = _visible(it)
            nested = [e for e in inner if e.is_dir()]
            if nested:
                raise ValueError(
                    f"class folder {sub.path!r} holds a folder {nested[0].name!r}; "
                    "at most two levels are read (PATH/alphabet/character/image)"
                )
            add_class(Path(sub.path), f"{entry.name}/{sub.name}", inner)
    if len(classes) < 2:
        raise ValueError(
            f"folder {str(root)!r} has {len(classes)} class folder(s) "
            f"({', '.join(map(repr, classes)) or 'none'}); a few-shot dataset needs at least 2, "
            "one sub-folder per class"
        )
    return classes


def read_split_file(path: Path, classes: dict[str, list[str]]) -> dict[str, list[str]]:
    """Split name -> class names, from a ``split<TAB>class`` file (see the module docstring).

    Raises:
        ValueError: naming the line for a bad split name, a malformed or repeated line, or a
            class that is not a folder of the dataset.
    """
    out: dict[str, list[str]] = {}
    seen: dict[str, int] = {}
    for no, raw in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        split, sep, name = line.partition("\t")
        name = name.strip()
        where = f"split file {str(path)!r} line {no}"
        if not sep or not name:
            raise ValueError(f"{where}: expected 'split<TAB>class', got {raw!r}")
        if split not in SPLIT_NAMES:
            raise ValueError(
                f"{where}: unknown split {split!r}; use one of {', '.join(SPLIT_NAMES)}"
            )
        if name not in classes:
            known = sorted(classes)
            raise ValueError(
                f"{where} names class {name!r}, which is not a class folder of the dataset; "
                f"its {len(known)} classes include: {', '.join(known[:8])}"
            )
        if name in seen:
            raise ValueError(f"{where}: class {name!r} is already listed on line {seen[name]}")
        seen[name] = no
        out.setdefault(split, []).append(name)
    if not out:
        raise ValueError(f"split file {str(path)!r} names no class; write lines 'base<TAB>class'")
    return out


def default_split(classes: list[str], split_seed: int = 0) -> dict[str, list[str]]:
    """The deterministic split of the module docstring: by top-level folder, else by class."""
    groups = sorted({c.split("/")[0] for c in classes})
    units = groups if len(groups) >= 3 else sorted(classes)
    order = [units[i] for i in np.random.default_rng(split_seed).permutation(len(units))]
    n_novel = max(1, round(DEFAULT_FRACTIONS["novel"] * len(units)))
    n_val = max(1 if len(units) >= 3 else 0, round(DEFAULT_FRACTIONS["val"] * len(units)))
    parts = {
        "novel": set(order[:n_novel]),
        "val": set(order[n_novel : n_novel + n_val]),
        "base": set(order[n_novel + n_val :]),
    }
    unit_of = (lambda c: c.split("/")[0]) if units is groups else (lambda c: c)
    out = {s: sorted(c for c in classes if unit_of(c) in parts[s]) for s in SPLIT_NAMES}
    return {s: v for s, v in out.items() if v}


def _resolve_split_file(split_file: str | os.PathLike, root: Path) -> Path:
    p = Path(split_file).expanduser()
    if not p.is_absolute() and not p.exists() and (root / p).exists():
        p = root / p
    if not p.is_file():
        raise FileNotFoundError(
            f"split file {str(split_file)!r} not found (looked in the working "
            f"directory and in {str(root)!r})"
        )
    return p


def _check_images(
    root: Path, paths: list[str], verify: bool
) -> tuple[Optional[str], Optional[tuple[int, int]]]:
    """Open every file's header; returns the mode of the first image and the common size (or none)."""
    first_mode: Optional[str] = None
    sizes: Counter[tuple[int, int]] = Counter()
    for rel in paths:
        with open_image(root / rel) as im:
            first_mode = first_mode or im.mode
            sizes[im.size[::-1]] += 1  # (height, width)
            if verify:
                try:
                    im.verify()
                except (OSError, SyntaxError) as e:
                    raise ValueError(
                        f"cannot read image {str(root / rel)!r}: {e}; fix or remove the file"
                    ) from None
    return first_mode, (next(iter(sizes)) if len(sizes) == 1 else None)


def check_leakage(root: Path, split_paths: dict[str, list[str]]) -> None:
    """Refuse splits that share a file, warn when they share an image's content.

    Few-shot results mean something only when the novel (and val) classes were never trained on.
    A class folder that is a symbolic link to another split's class, or a file linked into two
    splits, is the same file in both: refused. Byte-identical copies across splits (by the content
    digests the fingerprint uses) are warned about, naming an example.

    Raises:
        ValueError: naming both paths, their splits and how to fix it.
    """
    owner: dict[str, tuple[str, str]] = {}
    for split, paths in split_paths.items():
        for p in paths:
            real = os.path.realpath(root / p)
            other = owner.setdefault(real, (split, p))
            if other[0] != split:
                raise ValueError(
                    f"dataset folder {str(root)!r}: {p!r} ({split}) and {other[1]!r} "
                    f"({other[0]}) are the same file {real!r} (a symbolic link): the "
                    f"{split} classes would leak into the {other[0]} split; give each "
                    "split its own images"
                )
    from ._filehash import MISSING, NOT_A_FILE, file_digests

    seen: dict[str, tuple[str, str]] = {}
    shared: list[tuple[str, str, str, str]] = []
    for split, paths in split_paths.items():
        for p, digest in zip(paths, file_digests(root, [Path(q) for q in paths])):
            if digest in (MISSING, NOT_A_FILE):
                continue
            first = seen.setdefault(digest, (split, p))
            if first[0] != split:
                shared.append((p, split, *first))
    if shared:
        path, split, other_split, other_path = shared[0]
        warnings.warn(
            f"dataset folder {str(root)!r}: {len(shared)} image(s) of one split are "
            f"byte-identical to images of another (e.g. {path!r} in {split} and {other_path!r} "
            f"in {other_split}): the splits share content, so results on them are not "
            "few-shot; remove the copies",
            stacklevel=2,
        )


def folder_dataset(
    path: str | os.PathLike,
    split_file: Optional[str | os.PathLike] = None,
    mode: Optional[str] = None,
    size: Optional[tuple[int, int]] = None,
    split_seed: int = 0,
    verify: bool = False,
    name: Optional[str] = None,
) -> FewShotDataset:
    """A :class:`FewShotDataset` of :class:`FileSplit` s from a folder (see the module docstring).

    Args:
        path: the folder of class folders.
        split_file: optional ``split<TAB>class`` file naming the classes of each split.
        mode: Pillow mode to convert to (``"L"``, ``"RGB"``); default from the first image.
        size: ``(height, width)`` to resize to; default the images' own when they share one.
        split_seed: seed of the default split (ignored with a split file).
        verify: also check every file's content with Pillow's ``verify()`` (slower).
        name: dataset name in fingerprints and manifests; default ``folder:<folder name>``, so
            the same data gives the same fingerprints wherever it lies.

    Raises:
        FileNotFoundError, NotADirectoryError: for a missing ``path`` or split file.
        ValueError: for the layout and content problems listed in :func:`scan_classes`,
            :func:`read_split_file` and unreadable images.
    """
    root = Path(path).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"dataset folder {str(root)!r} does not exist")
    if not root.is_dir():
        raise NotADirectoryError(f"dataset folder {str(root)!r} is not a folder")
    classes = scan_classes(root)
    if split_file:
        members = read_split_file(_resolve_split_file(split_file, root), classes)
    else:
        members = default_split(list(classes), split_seed)
    used = [p for names in members.values() for c in names for p in classes[c]]
    first_mode, common = _check_images(root, used, verify)
    mode = mode or ("L" if first_mode in GRAY_MODES else "RGB")
    resize: Optional[tuple] = tuple(size) if size else (None if common else RESIZE_WHEN_MIXED)
    name = name or f"folder:{root.resolve().name}"
    splits = {}
    for sname in SPLIT_NAMES:
        if sname not in members:
            continue
        names = members[sname]
        paths = [p for c in names for p in classes[c]]
        labels = np.concatenate(
            [np.full(len(classes[c]), k, dtype=np.int64) for k, c in enumerate(names)]
        )
        splits[sname] = FileSplit(name, sname, root, paths, labels, names, mode=mode, size=resize)
    check_leakage(root, {s: [p for c in members[s] for p in classes[c]] for s in splits})
    return FewShotDataset(name, splits, description=f"class folders under {str(root)}")
