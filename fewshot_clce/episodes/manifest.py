"""Episodes as data: a vectorised seeded sampler and the :class:`EpisodeSet` manifest.

An episode is N classes of a split (``ways``), K support samples per class (``shots``) and
Q query samples per class (``queries``), referred to by index into the split. The episode-local
label of the class at position ``n`` is ``n``. A manifest is bound to the split it indexes by the
split's dataset name, split name and fingerprint, so every model is tested on the very same
episodes, and a manifest cannot silently be applied to other data.

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
from typing import Any, Dict, NamedTuple, Optional, Sequence

import numpy as np

from ..utils import checks as _checks
from ..utils.files import atomic_path, loads_json
from .._version import __version__


def file_safe(name: str) -> str:
    """``name`` (a dataset, possibly with options) as a file-name part: runs of other characters
    than letters, digits, ``_``, ``.`` and ``-`` become one ``-``."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")


FORMAT_NAME = "fewshot-clce-episodes"
FORMAT_VERSION = 1
_ARRAYS = ("classes", "support", "query")


class Episode(NamedTuple):
    """One episode of a manifest.

    Attributes:
        classes: ``[N]`` split-local class labels; the episode-local label of ``classes[n]`` is ``n``.
        support: ``[N, K]`` sample indices into the split.
        query: ``[N, Q]`` sample indices into the split.
    """

    classes: np.ndarray
    support: np.ndarray
    query: np.ndarray


