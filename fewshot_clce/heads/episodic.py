"""A head applied to many episodes: per-episode predictions and accuracies from precomputed features."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from .base import Head

if TYPE_CHECKING:  # annotations only: heads sit below features in the import order
    from ..episodes import EpisodeSet
    from ..features import FeatureTable


def episode_predictions(features: "FeatureTable", episodes: "EpisodeSet", head: Head,
                        chunk_size: int = 256) -> torch.Tensor:
    """Predicted episode-local labels ``[E, N*Q]`` of ``head`` on every episode.

    Features are gathered chunk by chunk into two buffers reused for every chunk: a fresh
    ``[chunk, N*Q, D]`` tensor per chunk (tens of MB) costs more in page faults than the head
    spends on it.

    Args:
        features: anything with ``lookup(sample_indices [...], out=None) -> [..., D]`` covering the
            samples the episodes use (a :class:`~fewshot_clce.features.FeatureTable`).
        episodes: the episodes (support ``[E, N, K]``, query ``[E, N, Q]`` sample indices).
        head: the head fitted on each support set.
        chunk_size: episodes gathered at once (bounds memory, not the result).
    """
    if int(chunk_size) < 1:
        raise ValueError(f"chunk_size must be a positive number of episodes, got {chunk_size}")
    s_lab = torch.from_numpy(episodes.support_labels())  # [N*K]
    flat_s, flat_q = episodes.flat_support(), episodes.flat_query()  # [E, N*K], [E, N*Q]
    out = torch.zeros(len(episodes), flat_q.shape[1], dtype=torch.int64)
    buffers = None
    for i in range(0, len(episodes), chunk_size):
        s_idx, q_idx = flat_s[i:i + chunk_size], flat_q[i:i + chunk_size]
        if buffers is None:
            first = features.lookup(s_idx[:1])  # [1, N*K, D]: the width and dtype
            buffers = [torch.empty(min(chunk_size, len(episodes)), idx.shape[1], first.shape[2], dtype=first.dtype)
                       for idx in (flat_s, flat_q)]
        e = len(s_idx)
        sup = features.lookup(s_idx, out=buffers[0][:e])  # [e, N*K, D]
        qry = features.lookup(q_idx, out=buffers[1][:e])  # [e, N*Q, D]
        out[i:i + e] = head.predict(sup, s_lab.expand(e, -1), qry, episodes.ways)
    return out


def episode_accuracies(features: "FeatureTable", episodes: "EpisodeSet", head: Head,
                       chunk_size: int = 256) -> np.ndarray:
    """Accuracy ``[E]`` of ``head`` on every episode (arguments as :func:`episode_predictions`)."""
    pred = episode_predictions(features, episodes, head, chunk_size)  # [E, N*Q]
    q_lab = torch.from_numpy(episodes.query_labels())  # [N*Q]
    return (pred == q_lab).double().mean(1).numpy()
