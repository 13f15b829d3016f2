"""Episode files: the ``.npz`` manifest format, and reading or writing either format by suffix
(``.csv``: the table format of :mod:`fewshot_clce.episodes.table`).

On-disk format (``.npz``, format version 1; see ``episodes/README.md``): a plain numpy archive
with the integer arrays ``classes`` ``[E, N]``, ``support`` ``[E, N, K]`` and ``query``
``[E, N, Q]`` (stored in the smallest unsigned integer type that holds them, zlib-compressed) and
``meta``, a 0-d string array holding a JSON object (``format``, ``format_version``, ``dataset``,
``split``, ``fingerprint``, ``ways``, ``shots``, ``queries``, ``count``, ``seed``, ``split_size``,
``num_classes``, ``class_names``, ``created_with``). It is read with
``np.load(path, allow_pickle=False)``.
"""

from __future__ import annotations

import json
import os
import re
import zipfile
from pathlib import Path

import numpy as np

from .._version import __version__
from ..utils.files import atomic_path, loads_json
from .episode_set import ARRAYS, EpisodeSet
from .validation import check_shapes


def file_safe(name: str) -> str:
    """``name`` (a dataset, possibly with options) as a file-name part: runs of other characters
    than letters, digits, ``_``, ``.`` and ``-`` become one ``-``."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")


FORMAT_NAME = "fewshot-clce-episodes"
FORMAT_VERSION = 1


def _compact(a: np.ndarray) -> np.ndarray:
    """``a`` in the smallest unsigned integer type holding its values (indices are never negative)."""
    top = int(a.max()) if a.size else 0
    for dt in (np.uint8, np.uint16, np.uint32):
        if top <= np.iinfo(dt).max:
            return a.astype(dt)
    return a.astype(np.int64)


def write_episodes(episodes: EpisodeSet, path: str | os.PathLike, overwrite: bool = True) -> Path:
    """Write ``episodes`` atomically; ``.csv`` writes the table format, anything else ``.npz``.

    Raises:
        FileExistsError: if ``path`` exists and ``overwrite`` is False.
    """
    path = Path(path)
    if path.suffix.lower() == ".csv":
        from .table import write_episode_table

        return write_episode_table(episodes, path, overwrite=overwrite)
    arrays = {a: _compact(getattr(episodes, a)) for a in ARRAYS}
    meta = json.dumps(episodes.metadata(), sort_keys=True)
    with atomic_path(path, overwrite=overwrite) as tmp:
        # A file object keeps numpy from appending ".npz" to the temporary name.
        with open(tmp, "wb") as f:
            np.savez_compressed(
                f,
                meta=np.array(meta),
                classes=arrays["classes"],
                support=arrays["support"],
                query=arrays["query"],
            )
    return path


def read_episodes(path: str | os.PathLike, split=None) -> EpisodeSet:
    """Read an episode file (``.npz``, or the ``.csv`` table format); check it against ``split``
    if given.

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        ValueError: if the file is corrupt, truncated, of an unknown format, or does not
            match ``split`` (see :meth:`EpisodeSet.check`).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"episode file {str(path)!r} does not exist; make one with `fewshot-clce episodes make`"
        )
    if path.suffix.lower() == ".csv":
        from .table import read_episode_table

        return read_episode_table(path, split=split)
    episodes = _read_npz(path)
    if split is not None:
        episodes.check(split)
    return episodes


# How much larger than its compressed bytes a member of a manifest may unpack to: real manifests
# unpack to 1-10 times theirs; a zip bomb to thousands.
MAX_UNPACK_RATIO = 100
_SMALL_MEMBER = 1 << 20


def _check_declared_sizes(path: Path, bad: str) -> None:
    """Refuse an .npz whose arrays declare more data than the file holds, before allocating any.

    Each member's ``.npy`` header (shape, dtype) is read without its data: the bytes it declares
    must fit the member's size in the zip directory, which must be plausible for its compressed
    size (:data:`MAX_UNPACK_RATIO`). Memory is then bounded by the file's size; the shapes are
    checked against one another and the metadata once loaded.

    Raises:
        ValueError: naming the file, the member and the sizes.
    """
    from numpy.lib import format as npy

    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
            if info.file_size > _SMALL_MEMBER + MAX_UNPACK_RATIO * info.compress_size:
                raise ValueError(
                    f"{bad}: member {info.filename!r} declares {info.file_size:,} "
                    f"bytes from {info.compress_size:,} compressed (a damaged file or "
                    "a zip bomb); remake it with `fewshot-clce episodes make`"
                )
            with zf.open(info) as f:
                version = npy.read_magic(f)
                if version == (1, 0):
                    shape, _, dtype = npy.read_array_header_1_0(f, max_header_size=10000)
                else:
                    shape, _, dtype = npy.read_array_header_2_0(f, max_header_size=10000)
            declared = int(np.prod(shape, dtype=object)) * dtype.itemsize
            if declared > info.file_size:
                raise ValueError(
                    f"{bad}: array {name!r} declares shape {tuple(shape)} "
                    f"({declared:,} bytes) but the file holds {info.file_size:,}; "
                    "remake it with `fewshot-clce episodes make`"
                )


