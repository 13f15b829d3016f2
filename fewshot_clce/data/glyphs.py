"""``glyphs``: an Omniglot-like dataset rendered from the fonts matplotlib bundles.

Each class is one character; its 20 images are renderings in different faces (DejaVu Sans,
Serif and Sans Mono in regular, bold, oblique/italic and bold oblique; STIX General in four
styles; Computer Modern roman, bold, italics, sans and typewriter for ASCII letters), each
with its own random stroke-width change (erosion or dilation), affine jitter (rotation up to
about 23 degrees, shear, scale, aspect, shift) and a smooth elastic wobble of up to 2 pixels,
as if drawn by hand. Images are 28x28 grayscale uint8, ink 255 on 0.

As Omniglot splits by alphabet, the splits here are by Unicode block, so novel classes come
from scripts and symbol sets never seen in training (counts with the bundled fonts of
matplotlib 3.11; the class list is ``data/splits/glyphs_classes.tsv``, see ``glyph_classes``):

- base (967 classes): Latin (150), IPA Extensions (90), Cyrillic (150), Canadian Syllabics (150),
  Arrows (127), Mathematical Operators (150), Miscellaneous Symbols (150)
- val (114 classes): Greek (63), Lao (35), Letterlike Symbols (16)
- novel (471 classes): Armenian (61), Hebrew (27), Arabic (40), Georgian (80),
  Miscellaneous Technical (48), Geometric Shapes (94), Dingbats (121)

The build is deterministic from ``seed`` (every class draws from its own generator seeded
by ``(seed, code point)``, so a subset build gives the same images for its classes) and is
cached as ``.npz`` under ``cache_dir("glyphs")`` (``$FEWSHOT_CLCE_CACHE/glyphs``); the file name
holds the format version, the seed and a hash of the font files and FreeType version
(``glyph_render.render_env_key``), which is all the pixels depend on.
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path
from typing import Optional

import numpy as np

from ..utils.files import atomic_path, cache_dir, file_lock
from .base import ArraySplit, FewShotDataset
from .glyph_classes import GlyphClass, class_counts, load_classes
from .glyph_render import faces_for, render_class, render_env_key
from .registry import register_dataset

VERSION = 2  # bump when the pixels change for the same seed and fonts
PER_CLASS = 20
IMAGE_SIZE = 28
_CLASSES = load_classes()


def class_name(c: GlyphClass) -> str:
    """``"Hebrew/U+05D0"``: block, then code point, as Omniglot's ``alphabet/character``."""
    return f"{c.block}/U+{c.codepoint:04X}"


def _select(max_per_block: Optional[int]) -> list[GlyphClass]:
    if max_per_block is None:
        return list(_CLASSES)
    if max_per_block < 1:
        raise ValueError(f"max_per_block must be at least 1, got {max_per_block}")
    taken: dict[str, int] = {}
    out = []
    for c in _CLASSES:
        if taken.get(c.block, 0) < max_per_block:
            out.append(c)
            taken[c.block] = taken.get(c.block, 0) + 1
    return out


