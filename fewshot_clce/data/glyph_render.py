"""Rendering for the ``glyphs`` dataset: matplotlib's bundled fonts, stroke and affine jitter.

Every step is chosen so that the same seed gives the same bytes on every machine:

- glyph masters come from FreeType through Pillow (``ImageFont``, basic layout, so no
  shaping library that one machine has and another lacks), rasterised at one fixed size;
  FreeType computes in fixed point, so its bitmaps do not depend on the CPU;
- stroke changes are exact integer max/min filters in numpy;
- the affine and elastic jitter draw their parameters from an explicit ``numpy.random.Generator`` and
  builds the rotation from ``tan(theta / 2)`` with plain arithmetic (no libm ``sin``/``cos``,
  whose last bit may differ between platforms); sampling is bilinear in float64 numpy,
  whose element-wise ``+``, ``*`` and ``floor`` are exactly rounded IEEE operations.

What the bytes still depend on is the font files and the FreeType version (matplotlib and
Pillow versions); :func:`render_env_key` hashes both, and the dataset cache is keyed by it.
They also rely on numpy keeping the streams of ``Generator.uniform``, ``integers`` and
``permutation`` (unchanged since numpy 1.17).
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

MASTER_SIZE = 48  # font size (px per em) of the masters; the output is drawn at 2x, then halved
EM_FRACTION = 0.8  # an em spans this fraction of the output image's side
# Faces used for every script they cover (file name, face label).
UNICODE_FACES = (
    ("DejaVuSans.ttf", "DejaVu Sans"),
    ("DejaVuSans-Bold.ttf", "DejaVu Sans Bold"),
    ("DejaVuSans-Oblique.ttf", "DejaVu Sans Oblique"),
    ("DejaVuSans-BoldOblique.ttf", "DejaVu Sans Bold Oblique"),
    ("DejaVuSerif.ttf", "DejaVu Serif"),
    ("DejaVuSerif-Bold.ttf", "DejaVu Serif Bold"),
    ("DejaVuSerif-Italic.ttf", "DejaVu Serif Italic"),
    ("DejaVuSerif-BoldItalic.ttf", "DejaVu Serif Bold Italic"),
    ("DejaVuSansMono.ttf", "DejaVu Sans Mono"),
    ("DejaVuSansMono-Bold.ttf", "DejaVu Sans Mono Bold"),
    ("DejaVuSansMono-Oblique.ttf", "DejaVu Sans Mono Oblique"),
    ("DejaVuSansMono-BoldOblique.ttf", "DejaVu Sans Mono Bold Oblique"),
    ("STIXGeneral.ttf", "STIX"),
    ("STIXGeneralBol.ttf", "STIX Bold"),
    ("STIXGeneralItalic.ttf", "STIX Italic"),
    ("STIXGeneralBolIta.ttf", "STIX Bold Italic"),
)
# The Computer Modern files map their TeX encoding, not Unicode: only ASCII letters are trusted.
ASCII_LETTER_FACES = (
    ("cmr10.ttf", "CM Roman"),
    ("cmb10.ttf", "CM Bold"),
    ("cmti10.ttf", "CM Text Italic"),
    ("cmmi10.ttf", "CM Math Italic"),
    ("cmss10.ttf", "CM Sans"),
    ("cmtt10.ttf", "CM Typewriter"),
)
ASCII_LETTERS = frozenset(range(0x41, 0x5B)) | frozenset(range(0x61, 0x7B))


@dataclass(frozen=True)
class Jitter:
    """Strength of the per-sample augmentation (uniform ranges, symmetric about 0)."""

    rotation_t: float = 0.2  # bound on tan(theta / 2): about +-23 degrees
    shear: float = 0.3  # x += shear * y
    log_scale: float = 0.25  # overall scale factor exp(U(-a, a))
    log_aspect: float = 0.12  # x/y aspect exp(U(-a, a))
    shift: float = 2.5  # translation, output pixels
    stroke: tuple[int, ...] = (
        -1,
        0,
        0,
        1,
        1,
        2,
    )  # erode (-1) / keep / dilate by n px at master size
    elastic: float = 2.0  # bound on the smooth displacement of every point, output pixels
    elastic_grid: int = (
        4  # the displacement field is interpolated from a grid of this many points a side
    )


def font_dir() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


def faces_for(codepoint: int) -> list[str]:
    """File names of the faces whose character map holds ``codepoint`` (trusted faces only)."""
    cmaps = _charmaps()
    pool = UNICODE_FACES + (ASCII_LETTER_FACES if codepoint in ASCII_LETTERS else ())
    return [f for f, _ in pool if codepoint in cmaps[f]]


@functools.cache
def _charmaps() -> dict[str, frozenset]:
    from matplotlib.ft2font import FT2Font

    return {
        f: frozenset(FT2Font(str(font_dir() / f)).get_charmap())
        for f, _ in UNICODE_FACES + ASCII_LETTER_FACES
    }


@functools.cache
def _font(file: str):
    from PIL import ImageFont

    return ImageFont.truetype(
        str(font_dir() / file), MASTER_SIZE, layout_engine=ImageFont.Layout.BASIC
    )


def render_master(file: str, codepoint: int) -> np.ndarray:
    """The glyph of ``codepoint`` in face ``file`` at :data:`MASTER_SIZE`, cropped to its ink.

    Returns:
        ``[h, w]`` uint8, ink 255 on 0; ``[0, 0]`` when the glyph draws nothing.
    """
    mask, _ = _font(file).getmask2(chr(codepoint), mode="L")
    w, h = mask.size
    img = np.asarray(mask, dtype=np.uint8).reshape(h, w)  # flat core image -> [h, w]
    rows, cols = np.flatnonzero(img.max(1)), np.flatnonzero(img.max(0))
    if not len(rows):
        return np.zeros((0, 0), np.uint8)
    return np.ascontiguousarray(img[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1])


def stroke(img: np.ndarray, n: int) -> np.ndarray:
    """Dilate (``n > 0``) or erode (``n < 0``) ``[h, w]`` uint8 ink by ``|n|`` px (3x3 max/min filter).

    Returns:
        ``[h + 2 max(n, 0), w + 2 max(n, 0)]`` so that dilated ink is not clipped.
    """
    pad = max(n, 0)
    out = _padded(img, pad)
    for _ in range(abs(n)):
        p = _padded(out, 1)
        h, w = out.shape
        shifts = [p[dy : dy + h, dx : dx + w] for dy in range(3) for dx in range(3)]
        out = np.maximum.reduce(shifts) if n > 0 else np.minimum.reduce(shifts)
    return out


def _padded(img: np.ndarray, pad: int, dtype=None) -> np.ndarray:
    out = np.zeros((img.shape[0] + 2 * pad, img.shape[1] + 2 * pad), dtype=dtype or img.dtype)
    out[pad : pad + img.shape[0], pad : pad + img.shape[1]] = img
    return out


def warp(
    masters: Sequence[np.ndarray],
    size: int,
    fit: float,
    params: np.ndarray,
    field: Optional[np.ndarray] = None,
) -> np.ndarray:
    """Place each master ``[h_i, w_i]`` uint8 centred in a ``[size, size]`` image under its affine.

    A glyph keeps its size relative to the em (so ``o`` stays smaller than ``O``) unless it
    is wider or taller than ``fit * size``; then it is shrunk to fit. Drawn at twice the
    resolution and averaged 2x2, which anti-aliases the bilinear sampling; then each image
    is scaled so that its darkest ink is 255.

    Args:
        masters: ``n`` glyph images.
        params: ``[n, 6]`` rotation ``tan(theta / 2)``, shear, log scale, log aspect, shift x,
            shift y in output pixels (see :func:`draw_params`).
        field: optional ``[n, 2, g, g]`` x and y displacements in output pixels on a coarse
            grid, interpolated bilinearly over the image: a smooth, hand-drawn-like wobble.

    Returns:
        ``[n, size, size]`` uint8.
    """
    n, big = len(masters), 2 * size
    hs = np.array([m.shape[0] for m in masters], dtype=np.float64)
    ws = np.array([m.shape[1] for m in masters], dtype=np.float64)
    # Zero border of one pixel, so that samples outside a glyph read 0: [n, H + 2, W + 2].
    src = np.zeros((n, int(hs.max()) + 2, int(ws.max()) + 2), dtype=np.float64)
    for i, m in enumerate(masters):
        src[i, 1 : m.shape[0] + 1, 1 : m.shape[1] + 1] = m
    t, shear, log_scale, log_aspect, dx, dy = params.T  # each [n]
    # Masters are drawn at MASTER_SIZE px/em; the output shows an em as EM_FRACTION of its side.
    base = np.minimum(
        big * EM_FRACTION / MASTER_SIZE, fit * big / np.maximum(np.maximum(hs, ws), 1)
    )
    scale, aspect = base * _exp(log_scale), _exp(log_aspect / 2)
    sx, sy = scale * aspect, scale / aspect
    cos, sin = (1 - t * t) / (1 + t * t), 2 * t / (1 + t * t)
    # forward map of an offset v from the glyph centre: R @ [[1, shear], [0, 1]] @ diag(sx, sy) @ v
    f00, f01 = cos * sx, (cos * shear - sin) * sy
    f10, f11 = sin * sx, (sin * shear + cos) * sy
    det = f00 * f11 - f01 * f10
    i00, i01, i10, i11 = (v[:, None, None] for v in (f11 / det, -f01 / det, -f10 / det, f00 / det))
    grid = np.arange(big, dtype=np.float64) + 0.5 - big / 2
    ox = grid[None, None, :] - 2 * dx[:, None, None]  # [n, 1, big] output x offsets from the centre
    oy = grid[None, :, None] - 2 * dy[:, None, None]  # [n, big, 1]
    if field is not None:
        ox = ox + 2 * _upsample(field[:, 0], big)  # [n, big, big]
        oy = oy + 2 * _upsample(field[:, 1], big)
    w3, h3 = ws[:, None, None], hs[:, None, None]
    # source coordinates in the padded array (pixel centres at integers): [n, big, big]
    x = np.clip(i00 * ox + i01 * oy + w3 / 2 + 0.5, 0, w3 + 0.999)
    y = np.clip(i10 * ox + i11 * oy + h3 / 2 + 0.5, 0, h3 + 0.999)
    x0, y0 = np.floor(x), np.floor(y)
    fx, fy = x - x0, y - y0
    rows, cols = src.shape[1:]
    # flat index of the top-left neighbour in src: [n, big, big]
    flat = (np.arange(n)[:, None, None] * rows + y0.astype(np.int64)) * cols + x0.astype(np.int64)
    src_flat = src.ravel()  # [n * rows * cols]
    top = src_flat.take(flat) * (1 - fx) + src_flat.take(flat + 1) * fx
    bottom = src_flat.take(flat + cols) * (1 - fx) + src_flat.take(flat + cols + 1) * fx
    out = top * (1 - fy) + bottom * fy  # [n, big, big]
    quad = out.reshape(n, size, 2, size, 2)  # [n, size, 2, size, 2]
    # 2x2 average -> [n, size, size], summed in a fixed order (a reduction's order may vary by CPU)
    out = (
        (quad[:, :, 0, :, 0] + quad[:, :, 0, :, 1]) + (quad[:, :, 1, :, 0] + quad[:, :, 1, :, 1])
    ) * 0.25
    # Hairlines of glyphs shrunk to fit come out faint: stretch every image to a full-ink peak.
    peak = np.maximum(out.max(axis=(1, 2), keepdims=True), 1.0)
    return np.rint(out * (255.0 / peak)).astype(np.uint8)


def _upsample(coarse: np.ndarray, big: int) -> np.ndarray:
    """Bilinear interpolation of ``[n, g, g]`` corner values over ``[n, big, big]``, element-wise
    (no BLAS, whose summation order may differ between machines)."""
    g = coarse.shape[1]
    pos = np.arange(big, dtype=np.float64) * (
        (g - 1) / (big - 1)
    )  # [big] position on the coarse grid
    i0 = np.minimum(np.floor(pos).astype(np.int64), g - 2)
    f = pos - i0
    cols = coarse[:, :, i0] * (1 - f) + coarse[:, :, i0 + 1] * f  # [n, g, big]
    return cols[:, i0, :] * (1 - f)[:, None] + cols[:, i0 + 1, :] * f[:, None]  # [n, big, big]


def _exp(v: np.ndarray) -> np.ndarray:
    # 1 + v + v^2/2 + v^3/6 + v^4/24: arithmetic only, so no libm differences between machines;
    # close to exp for the small |v| used here.
    return 1 + v * (1 + v * (0.5 + v * (1 / 6 + v / 24)))


def draw_params(
    rng: np.random.Generator, n: int, jitter: Jitter
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` samples' affine parameters ``[n, 6]``, stroke steps ``[n]`` and displacement fields
    ``[n, 2, g, g]`` (see :func:`warp`)."""
    bounds = np.array(
        [
            jitter.rotation_t,
            jitter.shear,
            jitter.log_scale,
            jitter.log_aspect,
            jitter.shift,
            jitter.shift,
        ]
    )
    params = rng.uniform(-1.0, 1.0, size=(n, 6)) * bounds
    strokes = np.asarray(jitter.stroke, dtype=np.int64)[rng.integers(0, len(jitter.stroke), size=n)]
    g = jitter.elastic_grid
    field = rng.uniform(-1.0, 1.0, size=(n, 2, g, g)) * jitter.elastic
    return params, strokes, field