class EpisodeSet:
    """A manifest of E episodes drawn from one split.

    Args:
        classes: ``[E, N]`` split-local class labels.
        support: ``[E, N, K]`` sample indices into the split.
        query: ``[E, N, Q]`` sample indices into the split.
        dataset: dataset name of the split the indices refer to.
        split: split name (``base``, ``val``, ``novel``).
        fingerprint: the split's fingerprint (16 hex digits; empty when unknown).
        seed: the seed the episodes were drawn with (None for external or unseeded episodes).
        meta: further JSON-serialisable metadata kept with the file (``split_size``,
            ``num_classes``, ``class_names``, ``source``, ...).

    Raises:
        ValueError: if the arrays do not form well-formed episodes (see :func:`validate_episodes`).
    """

    def __init__(self, classes, support, query, dataset: str = "", split: str = "",
                 fingerprint: str = "", seed: Optional[int] = None, meta: Optional[Dict[str, Any]] = None):
        self._assign(classes, support, query, dataset, split, fingerprint, seed, meta)
        validate_episodes(self.classes, self.support, self.query, where=self._where(),
                          split_size=self.meta.get("split_size"))

    def _assign(self, classes, support, query, dataset, split, fingerprint, seed, meta) -> None:
        self.classes = np.asarray(classes, dtype=np.int64)
        self.support = np.asarray(support, dtype=np.int64)
        self.query = np.asarray(query, dtype=np.int64)
        self.dataset = str(dataset)
        self.split = str(split)
        self.fingerprint = str(fingerprint)
        self.seed = None if seed is None else int(seed)
        self.meta = dict(meta or {})

    @classmethod
    def _from_file(cls, where: str, classes, support, query, dataset, split, fingerprint, seed,
                   meta) -> "EpisodeSet":
        """An :class:`EpisodeSet` read from a file: validated with messages naming ``where`` (the file)."""
        self = cls.__new__(cls)
        self._assign(classes, support, query, dataset, split, fingerprint, seed, meta)
        validate_episodes(self.classes, self.support, self.query, where=where,
                          split_size=self.meta.get("split_size"))
        return self

    @classmethod
    def _trusted(cls, classes, support, query, dataset, split, fingerprint, seed, meta) -> "EpisodeSet":
        """An :class:`EpisodeSet` of arrays made well-formed by construction (:func:`sample_episodes`)."""
        self = cls.__new__(cls)
        self._assign(classes, support, query, dataset, split, fingerprint, seed, meta)
        return self

    def _where(self) -> str:
        return f"episodes of {self.dataset or '?'}/{self.split or '?'}"

    # -- sizes --------------------------------------------------------------------------
    def __len__(self) -> int:
        return self.classes.shape[0]

    @property
    def ways(self) -> int:
        return self.classes.shape[1]

    @property
    def shots(self) -> int:
        return self.support.shape[2]

    @property
    def queries(self) -> int:
        return self.query.shape[2]

    # -- access -------------------------------------------------------------------------
    def __getitem__(self, item):
        """An :class:`Episode` for an int; an :class:`EpisodeSet` of those episodes for a slice/array."""
        if isinstance(item, (int, np.integer)):
            return Episode(self.classes[item], self.support[item], self.query[item])
        # whole episodes of a validated set: the selection is valid as well (check() revalidates)
        out = EpisodeSet.__new__(EpisodeSet)
        out._assign(self.classes[item], self.support[item], self.query[item], self.dataset, self.split,
                    self.fingerprint, self.seed, self.meta)
        _check_shapes(out.classes, out.support, out.query, self._where())
        return out

    def flat_support(self) -> np.ndarray:
        """``[E, N*K]`` support indices, class-major (labels from :meth:`support_labels`)."""
        return self.support.reshape(len(self), -1)  # [E, N, K] -> [E, N*K]

    def flat_query(self) -> np.ndarray:
        """``[E, N*Q]`` query indices, class-major (labels from :meth:`query_labels`)."""
        return self.query.reshape(len(self), -1)  # [E, N, Q] -> [E, N*Q]

    def support_labels(self) -> np.ndarray:
        """``[N*K]`` episode-local labels of :meth:`flat_support` (the same for every episode)."""
        return np.repeat(np.arange(self.ways, dtype=np.int64), self.shots)

    def query_labels(self) -> np.ndarray:
        """``[N*Q]`` episode-local labels of :meth:`flat_query` (the same for every episode)."""
        return np.repeat(np.arange(self.ways, dtype=np.int64), self.queries)

    def used_indices(self) -> np.ndarray:
        """Sorted unique sample indices used by any episode (what a feature pass must cover)."""
        return np.union1d(self.support.ravel(), self.query.ravel())

    def metadata(self) -> Dict[str, Any]:
        """The JSON metadata written with the arrays."""
        return dict(self.meta, format=FORMAT_NAME, format_version=FORMAT_VERSION, dataset=self.dataset,
                    split=self.split, fingerprint=self.fingerprint, ways=self.ways, shots=self.shots,
                    queries=self.queries, count=len(self), seed=self.seed)

    def __eq__(self, other) -> bool:
        if not isinstance(other, EpisodeSet):
            return NotImplemented
        return (self.dataset, self.split, self.fingerprint, self.seed) == (
            other.dataset, other.split, other.fingerprint, other.seed) and all(
            np.array_equal(getattr(self, a), getattr(other, a)) for a in _ARRAYS)

    def __repr__(self) -> str:
        return (f"EpisodeSet({len(self)} x {self.ways}-way {self.shots}-shot {self.queries}-query, "
                f"dataset={self.dataset!r}, split={self.split!r}, fingerprint={self.fingerprint!r}, "
                f"seed={self.seed})")

    # -- binding to a split ------------------------------------------------------------------
    def check(self, split) -> None:
        """Check that these episodes index ``split``.

        Compares dataset, split name and fingerprint (when the manifest has one), then runs
        :func:`validate_episodes` with the split's labels: indices in range, every sample carrying
        the label of its episode class, and the arrays' own integrity (again: they may have been
        changed since the set was made).

        Raises:
            ValueError: naming both values on a mismatch, and how to fix it.
        """
        where = self._where()
        if self.dataset and self.dataset != split.dataset:
            raise ValueError(f"{where} were drawn from dataset {self.dataset!r}, not {split.dataset!r}; "
                             f"load them with the {self.dataset!r} dataset or make episodes for "
                             f"{split.dataset!r} with `fewshot-clce episodes make`")
        if self.split and self.split != split.name:
            raise ValueError(f"{where} were drawn from split {self.split!r}, not {split.name!r}; "
                             f"pass the {self.split!r} split or make episodes for {split.name!r}")
        if self.fingerprint and self.fingerprint != split.fingerprint:
            raise ValueError(f"{where} were drawn from a split with fingerprint {self.fingerprint}, but this "
                             f"split's fingerprint is {split.fingerprint} (its samples, labels or classes "
                             f"differ); use the data the episodes were made from, or remake them with "
                             f"`fewshot-clce episodes make`")
        validate_episodes(self.classes, self.support, self.query, where=where, labels=split.labels,
                          num_classes=len(split.class_names))

    def bind(self, split) -> "EpisodeSet":
        """Check these episodes against ``split`` (see :meth:`check`), then record it in them:
        dataset, split name, fingerprint, and the split's size and class names, so that a saved
        copy is refused by any other data. Returns ``self``.

        Raises:
            ValueError: as :meth:`check`.
        """
        self.check(split)
        self.dataset, self.split, self.fingerprint = split.dataset, split.name, split.fingerprint
        self.meta.update(split_size=len(split), num_classes=len(split.class_names),
                         class_names=list(split.class_names))
        return self

    # -- files ------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike, overwrite: bool = True) -> Path:
        """Write the manifest atomically; ``.csv`` writes the table format, anything else ``.npz``.

        Raises:
            FileExistsError: if ``path`` exists and ``overwrite`` is False.
        """
        path = Path(path)
        if path.suffix.lower() == ".csv":
            from .table import write_episode_table

            return write_episode_table(self, path, overwrite=overwrite)
        arrays = {a: _compact(getattr(self, a)) for a in _ARRAYS}
        meta = json.dumps(self.metadata(), sort_keys=True)
        with atomic_path(path, overwrite=overwrite) as tmp:
            # A file object keeps numpy from appending ".npz" to the temporary name.
            with open(tmp, "wb") as f:
                np.savez_compressed(f, meta=np.array(meta), **arrays)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike, split=None) -> "EpisodeSet":
        """Read a manifest (``.npz``, or the ``.csv`` table format); check it against ``split`` if given.

        Raises:
            FileNotFoundError: if ``path`` does not exist.
            ValueError: if the file is corrupt, truncated, of an unknown format, or does not
                match ``split`` (see :meth:`check`).
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"episode file {str(path)!r} does not exist; make one with "
                                    f"`fewshot-clce episodes make`")
        if path.suffix.lower() == ".csv":
            from .table import read_episode_table

            return read_episode_table(path, split=split)
        episodes = _read_npz(path)
        if split is not None:
            episodes.check(split)
        return episodes


def _compact(a: np.ndarray) -> np.ndarray:
    """``a`` in the smallest unsigned integer type holding its values (indices are never negative)."""
    top = int(a.max()) if a.size else 0
    for dt in (np.uint8, np.uint16, np.uint32):
        if top <= np.iinfo(dt).max:
            return a.astype(dt)
    return a.astype(np.int64)


def _check_shapes(classes, support, query, where: str) -> None:
    if classes.ndim != 2 or support.ndim != 3 or query.ndim != 3:
        raise ValueError(f"{where}: expected classes [E, N], support [E, N, K] and query [E, N, Q], got "
                         f"shapes {classes.shape}, {support.shape} and {query.shape}")
    if support.shape[:2] != classes.shape or query.shape[:2] != classes.shape:
        raise ValueError(f"{where}: classes {classes.shape}, support {support.shape} and query "
                         f"{query.shape} disagree on the number of episodes or ways")
    for name, a in (("classes", classes), ("support", support), ("query", query)):
        if a.size and a.min() < 0:
            raise ValueError(f"{where}: {name} holds a negative index ({int(a.min())})")


def validate_episodes(classes: np.ndarray, support: np.ndarray, query: np.ndarray, where: str = "episodes",
                      labels: Optional[np.ndarray] = None, num_classes: Optional[int] = None,
                      split_size: Optional[int] = None) -> None:
    """The one integrity check of episodes, however they enter (constructed, ``.npz``, ``.csv``).

    Checks, vectorised over all episodes: the shapes agree; no index is negative; indices lie in
    the split (``split_size``, or ``len(labels)``) and classes in ``num_classes``; the classes of
    an episode are distinct; the samples of an episode are distinct (support and query disjoint,
    no sample twice); with ``labels``, every sample carries the label of its episode class.

    Args:
        classes: ``[E, N]`` int64 split-local class labels.
        support: ``[E, N, K]`` int64 sample indices.
        query: ``[E, N, Q]`` int64 sample indices.
        where: how messages name the episodes (a file, a dataset/split).
        labels: ``[num_samples]`` labels of the split the indices refer to, when known.
        num_classes: number of classes of that split, when known.
        split_size: number of samples of that split, when known without its labels.

    Raises:
        ValueError: for the first problem found, naming the episode, the sample or class, and
            where it occurs.
    """
    _check_shapes(classes, support, query, where)
    if labels is not None:
        labels = np.asarray(labels)
        split_size = len(labels)
    if split_size is not None and max(support.max(initial=-1), query.max(initial=-1)) >= split_size:
        name, a = ("support", support) if support.max(initial=-1) >= split_size else ("query", query)
        ep, w, k = (int(v) for v in np.argwhere(a >= split_size)[0])
        raise ValueError(f"{where}: {name} index {int(a[ep, w, k])} is out of range for a split of "
                         f"{split_size} samples (episode {ep})")
    if num_classes is not None and classes.size and classes.max() >= num_classes:
        ep, w = (int(v) for v in np.argwhere(classes >= num_classes)[0])
        raise ValueError(f"{where}: class {int(classes[ep, w])} is out of range for a split of "
                         f"{num_classes} classes (episode {ep})")
    e, n = classes.shape
    if n > 1:
        ordered = np.sort(classes, axis=1)  # [E, N]
        twice = ordered[:, 1:] == ordered[:, :-1]  # [E, N-1]
        if twice.any():
            ep = int(np.flatnonzero(twice.any(axis=1))[0])
            _, first = np.unique(classes[ep], return_index=True)
            c = int(classes[ep, np.setdiff1d(np.arange(n), first)[0]])
            ways = np.flatnonzero(classes[ep] == c).tolist()
            raise ValueError(f"{where}: episode {ep} lists class {c} {_times(len(ways))} (ways "
                             f"{', '.join(map(str, ways))}); the classes of an episode must be distinct")
    if support.size + query.size > e:  # at least two samples per episode
        both = _episode_samples(support, query)  # [E, N*K + N*Q]
        ordered = np.sort(both, axis=1)
        twice = (ordered[:, 1:] == ordered[:, :-1]).any(axis=1)  # [E]
        if twice.any():
            ep = int(np.flatnonzero(twice)[0])
            _, first = np.unique(both[ep], return_index=True)
            repeat = np.setdiff1d(np.arange(both.shape[1]), first)[0]  # in file order: support, then query
            i = int(both[ep, repeat])
            places = [f"{name}[{w}, {k}]" for name, a in (("support", support), ("query", query))
                      for w, k in np.argwhere(a[ep] == i).tolist()]
            shown = ", ".join(places[:6]) + (", ..." if len(places) > 6 else "")
            raise ValueError(f"{where}: sample {i} appears {_times(len(places))} in episode {ep} "
                             f"(as {shown}, indexed [way, position]); support and query must be disjoint "
                             f"and hold each sample once")
    if labels is not None:
        for name, a in (("support", support), ("query", query)):
            wrong = labels[a] != classes[:, :, None]  # [E, N, K or Q]
            if wrong.any():
                ep, w, k = (int(v) for v in np.argwhere(wrong)[0])
                i = int(a[ep, w, k])
                raise ValueError(f"{where}: episode {ep} lists sample {i} as a {name} sample of class "
                                 f"{int(classes[ep, w])}, but its label is {int(labels[i])}")


def _episode_samples(support: np.ndarray, query: np.ndarray) -> np.ndarray:
    """``[E, N*K + N*Q]`` every sample index of each episode, in the narrowest integer type that
    holds them (sorting 2-byte values is about twice as fast as 8-byte ones)."""
    e, n, k = support.shape
    top = max(support.max(initial=0), query.max(initial=0))
    dtype = next((t for t in (np.uint16, np.uint32) if top <= np.iinfo(t).max), np.int64)
    out = np.empty((e, n * (k + query.shape[2])), dtype)
    out[:, :n * k] = support.reshape(e, -1)  # [E, N, K] -> [E, N*K]
    out[:, n * k:] = query.reshape(e, -1)  # [E, N, Q] -> [E, N*Q]
    return out


def _times(count: int) -> str:
    return "twice" if count == 2 else f"{count} times"


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
                raise ValueError(f"{bad}: member {info.filename!r} declares {info.file_size:,} "
                                 f"bytes from {info.compress_size:,} compressed (a damaged file or "
                                 "a zip bomb); remake it with `fewshot-clce episodes make`")
            with zf.open(info) as f:
                version = npy.read_magic(f)
                if version == (1, 0):
                    shape, _, dtype = npy.read_array_header_1_0(f, max_header_size=10000)
                else:
                    shape, _, dtype = npy.read_array_header_2_0(f, max_header_size=10000)
            declared = int(np.prod(shape, dtype=object)) * dtype.itemsize
            if declared > info.file_size:
                raise ValueError(f"{bad}: array {name!r} declares shape {tuple(shape)} "
                                 f"({declared:,} bytes) but the file holds {info.file_size:,}; "
                                 "remake it with `fewshot-clce episodes make`")


def _read_npz(path: Path) -> EpisodeSet:
    bad = f"episode file {str(path)!r} is corrupt or truncated"
    with open(path, "rb") as f:
        head = f.read(2)
    if head != b"PK":
        # np.load would try it as a .npy or a pickle and blame "pickled (object) data"
        raise ValueError(f"{bad}: it is not an .npz (zip) archive; remake it with `fewshot-clce episodes make`"
                         " (a .csv episode table needs the .csv suffix)")
    try:
        _check_declared_sizes(path, bad)
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in ("meta",) + _ARRAYS if k not in z.files]
            if missing:
                raise ValueError(f"episode file {str(path)!r} lacks {', '.join(missing)}; it is not a "
                                 f"{FORMAT_NAME} file (remake it with `fewshot-clce episodes make`)")
            meta_text = str(z["meta"][()])
            arrays = {k: z[k] for k in _ARRAYS}
    except ValueError as e:
        if str(e).startswith("episode file"):
            raise
        raise ValueError(f"{bad} ({e}); remake it with `fewshot-clce episodes make`") from None
    except (zipfile.BadZipFile, EOFError, OSError, KeyError, zipfile.LargeZipFile) as e:
        raise ValueError(f"{bad} ({type(e).__name__}: {e}); remake it with "
                         f"`fewshot-clce episodes make`") from None
    try:
        meta = loads_json(meta_text, f"{bad}: its metadata")
    except json.JSONDecodeError as e:
        raise ValueError(f"{bad}: its metadata is not JSON ({e})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise ValueError(f"{str(path)!r} is not a {FORMAT_NAME} file (format {meta.get('format')!r})"
                         if isinstance(meta, dict) else f"{bad}: its metadata is not a JSON object")
    version = meta.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ValueError(f"episode file {str(path)!r} has format version {version!r}; this fewshot-clce "
                         f"({__version__}) reads versions up to {FORMAT_VERSION}: upgrade fewshot-clce")
    for k, a in arrays.items():
        if a.dtype.kind not in "iu":
            raise ValueError(f"{bad}: array {k!r} has dtype {a.dtype}, expected integers")
    classes, support, query = (arrays[k].astype(np.int64) for k in _ARRAYS)
    _check_shapes(classes, support, query, f"episode file {str(path)!r}")
    expected = (meta.get("count"), meta.get("ways"), meta.get("shots"), meta.get("queries"))
    found = (len(classes), classes.shape[1], support.shape[2], query.shape[2])
    if expected != found:
        raise ValueError(f"{bad}: its metadata says (count, ways, shots, queries) = {expected} but the "
                         f"arrays hold {found}")
    seed = meta.get("seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        raise ValueError(f"{bad}: its seed {seed!r} is not an integer")
    size = meta.get("split_size")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
        raise ValueError(f"{bad}: its split_size {size!r} is not a non-negative integer")
    core = ("format", "format_version", "dataset", "split", "fingerprint", "ways", "shots", "queries",
            "count", "seed")
    extra = {k: v for k, v in meta.items() if k not in core}
    return EpisodeSet._from_file(f"episode file {str(path)!r}", classes, support, query,
                                 meta.get("dataset", ""), meta.get("split", ""), meta.get("fingerprint", ""),
                                 seed, extra)


def sample_distinct(rng: np.random.Generator, n: np.ndarray, size: int) -> np.ndarray:
    """Draw ``size`` distinct integers in ``[0, n[r])`` for every row ``r``: uniform ordered tuples.

    Two exact methods, chosen per row by how likely ``size`` independent draws are all distinct:

    - likely (at least 1 in 5, e.g. 20 of 600): draw ``size`` independent uniform integers and
      redraw the rows holding a repeat. Conditioning independent uniform draws on being distinct
      gives every ordered tuple of distinct values the same probability.
    - unlikely (small populations, e.g. 20 of 25): argsort of independent uniform keys over the
      row's population (a uniform permutation) and keep its first ``size`` entries.

    Args:
        rng: the generator every draw comes from.
        n: ``[R]`` population size of each row; every ``n[r] >= size``.
        size: how many distinct values per row.

    Returns:
        ``[R, size]`` int64.

    Raises:
        ValueError: if a row's population is smaller than ``size``.
    """
    n = np.asarray(n, dtype=np.int64)
    out = np.empty((len(n), size), dtype=np.int64)
    if size == 0 or len(n) == 0:
        return out
    if n.min() < size:
        raise ValueError(f"cannot draw {size} distinct values from a population of {int(n.min())}")
    sizes, row_size = np.unique(n, return_inverse=True)
    # P(size independent draws from [0, m) are distinct) = prod_i (1 - i/m), for each distinct m
    p_distinct = np.exp(np.log1p(-np.arange(size) / sizes[:, None]).sum(axis=1))
    by_rejection = (p_distinct >= 0.2)[row_size]  # [R]
    rows = np.flatnonzero(by_rejection)
    while len(rows):
        high = sizes[0] if len(sizes) == 1 else n[rows, None]  # a scalar bound draws faster
        draw = rng.integers(0, high, size=(len(rows), size))
        # Every row takes its draw; rows with a repeat are drawn again (and overwritten) in the
        # next pass. Assigning all rows at once costs a fraction of selecting the distinct ones.
        if len(rows) == len(out):
            out[...] = draw
        else:
            out[rows] = draw
        ordered = np.sort(draw, axis=1)
        rows = rows[(ordered[:, 1:] == ordered[:, :-1]).any(axis=1)]
    rows = np.flatnonzero(~by_rejection)
    if len(rows):
        keys = rng.random((len(rows), int(n[rows].max())))  # [R', max population]
        keys[np.arange(keys.shape[1]) >= n[rows, None]] = np.inf  # beyond a row's population: sorts last
        out[rows] = np.argsort(keys, axis=1)[:, :size]
    return out


# The most index memory one manifest may take (int64 classes, support and query): about 1.3
# million 5-way 5-shot 15-query episodes, hundreds of times what an evaluation needs. Drawing
# takes a few times this at its peak; beyond it a count is a typo (10000000000), not a plan.
MAX_INDEX_BYTES = 1 << 30


def check_episode_count(episodes: int, ways: int, shots: int, queries: int, name: str = "episodes") -> None:
    """Refuse, before anything is allocated, a manifest whose index arrays would pass
    :data:`MAX_INDEX_BYTES`.

    Args:
        episodes, ways, shots, queries: the manifest's sizes (E, N, K, Q).
        name: the setting that gave the count (``episodes``, ``val_episodes``, ...).

    Raises:
        ValueError: naming the count, the memory it needs and the most episodes allowed.
    """
    per_episode = 8 * ways * (1 + shots + queries)  # int64: a class, K support and Q query indices
    if episodes * per_episode > MAX_INDEX_BYTES:
        raise _checks.SettingError(name, "{setting} " + f"{episodes}: {ways}-way {shots}-shot {queries}-query episodes "
                                   f"would take {episodes * per_episode / 2 ** 30:,.1f} GiB of sample indices; the "
                                   f"limit is {MAX_INDEX_BYTES / 2 ** 30:g} GiB, {MAX_INDEX_BYTES // per_episode:,} "
                                   "such episodes; ask for fewer")


def _positive_int(name: str, value) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if value <= 0:
        raise ValueError(f"{name} must be at least 1, got {value}")
    return int(value)


def sample_episodes(split, ways: int, shots: int, queries: int, episodes: int,
                    seed: int | np.random.Generator | None, *, dataset: str = "", split_name: str = "",
                    fingerprint: str = "", class_names: Optional[Sequence[str]] = None,
                    skip_small_classes: bool = False) -> EpisodeSet:
    """Draw ``episodes`` N-way K-shot Q-query episodes from a split, vectorised and seeded.

    Within an episode the classes are distinct and uniformly drawn; per class the K + Q samples
    are distinct and uniformly drawn, the first K being the support and the rest the query.
    The same arguments and seed give the same episodes.

    Args:
        split: a :class:`~fewshot_clce.data.Split`, or a ``[num_samples]`` array of class labels
            (then ``dataset``, ``split_name``, ``fingerprint`` and ``class_names`` describe it).
        ways: classes per episode (N).
        shots: support samples per class (K).
        queries: query samples per class (Q).
        episodes: number of episodes (E).
        seed: an int seed, a ``numpy.random.Generator`` (recorded as seed None), or None for a
            fresh seed that is recorded in the manifest.
        skip_small_classes: leave out classes with fewer than K + Q samples instead of refusing.

    Returns:
        An :class:`EpisodeSet` with classes ``[E, N]``, support ``[E, N, K]``, query ``[E, N, Q]``.

    Raises:
        ValueError: on sizes below 1, ``ways`` below 2 or above the number of usable classes, a class
            with fewer than K + Q samples (naming it and both counts), or more episodes than
            :func:`check_episode_count` allows.
    """
    ways, shots, queries, episodes = (_positive_int(k, v) for k, v in (
        ("ways", ways), ("shots", shots), ("queries", queries), ("episodes", episodes)))
    _checks.ways("ways", ways)
    check_episode_count(episodes, ways, shots, queries)
    if hasattr(split, "labels"):
        labels = np.asarray(split.labels, dtype=np.int64)
        dataset, split_name = split.dataset, split.name
        fingerprint, class_names = split.fingerprint, list(split.class_names)
    else:
        labels = np.asarray(split, dtype=np.int64)
    if labels.ndim != 1 or (labels.size and labels.min() < 0):
        raise ValueError(f"labels must be a 1-D array of non-negative class indices, got shape {labels.shape}")
    num_classes = max(len(class_names) if class_names is not None else 0,
                      int(labels.max()) + 1 if labels.size else 0)
    counts = np.bincount(labels, minlength=num_classes)
    need = shots + queries
    where = f"{dataset}/{split_name}" if dataset or split_name else "the split"
    small = np.flatnonzero(counts < need)
    if len(small) and not skip_small_classes:
        def name(c):
            return repr(class_names[c]) if class_names is not None and c < len(class_names) else str(c)
        listed = "; ".join(f"class {name(c)} has {counts[c]} samples" for c in small[:5])
        more = f" (and {len(small) - 5} more classes)" if len(small) > 5 else ""
        raise ValueError(f"in {where}, {listed}{more}; {shots}-shot {queries}-query episodes need {need} "
                         f"per class: lower --shots/--queries, or leave such classes out "
                         f"(--skip-small-classes, skip_small_classes=True)")
    usable = np.flatnonzero(counts >= need)
    if ways > len(usable):
        what = f"{len(usable)} classes" + (f" with at least {need} samples" if len(small) else "")
        raise ValueError(f"{ways}-way episodes need {ways} classes but {where} has {what}; "
                         f"lower --ways to at most {len(usable)}")
    if isinstance(seed, np.random.Generator):
        rng, recorded = seed, None
    else:
        if seed is None:
            seed = int(np.random.SeedSequence().entropy % (2 ** 63))
        if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer or a numpy Generator, got {seed!r}")
        recorded = int(seed)
        rng = np.random.default_rng(recorded)
    classes = usable[sample_distinct(rng, np.full(episodes, len(usable)), ways)]  # [E, N]
    picks = sample_distinct(rng, counts[classes].ravel(), need)  # [E*N, K+Q] positions within each class
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    chosen = starts[classes.ravel()][:, None] + picks  # [E*N, K+Q] positions in the class-grouped order
    if labels.size > 1 and (labels[1:] < labels[:-1]).any():  # samples not already grouped by class
        chosen = np.argsort(labels, kind="stable")[chosen]
    chosen = chosen.reshape(episodes, ways, need)  # [E, N, K+Q]
    meta = dict(split_size=int(len(labels)), num_classes=int(num_classes), created_with=f"fewshot-clce {__version__}")
    if class_names is not None:
        meta["class_names"] = list(class_names)
    # Well-formed by construction (distinct classes, distinct samples of those classes, all in
    # range; the tests check it with validate_episodes): not validated again.
    return EpisodeSet._trusted(classes, chosen[:, :, :shots], chosen[:, :, shots:], dataset, split_name,
                               fingerprint, recorded, meta)
