"""learn2learn interop (the optional ``learn2learn`` extra; install it with
``bash scripts/install_learn2learn.sh PYTHON``).

- :func:`split_from_learn2learn` wraps any learn2learn dataset or ``MetaDataset`` (anything that
  returns ``(image, label)``) as a toolkit :class:`~fewshot_clce.data.Split`, so its samples get
  labels, class names and a fingerprint, and episodes can be drawn from it.
- :class:`EpisodeTasks` turns an :class:`~fewshot_clce.episodes.episode_set.EpisodeSet` into learn2learn-style
  tasks ``(data, labels)``: ``data`` ``[N*(K+Q), C, H, W]`` grouped by class, the ``K`` support
  samples of each class before its ``Q`` queries, ``labels`` ``[N*(K+Q)]`` the episode-local
  labels ``0..N-1``; ``learn2learn.data.partition_task(data, labels, shots=K)`` splits it back
  into support and query. It needs no learn2learn; :func:`to_learn2learn_taskset` returns the
  same tasks as a genuine ``learn2learn.data.Taskset``.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any, Optional

import numpy as np
import torch

from ..data.base import Split


def import_learn2learn():
    """Import learn2learn (quietly: gym, which it imports, prints a notice on import).

    Raises:
        ImportError: saying how to install it.
    """
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            import learn2learn
    except ImportError as e:
        raise ImportError(
            f"learn2learn is not importable ({e}); install it with "
            "`bash scripts/install_learn2learn.sh $(which python)` (or `make learn2learn`)"
        ) from None
    return learn2learn


def _to_chw(x: Any) -> torch.Tensor:
    """An image as returned by a dataset (PIL image, ``[H, W(, C)]`` array or ``[C, H, W]`` tensor)
    -> ``[C, H, W]`` tensor, values unchanged."""
    if isinstance(x, torch.Tensor):
        t = x.detach().cpu()
        return t.unsqueeze(0) if t.ndim == 2 else t
    arr = np.asarray(x)  # PIL images convert to [H, W] or [H, W, C]
    t = torch.from_numpy(arr.copy())
    return t.unsqueeze(0) if t.ndim == 2 else t.permute(2, 0, 1)  # [H, W, C] -> [C, H, W]


class Learn2LearnSplit(Split):
    """A toolkit split over a learn2learn dataset; see :func:`split_from_learn2learn`.

    Attributes:
        source: the wrapped dataset.
        original_labels: ``[num_classes]`` the source's label of each class.
    """

    def __init__(
        self,
        source,
        labels: Sequence[int],
        class_names: Sequence[str],
        original_labels: list[Hashable],
        dataset: str,
        name: str,
        scale: float,
        transform: Optional[Callable] = None,
    ):
        super().__init__(dataset, name, labels, class_names, transform)
        self.source = source
        self.original_labels = original_labels
        self.scale = scale

    def get_image(self, index: int) -> torch.Tensor:
        return _to_chw(self.source[int(index)][0]).float() * self.scale

    def _identity(self) -> Iterable[bytes]:
        # The pixels themselves: a learn2learn dataset has no file list to name its samples by.
        for i in range(len(self)):
            yield self.get_image(i).numpy().astype("<f4").tobytes()


def _label_map(source) -> dict[int, Hashable]:
    """Index -> original label, from a MetaDataset's bookkeeping or by wrapping in one."""
    if not hasattr(source, "indices_to_labels"):
        l2l = import_learn2learn()
        # MetaDataset reads every sample once to learn its label.
        source = l2l.data.MetaDataset(source)
    return dict(source.indices_to_labels)


def split_from_learn2learn(
    source,
    dataset: str = "learn2learn",
    split: str = "novel",
    class_names: Optional[Any] = None,
    labels: Optional[Sequence[Hashable]] = None,
    value_range: Optional[float] = None,
    transform: Optional[Callable] = None,
) -> Learn2LearnSplit:
    """Wrap a learn2learn dataset (``source[i] -> (image, label)``) or ``MetaDataset`` as a Split.

    Args:
        source: the dataset. A ``MetaDataset``'s ``indices_to_labels`` is used as is; other datasets
            are wrapped in one, which reads every sample once.
        dataset: the dataset name the split carries (part of its fingerprint).
        split: the split name it carries (part of its fingerprint).
        class_names: name of each original label (a dict, or a sequence indexed by the label);
            default ``str(label)``.
        labels: ``[N]`` original label of every sample, to skip reading them from ``source``.
        value_range: the maximum pixel value of the images (255 or 1); default: 255 when the first
            image is an integer type or has values above 1, else 1. Images are divided by it.
        transform: applied to ``[C, H, W]`` images in ``__getitem__``.

    Returns:
        A split whose class ``i`` is the ``i``-th original label in sorted order (first-seen order
        when the labels do not sort).
    """
    n = len(source)
    if labels is None:
        index_to_label = _label_map(source)
        missing = n - len(index_to_label)
        if missing:
            raise ValueError(
                f"the MetaDataset labels {len(index_to_label)} of its {n} samples; "
                "rebuild its bookkeeping"
            )
        labels = [index_to_label[i] for i in range(n)]
    elif len(labels) != n:
        raise ValueError(f"labels has {len(labels)} entries for a dataset of {n} samples")
    originals = list(dict.fromkeys(labels))
    try:
        originals = sorted(originals)
    except TypeError:  # labels of mixed types keep first-seen order
        pass
    position = {lab: i for i, lab in enumerate(originals)}
    if class_names is None:
        names = [str(lab) for lab in originals]
    else:
        names = [str(class_names[lab]) for lab in originals]
    if value_range is None:
        first = _to_chw(source[0][0]) if n else torch.zeros(1)
        value_range = 255.0 if (not first.is_floating_point() or float(first.max()) > 1.0) else 1.0
    return Learn2LearnSplit(
        source,
        [position[lab] for lab in labels],
        names,
        originals,
        dataset,
        split,
        1.0 / float(value_range),
        transform,
    )


