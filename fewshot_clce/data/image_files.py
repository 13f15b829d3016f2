"""Reading image files safely: regular files only, a bounded pixel count, 16-bit grayscale
scaled to 8 bits, decoded into uint8 arrays or float tensors in [0, 1]."""

from __future__ import annotations

import io
import os
import stat
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Optional, Union

import numpy as np
import torch

from .decoded import to_float_images

# The most pixels an image may declare: 8192 x 8192, 192 MiB decoded as RGB. Few-shot images are
# resized to a few hundred pixels at most; a header declaring more is a damaged file or a
# decompression bomb (a few KB that decode to gigabytes). Below Pillow's own warning threshold
# (about 89 megapixels), so an accepted image never triggers it.
MAX_IMAGE_PIXELS = 1 << 26


def _check_regular(mode: int, name: str) -> None:
    """Refuse anything but a regular file (``mode`` from ``stat``), naming ``name`` and what it is."""
    if stat.S_ISREG(mode):
        return
    kind = (
        "a FIFO"
        if stat.S_ISFIFO(mode)
        else "a socket"
        if stat.S_ISSOCK(mode)
        else "a device"
        if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
        else "a folder"
        if stat.S_ISDIR(mode)
        else "not a plain file"
    )
    raise ValueError(
        f"image {name!r} is not a regular file ({kind}); only regular files are read as "
        "images: move it out of the dataset"
    )


@contextmanager
def open_image(source: Union[str, os.PathLike, bytes], name: Optional[str] = None) -> Iterator:
    """A Pillow image with only its header read, from a file path or encoded bytes.

    Only regular files are opened as images: a FIFO would block the reader forever, a device
    would be read without end. The file is opened non-blocking and checked before Pillow sees it.
    The declared size is checked against :data:`MAX_IMAGE_PIXELS` before any pixel is decoded.

    Args:
        source: path of an image file, or the bytes of an encoded image.
        name: what to call the image in errors (default: the path).

    Raises:
        ValueError: naming the image, when it is not a regular file, declares more than
            :data:`MAX_IMAGE_PIXELS` pixels, or is missing, unreadable or not an image.
    """
    from PIL import Image, UnidentifiedImageError

    name = name or str(source)
    fp: BinaryIO
    if isinstance(source, (bytes, bytearray)):
        fp = io.BytesIO(source)
    else:
        try:
            # stat first, so that a FIFO or device is never opened; then open non-blocking (a FIFO
            # swapped in meanwhile returns at once instead of waiting for a writer) and check again.
            _check_regular(os.stat(source).st_mode, name)
            fd = os.open(source, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        except OSError as e:
            raise ValueError(f"cannot read image {name!r}: {e.strerror or e}") from None
        try:
            _check_regular(os.fstat(fd).st_mode, name)
        except ValueError:
            os.close(fd)
            raise
        fp = os.fdopen(fd, "rb")
    with fp:
        try:
            with warnings.catch_warnings():
                # Pillow warns between its two bomb thresholds and raises above; either is ours to report.
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                im = Image.open(fp)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
            raise ValueError(
                f"image {name!r} declares more than the {MAX_IMAGE_PIXELS} pixels this toolkit "
                f"decodes ({str(e).rstrip('.')}: a damaged file or a decompression bomb); "
                "shrink it or remove it"
            ) from None
        except (UnidentifiedImageError, OSError, SyntaxError) as e:
            raise ValueError(f"cannot read image {name!r}: {e}") from None
        with im:
            width, height = im.size
            if width * height > MAX_IMAGE_PIXELS:
                raise ValueError(
                    f"image {name!r} declares {width} x {height} pixels, more than the "
                    f"{MAX_IMAGE_PIXELS} pixels this toolkit decodes (a damaged file or a "
                    "decompression bomb); shrink it or remove it"
                )
            yield im


def _to_8bit(im):
    """A 16-bit (or 32-bit integer) grayscale image scaled to 8 bits over its full range.

    Pillow's ``convert("L")`` clips such pixels at 255 (a 0-65535 gradient becomes two values);
    scaling maps 0..65535 onto 0..255, the range every image of this toolkit is read in (the
    pixels are then divided by 255 into the model's [0, 1]). Other images are returned as they are.
    """
    from PIL import Image

    if not (im.mode == "I" or im.mode.startswith("I;16")):
        return im
    pixels = np.asarray(im).astype(np.float64)
    scaled = np.clip(pixels, 0, 65535) * (255.0 / 65535.0)
    return Image.fromarray(np.rint(scaled).astype(np.uint8), mode="L")


def decode_array(
    im, mode: str = "RGB", size: Optional[tuple] = None, name: str = "<image>"
) -> np.ndarray:
    """An open Pillow image decoded into uint8 ``[H, W]`` (one channel) or ``[H, W, C]``.

    Raises:
        ValueError: naming the image when its pixel data is damaged.
    """
    from PIL import Image

    try:
        im = _to_8bit(im).convert(mode)
        if size is not None:
            im = im.resize((size[1], size[0]), Image.Resampling.BILINEAR)
        return np.array(im, dtype=np.uint8)
    except (OSError, SyntaxError) as e:
        raise ValueError(f"cannot read image {name!r}: {e}") from None


def decode_image(
    im, mode: str = "RGB", size: Optional[tuple] = None, name: str = "<image>"
) -> torch.Tensor:
    """An open Pillow image decoded into ``[C, H, W]`` float32 in [0, 1].

    Raises:
        ValueError: naming the image when its pixel data is damaged.
    """
    return to_float_images(decode_array(im, mode, size, name)[None])[0]


def read_array(path: Path, mode: str = "RGB", size: Optional[tuple] = None) -> np.ndarray:
    """Read one image file into uint8 ``[H, W]`` (one channel) or ``[H, W, C]``.

    Raises:
        ValueError: as :func:`read_image`.
    """
    with open_image(path) as im:
        return decode_array(im, mode, size, str(path))


def read_image(path: Path, mode: str = "RGB", size: Optional[tuple] = None) -> torch.Tensor:
    """Read one image file into ``[C, H, W]`` float32 in [0, 1].

    Raises:
        ValueError: naming the file when it is missing, not a regular file, unreadable, not an
            image, or larger than :data:`MAX_IMAGE_PIXELS`.
    """
    return to_float_images(read_array(path, mode, size)[None])[0]
