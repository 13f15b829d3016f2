"""``cub``: Caltech-UCSD Birds-200-2011, 200 bird species, 11,788 photos.

Reads ``CUB_200_2011/images/<NNN.Species>/*.jpg`` under the data root, or extracts
``CUB_200_2011.tgz`` found there (safely, into the same folder) first. Two class splits:

- ``split="default"``: 140 / 30 / 30 classes, the split used by easyfsl and learn2learn;
- ``split="closerlook"``: 100 / 50 / 50 classes (Chen et al. 2019, "A Closer Look at Few-shot
  Classification").

Images are read lazily as RGB and resized to ``image_size`` (84 by default), whole (no
bounding-box crop).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from ..utils.archives import extract
from ._classes import check_classes, split_list
from ._download import candidate_dirs, data_roots, fetch_all, not_found
from .base import FewShotDataset, FileSplit
from .registry import register_dataset

NAME = "cub"
FOLDER, ARCHIVE = "CUB_200_2011", "CUB_200_2011.tgz"
SPLITS = {
    "default": {"base": "cub_train.txt", "val": "cub_val.txt", "novel": "cub_test.txt"},
    "closerlook": {
        "base": "cub_closerlook_base.txt",
        "val": "cub_closerlook_val.txt",
        "novel": "cub_closerlook_novel.txt",
    },
}
URL = "https://data.caltech.edu/records/65de6-vp158/files/CUB_200_2011.tgz?download=1"
MD5 = "97eceeb196236b17998738112f37df78"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
LAYOUT = (
    f"  {FOLDER}/images/001.Black_footed_Albatross/*.jpg ... 200.Common_Yellowthroat/*.jpg\n"
    f"  or {ARCHIVE} (extracted into the root on first use)"
)
HOW_TO_GET = f"{ARCHIVE}, 1.1 GB, from https://data.caltech.edu/records/65de6-vp158."


def find_images(root: Path) -> Optional[Path]:
    """The ``images/`` folder under ``root`` (``root/CUB_200_2011/images`` or ``root/images``)."""
    for d in candidate_dirs(root, (FOLDER, f"CUB/{FOLDER}", f"cub/{FOLDER}")):
        if (d / "images").is_dir() and any((d / "images").iterdir()):
            return d / "images"
    return None


def find_archive(root: Path) -> Optional[Path]:
    for d in candidate_dirs(root, ("CUB", "cub")):
        if (d / ARCHIVE).is_file():
            return d / ARCHIVE
    return None


def unextracted_archive(root) -> Optional[Path]:
    """The archive :func:`cub` would extract on first use, when no extracted copy is found."""
    roots = data_roots(root)
    if any(map(find_images, roots)):
        return None
    return next((a for a in map(find_archive, roots) if a), None)


def _class_files(images: Path, cls: str) -> list[str]:
    folder = images / cls
    files = sorted(
        p.name for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
    )
    if not files:
        raise ValueError(f"class folder {folder} has no images; the CUB copy is incomplete")
    return [f"{cls}/{f}" for f in files]


def cub(
    root=None, split: str = "default", image_size: int = 84, download: bool = False, transform=None
) -> FewShotDataset:
    """CUB-200-2011 with the chosen class split.

    Args:
        split: ``default`` (140 / 30 / 30) or ``closerlook`` (100 / 50 / 50).
        image_size: side every image is resized to.
        download: fetch ``CUB_200_2011.tgz`` into the root when neither folder nor archive is found.
    """
    if split not in SPLITS:
        raise ValueError(f"split {split!r} is not one of {', '.join(SPLITS)}")
    roots = data_roots(root)
    images = next((i for i in map(find_images, roots) if i), None)
    if images is None:
        archive = next((a for a in map(find_archive, roots) if a), None)
        if archive is None:
            if not download:
                raise not_found(NAME, roots, LAYOUT, HOW_TO_GET)
            fetch_all(NAME, [(URL, ARCHIVE, MD5)], roots[0], LAYOUT)
            archive = roots[0] / ARCHIVE
        extract(archive, archive.parent)
        images = find_images(archive.parent)
        if images is None:
            raise ValueError(f"{archive} did not contain {FOLDER}/images/; re-download it")
    present = sorted(p.name for p in images.iterdir() if p.is_dir())
    all_classes = [c for f in SPLITS["default"].values() for c in split_list(f)]
    check_classes(NAME, "all", present, all_classes, str(images))
    splits = {}
    for sname, list_file in SPLITS[split].items():
        classes = split_list(list_file)
        paths, labels = [], []
        for label, cls in enumerate(classes):
            files = _class_files(images, cls)
            paths.extend(files)
            labels.extend([label] * len(files))
        splits[sname] = FileSplit(
            NAME,
            sname,
            images,
            paths,
            labels,
            classes,
            mode="RGB",
            size=(image_size, image_size),
            transform=transform,
        )
    return FewShotDataset(
        NAME, splits, description=f"CUB-200-2011 ({split} split) from {images.parent}"
    )


register_dataset(
    NAME,
    description="CUB-200-2011 birds, 140/30/30 (split='closerlook': 100/50/50), resized",
    classes={"base": 140, "val": 30, "novel": 30},
    available=lambda root: any(find_images(r) or find_archive(r) for r in data_roots(root)),
    unextracted=unextracted_archive,
    layout="CUB_200_2011/images/ or CUB_200_2011.tgz",
)(cub)
