"""Tiny copies of the benchmark datasets, written in each exact on-disk format.

Every class of the standard split lists is present (the loaders check the lists), with one to
three small images each; the pixels are seeded random so different sources differ.
"""

from __future__ import annotations

import csv
import io
import pickle
import struct
import tarfile
import zipfile
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from fewshot_clce.data._classes import split_list


class Py2Pickler(pickle._Pickler):
    """Writes pickles the way Python 2 did: ``str`` (here: ``bytes``) as BINSTRING opcodes and numpy
    under ``numpy.core`` names, as in the CIFAR-100 and MetaOptNet files."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_py2_str(self, obj: bytes) -> None:
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_py2_str

    def save_global(self, obj, name=None) -> None:
        module = obj.__module__.replace("numpy._core", "numpy.core")
        self.write(pickle.GLOBAL + f"{module}\n{name or obj.__qualname__}\n".encode("ascii"))
        self.memoize(obj)


def py2_pickle(obj, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        Py2Pickler(f, protocol=2).dump(obj)
    return path


def py3_pickle(obj, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))
    return path


def rand_images(n: int, size: int, seed: int, channels: int = 3) -> np.ndarray:
    shape = (n, size, size, channels) if channels else (n, size, size)
    return np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)


def png_bytes(img: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    return buf.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header declares ``width`` x ``height`` grayscale pixels, with almost no data:
    what a decompression bomb looks like to Pillow's ``open`` (which reads the header only)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def tar_folder(folder: Path, archive: Path) -> Path:
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(folder, arcname=folder.name)
    return archive


def cve_2025_4517_tar(path: Path, depth: int = 4, width: int = 200) -> Path:
    """A ``.tgz`` in the pattern of CVE-2025-4517: nested folders with long names reached through
    short symlinks, then links whose targets only leave the folder once the chain is resolved.
    Every member passes a lexical check of its own path and link target; with enough depth the
    real path passes PATH_MAX and Python's ``data`` filter (before 3.11.13) stops resolving it."""
    with tarfile.open(path, "w:gz") as tf:

        def add(name, payload=b"", link=None):
            info = tarfile.TarInfo(name)
            if link is None:
                info.size = len(payload)
                tf.addfile(info, io.BytesIO(payload))
            else:
                info.type, info.linkname = tarfile.SYMTYPE, link
                tf.addfile(info)

        lexical = ""
        for i in range(depth):
            short = chr(ord("a") + i)
            add(f"{lexical}{short * width}/.keep")
            add(f"{lexical}{short}", link=short * width)
            lexical += f"{short}/"
        # Lexically "<short links>/up/../.." stays inside; physically it leads out of the target.
        add(f"{lexical}up", link="/".join([".."] * depth))
        add("escape", link=lexical + "up/../..")
        add("escape/owned.txt", b"written outside the target")
    return path


def zip_folder(folder: Path, archive: Path) -> Path:
    with zipfile.ZipFile(archive, "w") as zf:
        for p in sorted(folder.rglob("*")):
            zf.write(p, p.relative_to(folder.parent).as_posix())
    return archive


# -- CIFAR -----------------------------------------------------------------------------------
CIFAR_SPLITS = {"base": "train", "val": "val", "novel": "test"}


def cifar100_names() -> list[str]:
    return sorted({c for f in CIFAR_SPLITS.values() for c in split_list(f"cifar_fs_{f}.tsv")})