def render_class(
    codepoint: int,
    faces: Sequence[str],
    n: int,
    size: int,
    rng: np.random.Generator,
    jitter: Jitter = Jitter(),
    fit: float = 0.9,
) -> tuple[np.ndarray, list[str]]:
    """``n`` renderings of one character, cycling through ``faces`` in a random order.

    Returns:
        images ``[n, size, size]`` uint8 and the face file of each.
    """
    order = rng.permutation(len(faces))
    chosen = [faces[order[i % len(faces)]] for i in range(n)]
    params, strokes, field = draw_params(rng, n, jitter)
    plain = {face: render_master(face, codepoint) for face in set(chosen)}
    masters = []
    for face, k in zip(chosen, strokes.tolist()):
        m = plain[face]
        s = stroke(m, k)
        # thin strokes (Computer Modern hairlines) vanish when eroded: keep the master then
        keep = k >= 0 or s.sum(dtype=np.int64) > 0.5 * m.sum(dtype=np.int64)
        masters.append(s if keep else m)
    return warp(masters, size, fit, params, field), chosen


@functools.cache
def render_env_key() -> str:
    """sha256 (12 hex) of the font files used and the FreeType version: what the pixels depend on."""
    from PIL import features

    h = hashlib.sha256(f"freetype {features.version('freetype2')}\n".encode())
    for f, _ in UNICODE_FACES + ASCII_LETTER_FACES:
        p = font_dir() / f
        h.update(f"{f} {os.path.getsize(p)}\n".encode())
        h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()[:12]
