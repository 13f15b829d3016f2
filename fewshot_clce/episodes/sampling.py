"""Drawing episodes: a vectorised, seeded sampler of N-way K-shot Q-query episodes from a split,
and the bound on how many one set may hold."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional, cast

import numpy as np

from .._version import __version__
from ..utils import checks as _checks
from .episode_set import EpisodeSet


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
        keys[np.arange(keys.shape[1]) >= n[rows, None]] = (
            np.inf
        )  # beyond a row's population: sorts last
        out[rows] = np.argsort(keys, axis=1)[:, :size]
    return out


# The most index memory one manifest may take (int64 classes, support and query): about 1.3
# million 5-way 5-shot 15-query episodes, hundreds of times what an evaluation needs. Drawing
# takes a few times this at its peak; beyond it a count is a typo (10000000000), not a plan.
MAX_INDEX_BYTES = 1 << 30


def check_episode_count(
    episodes: int, ways: int, shots: int, queries: int, name: str = "episodes"
) -> None:
    """Refuse, before anything is allocated, a manifest whose index arrays would pass
    :data:`MAX_INDEX_BYTES`.

    Args:
        episodes: the manifest's episode count E.
        ways: classes per episode N.
        shots: support images per class K.
        queries: query images per class Q.
        name: the setting that gave the count (``episodes``, ``val_episodes``, ...).

    Raises:
        ValueError: naming the count, the memory it needs and the most episodes allowed.
    """
    per_episode = 8 * ways * (1 + shots + queries)  # int64: a class, K support and Q query indices
    if episodes * per_episode > MAX_INDEX_BYTES:
        raise _checks.SettingError(
            name,
            "{setting} " + f"{episodes}: {ways}-way {shots}-shot {queries}-query episodes "
            f"would take {episodes * per_episode / 2**30:,.1f} GiB of sample indices; the "
            f"limit is {MAX_INDEX_BYTES / 2**30:g} GiB, {MAX_INDEX_BYTES // per_episode:,} "
            "such episodes; ask for fewer",
        )


def _positive_int(name: str, value) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if value <= 0:
        raise ValueError(f"{name} must be at least 1, got {value}")
    return int(value)


def sample_episodes(
    split,
    ways: int,
    shots: int,
    queries: int,
    episodes: int,
    seed: int | np.random.Generator | None,
    *,
    dataset: str = "",
    split_name: str = "",
    fingerprint: str = "",
    class_names: Optional[Sequence[str]] = None,
    skip_small_classes: bool = False,
) -> EpisodeSet:
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
    ways, shots, queries, episodes = (
        _positive_int(k, v)
        for k, v in (("ways", ways), ("shots", shots), ("queries", queries), ("episodes", episodes))
    )
    _checks.ways("ways", ways)
    check_episode_count(episodes, ways, shots, queries)
    if hasattr(split, "labels"):
        labels = np.asarray(split.labels, dtype=np.int64)
        dataset, split_name = split.dataset, split.name
        fingerprint, class_names = split.fingerprint, list(split.class_names)
    else:
        labels = np.asarray(split, dtype=np.int64)
    counts = _class_counts(labels, class_names)  # [C] samples per class
    where = f"{dataset}/{split_name}" if dataset or split_name else "the split"
    usable = _usable_classes(counts, ways, shots, queries, where, class_names, skip_small_classes)
    rng, recorded = _generator(seed)
    # classes [E, N] and their samples [E, N, K+Q], the first K of each class its support
    classes, chosen = _draw(rng, labels, counts, usable, episodes, ways, shots + queries)
    meta: dict[str, Any] = dict(
        split_size=int(len(labels)),
        num_classes=int(len(counts)),
        created_with=f"fewshot-clce {__version__}",
    )
    if class_names is not None:
        meta["class_names"] = list(class_names)
    # Well-formed by construction (distinct classes, distinct samples of those classes, all in
    # range; the tests check it with validate_episodes): not validated again.
    return EpisodeSet._trusted(
        classes,
        chosen[:, :, :shots],
        chosen[:, :, shots:],
        dataset,
        split_name,
        fingerprint,
        recorded,
        meta,
    )


def _class_counts(labels: np.ndarray, class_names: Optional[Sequence[str]]) -> np.ndarray:
    """``[C]`` samples per class of a split's ``labels``, ``C`` counting every named class too.

    Raises:
        ValueError: unless ``labels`` is a 1-D array of non-negative class indices.
    """
    if labels.ndim != 1 or (labels.size and labels.min() < 0):
        raise ValueError(
            f"labels must be a 1-D array of non-negative class indices, got shape {labels.shape}"
        )
    num_classes = max(
        len(class_names) if class_names is not None else 0,
        int(labels.max()) + 1 if labels.size else 0,
    )
    return np.bincount(labels, minlength=num_classes)


def _usable_classes(
    counts: np.ndarray,
    ways: int,
    shots: int,
    queries: int,
    where: str,
    class_names: Optional[Sequence[str]],
    skip_small_classes: bool,
) -> np.ndarray:
    """The classes with at least K + Q samples; refuses small classes unless they are skipped, and
    fewer usable classes than ``ways``.

    Args:
        counts: ``[C]`` samples per class.
    """
    need = shots + queries
    small = np.flatnonzero(counts < need)
    if len(small) and not skip_small_classes:

        def name(c):
            return (
                repr(class_names[c]) if class_names is not None and c < len(class_names) else str(c)
            )

        listed = "; ".join(f"class {name(c)} has {counts[c]} samples" for c in small[:5])
        more = f" (and {len(small) - 5} more classes)" if len(small) > 5 else ""
        raise ValueError(
            f"in {where}, {listed}{more}; {shots}-shot {queries}-query episodes need {need} "
            f"per class: lower --shots/--queries, or leave such classes out "
            f"(--skip-small-classes, skip_small_classes=True)"
        )
    usable = np.flatnonzero(counts >= need)
    if ways > len(usable):
        what = f"{len(usable)} classes" + (f" with at least {need} samples" if len(small) else "")
        raise ValueError(
            f"{ways}-way episodes need {ways} classes but {where} has {what}; "
            f"lower --ways to at most {len(usable)}"
        )
    return usable


def _generator(seed: int | np.random.Generator | None) -> tuple[np.random.Generator, Optional[int]]:
    """The generator to draw from and the seed to record (None for a generator passed in)."""
    if isinstance(seed, np.random.Generator):
        return seed, None
    if seed is None:
        # a SeedSequence made without entropy draws an int from the OS
        seed = int(cast(int, np.random.SeedSequence().entropy) % (2**63))
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer or a numpy Generator, got {seed!r}")
    return np.random.default_rng(int(seed)), int(seed)


def _draw(
    rng: np.random.Generator,
    labels: np.ndarray,
    counts: np.ndarray,
    usable: np.ndarray,
    episodes: int,
    ways: int,
    need: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Classes ``[E, N]`` drawn from ``usable``, and ``[E, N, need]`` distinct samples of each.

    Args:
        labels: ``[num_samples]`` class of every sample of the split.
        counts: ``[C]`` samples per class.
    """
    classes = usable[sample_distinct(rng, np.full(episodes, len(usable)), ways)]  # [E, N]
    picks = sample_distinct(
        rng, counts[classes].ravel(), need
    )  # [E*N, K+Q] positions within each class
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    chosen = (
        starts[classes.ravel()][:, None] + picks
    )  # [E*N, K+Q] positions in the class-grouped order
    if labels.size > 1 and (labels[1:] < labels[:-1]).any():  # samples not already grouped by class
        chosen = np.argsort(labels, kind="stable")[chosen]
    return classes, chosen.reshape(episodes, ways, need)  # [E, N, K+Q]