def build_glyphs(
    seed: int = 0, max_per_block: Optional[int] = None, progress: bool = False
) -> dict[str, np.ndarray]:
    """Render every class (no cache).

    Args:
        seed: base seed; class ``c`` renders with ``numpy.random.default_rng([seed, c.codepoint])``.
        max_per_block: keep only the first classes of each block (fast builds for tests).
        progress: show a progress bar over the classes on stderr.

    Returns:
        ``images`` ``[n_classes * 20, 28, 28]`` uint8, ``labels`` ``[n]`` int64 index into
        ``codepoints`` ``[n_classes]`` int64.

    Raises:
        ValueError: when a listed character has fewer faces than needed here (other fonts).
    """
    classes = _select(max_per_block)
    images = np.empty((len(classes) * PER_CLASS, IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    from tqdm.auto import tqdm

    bar = tqdm(classes, desc="glyphs", unit="class", leave=False, disable=not progress)
    for k, c in enumerate(bar):
        faces = faces_for(c.codepoint)
        if not faces:
            raise ValueError(
                f"no bundled font maps U+{c.codepoint:04X} ({c.name}); this matplotlib's "
                f"fonts differ from the ones the glyphs class list was made for"
            )
        rng = np.random.default_rng([seed, c.codepoint])
        images[k * PER_CLASS : (k + 1) * PER_CLASS], _ = render_class(
            c.codepoint, faces, PER_CLASS, IMAGE_SIZE, rng
        )
    labels = np.repeat(np.arange(len(classes), dtype=np.int64), PER_CLASS)
    return {
        "images": images,
        "labels": labels,
        "codepoints": np.array([c.codepoint for c in classes], dtype=np.int64),
    }


def cache_path(seed: int = 0, max_per_block: Optional[int] = None, create: bool = True) -> Path:
    """Where the build for ``seed`` is cached (creates the folder unless ``create=False``;
    PermissionError if unwritable)."""
    sub = "" if max_per_block is None else f"-first{max_per_block}"
    return (
        cache_dir("glyphs", create=create)
        / f"glyphs-v{VERSION}-seed{seed}{sub}-{render_env_key()}.npz"
    )


def not_built_yet() -> Optional[str]:
    """What loading ``glyphs`` would build first, or None when its cache is here (a probe for
    ``fewshot-clce datasets``, which lists the dataset without rendering it)."""
    path = cache_path(create=False)
    if path.is_file():
        return None
    return f"rendered from matplotlib's fonts by the first command that loads it, cached as {path}"


def _read_cache(path: Path) -> Optional[dict[str, np.ndarray]]:
    if path.exists():
        try:
            with np.load(path) as z:
                arrays = {k: z[k] for k in ("images", "labels", "codepoints")}
            if (
                len(arrays["images"])
                == len(arrays["labels"])
                == len(arrays["codepoints"]) * PER_CLASS
            ):
                return arrays
        except (OSError, KeyError, ValueError, zipfile.BadZipFile):
            pass  # a cache file from an interrupted foreign copy: rebuilt
    return None


def load_glyph_arrays(seed: int = 0, max_per_block: Optional[int] = None) -> dict[str, np.ndarray]:
    """The cached build, made and written atomically first when missing or unreadable.

    Processes that need the same missing build at once (trainings started together, test
    workers) build it once: the others wait for it and read it.
    """
    path = cache_path(seed, max_per_block)
    arrays = _read_cache(path)
    if arrays is not None:
        return arrays
    with file_lock(path):
        arrays = _read_cache(path)  # built by the process that held the lock
        if arrays is None:
            n_classes = len(_select(max_per_block))
            # the first use takes a while: say what it does (once; later loads read the file)
            print(
                f"glyphs: first use: rendering {n_classes:,} classes x {PER_CLASS} images from "
                f"matplotlib's fonts into {path} (once; later loads read it)",
                file=sys.stderr,
                flush=True,
            )
            arrays = build_glyphs(seed, max_per_block, progress=sys.stderr.isatty())
            with atomic_path(path) as tmp:
                with open(
                    tmp, "wb"
                ) as f:  # a file object, so numpy does not append ".npz" to the temp name
                    np.savez_compressed(f, allow_pickle=False, **arrays)  # numeric arrays only
    return arrays


@register_dataset(
    "glyphs",
    description="characters of 17 Unicode blocks rendered from matplotlib's fonts "
    "(Omniglot-like, 28x28, split by block)",
    embedded=True,
    classes=class_counts(_CLASSES),
    available=lambda root: True,
    unbuilt=not_built_yet,
    layout="rendered from the fonts bundled with matplotlib, cached on first use",
)
def glyphs_dataset(seed: int = 0, max_per_block: Optional[int] = None) -> FewShotDataset:
    """The ``glyphs`` dataset (see the module docstring).

    Args:
        seed: rendering seed; the default 0 is the one episode manifests refer to.
        max_per_block: only the first classes of each block (for quick tests).
    """
    arrays = load_glyph_arrays(seed, max_per_block)
    by_cp = {c.codepoint: c for c in _CLASSES}
    classes = [by_cp[int(cp)] for cp in arrays["codepoints"]]
    splits = {}
    for sname in ("base", "val", "novel"):
        members = [k for k, c in enumerate(classes) if c.split == sname]
        local = np.full(len(classes), -1, dtype=np.int64)
        local[members] = np.arange(len(members))
        keep = np.flatnonzero(local[arrays["labels"]] >= 0)
        splits[sname] = ArraySplit(
            "glyphs",
            sname,
            arrays["images"][keep],
            local[arrays["labels"][keep]],
            [class_name(classes[k]) for k in members],
        )
    return FewShotDataset(
        "glyphs", splits, description="Unicode characters from matplotlib's fonts"
    )
