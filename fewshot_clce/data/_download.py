"""Finding a dataset's files under the data root, and downloading them when asked.

Nothing is downloaded unless the user passes ``download=True``. A download that fails (no
network, a moved URL) raises :class:`DatasetNotFoundError` saying where to put the files by
hand, with the layout the loader expects.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Optional

from ..utils.files import atomic_path, cache_dir
from .registry import ROOT_ENV


class DatasetNotFoundError(FileNotFoundError):
    """A dataset's files are not where the loader looked; the message gives the expected layout."""


def data_roots(root: Optional[Path]) -> list[Path]:
    """Folders to look in: ``root`` when given, else the toolkit's download folder."""
    return [Path(root).expanduser()] if root is not None else [download_root()]


def download_root() -> Path:
    """Where ``download=True`` puts data when no root is given: ``<cache>/datasets``."""
    return cache_dir("datasets")


def candidate_dirs(root: Path, subdirs: Sequence[str]) -> list[Path]:
    """``root/<sub>`` for each known sub-folder name, then ``root`` itself, those that exist."""
    return [d for d in [root / s for s in subdirs] + [root] if d.is_dir()]


def not_found(
    dataset: str, roots: Iterable[Path], layout: str, source: str
) -> DatasetNotFoundError:
    """The error for data that is not there: where the loader looked, what it expects, and how
    to download it (``source`` says what a download fetches)."""
    where = ", ".join(str(r) for r in roots) or "(no folder)"
    return DatasetNotFoundError(
        f"{dataset} not found under {where}. Expected layout (under the data root, given as "
        f"root=/--root DIR or ${ROOT_ENV}):\n{layout}\nGet it with download=True or "
        f"`fewshot-clce datasets --root DIR --download {dataset}`: {source}"
    )


def fetch(url: str, dest: Path, md5: Optional[str] = None, timeout: float = 60.0) -> Path:
    """Download ``url`` to ``dest`` atomically, checking ``md5`` when given.

    Raises:
        OSError: on any network failure (``urllib.error.URLError`` is one).
        ValueError: when the downloaded file's md5 differs from ``md5``; nothing is kept.
    """
    dest = Path(dest)
    if dest.is_file() and (md5 is None or file_md5(dest) == md5):
        return dest
    req = urllib.request.Request(url, headers={"User-Agent": "fewshot-clce"})
    with atomic_path(dest) as tmp:
        with urllib.request.urlopen(req, timeout=timeout) as resp, open(tmp, "wb") as out:
            shutil.copyfileobj(resp, out, 1 << 20)
        if md5 is not None and file_md5(tmp) != md5:
            raise ValueError(
                f"{url} downloaded with md5 {file_md5(tmp)}, expected {md5}; "
                "the source changed or the transfer was corrupted"
            )
    return dest


def fetch_all(dataset: str, files: Sequence[tuple], root: Path, layout: str) -> None:
    """Download ``files`` (``(url, relative destination, md5 or None)``) under ``root``.

    Raises:
        DatasetNotFoundError: when a download fails, saying where to put the files instead.
    """
    for url, rel, md5 in files:
        dest = root / rel
        try:
            print(f"downloading {url} -> {dest}", flush=True)
            fetch(url, dest, md5)
        except (OSError, urllib.error.URLError) as e:
            raise DatasetNotFoundError(
                f"could not download {dataset} from {url} ({getattr(e, 'reason', None) or e}). "
                f"Without network access, download it on another machine and put the files under "
                f"{root} as:\n{layout}"
            ) from None


def file_md5(path: os.PathLike) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
