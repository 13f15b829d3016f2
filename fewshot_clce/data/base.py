"""Split and dataset objects: what every loader returns and everything downstream indexes."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from ._filehash import file_digests
from .decoded import DecodedImages, to_float_images
from .image_files import read_array

SPLIT_NAMES = ("base", "val", "novel")


def check_utf8_name(path: str | os.PathLike, what: str = "file name") -> None:
    """Refuse a file name that is not valid UTF-8 (Python holds its bytes as lone surrogates,
    which cannot be hashed into a fingerprint, written to a manifest or printed).

    Raises:
        ValueError: naming the path with its undecodable bytes escaped (``caf\\xe9``).
    """
    try:
        os.fspath(path).encode("utf-8")
    except UnicodeEncodeError:
        shown = os.fsencode(path).decode("utf-8", "backslashreplace")
        raise ValueError(
            f"{what} '{shown}' is not valid UTF-8 (written by a system with another "
            "encoding?); rename it, e.g. with `convmv -f latin1 -t utf8 --notest`"
        ) from None


class Split(torch.utils.data.Dataset):
    """One split of a few-shot dataset (its classes are disjoint from the other splits').

    Items are ``(image, label)`` with ``image`` a float tensor ``[C, H, W]`` in [0, 1]
    (after ``transform`` when one is set) and ``label`` the class index within this split.

    Attributes:
        dataset: name of the dataset this split belongs to.
        name: split name (``base``, ``val`` or ``novel``).
        labels: ``[N]`` int64 class index of every sample.
        class_names: name of every class, indexed by label.
        transform: optional callable applied to the image tensor in ``__getitem__``.
    """

    def __init__(
        self,
        dataset: str,
        name: str,
        labels: Sequence[int] | np.ndarray,
        class_names: Sequence[str],
        transform: Optional[Callable] = None,
    ):
        self.dataset = dataset
        self.name = name
        self.labels = np.asarray(labels, dtype=np.int64)
        self.class_names = list(class_names)
        self.transform = transform
        if self.labels.ndim != 1:
            raise ValueError(f"labels must be 1-D, got shape {self.labels.shape}")
        if len(self.labels) and (
            self.labels.min() < 0 or self.labels.max() >= len(self.class_names)
        ):
            raise ValueError(f"labels must lie in [0, {len(self.class_names)}) for split {name!r}")
        self._fingerprint: Optional[str] = None

    # -- subclasses implement these two ---------------------------------------------------
    def get_image(self, index: int) -> torch.Tensor:
        """The raw image ``[C, H, W]`` float32 in [0, 1], without ``transform``."""
        raise NotImplementedError

    def _identity(self) -> Iterable[bytes]:
        """Bytes that identify the samples (their content or their files), in order."""
        raise NotImplementedError

    # -- shared behaviour -------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int):
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(
                f"index {index} out of range for split {self.name!r} of {len(self)} samples"
            )
        img = self.get_image(index)
        if self.transform is not None:
            img = self.transform(img)
        return img, int(self.labels[index])

    def get_images(self, indices: Sequence[int]) -> torch.Tensor:
        """Raw images ``[B, C, H, W]`` float32 (no transform), for batched feature extraction."""
        return torch.stack([self.get_image(int(i)) for i in indices])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def class_counts(self) -> np.ndarray:
        """``[num_classes]`` number of samples per class."""
        return np.bincount(self.labels, minlength=self.num_classes)

    @property
    def image_shape(self) -> tuple:
        return tuple(self.get_image(0).shape) if len(self) else ()

    def indices_of(self, label: int) -> np.ndarray:
        return np.flatnonzero(self.labels == label)

    @property
    def fingerprint(self) -> str:
        """Stable sha256 (first 16 hex digits) of dataset, split, class names, labels and samples."""
        if self._fingerprint is None:
            h = hashlib.sha256()
            h.update(f"{self.dataset}\0{self.name}\0".encode())
            h.update("\0".join(self.class_names).encode())
            h.update(self.labels.astype("<i8").tobytes())
            for chunk in self._identity():
                h.update(chunk)
            self._fingerprint = h.hexdigest()[:16]
        return self._fingerprint

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(dataset={self.dataset!r}, split={self.name!r}, "
            f"classes={self.num_classes}, images={len(self)}, fingerprint={self.fingerprint})"
        )


class ArraySplit(Split):
    """A split held in memory as a uint8 array ``[N, H, W]`` (grayscale) or ``[N, H, W, C]``."""

    def __init__(
        self,
        dataset: str,
        name: str,
        images: np.ndarray,
        labels: Sequence[int] | np.ndarray,
        class_names: Sequence[str],
        transform: Optional[Callable] = None,
    ):
        super().__init__(dataset, name, labels, class_names, transform)
        images = np.ascontiguousarray(images)
        if images.dtype != np.uint8:
            raise ValueError(f"images must be uint8, got {images.dtype}")
        if images.ndim not in (3, 4) or len(images) != len(self.labels):
            raise ValueError(
                f"images must be [N, H, W] or [N, H, W, C] with N = {len(self.labels)} labels, "
                f"got shape {images.shape}"
            )
        self.images = images

    def get_image(self, index: int) -> torch.Tensor:
        return self.get_images([index])[0]

    def get_images(self, indices: Sequence[int]) -> torch.Tensor:
        return to_float_images(self.images[np.asarray(indices, dtype=np.int64)])

    def _identity(self) -> Iterable[bytes]:
        yield str(self.images.shape).encode()
        yield self.images.tobytes()


class FileSplit(DecodedImages, Split):
    """A split whose images are files read lazily with Pillow (or, after :meth:`preload`, from
    an array of the decoded images: see :mod:`fewshot_clce.data.decoded`).

    Args:
        root: folder the ``paths`` are relative to. The fingerprint covers the relative paths and a
            SHA-256 of each file's content (memoised per machine, see :mod:`._filehash`), so it
            survives a copy of the images and changes when any image changes.
        paths: image file of every sample.
        mode: Pillow mode to convert to (``"L"`` or ``"RGB"``).
        size: optional ``(height, width)`` every image is resized to.
    """

    def __init__(
        self,
        dataset: str,
        name: str,
        root: str | Path,
        paths: Sequence[str | Path],
        labels: Sequence[int] | np.ndarray,
        class_names: Sequence[str],
        mode: str = "RGB",
        size: Optional[tuple] = None,
        transform: Optional[Callable] = None,
    ):
        super().__init__(dataset, name, labels, class_names, transform)
        self.root = Path(root)
        self.paths = [Path(p) for p in paths]
        for p in self.paths:
            check_utf8_name(self.root / p)
        if len(self.paths) != len(self.labels):
            raise ValueError(f"{len(self.paths)} paths but {len(self.labels)} labels")
        self.mode = mode
        self.size = tuple(size) if size else None

    def _read(self, index: int) -> np.ndarray:
        return read_array(self.root / self.paths[index], self.mode, self.size)

    def _describe(self, index: int) -> str:
        return f"image {str(self.root / self.paths[index])!r}"

    def _identity(self) -> Iterable[bytes]:
        # Relative paths and content digests: a copy of the same images elsewhere keeps the
        # fingerprint, a changed image changes it (and the feature cache key with it).
        for p, digest in zip(self.paths, file_digests(self.root, self.paths)):
            yield f"{p.as_posix()}\0{digest}\n".encode()


class FewShotDataset:
    """A dataset's ``base`` / ``val`` / ``novel`` splits, with disjoint classes.

    Args:
        name: registry name (``glyphs``, ``folder:/path``, ...).
        splits: split name -> :class:`Split`.
        description: one line for listings.
    """

    def __init__(self, name: str, splits: Mapping[str, Split], description: str = ""):
        self.name = name
        self.splits = dict(splits)
        self.description = description
        seen: dict[str, str] = {}
        for sname, split in self.splits.items():
            for c in split.class_names:
                if c in seen:
                    raise ValueError(
                        f"class {c!r} is in both the {seen[c]!r} and {sname!r} splits of {name!r}"
                    )
                seen[c] = sname

    def rename(self, name: str) -> None:
        """Name the dataset and every split ``name`` (fingerprints include it, so they are redone)."""
        self.name = name
        for split in self.splits.values():
            if split.dataset != name:
                split.dataset = name
                split._fingerprint = None

    def split(self, name: str) -> Split:
        try:
            return self.splits[name]
        except KeyError:
            raise ValueError(
                f"dataset {self.name!r} has no split {name!r}; "
                f"its splits are: {', '.join(self.splits)}"
            ) from None

    __getitem__ = split

    def summary(self) -> list[dict]:
        return [
            dict(
                dataset=self.name,
                split=s.name,
                classes=s.num_classes,
                images=len(s),
                min_per_class=int(s.class_counts.min()) if len(s) else 0,
                image_shape="x".join(map(str, s.image_shape)),
                fingerprint=s.fingerprint,
            )
            for s in self.splits.values()
        ]

    def __repr__(self) -> str:
        parts = ", ".join(f"{k}={v.num_classes}c/{len(v)}i" for k, v in self.splits.items())
        return f"FewShotDataset({self.name!r}: {parts})"
