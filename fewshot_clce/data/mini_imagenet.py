"""``mini-imagenet``: 100 ImageNet classes, 600 images each, split 64 / 16 / 20 (Ravi & Larochelle 2017).

Three on-disk formats, found under the data root (or its ``mini-imagenet/`` sub-folder):

- learn2learn's cache pickles ``mini-imagenet-cache-{train,validation,test}.pkl``:
  ``{'image_data': [N, 84, 84, 3] uint8, 'class_dict': {wnid: [image indices]}}``;
- the MetaOptNet pickles ``miniImageNet_category_split_{train_phase_train,val,test}.pickle``:
  ``{'data': [N, 84, 84, 3] uint8, 'labels': [N], 'catname2label': {wnid: label}}``;
- an ``images/`` folder of JPEGs named ``<wnid><number>.jpg`` with the Ravi & Larochelle split
  files ``train.csv``, ``val.csv``, ``test.csv`` (``filename,label``); images are read lazily and
  resized to ``image_size`` (84 by default).

Class ``i`` of a split is the ``i``-th WordNet id of ``data/splits/mini_imagenet_<split>.txt``.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Optional

import numpy as np

from ..utils.safe_pickle import load_pickle
from ._classes import array_split, check_classes, labels_for, split_list
from ._download import candidate_dirs, data_roots, fetch_all, not_found
from .base import FewShotDataset, FileSplit, Split
from .registry import register_dataset

NAME = "mini-imagenet"
SUBDIRS = ("mini-imagenet", "miniImageNet", "mini_imagenet", "miniimagenet", "MiniImagenet")
LISTS = {
    "base": "mini_imagenet_train.txt",
    "val": "mini_imagenet_val.txt",
    "novel": "mini_imagenet_test.txt",
}
FORMATS = {
    "learn2learn": {
        s: f"mini-imagenet-cache-{p}.pkl"
        for s, p in (("base", "train"), ("val", "validation"), ("novel", "test"))
    },
    "metaoptnet": {
        s: f"miniImageNet_category_split_{p}.pickle"
        for s, p in (("base", "train_phase_train"), ("val", "val"), ("novel", "test"))
    },
    "csv": {s: f"{p}.csv" for s, p in (("base", "train"), ("val", "val"), ("novel", "test"))},
}
# learn2learn's public copy of its cache pickles (the URLs its MiniImagenet class downloads).
L2L_URL = "https://zenodo.org/record/7978538/files/{}"
LAYOUT = (
    "  mini-imagenet-cache-{train,validation,test}.pkl           learn2learn cache pickles\n"
    "  or miniImageNet_category_split_{train_phase_train,val,test}.pickle   MetaOptNet pickles\n"
    "  or images/<wnid>NNNNNNNN.jpg + {train,val,test}.csv        Ravi & Larochelle split files\n"
    "  (directly under the root or in a mini-imagenet/ folder)"
)
HOW_TO_GET = (
    "learn2learn's cache pickles from zenodo.org, about 2.5 GB; other copies: "
    "https://github.com/learnables/learn2learn, https://github.com/kjunelee/MetaOptNet."
)


def find(root: Path, fmt: str = "auto") -> Optional[tuple[str, dict[str, Path]]]:
    """``(format, {split: path})`` of the first complete format under ``root``, or None."""
    for d in candidate_dirs(root, SUBDIRS):
        for name, files in FORMATS.items():
            if fmt not in ("auto", name):
                continue
            paths = {s: d / f for s, f in files.items()}
            if all(p.is_file() for p in paths.values()) and (
                name != "csv" or (d / "images").is_dir()
            ):
                return name, paths
    return None


def _learn2learn_split(split: str, path: Path, transform) -> Split:
    d = load_pickle(path)
    images = np.asarray(d["image_data"])
    class_dict: dict[str, list[int]] = d["class_dict"]
    sample_classes = np.full(len(images), "", dtype=object)
    for wnid, idx in class_dict.items():
        sample_classes[np.asarray(list(idx), dtype=np.int64)] = str(wnid)
    if (sample_classes == "").any():
        raise ValueError(
            f"{path}: {(sample_classes == '').sum()} images belong to no class of 'class_dict'"
        )
    return array_split(
        NAME, split, images, sample_classes.tolist(), split_list(LISTS[split]), str(path), transform
    )


def _metaoptnet_split(split: str, path: Path, transform) -> Split:
    d = load_pickle(path)
    names = {int(v): str(k) for k, v in d["catname2label"].items()}
    labels = np.asarray(d["labels"], dtype=np.int64)
    unknown = sorted(set(labels.tolist()) - set(names))
    if unknown:
        raise ValueError(f"{path}: labels {unknown[:5]} have no entry in 'catname2label'")
    images = np.asarray(d["data"])
    return array_split(
        NAME,
        split,
        images,
        [names[int(i)] for i in labels],
        split_list(LISTS[split]),
        str(path),
        transform,
    )


def _csv_split(split: str, path: Path, image_size: int, transform) -> Split:
    with open(path, newline="") as f:
        rows = [r for r in csv.reader(f) if r]
    if rows and rows[0][:2] == ["filename", "label"]:
        rows = rows[1:]
    files, classes = [r[0] for r in rows], [r[1] for r in rows]
    expected = split_list(LISTS[split])
    check_classes(NAME, split, set(classes), expected, str(path))
    images = path.parent / "images"
    missing = [f for f in files[:1000] if not (images / f).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{path} lists {missing[0]!r}, which is not in {images}; the images folder is "
            "incomplete"
        )
    return FileSplit(
        NAME,
        split,
        images,
        files,
        labels_for(classes, expected),
        list(expected),
        mode="RGB",
        size=(image_size, image_size),
        transform=transform,
    )


def mini_imagenet(
    root=None, format: str = "auto", image_size: int = 84, download: bool = False, transform=None
) -> FewShotDataset:
    """miniImageNet from any of the formats in the module docstring.

    Args:
        format: ``auto`` (first found, in the order above), ``learn2learn``, ``metaoptnet`` or ``csv``.
        image_size: side images from the ``csv`` format are resized to (pickles are 84 already).
        download: fetch learn2learn's cache pickles into the root when nothing is found.
    """
    if format not in ("auto", *FORMATS):
        raise ValueError(f"format {format!r} is not one of auto, {', '.join(FORMATS)}")
    roots = data_roots(root)
    found = next((f for f in (find(r, format) for r in roots) if f), None)
    if found is None:
        if not download or format not in ("auto", "learn2learn"):
            raise not_found(NAME, roots, LAYOUT, HOW_TO_GET)
        files = FORMATS["learn2learn"].values()
        fetch_all(NAME, [(L2L_URL.format(f), f, None) for f in files], roots[0], LAYOUT)
        found = find(roots[0], "learn2learn")
        if found is None:  # the downloads did not leave a complete copy
            raise not_found(NAME, roots, LAYOUT, HOW_TO_GET)
    fmt, paths = found
    splits = {}
    for split, path in paths.items():
        if fmt == "learn2learn":
            splits[split] = _learn2learn_split(split, path, transform)
        elif fmt == "metaoptnet":
            splits[split] = _metaoptnet_split(split, path, transform)
        else:
            splits[split] = _csv_split(split, path, image_size, transform)
    return FewShotDataset(
        NAME, splits, description=f"miniImageNet ({fmt}) from {paths['base'].parent}"
    )


register_dataset(
    NAME,
    description="miniImageNet (Ravi & Larochelle split), 84x84 colour",
    classes={"base": 64, "val": 16, "novel": 20},
    available=lambda root: any(find(r) for r in data_roots(root)),
    layout="mini-imagenet-cache-*.pkl, miniImageNet_category_split_*.pickle, "
    "or images/ + {train,val,test}.csv",
)(mini_imagenet)
