"""``cifar-fs`` and ``fc100``: few-shot splits of CIFAR-100 (32x32 colour, 600 images a class).

- CIFAR-FS (Bertinetto et al. 2019): 64 / 16 / 20 classes drawn across superclasses.
- FC100 (Oreshkin et al. 2018): split by superclass, 12 / 4 / 4 superclasses = 60 / 20 / 20 classes.

Both read either source, found under the data root:

- the CIFAR-100 "python version" (``cifar-100-python/`` with the ``train``, ``test`` and ``meta``
  pickles, or ``cifar-100-python.tar.gz``, read without extracting); each class gets its 500
  training and 100 test images, in that order;
- the MetaOptNet / RFS pickles (``CIFAR-FS/CIFAR_FS_{train,val,test}.pickle``,
  ``FC100/FC100_{train,val,test}.pickle``): ``{'data': [N, 32, 32, 3] uint8, 'labels': [N]}``
  with CIFAR-100 fine-label indices.

Class ``i`` of a split is the ``i``-th name of the split list in ``data/splits/``.
"""

from __future__ import annotations

import tarfile
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Optional

import numpy as np

from ..utils.safe_pickle import load_pickle, load_pickle_bytes
from ._classes import array_split, split_list
from ._download import candidate_dirs, data_roots, fetch_all, not_found
from .base import FewShotDataset
from .registry import register_dataset

SPLIT_FILES = {"base": "train", "val": "val", "novel": "test"}
CIFAR_DIR, CIFAR_TGZ = "cifar-100-python", "cifar-100-python.tar.gz"
SOURCES = ("auto", "cifar100", "pickles")


class _Flavour:
    """What differs between CIFAR-FS and FC100: split lists and MetaOptNet file names."""

    def __init__(self, name: str, lists: str, prefix: str, subdirs: Sequence[str]):
        self.name, self.lists, self.prefix, self.subdirs = name, lists, prefix, tuple(subdirs)

    def classes(self, split: str) -> tuple:
        """The split's class names; ``lists`` is the split-list file name with ``{}`` for the part."""
        return split_list(self.lists.format(SPLIT_FILES[split]))

    def pickle_files(self, folder: Path) -> dict[str, Path]:
        return {s: folder / f"{self.prefix}_{f}.pickle" for s, f in SPLIT_FILES.items()}

    def layout(self) -> str:
        sub = self.subdirs[0]
        return (
            f"  {CIFAR_DIR}/{{train,test,meta}}   CIFAR-100 python version (or {CIFAR_TGZ})\n"
            f"  or {sub}/{self.prefix}_{{train,val,test}}.pickle   MetaOptNet / RFS pickles"
        )


CIFAR_FS = _Flavour(
    "cifar-fs", "cifar_fs_{}.tsv", "CIFAR_FS", ("CIFAR-FS", "cifar-fs", "CIFAR_FS", "cifar_fs")
)
FC100 = _Flavour("fc100", "fc100_{}.txt", "FC100", ("FC100", "fc100"))
HOW_TO_GET = "the CIFAR-100 python version from https://www.cs.toronto.edu/~kriz/cifar.html (via torchvision's CIFAR100 source)."


def cifar100_fine_names() -> list[str]:
    """The 100 CIFAR-100 fine-label names; fine label ``i`` is the ``i``-th in alphabetical order."""
    return sorted(c for s in SPLIT_FILES for c in CIFAR_FS.classes(s))


def _find_cifar100(root: Path) -> Optional[Path]:
    for d in candidate_dirs(root, (CIFAR_DIR,)):
        if all((d / f).is_file() for f in ("train", "test", "meta")):
            return d
        if (d / CIFAR_TGZ).is_file():
            return d / CIFAR_TGZ
    return None


def _find_pickles(root: Path, flavour: _Flavour) -> Optional[dict[str, Path]]:
    for d in candidate_dirs(root, flavour.subdirs):
        files = flavour.pickle_files(d)
        if all(p.is_file() for p in files.values()):
            return files
    return None


def _get(d: dict, key: str):
    """``d[key]`` whether the pickle was read with str or bytes keys."""
    if key in d:
        return d[key]
    if key.encode() in d:
        return d[key.encode()]
    raise ValueError(f"expected key {key!r} in the pickle, found {sorted(map(str, d))[:8]}")


def _text(x) -> str:
    return x.decode("latin1") if isinstance(x, bytes) else str(x)


def _read_tar_members(source: Path, names: Sequence[str]) -> dict[str, bytes]:
    """The bytes of the plain-file members ``names`` of a tar, read in place (nothing is extracted;
    a link member, which would be followed inside the archive, counts as missing)."""
    blobs = {}
    try:
        with tarfile.open(source) as tf:
            for name in names:
                try:
                    info = tf.getmember(name)
                except KeyError:
                    info = None
                member = tf.extractfile(info) if info is not None and info.isfile() else None
                if member is None:
                    raise ValueError(f"{source} has no plain file {name}; re-download it")
                blobs[name] = member.read()
    except (EOFError, tarfile.TarError, zlib.error) as e:
        raise ValueError(
            f"{source} is truncated or damaged ({type(e).__name__}: {e}); re-download it"
        ) from None
    return blobs