def write_cifar100(root: Path, per_class=(2, 1), seed: int = 0) -> Path:
    """``root/cifar-100-python/{meta,train,test}`` (Python 2 pickles, as distributed)."""
    folder = root / "cifar-100-python"
    names = cifar100_names()
    py2_pickle(
        {
            b"fine_label_names": [n.encode() for n in names],
            b"coarse_label_names": [b"coarse%d" % i for i in range(20)],
        },
        folder / "meta",
    )
    for part, k, s in (("train", per_class[0], seed), ("test", per_class[1], seed + 1)):
        labels = [c for c in range(100) for _ in range(k)]
        data = rand_images(len(labels), 32, s).transpose(0, 3, 1, 2).reshape(len(labels), 3072)
        py2_pickle(
            {
                b"batch_label": b"fixture",
                b"fine_labels": labels,
                b"coarse_labels": [c // 5 for c in labels],
                b"filenames": [b"img%d.png" % i for i in range(len(labels))],
                b"data": data,
            },
            folder / part,
        )
    return folder


def write_metaoptnet_cifar(root: Path, flavour: str, seed: int = 0) -> Path:
    """``root/CIFAR-FS/CIFAR_FS_*.pickle`` or ``root/FC100/FC100_*.pickle`` with fine-label indices."""
    names = cifar100_names()
    folder, prefix, lists = {
        "cifar-fs": ("CIFAR-FS", "CIFAR_FS", "cifar_fs_{}.tsv"),
        "fc100": ("FC100", "FC100", "fc100_{}.txt"),
    }[flavour]
    for i, f in enumerate(CIFAR_SPLITS.values()):
        classes = split_list(lists.format(f))
        labels = [names.index(c) for c in classes for _ in range(2)]
        py2_pickle(
            {b"data": rand_images(len(labels), 32, seed + i), b"labels": labels},
            root / folder / f"{prefix}_{f}.pickle",
        )
    return root / folder


# -- miniImageNet ------------------------------------------------------------------------------
MINI_LISTS = {
    "base": "mini_imagenet_train.txt",
    "val": "mini_imagenet_val.txt",
    "novel": "mini_imagenet_test.txt",
}


def write_mini_learn2learn(
    root: Path, per_class: int = 2, size: int = 8, seed: int = 0
) -> dict[str, Path]:
    out = {}
    for i, (split, mode) in enumerate(
        (("base", "train"), ("val", "validation"), ("novel", "test"))
    ):
        classes = split_list(MINI_LISTS[split])
        n = len(classes) * per_class
        # Samples interleaved across classes, as the indices in class_dict allow.
        class_dict = {
            c: [j * len(classes) + k for j in range(per_class)] for k, c in enumerate(classes)
        }
        out[split] = py3_pickle(
            {"image_data": rand_images(n, size, seed + i), "class_dict": class_dict},
            root / f"mini-imagenet-cache-{mode}.pkl",
        )
    return out


def write_mini_metaoptnet(root: Path, per_class: int = 2, size: int = 8, seed: int = 0) -> Path:
    offset = 0
    for i, (split, part) in enumerate(
        (("base", "train_phase_train"), ("val", "val"), ("novel", "test"))
    ):
        classes = split_list(MINI_LISTS[split])
        catname2label = {c.encode(): offset + k for k, c in enumerate(classes)}
        labels = [offset + k for k in range(len(classes)) for _ in range(per_class)]
        py2_pickle(
            {
                b"data": rand_images(len(labels), size, seed + i),
                b"labels": labels,
                b"catname2label": catname2label,
            },
            root / f"miniImageNet_category_split_{part}.pickle",
        )
        offset += len(classes)
    return root


def write_mini_csv(root: Path, per_class: int = 1, size: int = 12, seed: int = 0) -> Path:
    images = root / "images"
    images.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for split, part in (("base", "train"), ("val", "val"), ("novel", "test")):
        rows = []
        for c in split_list(MINI_LISTS[split]):
            for j in range(per_class):
                name = f"{c}{j:08d}.jpg"
                Image.fromarray(rng.integers(0, 256, (size, size + 3, 3), dtype=np.uint8)).save(
                    images / name
                )
                rows.append((name, c))
        with open(root / f"{part}.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["filename", "label"])
            w.writerows(rows)
    return root


# -- tieredImageNet ----------------------------------------------------------------------------
TIERED_PREFIX = {"base": "train", "val": "val", "novel": "test"}


def write_tiered(
    root: Path,
    fmt: str = "png",
    size: int = 8,
    seed: int = 0,
    names: bool = True,
    bgr: bool = False,
) -> Path:
    """``root/tiered-imagenet/{split}_images_png.pkl`` or ``{split}_images.npz`` + ``{split}_labels.pkl``."""
    folder = root / "tiered-imagenet"
    folder.mkdir(parents=True, exist_ok=True)
    for i, (_split, p) in enumerate(TIERED_PREFIX.items()):
        classes = list(split_list(f"tiered_imagenet_{p}.txt"))
        labels = np.arange(len(classes), dtype=np.int64)
        images = rand_images(len(labels), size, seed + i)
        # Photos of ImageNet are redder than blue: make channel 0 bright, channel 2 dark.
        images[..., 0] |= 0x80
        images[..., 2] &= 0x7F
        meta = {"label_specific": labels, "label_general": labels // 20}
        if names:
            meta.update(
                label_specific_str=classes, label_general_str=[f"cat{g}" for g in range(20)]
            )
        py3_pickle(meta, folder / f"{p}_labels.pkl")
        if fmt == "png":
            py3_pickle(
                [np.frombuffer(png_bytes(im), dtype=np.uint8) for im in images],
                folder / f"{p}_images_png.pkl",
            )
        else:
            np.savez(folder / f"{p}_images.npz", images=images[..., ::-1] if bgr else images)
    return folder


# -- CUB and Omniglot --------------------------------------------------------------------------
def write_cub(root: Path, per_class: int = 1, seed: int = 0) -> Path:
    images = root / "CUB_200_2011" / "images"
    rng = np.random.default_rng(seed)
    classes = [c for f in ("cub_train.txt", "cub_val.txt", "cub_test.txt") for c in split_list(f)]
    for c in classes:
        (images / c).mkdir(parents=True, exist_ok=True)
        for j in range(per_class):
            Image.fromarray(rng.integers(0, 256, (10, 14, 3), dtype=np.uint8)).save(
                images / c / f"{c.split('.', 1)[1]}_{j:04d}.jpg"
            )
    (root / "CUB_200_2011" / "classes.txt").write_text(
        "".join(f"{i + 1} {c}\n" for i, c in enumerate(sorted(classes)))
    )
    return root / "CUB_200_2011"


OMNI_BACKGROUND = {"Greek": 3, "Latin": 2, "Korean": 2}
OMNI_EVALUATION = {"Atlantean": 2, "Kannada": 3}


def write_omniglot(root: Path, drawings: int = 3, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    for part, alphabets in (
        ("images_background", OMNI_BACKGROUND),
        ("images_evaluation", OMNI_EVALUATION),
    ):
        for alphabet, chars in alphabets.items():
            for c in range(1, chars + 1):
                folder = root / part / alphabet / f"character{c:02d}"
                folder.mkdir(parents=True, exist_ok=True)
                for d in range(drawings):
                    img = (rng.random((15, 15)) > 0.5).astype(np.uint8) * 255
                    Image.fromarray(img).save(folder / f"{c:04d}_{d + 1:02d}.png")
    return root