# The metadata keys an EpisodeSet holds as attributes; the others travel in its ``meta``.
_CORE_KEYS = (
    "format",
    "format_version",
    "dataset",
    "split",
    "fingerprint",
    "ways",
    "shots",
    "queries",
    "count",
    "seed",
)


def _load_archive(path: Path, bad: str) -> tuple[str, dict[str, np.ndarray]]:
    """The metadata text and the index arrays of an ``.npz`` manifest, as stored.

    Args:
        path: the file.
        bad: the start of every message (the file named as corrupt or truncated).

    Raises:
        ValueError: if the file is no zip archive, lacks a member, or cannot be unpacked.
    """
    with open(path, "rb") as f:
        head = f.read(2)
    if head != b"PK":
        # np.load would try it as a .npy or a pickle and blame "pickled (object) data"
        raise ValueError(
            f"{bad}: it is not an .npz (zip) archive; remake it with `fewshot-clce episodes make`"
            " (a .csv episode table needs the .csv suffix)"
        )
    try:
        _check_declared_sizes(path, bad)
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in ("meta",) + ARRAYS if k not in z.files]
            if missing:
                raise ValueError(
                    f"episode file {str(path)!r} lacks {', '.join(missing)}; it is not a "
                    f"{FORMAT_NAME} file (remake it with `fewshot-clce episodes make`)"
                )
            return str(z["meta"][()]), {k: z[k] for k in ARRAYS}
    except ValueError as e:
        if str(e).startswith("episode file"):
            raise
        raise ValueError(f"{bad} ({e}); remake it with `fewshot-clce episodes make`") from None
    except (zipfile.BadZipFile, EOFError, OSError, KeyError, zipfile.LargeZipFile) as e:
        raise ValueError(
            f"{bad} ({type(e).__name__}: {e}); remake it with `fewshot-clce episodes make`"
        ) from None


def _read_metadata(meta_text: str, path: Path, bad: str) -> dict:
    """The manifest's metadata, refused unless it is a JSON object of a format version this
    fewshot-clce reads."""
    try:
        meta = loads_json(meta_text, f"{bad}: its metadata")
    except json.JSONDecodeError as e:
        raise ValueError(f"{bad}: its metadata is not JSON ({e})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise ValueError(
            f"{str(path)!r} is not a {FORMAT_NAME} file (format {meta.get('format')!r})"
            if isinstance(meta, dict)
            else f"{bad}: its metadata is not a JSON object"
        )
    version = meta.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ValueError(
            f"episode file {str(path)!r} has format version {version!r}; this fewshot-clce "
            f"({__version__}) reads versions up to {FORMAT_VERSION}: upgrade fewshot-clce"
        )
    return meta


def _index_arrays(
    arrays: dict[str, np.ndarray], meta: dict, path: Path, bad: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``classes``, ``support`` and ``query`` as int64, refused unless they are integers of
    the shapes and sizes the metadata states."""
    for k, a in arrays.items():
        if a.dtype.kind not in "iu":
            raise ValueError(f"{bad}: array {k!r} has dtype {a.dtype}, expected integers")
    classes, support, query = (arrays[k].astype(np.int64) for k in ARRAYS)
    check_shapes(classes, support, query, f"episode file {str(path)!r}")
    expected = (meta.get("count"), meta.get("ways"), meta.get("shots"), meta.get("queries"))
    found = (len(classes), classes.shape[1], support.shape[2], query.shape[2])
    if expected != found:
        raise ValueError(
            f"{bad}: its metadata says (count, ways, shots, queries) = {expected} but the "
            f"arrays hold {found}"
        )
    return classes, support, query


def _read_npz(path: Path) -> EpisodeSet:
    bad = f"episode file {str(path)!r} is corrupt or truncated"
    meta_text, arrays = _load_archive(path, bad)
    meta = _read_metadata(meta_text, path, bad)
    classes, support, query = _index_arrays(arrays, meta, path, bad)
    seed = meta.get("seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        raise ValueError(f"{bad}: its seed {seed!r} is not an integer")
    size = meta.get("split_size")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
        raise ValueError(f"{bad}: its split_size {size!r} is not a non-negative integer")
    extra = {k: v for k, v in meta.items() if k not in _CORE_KEYS}
    return EpisodeSet._from_file(
        f"episode file {str(path)!r}",
        classes,
        support,
        query,
        meta.get("dataset", ""),
        meta.get("split", ""),
        meta.get("fingerprint", ""),
        seed,
        extra,
    )
