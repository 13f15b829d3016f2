"""The integrity check of episodes, however they enter (constructed, ``.npz``, ``.csv``).

Episodes are index arrays: ``classes [E, N]`` (split-local class labels), ``support [E, N, K]``
and ``query [E, N, Q]`` (sample indices into the split). Every check is vectorised over the
episodes and names the first problem it finds: the episode, the sample or class, and where.
"""

from __future__ import annotations

from typing import Optional

import numpy as np


def check_shapes(classes: np.ndarray, support: np.ndarray, query: np.ndarray, where: str) -> None:
    """Arrays shaped ``[E, N]``, ``[E, N, K]`` and ``[E, N, Q]`` with no negative index.

    Raises:
        ValueError: naming ``where`` and the shapes or the index.
    """
    if classes.ndim != 2 or support.ndim != 3 or query.ndim != 3:
        raise ValueError(
            f"{where}: expected classes [E, N], support [E, N, K] and query [E, N, Q], got "
            f"shapes {classes.shape}, {support.shape} and {query.shape}"
        )
    if support.shape[:2] != classes.shape or query.shape[:2] != classes.shape:
        raise ValueError(
            f"{where}: classes {classes.shape}, support {support.shape} and query "
            f"{query.shape} disagree on the number of episodes or ways"
        )
    for name, a in (("classes", classes), ("support", support), ("query", query)):
        if a.size and a.min() < 0:
            raise ValueError(f"{where}: {name} holds a negative index ({int(a.min())})")


def validate_episodes(
    classes: np.ndarray,
    support: np.ndarray,
    query: np.ndarray,
    where: str = "episodes",
    labels: Optional[np.ndarray] = None,
    num_classes: Optional[int] = None,
    split_size: Optional[int] = None,
) -> None:
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
    check_shapes(classes, support, query, where)
    if labels is not None:
        labels = np.asarray(labels)
        split_size = len(labels)
    _check_ranges(classes, support, query, where, split_size, num_classes)
    _check_distinct_classes(classes, where)
    _check_distinct_samples(support, query, where)
    if labels is not None:
        _check_labels(classes, support, query, labels, where)


def _check_ranges(
    classes: np.ndarray,
    support: np.ndarray,
    query: np.ndarray,
    where: str,
    split_size: Optional[int],
    num_classes: Optional[int],
) -> None:
    """Sample indices below ``split_size`` and classes below ``num_classes``, where known."""
    if split_size is not None and max(support.max(initial=-1), query.max(initial=-1)) >= split_size:
        name, a = (
            ("support", support) if support.max(initial=-1) >= split_size else ("query", query)
        )
        ep, w, k = (int(v) for v in np.argwhere(a >= split_size)[0])
        raise ValueError(
            f"{where}: {name} index {int(a[ep, w, k])} is out of range for a split of "
            f"{split_size} samples (episode {ep})"
        )
    if num_classes is not None and classes.size and classes.max() >= num_classes:
        ep, w = (int(v) for v in np.argwhere(classes >= num_classes)[0])
        raise ValueError(
            f"{where}: class {int(classes[ep, w])} is out of range for a split of "
            f"{num_classes} classes (episode {ep})"
        )


def _check_distinct_classes(classes: np.ndarray, where: str) -> None:
    """No class twice in an episode."""
    n = classes.shape[1]
    if n < 2:
        return
    ordered = np.sort(classes, axis=1)  # [E, N]
    twice = ordered[:, 1:] == ordered[:, :-1]  # [E, N-1]
    if twice.any():
        ep = int(np.flatnonzero(twice.any(axis=1))[0])
        _, first = np.unique(classes[ep], return_index=True)
        c = int(classes[ep, np.setdiff1d(np.arange(n), first)[0]])
        ways = np.flatnonzero(classes[ep] == c).tolist()
        raise ValueError(
            f"{where}: episode {ep} lists class {c} {_times(len(ways))} (ways "
            f"{', '.join(map(str, ways))}); the classes of an episode must be distinct"
        )


def _check_distinct_samples(support: np.ndarray, query: np.ndarray, where: str) -> None:
    """No sample twice in an episode: support and query disjoint, each sample once."""
    if support.size + query.size <= support.shape[0]:  # fewer than two samples per episode
        return
    both = _episode_samples(support, query)  # [E, N*K + N*Q]
    ordered = np.sort(both, axis=1)
    twice = (ordered[:, 1:] == ordered[:, :-1]).any(axis=1)  # [E]
    if twice.any():
        ep = int(np.flatnonzero(twice)[0])
        _, first = np.unique(both[ep], return_index=True)
        repeat = np.setdiff1d(np.arange(both.shape[1]), first)[
            0
        ]  # in file order: support, then query
        i = int(both[ep, repeat])
        places = [
            f"{name}[{w}, {k}]"
            for name, a in (("support", support), ("query", query))
            for w, k in np.argwhere(a[ep] == i).tolist()
        ]
        shown = ", ".join(places[:6]) + (", ..." if len(places) > 6 else "")
        raise ValueError(
            f"{where}: sample {i} appears {_times(len(places))} in episode {ep} "
            f"(as {shown}, indexed [way, position]); support and query must be disjoint "
            f"and hold each sample once"
        )


def _check_labels(
    classes: np.ndarray, support: np.ndarray, query: np.ndarray, labels: np.ndarray, where: str
) -> None:
    """Every sample carries the label of its episode class."""
    for name, a in (("support", support), ("query", query)):
        wrong = labels[a] != classes[:, :, None]  # [E, N, K or Q]
        if wrong.any():
            ep, w, k = (int(v) for v in np.argwhere(wrong)[0])
            i = int(a[ep, w, k])
            raise ValueError(
                f"{where}: episode {ep} lists sample {i} as a {name} sample of class "
                f"{int(classes[ep, w])}, but its label is {int(labels[i])}"
            )


def _episode_samples(support: np.ndarray, query: np.ndarray) -> np.ndarray:
    """``[E, N*K + N*Q]`` every sample index of each episode, in the narrowest integer type that
    holds them (a sort moves fewer bytes)."""
    e, n, k = support.shape
    top = max(support.max(initial=0), query.max(initial=0))
    dtype = next((t for t in (np.uint16, np.uint32) if top <= np.iinfo(t).max), np.int64)
    out = np.empty((e, n * (k + query.shape[2])), dtype)
    out[:, : n * k] = support.reshape(e, -1)  # [E, N, K] -> [E, N*K]
    out[:, n * k :] = query.reshape(e, -1)  # [E, N, Q] -> [E, N*Q]
    return out


def _times(count: int) -> str:
    return "twice" if count == 2 else f"{count} times"
