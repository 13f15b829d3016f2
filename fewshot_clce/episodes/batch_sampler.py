"""Episodic loading with a torch ``DataLoader``: one batch per episode.

``DataLoader(split, batch_sampler=EpisodeBatchSampler(split, 5, 5, 15, 1000, seed=0))`` yields
batches of ``N*K + N*Q`` samples: the support, class-major, then the query, class-major.
:meth:`EpisodeBatchSampler.split_batch` turns such a batch into support, query and episode-local
labels. :class:`EpisodeStream` does the same inside worker processes with batched image reads.

Sharding: the episodes of an epoch are divided among distributed ranks (episode ``i`` goes to rank
``i % world_size``) and, when the sampler is iterated inside ``DataLoader`` worker processes
(as :class:`EpisodeStream` is), among workers as well, so no episode is drawn twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Optional

import numpy as np
import torch

from .episode_set import EpisodeSet
from .sampling import sample_episodes


class EpisodeBatchSampler(torch.utils.data.Sampler):
    """A batch sampler yielding one episode's sample indices per batch.

    Args:
        split: a :class:`~fewshot_clce.data.Split` or a ``[num_samples]`` label array.
        ways: classes per episode (N).
        shots: support images per class (K).
        queries: query images per class (Q).
        episodes: episodes per epoch, over all ranks.
        seed: the epoch-``e`` episodes are drawn from ``numpy.random.default_rng([seed, e])``.
        rank: this process's shard; default: from ``torch.distributed`` when it is initialised,
            else ``0``.
        world_size: the number of shards; default: from ``torch.distributed`` when it is
            initialised, else ``1``.
        drop_last: give every rank ``episodes // world_size`` episodes (equal step counts, as
            distributed training needs); otherwise the first ranks get one more.
        skip_small_classes: see :func:`~fewshot_clce.episodes.sampling.sample_episodes`.
    """

    def __init__(
        self,
        split,
        ways: int,
        shots: int,
        queries: int,
        episodes: int,
        seed: int = 0,
        *,
        rank: Optional[int] = None,
        world_size: Optional[int] = None,
        drop_last: bool = True,
        skip_small_classes: bool = False,
    ):
        self.split = split
        self.ways, self.shots, self.queries, self.episodes = ways, shots, queries, episodes
        self.seed: Optional[int] = seed  # None for a fixed manifest drawn without a recorded seed
        self.skip_small_classes = skip_small_classes
        self.fixed: Optional[EpisodeSet] = None
        self.epoch = 0
        self.rank, self.world_size = _shard(rank, world_size)
        self.drop_last = drop_last
        self._ints: Optional[np.ndarray] = None
        self.episodes_for_epoch(0)  # validate the sizes now rather than in the first iteration

    @classmethod
    def from_episodes(
        cls,
        episodes: EpisodeSet,
        *,
        rank: Optional[int] = None,
        world_size: Optional[int] = None,
        drop_last: bool = False,
    ) -> EpisodeBatchSampler:
        """Iterate over a fixed manifest (the same episodes every epoch), e.g. for evaluation."""
        self = cls.__new__(cls)
        self.split, self.seed, self.skip_small_classes, self.epoch = None, episodes.seed, False, 0
        self.ways, self.shots, self.queries = episodes.ways, episodes.shots, episodes.queries
        self.episodes, self.fixed = len(episodes), episodes
        self.rank, self.world_size = _shard(rank, world_size)
        self.drop_last = drop_last
        self._ints = None
        return self

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_ints"] = None  # a cache, rebuilt where needed (DataLoader workers get a copy)
        return state

    def set_epoch(self, epoch: int) -> None:
        """Draw another set of episodes for ``epoch`` (call before each epoch, like DistributedSampler)."""
        self.epoch = int(epoch)

    def episodes_for_epoch(self, epoch: int) -> EpisodeSet:
        """All ranks' episodes of ``epoch``."""
        if self.fixed is not None:
            return self.fixed
        assert self.seed is not None  # only a fixed manifest (from_episodes) may lack a seed
        return sample_episodes(
            self.split,
            self.ways,
            self.shots,
            self.queries,
            self.episodes,
            np.random.default_rng([self.seed, epoch]),
            skip_small_classes=self.skip_small_classes,
        )

    def _shard_ids(self) -> np.ndarray:
        """Episode numbers this rank (and, inside a DataLoader worker, this worker) yields."""
        count = (
            self.episodes // self.world_size * self.world_size if self.drop_last else self.episodes
        )
        ids = np.arange(self.rank, count, self.world_size)
        info = torch.utils.data.get_worker_info()
        if info is not None:
            ids = ids[info.id :: info.num_workers]
        return ids

    def __len__(self) -> int:
        count = (
            self.episodes // self.world_size * self.world_size if self.drop_last else self.episodes
        )
        return len(range(self.rank, count, self.world_size))

    def __iter__(self) -> Iterator[list[int]]:
        eps = self.episodes_for_epoch(self.epoch)
        # [E, N*K + N*Q]: support then query, each class-major
        flat = np.concatenate([eps.flat_support(), eps.flat_query()], axis=1)[self._shard_ids()]
        # One conversion to lists (far faster than per row), of Python ints made once per sample:
        # gathering references from an object array beats creating a new int for every entry.
        need = int(flat.max(initial=-1)) + 1
        if self._ints is None or len(self._ints) < need:
            self._ints = np.arange(need).astype(object)  # [need] the Python ints 0 .. need-1
        yield from self._ints[flat].tolist()

    def labels(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Episode-local labels ``([N*K], [N*Q])`` int64 of every batch's support and query."""
        support = torch.arange(self.ways).repeat_interleave(self.shots)
        return support, torch.arange(self.ways).repeat_interleave(self.queries)

    def split_batch(self, x: torch.Tensor):
        """Split a batch ``[N*K + N*Q, ...]`` into ``(support [N*K, ...], support_labels [N*K],
        query [N*Q, ...], query_labels [N*Q])`` with episode-local labels."""
        n_support = self.ways * self.shots
        support_labels, query_labels = self.labels()
        return x[:n_support], support_labels, x[n_support:], query_labels


class EpisodeStream(torch.utils.data.IterableDataset):
    """Whole episodes as items, read with ``split.get_images`` in one batch each.

    Use with ``DataLoader(stream, batch_size=None, num_workers=w)``; the workers share the
    episodes out among themselves. Items are ``(support [N*K, C, H, W], support_labels [N*K],
    query [N*Q, C, H, W], query_labels [N*Q])``; ``split.transform`` is applied per image when set.
    Workers get a copy of the sampler when an epoch starts, so call ``sampler.set_epoch`` before
    iterating, and do not use ``persistent_workers=True`` (the workers would keep epoch 0's copy).

    Args:
        split: the split the sampler's indices refer to.
        sampler: an :class:`EpisodeBatchSampler` (its ``set_epoch`` drives this stream too).
    """

    def __init__(self, split, sampler: EpisodeBatchSampler):
        self.split = split
        self.sampler = sampler

    def __len__(self) -> int:
        return len(self.sampler)

    def __iter__(self):
        for indices in self.sampler:
            if self.split.transform is None:
                images = self.split.get_images(indices)  # [N*K + N*Q, C, H, W]
            else:
                images = torch.stack([self.split[i][0] for i in indices])
            yield self.sampler.split_batch(images)


def _shard(rank: Optional[int], world_size: Optional[int]) -> tuple[int, int]:
    if rank is None or world_size is None:
        dist = torch.distributed
        if dist.is_available() and dist.is_initialized():
            rank = dist.get_rank() if rank is None else rank
            world_size = dist.get_world_size() if world_size is None else world_size
        else:
            rank, world_size = rank or 0, world_size or 1
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(
            f"rank must lie in [0, world_size) with world_size >= 1, got rank {rank} of "
            f"{world_size}"
        )
    return int(rank), int(world_size)
