"""Which characters are ``glyphs`` classes, and which split each Unicode block goes to.

The class list is package data (``data/splits/glyphs_classes.tsv``, columns ``split``,
``block``, ``codepoint``, ``name``) so that it is reviewable and fixed; :func:`select_classes`
is how it was made and a test checks that it still reproduces the file. A code point of a
block below becomes a class when

- it is a letter or a symbol (Unicode category ``L*`` or ``S*``, not a modifier ``Lm``/``Sk``)
  with no canonical decomposition (so ``é`` is not a class of its own beside ``e``);
- at least :data:`MIN_FACES` bundled faces map it (see ``glyph_render``), and its glyph is at
  least a quarter of an em tall or wide (drops dots and dashes);
- its DejaVu Sans glyph is not a near copy of a class kept earlier (Cyrillic ``а`` and Greek
  ``α``-like homoglyphs of Latin letters, ``∆`` beside Greek ``Δ``): blocks are visited in the
  order listed, so the first owner keeps the shape.

Blocks with more eligible characters than :data:`MAX_PER_BLOCK` keep their first ones.
"""

from __future__ import annotations

import unicodedata
from importlib import resources
from typing import NamedTuple

import numpy as np

from .glyph_render import MASTER_SIZE, faces_for, render_master

MIN_FACES = 4
MAX_PER_BLOCK = 150
DUPLICATE_SIMILARITY = 0.95  # cosine similarity of 2x-downsampled DejaVu Sans glyphs
CLASS_FILE = "glyphs_classes.tsv"

# (split, block name, [(first, last), ...]) in ownership order for the homoglyph check.
BLOCKS: tuple[tuple[str, str, tuple[tuple[int, int], ...]], ...] = (
    ("base", "Latin", ((0x41, 0x7A), (0xC0, 0x24F))),
    ("base", "IPA Extensions", ((0x250, 0x2AF),)),
    ("val", "Greek", ((0x370, 0x3FF),)),
    ("base", "Cyrillic", ((0x400, 0x52F),)),
    ("novel", "Armenian", ((0x530, 0x58F),)),
    ("novel", "Hebrew", ((0x590, 0x5FF),)),
    ("novel", "Arabic", ((0x600, 0x6FF),)),
    ("val", "Lao", ((0xE80, 0xEFF),)),
    ("novel", "Georgian", ((0x10A0, 0x10FF),)),
    ("base", "Canadian Syllabics", ((0x1400, 0x167F),)),
    ("val", "Letterlike Symbols", ((0x2100, 0x214F),)),
    ("base", "Arrows", ((0x2190, 0x21FF), (0x27F0, 0x27FF), (0x2900, 0x297F))),
    ("base", "Mathematical Operators", ((0x2200, 0x22FF), (0x2A00, 0x2AFF))),
    ("novel", "Miscellaneous Technical", ((0x2300, 0x23FF),)),
    ("novel", "Geometric Shapes", ((0x25A0, 0x25FF),)),
    ("base", "Miscellaneous Symbols", ((0x2600, 0x26FF),)),
    ("novel", "Dingbats", ((0x2700, 0x27BF),)),
)


class GlyphClass(NamedTuple):
    split: str
    block: str
    codepoint: int
    name: str


def _eligible(cp: int) -> bool:
    ch = chr(cp)
    cat = unicodedata.category(ch)
    return cat[0] in "LS" and cat not in ("Lm", "Sk") and unicodedata.decomposition(ch) == ""


def _reference(cp: int) -> np.ndarray:
    """DejaVu Sans glyph centred on a fixed canvas, 2x downsampled: ``[48 * 48]`` float, unit norm."""
    m = render_master("DejaVuSans.ttf", cp)
    side = 2 * MASTER_SIZE
    canvas = np.zeros((side, side), np.float64)
    h, w = min(m.shape[0], side), min(m.shape[1], side)
    top, left = (side - h) // 2, (side - w) // 2
    canvas[top : top + h, left : left + w] = m[:h, :w]
    v = canvas.reshape(MASTER_SIZE, 2, MASTER_SIZE, 2).mean(axis=(1, 3)).ravel()  # [48 * 48]
    return v / max(np.linalg.norm(v), 1e-9)


def select_classes() -> list[GlyphClass]:
    """Apply the rules of the module docstring to the bundled fonts (a few seconds)."""
    # Pass 1: the eligible candidates of every block, in order, with their reference shapes.
    cands: list[tuple[str, str, int]] = []
    refs = []
    for split, block, ranges in BLOCKS:
        for first, last in ranges:
            for cp in range(first, last + 1):
                faces = faces_for(cp) if _eligible(cp) else []
                if "DejaVuSans.ttf" not in faces or len(faces) < MIN_FACES:
                    continue
                if max(render_master("DejaVuSans.ttf", cp).shape) < MASTER_SIZE // 4:
                    continue
                cands.append((split, block, cp))
                refs.append(_reference(cp))
    sim = np.stack(refs) @ np.stack(refs).T  # [n_cands, n_cands] cosine similarity
    # Pass 2: keep a shape unless an earlier kept one is a near copy (capped blocks included).
    owners: list[int] = []
    kept: list[GlyphClass] = []
    per_block: dict[str, int] = {}
    for i, (split, block, cp) in enumerate(cands):
        if owners and float(sim[i, owners].max()) > DUPLICATE_SIMILARITY:
            continue
        owners.append(i)
        if per_block.get(block, 0) < MAX_PER_BLOCK:
            per_block[block] = per_block.get(block, 0) + 1
            kept.append(GlyphClass(split, block, cp, unicodedata.name(chr(cp), f"U+{cp:04X}")))
    return kept


def format_classes(classes: list[GlyphClass]) -> str:
    lines = [
        "# split\tblock\tcodepoint\tname (made by fewshot_clce.data.glyph_classes.select_classes)"
    ]
    lines += [f"{c.split}\t{c.block}\tU+{c.codepoint:04X}\t{c.name}" for c in classes]
    return "\n".join(lines) + "\n"


def load_classes() -> list[GlyphClass]:
    """The committed class list (package data)."""
    text = (
        resources.files("fewshot_clce.data")
        .joinpath("splits")
        .joinpath(CLASS_FILE)
        .read_text(encoding="utf-8")
    )
    out = []
    for line in text.splitlines():
        if line and not line.startswith("#"):
            split, block, cp, name = line.split("\t")
            out.append(GlyphClass(split, block, int(cp[2:], 16), name))
    return out


def class_counts(classes: list[GlyphClass]) -> dict[str, int]:
    counts = {"base": 0, "val": 0, "novel": 0}
    for c in classes:
        counts[c.split] += 1
    return counts
