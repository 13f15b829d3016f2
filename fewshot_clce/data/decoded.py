"""Splits that decode their images on access, and the cache that decodes each image once.

Image files (``folder:``, CUB, miniImageNet, Omniglot) and encoded blobs (tieredImageNet) are
decoded and resized by Pillow at every read: a training epoch decodes every image again, and
decoding a PNG costs more than the training step on it. :meth:`DecodedImages.preload` decodes
every image once (DataLoader worker processes share the work) into a uint8 array, after which the
split serves batches from it as :class:`~fewshot_clce.data.base.ArraySplit` does:

- in memory, when the array takes at most a quarter of the memory available (``MemAvailable``);
- else in a memory-mapped ``.npy`` file under ``$FEWSHOT_CLCE_CACHE/decoded``, named by the
  split's fingerprint and the decoded shape. The fingerprint covers every file's content, so a
  changed image gives another file name and is never served from an old cache; the file is
  written atomically, so an interrupted pass leaves nothing behind. Later trainings on the same
  data open it without decoding anything.

The cached pixels are exactly those :meth:`~DecodedImages.get_image` decodes (the same uint8
values, divided by 255 the same way).
"""

from __future__ import annotations

import hashlib
import logging
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Union

import numpy as np
import torch

from ..utils import files as _io

log = logging.getLogger(__name__)

FORMAT = 2  # bump when what a cache file holds changes (2: 16-bit images scaled, not clipped)
CHUNK = 256  # images per worker task of the decoding pass
MEMORY_SHARE = 0.25  # of the available memory, the most an in-memory cache may take


def to_float_images(images: np.ndarray) -> torch.Tensor:
    """uint8 images ``[B, H, W]`` (grayscale) or ``[B, H, W, C]`` -> float32 ``[B, C, H, W]`` in [0, 1]."""
    x = torch.from_numpy(np.ascontiguousarray(images))
    x = x.unsqueeze(1) if x.ndim == 3 else x.permute(0, 3, 1, 2)  # -> [B, C, H, W]
    return x.float().div_(255.0)