class EpisodeTasks(torch.utils.data.Dataset):
    """Episodes as learn2learn-style tasks: item ``e`` is ``(data, labels)`` of episode ``e``.

    Args:
        episodes: the manifest (checked against ``split``'s fingerprint).
        split: the split its indices refer to.

    Item ``e``: ``data`` ``[N*(K+Q), C, H, W]`` float32 (``split.transform`` applied when set),
    class-major with each class's K support samples first; ``labels`` ``[N*(K+Q)]`` int64 in 0..N-1.
    """

    def __init__(self, episodes, split: Split):
        episodes.check(split)
        self.episodes = episodes
        self.split = split

    def __len__(self) -> int:
        return len(self.episodes)

    def indices(self, e: int) -> np.ndarray:
        """``[N, K+Q]`` sample indices of episode ``e``, support first in each row."""
        return np.concatenate([self.episodes.support[e], self.episodes.query[e]], axis=1)

    def labels(self) -> torch.Tensor:
        """``[N*(K+Q)]`` episode-local labels, the same for every episode."""
        n, k = self.episodes.ways, self.episodes.shots + self.episodes.queries
        return torch.arange(n).repeat_interleave(k)

    def __getitem__(self, e: int):
        if not -len(self) <= e < len(self):
            raise IndexError(f"episode {e} out of range for {len(self)} episodes")
        flat = self.indices(e).reshape(-1)  # [N, K+Q] -> [N*(K+Q)]
        if self.split.transform is None:
            data = self.split.get_images(flat)
        else:
            data = torch.stack([self.split[int(i)][0] for i in flat])
        return data, self.labels()

    def partition(self, data: torch.Tensor, labels: torch.Tensor):
        """``((support, support_labels), (query, query_labels))`` of a task from this set, as
        ``learn2learn.data.partition_task(data, labels, shots)`` returns them."""
        n, k, q = self.episodes.ways, self.episodes.shots, self.episodes.queries
        per_class = data.reshape(n, k + q, *data.shape[1:])  # [N*(K+Q), ...] -> [N, K+Q, ...]
        lab = labels.reshape(n, k + q)
        return (
            (per_class[:, :k].reshape(n * k, *data.shape[1:]), lab[:, :k].reshape(-1)),
            (per_class[:, k:].reshape(n * q, *data.shape[1:]), lab[:, k:].reshape(-1)),
        )


def to_learn2learn_taskset(episodes, split: Split):
    """The episodes as a ``learn2learn.data.Taskset`` (the new name of ``TaskDataset``) with
    ``num_tasks = len(episodes)``: task ``e`` (``taskset[e]``, or iteration order) is episode ``e``
    exactly as :class:`EpisodeTasks` gives it. (``taskset.sample()`` picks a random episode with
    Python's global ``random``, as learn2learn does.)

    Raises:
        ImportError: when learn2learn is not installed.
    """
    l2l = import_learn2learn()
    episodes.check(split)
    meta = l2l.data.MetaDataset(
        split,
        labels_to_indices={
            int(c): np.flatnonzero(split.labels == c).tolist() for c in range(split.num_classes)
        },
    )
    n, k = episodes.ways, episodes.shots + episodes.queries
    taskset = l2l.data.Taskset(meta, task_transforms=[], num_tasks=len(episodes))
    local = np.repeat(np.arange(n), k)  # [N*(K+Q)] episode-local label of each position
    tasks = EpisodeTasks(episodes, split)
    for e in range(len(episodes)):
        description = []
        for idx, lab in zip(
            tasks.indices(e).reshape(-1).tolist(), local.tolist()
        ):  # [N, K+Q] -> [N*(K+Q)]
            dd = l2l.data.DataDescription(idx)
            dd.transforms = [lambda i: split[i], lambda x, lab=lab: (x[0], lab)]
            description.append(dd)
        taskset.sampled_descriptions[e] = description
    return taskset
