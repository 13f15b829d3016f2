"""The episode set: E few-shot episodes of one split as index arrays, and their digest.

An episode is N classes of a split (``ways``), K support samples per class (``shots``) and
Q query samples per class (``queries``), referred to by index into the split. The episode-local
label of the class at position ``n`` is ``n``. An :class:`EpisodeSet` is bound to the split it
indexes by the split's dataset name, split name and fingerprint, so every model is tested on the
very same episodes, and a set cannot silently be applied to other data. Its validation:
:mod:`fewshot_clce.episodes.validation`; its files: :mod:`fewshot_clce.episodes.io`; drawing
one: :mod:`fewshot_clce.episodes.sampling`.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, NamedTuple, Optional

import numpy as np

from .validation import check_shapes, validate_episodes

# The index arrays of an episode set, in the order they are stored and hashed.
ARRAYS = ("classes", "support", "query")


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

    def __init__(
        self,
        classes,
        support,
        query,
        dataset: str = "",
        split: str = "",
        fingerprint: str = "",
        seed: Optional[int] = None,
        meta: Optional[dict[str, Any]] = None,
    ):
        self._assign(classes, support, query, dataset, split, fingerprint, seed, meta)
        validate_episodes(
            self.classes,
            self.support,
            self.query,
            where=self._where(),
            split_size=self.meta.get("split_size"),
        )

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
    def _from_file(
        cls, where: str, classes, support, query, dataset, split, fingerprint, seed, meta
    ) -> EpisodeSet:
        """An :class:`EpisodeSet` read from a file: validated with messages naming ``where`` (the file)."""
        self = cls.__new__(cls)
        self._assign(classes, support, query, dataset, split, fingerprint, seed, meta)
        validate_episodes(
            self.classes,
            self.support,
            self.query,
            where=where,
            split_size=self.meta.get("split_size"),
        )
        return self

    @classmethod
    def _trusted(
        cls, classes, support, query, dataset, split, fingerprint, seed, meta
    ) -> EpisodeSet:
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
        out._assign(
            self.classes[item],
            self.support[item],
            self.query[item],
            self.dataset,
            self.split,
            self.fingerprint,
            self.seed,
            self.meta,
        )
        check_shapes(out.classes, out.support, out.query, self._where())
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

    def metadata(self) -> dict[str, Any]:
        """The JSON metadata written with the arrays."""
        from .io import FORMAT_NAME, FORMAT_VERSION

        return dict(
            self.meta,
            format=FORMAT_NAME,
            format_version=FORMAT_VERSION,
            dataset=self.dataset,
            split=self.split,
            fingerprint=self.fingerprint,
            ways=self.ways,
            shots=self.shots,
            queries=self.queries,
            count=len(self),
            seed=self.seed,
        )

    def __eq__(self, other) -> bool:
        if not isinstance(other, EpisodeSet):
            return NotImplemented
        return (self.dataset, self.split, self.fingerprint, self.seed) == (
            other.dataset,
            other.split,
            other.fingerprint,
            other.seed,
        ) and all(np.array_equal(getattr(self, a), getattr(other, a)) for a in ARRAYS)

    def __repr__(self) -> str:
        return (
            f"EpisodeSet({len(self)} x {self.ways}-way {self.shots}-shot {self.queries}-query, "
            f"dataset={self.dataset!r}, split={self.split!r}, fingerprint={self.fingerprint!r}, "
            f"seed={self.seed})"
        )

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
            raise ValueError(
                f"{where} were drawn from dataset {self.dataset!r}, not {split.dataset!r}; "
                f"load them with the {self.dataset!r} dataset or make episodes for "
                f"{split.dataset!r} with `fewshot-clce episodes make`"
            )
        if self.split and self.split != split.name:
            raise ValueError(
                f"{where} were drawn from split {self.split!r}, not {split.name!r}; "
                f"pass the {self.split!r} split or make episodes for {split.name!r}"
            )
        if self.fingerprint and self.fingerprint != split.fingerprint:
            raise ValueError(
                f"{where} were drawn from a split with fingerprint {self.fingerprint}, but this "
                f"split's fingerprint is {split.fingerprint} (its samples, labels or classes "
                f"differ); use the data the episodes were made from, or remake them with "
                f"`fewshot-clce episodes make`"
            )
        validate_episodes(
            self.classes,
            self.support,
            self.query,
            where=where,
            labels=split.labels,
            num_classes=len(split.class_names),
        )

    def bind(self, split) -> EpisodeSet:
        """Check these episodes against ``split`` (see :meth:`check`), then record it in them:
        dataset, split name, fingerprint, and the split's size and class names, so that a saved
        copy is refused by any other data. Returns ``self``.

        Raises:
            ValueError: as :meth:`check`.
        """
        self.check(split)
        self.dataset, self.split, self.fingerprint = split.dataset, split.name, split.fingerprint
        self.meta.update(
            split_size=len(split),
            num_classes=len(split.class_names),
            class_names=list(split.class_names),
        )
        return self

    # -- files ------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike, overwrite: bool = True) -> Path:
        """Write the manifest atomically; ``.csv`` writes the table format, anything else ``.npz``.

        Raises:
            FileExistsError: if ``path`` exists and ``overwrite`` is False.
        """
        from .io import write_episodes

        return write_episodes(self, path, overwrite=overwrite)

    @classmethod
    def load(cls, path: str | os.PathLike, split=None) -> EpisodeSet:
        """Read a manifest (``.npz``, or the ``.csv`` table format); check it against ``split`` if given.

        Raises:
            FileNotFoundError: if ``path`` does not exist.
            ValueError: if the file is corrupt, truncated, of an unknown format, or does not
                match ``split`` (see :meth:`check`).
        """
        from .io import read_episodes

        return read_episodes(path, split=split)


def manifest_digest(episodes: EpisodeSet) -> str:
    """16 hex digits identifying the episodes (their split and every index): the ``manifest``
    column of results, on which a paired comparison joins."""
    h = hashlib.sha256(f"{episodes.dataset}\0{episodes.split}\0{episodes.fingerprint}\0".encode())
    for a in (episodes.classes, episodes.support, episodes.query):
        h.update(str(a.shape).encode())
        h.update(np.ascontiguousarray(a, dtype="<i8").tobytes())
    return h.hexdigest()[:16]