def read_cifar100(source: Path) -> tuple[np.ndarray, list[str]]:
    """CIFAR-100 python version from its folder or ``.tar.gz``.

    Returns:
        images ``[60000, 32, 32, 3]`` uint8 (train then test), fine label names per image.
    """
    if source.is_dir():
        blobs = {k: (source / k).read_bytes() for k in ("meta", "train", "test")}
    else:
        blobs = _read_tar_members(source, [f"{CIFAR_DIR}/{k}" for k in ("meta", "train", "test")])
        blobs = {k: blobs[f"{CIFAR_DIR}/{k}"] for k in ("meta", "train", "test")}
    meta = load_pickle_bytes(blobs["meta"], f"{source}/meta")
    names = [_text(n) for n in _get(meta, "fine_label_names")]
    images: list[np.ndarray] = []
    classes: list[str] = []
    for part in ("train", "test"):
        d = load_pickle_bytes(blobs[part], f"{source}/{part}")
        data = np.asarray(_get(d, "data"), dtype=np.uint8)
        # [N, 3072] rows of R, G, B planes -> [N, 3, 32, 32] -> [N, 32, 32, 3]
        images.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        classes.extend(names[i] for i in _get(d, "fine_labels"))
    return np.ascontiguousarray(np.concatenate(images)), classes


def read_metaoptnet_pickle(path: Path, fine_names: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """A MetaOptNet / RFS CIFAR pickle: images ``[N, 32, 32, 3]`` uint8 and class name per image."""
    d = load_pickle(path)
    images = np.asarray(_get(d, "data"))
    labels = np.asarray(_get(d, "labels"), dtype=np.int64)
    if (
        images.dtype != np.uint8
        or images.ndim != 4
        or images.shape[-1] != 3
        or len(images) != len(labels)
    ):
        raise ValueError(
            f"{path}: expected 'data' uint8 [N, H, W, 3] and N 'labels', got {images.dtype} "
            f"{images.shape} and {labels.shape}"
        )
    if "catname2label" in d:
        lookup = {int(v): _text(k) for k, v in d["catname2label"].items()}
    elif len(labels) and (labels.min() < 0 or labels.max() >= len(fine_names)):
        raise ValueError(
            f"{path}: labels range over [{labels.min()}, {labels.max()}], expected CIFAR-100 "
            f"fine-label indices in [0, {len(fine_names)})"
        )
    else:
        lookup = dict(enumerate(fine_names))
    return images, [lookup[int(i)] for i in labels]


def cifar_dataset(
    flavour: _Flavour, root=None, source: str = "auto", download: bool = False, transform=None
) -> FewShotDataset:
    """Build ``flavour`` (CIFAR-FS or FC100); see the module docstring for the sources."""
    if source not in SOURCES:
        raise ValueError(f"source {source!r} is not one of {', '.join(SOURCES)}")
    roots = data_roots(root)
    pickles = cifar = None
    for r in roots:
        pickles = pickles or (_find_pickles(r, flavour) if source in ("auto", "pickles") else None)
        cifar = cifar or (_find_cifar100(r) if source in ("auto", "cifar100") else None)
    if pickles is None and cifar is None:
        if not download or source == "pickles":
            raise not_found(flavour.name, roots, flavour.layout(), HOW_TO_GET)
        from torchvision.datasets import CIFAR100

        fetch_all(
            flavour.name, [(CIFAR100.url, CIFAR_TGZ, CIFAR100.tgz_md5)], roots[0], flavour.layout()
        )
        cifar = roots[0] / CIFAR_TGZ
    splits = {}
    where = str(next(iter(pickles.values())).parent) if pickles is not None else str(cifar)
    if pickles is not None:
        fine = cifar100_fine_names()
        for s, path in pickles.items():
            images, classes = read_metaoptnet_pickle(path, fine)
            splits[s] = array_split(
                flavour.name, s, images, classes, flavour.classes(s), str(path), transform
            )
    else:
        assert cifar is not None  # found above, or just downloaded
        images, classes = read_cifar100(cifar)
        classes_arr = np.asarray(classes)
        for s in SPLIT_FILES:
            expected = flavour.classes(s)
            keep = np.flatnonzero(np.isin(classes_arr, expected))
            splits[s] = array_split(
                flavour.name,
                s,
                images[keep],
                classes_arr[keep].tolist(),
                expected,
                str(cifar),
                transform,
            )
    return FewShotDataset(flavour.name, splits, description=f"{flavour.name} from {where}")


def _available(flavour: _Flavour):
    return lambda root: any(
        _find_pickles(r, flavour) or _find_cifar100(r) for r in data_roots(root)
    )


@register_dataset(
    "cifar-fs",
    description="CIFAR-FS (Bertinetto et al. 2019): CIFAR-100, 32x32 colour",
    classes={"base": 64, "val": 16, "novel": 20},
    available=_available(CIFAR_FS),
    layout="cifar-100-python/ (or .tar.gz), or CIFAR-FS/CIFAR_FS_*.pickle",
)
def cifar_fs(
    root=None, source: str = "auto", download: bool = False, transform=None
) -> FewShotDataset:
    """CIFAR-FS. Args: ``source`` ``auto`` (pickles first) / ``cifar100`` / ``pickles``;
    ``download`` fetches CIFAR-100 when nothing is found."""
    return cifar_dataset(CIFAR_FS, root, source, download, transform)


@register_dataset(
    "fc100",
    description="FC100 (Oreshkin et al. 2018): CIFAR-100 split by superclass, 32x32",
    classes={"base": 60, "val": 20, "novel": 20},
    available=_available(FC100),
    layout="cifar-100-python/ (or .tar.gz), or FC100/FC100_*.pickle",
)
def fc100(
    root=None, source: str = "auto", download: bool = False, transform=None
) -> FewShotDataset:
    """FC100. Args as :func:`cifar_fs`."""
    return cifar_dataset(FC100, root, source, download, transform)
