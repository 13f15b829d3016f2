"""``tiered-imagenet``: 608 ImageNet classes under 34 categories, split 351 / 97 / 160 by category
(Ren et al. 2018), 84x84 colour.

Two on-disk formats, found under the data root or its ``tiered-imagenet/`` sub-folder:

- Ren et al.'s original files, also what learn2learn downloads: ``{train,val,test}_images_png.pkl``
  (a list of PNG-encoded images, decoded lazily) and ``{train,val,test}_labels.pkl``
  (``label_specific`` [N], ``label_specific_str`` class WordNet ids, ``label_general``...);
- the decompressed copies used by MetaOptNet / RFS: ``{train,val,test}_images.npz`` (``images``
  [N, 84, 84, 3] uint8) with the same ``*_labels.pkl`` (``label_specific`` or ``labels``).
  Copies written with OpenCV hold BGR pixels; ``channels="auto"`` detects that from the channel
  means (ImageNet photos are redder than they are blue) and flips them to RGB.

Class ``i`` of a split is the ``i``-th WordNet id of ``data/splits/tiered_imagenet_<split>.txt``.
When a labels file has no class names, label ``k`` is taken to be the ``k``-th class of the split
list (the order of Ren et al.'s split CSVs, which these files were generated from).
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Optional

import numpy as np

from ..utils.safe_pickle import load_pickle
from ._classes import array_split, check_classes, labels_for, split_list
from ._download import candidate_dirs, data_roots, fetch_all, not_found
from .base import FewShotDataset, Split
from .decoded import DecodedImages
from .image_files import decode_array, open_image
from .registry import register_dataset

NAME = "tiered-imagenet"
SUBDIRS = (
    "tiered-imagenet",
    "tiered_imagenet",
    "tieredImageNet",
    "tieredimagenet",
    "tieredImagenet",
)
PREFIX = {"base": "train", "val": "val", "novel": "test"}
LISTS = {s: f"tiered_imagenet_{p}.txt" for s, p in PREFIX.items()}
FORMATS = {"png": "{}_images_png.pkl", "npz": "{}_images.npz"}
# learn2learn's public copy of Ren et al.'s files (the URLs its TieredImagenet class downloads).
L2L_URL = "https://zenodo.org/record/7978538/files/tiered-imagenet-{}"
LAYOUT = (
    "  tiered-imagenet/{train,val,test}_images_png.pkl + {train,val,test}_labels.pkl   Ren et al. / learn2learn\n"
    "  or tiered-imagenet/{train,val,test}_images.npz + {train,val,test}_labels.pkl    MetaOptNet / RFS"
)
HOW_TO_GET = (
    "learn2learn's copy of Ren et al.'s files from zenodo.org, about 12 GB; see also "
    "https://github.com/renmengye/few-shot-ssl-public."
)


class EncodedImageSplit(DecodedImages, Split):
    """A split held in memory as encoded image files (PNG / JPEG bytes), decoded on access (or, after
    :meth:`preload`, once: see :mod:`fewshot_clce.data.decoded`).

    Args:
        blobs: ``[N]`` encoded images (``bytes`` or uint8 arrays).
        mode: Pillow mode to decode to.
    """

    def __init__(
        self,
        dataset: str,
        name: str,
        blobs: Sequence,
        labels,
        class_names,
        mode: str = "RGB",
        transform=None,
    ):
        super().__init__(dataset, name, labels, class_names, transform)
        if len(blobs) != len(self.labels):
            raise ValueError(f"{len(blobs)} images but {len(self.labels)} labels")
        self.blobs = blobs
        self.mode = mode

    def _bytes(self, index: int) -> bytes:
        b = self.blobs[index]
        return b if isinstance(b, bytes) else np.asarray(b, dtype=np.uint8).tobytes()

    def _read(self, index: int) -> np.ndarray:
        name = self._describe(index)
        with open_image(self._bytes(index), name) as im:
            return decode_array(im, self.mode, name=name)

    def _describe(self, index: int) -> str:
        return f"{self.dataset} {self.name} image {index}"

    def _identity(self) -> Iterable[bytes]:
        for i in range(len(self.blobs)):
            b = self._bytes(i)
            yield len(b).to_bytes(8, "little")
            yield b


def find(root: Path, fmt: str = "auto") -> Optional[tuple]:
    """``(format, folder)`` of the first complete format under ``root``, or None."""
    for d in candidate_dirs(root, SUBDIRS):
        for name, pattern in FORMATS.items():
            if fmt in ("auto", name) and all(
                (d / pattern.format(p)).is_file() and (d / f"{p}_labels.pkl").is_file()
                for p in PREFIX.values()
            ):
                return name, d
    return None


def _get(d: dict, *keys: str):
    for k in keys:
        for key in (k, k.encode()):
            if key in d:
                return d[key]
    return None


def _sample_classes(labels_path: Path, split: str) -> list[str]:
    """The class WordNet id of every image, from a ``*_labels.pkl``."""
    d = load_pickle(labels_path)
    labels = _get(d, "label_specific", "labels")
    if labels is None:
        raise ValueError(
            f"{labels_path}: no 'label_specific' or 'labels' entry (found {sorted(map(str, d))})"
        )
    labels = np.asarray(labels, dtype=np.int64)
    names = _get(d, "label_specific_str")
    if names is not None:
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in names]
    else:
        expected = split_list(LISTS[split])
        uniq = np.unique(labels)
        if len(uniq) != len(expected):
            raise ValueError(
                f"{labels_path}: {len(uniq)} distinct labels and no class names; the {split} split "
                f"has {len(expected)} classes"
            )
        # Labels may be offset (val / test numbered after train): the k-th smallest is class k.
        names = {int(u): expected[k] for k, u in enumerate(uniq)}
        return [names[int(i)] for i in labels]
    if labels.min() < 0 or labels.max() >= len(names):
        raise ValueError(
            f"{labels_path}: labels reach {labels.max()} but only {len(names)} class names are given"
        )
    return [names[int(i)] for i in labels]


def _read_npz(path: Path) -> np.ndarray:
    # allow_pickle=False: an .npz whose arrays are pickled objects is refused by numpy itself.
    try:
        with np.load(path, allow_pickle=False) as z:
            return np.asarray(z["images"])
    except (zipfile.BadZipFile, KeyError, ValueError) as e:
        raise ValueError(
            f"cannot read {path}: {e}; expected an .npz with an 'images' array"
        ) from None


def bgr_to_rgb_needed(images: np.ndarray, sample: int = 2000) -> bool:
    """True when channel 0 is on average darker than channel 2 over ``sample`` evenly spaced images:
    photos of ImageNet are redder than blue (mean R about 124, B about 104), so such data is BGR."""
    idx = np.linspace(0, len(images) - 1, num=min(sample, len(images))).astype(np.int64)
    means = images[idx].reshape(-1, images.shape[-1]).mean(axis=0)  # [N*H*W, C] -> [C]
    return bool(means[0] < means[2])


def tiered_imagenet(
    root=None, format: str = "auto", channels: str = "auto", download: bool = False, transform=None
) -> FewShotDataset:
    """tieredImageNet from the formats in the module docstring.

    Args:
        format: ``auto`` (``png`` first), ``png`` or ``npz``.
        channels: for ``npz`` only: ``auto`` (detect BGR), ``rgb`` or ``bgr``.
        download: fetch learn2learn's copy of Ren et al.'s files into ``<root>/tiered-imagenet``.
    """
    if format not in ("auto", *FORMATS):
        raise ValueError(f"format {format!r} is not one of auto, {', '.join(FORMATS)}")
    if channels not in ("auto", "rgb", "bgr"):
        raise ValueError(f"channels {channels!r} is not one of auto, rgb, bgr")
    roots = data_roots(root)
    found = next((f for f in (find(r, format) for r in roots) if f), None)
    if found is None:
        if not download or format == "npz":
            raise not_found(NAME, roots, LAYOUT, HOW_TO_GET)
        files = [
            f"{p}_{kind}" for p in PREFIX.values() for kind in ("images_png.pkl", "labels.pkl")
        ]
        fetch_all(
            NAME,
            [(L2L_URL.format(f), f"tiered-imagenet/{f}", None) for f in files],
            roots[0],
            LAYOUT,
        )
        found = ("png", roots[0] / "tiered-imagenet")
    fmt, folder = found
    splits: dict[str, Split] = {}
    for split, prefix in PREFIX.items():
        labels_path = folder / f"{prefix}_labels.pkl"
        classes = _sample_classes(labels_path, split)
        expected = split_list(LISTS[split])
        images_path = folder / FORMATS[fmt].format(prefix)
        if fmt == "npz":
            images = _read_npz(images_path)
            if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
                raise ValueError(
                    f"{images_path}: expected 'images' uint8 [N, H, W, 3], "
                    f"got {images.dtype} {images.shape}"
                )
            if channels == "bgr" or (channels == "auto" and bgr_to_rgb_needed(images)):
                images = images[..., ::-1]
            splits[split] = array_split(
                NAME, split, images, classes, expected, str(images_path), transform
            )
        else:
            blobs = load_pickle(images_path)
            check_classes(NAME, split, set(classes), expected, str(labels_path))
            splits[split] = EncodedImageSplit(
                NAME,
                split,
                blobs,
                labels_for(classes, expected),
                list(expected),
                transform=transform,
            )
    return FewShotDataset(NAME, splits, description=f"tieredImageNet ({fmt}) from {folder}")


register_dataset(
    NAME,
    description="tieredImageNet (Ren et al. 2018 split by category), 84x84 colour",
    classes={"base": 351, "val": 97, "novel": 160},
    available=lambda root: any(find(r) for r in data_roots(root)),
    layout="tiered-imagenet/*_images_png.pkl or *_images.npz, with *_labels.pkl",
)(tiered_imagenet)