def available_memory() -> int:
    """Bytes of memory available to new allocations (Linux ``MemAvailable``; 0 when unknown)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 0


class _Chunks(torch.utils.data.Dataset):
    """Item ``i``: ``(start, uint8 [b, ...])``, the ``i``-th run of images decoded by ``split._read``."""

    def __init__(self, split: DecodedImages, shape: tuple[int, ...]):
        self.split, self.shape = split, shape

    def __len__(self) -> int:
        return -(-len(self.split) // CHUNK)

    def __getitem__(self, i: int):
        start = i * CHUNK
        stop = min(start + CHUNK, len(self.split))
        out = np.empty((stop - start, *self.shape), dtype=np.uint8)
        for k in range(start, stop):
            img = self.split._read(k)
            if img.shape != self.shape:
                raise ValueError(
                    f"{self.split._describe(k)} decodes to shape {img.shape}, sample 0 to "
                    f"{self.shape}; a split's images must share one size (give the loader a size)"
                )
            out[k - start] = img
        return start, torch.from_numpy(out)


class DecodedImages:
    """Mixin for a :class:`~fewshot_clce.data.base.Split` whose images are decoded on access.

    The split implements :meth:`_read` (sample ``index`` as decoded uint8 pixels) and
    :meth:`_describe`; this class provides ``get_image`` / ``get_images`` on top, and
    :meth:`preload` to decode everything once.
    """

    _decoded: Optional[np.ndarray] = None
    _decoded_file: Optional[str] = None

    # What the mixin uses of the Split it is mixed into.
    dataset: str
    name: str

    if TYPE_CHECKING:

        def __len__(self) -> int: ...

        @property
        def fingerprint(self) -> str: ...

    def _read(self, index: int) -> np.ndarray:
        """Sample ``index`` decoded: uint8 ``[H, W]`` (grayscale) or ``[H, W, C]``."""
        raise NotImplementedError

    def _describe(self, index: int) -> str:
        """How errors name sample ``index`` (its file)."""
        return f"image {index} of {self.dataset}/{self.name}"

    def get_image(self, index: int) -> torch.Tensor:
        """The image ``[C, H, W]`` float32 in [0, 1], without ``transform``."""
        img = self._decoded[index] if self._decoded is not None else self._read(index)
        return to_float_images(img[None])[0]

    def get_images(self, indices: Sequence[int]) -> torch.Tensor:
        """Images ``[B, C, H, W]`` float32 in [0, 1] (no transform), for batched reads."""
        if self._decoded is not None:
            return to_float_images(self._decoded[np.asarray(indices, dtype=np.int64)])
        return torch.stack([self.get_image(int(i)) for i in indices])

    @property
    def preloaded(self) -> bool:
        """Whether the images are served from a decoded cache (:meth:`preload`)."""
        return self._decoded is not None

    def preload(
        self,
        workers: int = 0,
        cache: Union[bool, str, os.PathLike] = True,
        memory_limit: Optional[int] = None,
    ) -> Optional[str]:
        """Decode every image once; from then on they are read from the decoded array.

        Args:
            workers: DataLoader worker processes for the decoding pass (0: this process).
            cache: where an array too large for memory goes: True for
                ``cache_dir("decoded")``, a folder, or False to keep it in memory regardless.
            memory_limit: bytes the in-memory array may take (default: a quarter of the memory
                available now).

        Returns:
            ``"memory"``, the path of the memory-mapped cache file, or None when the array fits
            neither in memory nor in a cache file that can be written (a warning says why; the
            images are then decoded on access, as before).

        Raises:
            ValueError: naming an image that cannot be decoded, or one whose size differs from
                the first image's.
        """
        if self._decoded is not None:
            return self._decoded_file or "memory"
        if not len(self):
            self._decoded = np.zeros((0,), dtype=np.uint8)
            return "memory"
        path = None
        if cache is not False:
            try:
                path = (
                    _io.cache_dir("decoded") if cache is True else Path(cache)
                ) / self._cache_name()
            except PermissionError as e:  # no cache folder: memory, or decoding on access
                warnings.warn(f"decoded-image cache: {e}", stacklevel=1)
            if path is not None and _valid(
                path, len(self)
            ):  # decoded before (this or another process)
                return self._open(path)
        shape = tuple(self._read(0).shape)
        nbytes = len(self) * int(np.prod(shape))
        limit = (
            int(MEMORY_SHARE * available_memory()) if memory_limit is None else int(memory_limit)
        )
        if cache is False or nbytes <= limit:
            out = np.empty((len(self), *shape), dtype=np.uint8)
            self._fill(out, shape, workers)
            self._decoded = out
            return "memory"
        if path is None:
            return None
        log.info("decoding %d images of %s/%s into %s", len(self), self.dataset, self.name, path)
        try:
            with _io.atomic_path(
                path, what="decoded-image cache", then="the images are decoded on access"
            ) as tmp:
                out = np.lib.format.open_memmap(
                    tmp, mode="w+", dtype=np.uint8, shape=(len(self), *shape)
                )
                self._fill(out, shape, workers)
                out.flush()
                del out
        except OSError as e:  # a full disk costs the cache, not the training
            warnings.warn(f"decoded-image cache: {e}", stacklevel=1)
            return None
        return self._open(path)

    def _open(self, path: Path) -> str:
        self._decoded = np.load(path, mmap_mode="r")
        self._decoded_file = str(path)
        return str(path)

    def _fill(self, out: np.ndarray, shape: tuple[int, ...], workers: int) -> None:
        loader = torch.utils.data.DataLoader(
            _Chunks(self, shape), batch_size=None, shuffle=False, num_workers=max(0, int(workers))
        )
        for start, images in loader:
            out[start : start + len(images)] = images.numpy()

    def _cache_name(self) -> str:
        """File name keyed by everything that determines the decoded pixels: the samples and their
        content (the fingerprint), the class that decodes them, the mode and the size."""
        key = (
            f"{FORMAT}\0{type(self).__name__}\0{self.fingerprint}\0{getattr(self, 'mode', '')}\0"
            f"{getattr(self, 'size', None)}"
        )
        return f"{self.name}-{self.fingerprint}-{hashlib.sha256(key.encode()).hexdigest()[:20]}.npy"

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        if isinstance(
            state.get("_decoded"), np.memmap
        ):  # workers reopen the file instead of copying it
            state["_decoded"] = None
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        decoded_file = self.__dict__.get("_decoded_file")
        if self.__dict__.get("_decoded") is None and decoded_file:
            self._decoded = np.load(decoded_file, mmap_mode="r")


def _valid(path: Path, count: int) -> bool:
    """Whether ``path`` is a complete cache file of ``count`` images (a damaged one is rewritten)."""
    if not path.is_file():
        return False
    try:
        arr = np.load(path, mmap_mode="r")
    except (OSError, ValueError):
        return False
    return arr.dtype == np.uint8 and arr.ndim in (3, 4) and arr.shape[0] == count
