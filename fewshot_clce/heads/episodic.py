"""A head applied to many episodes: per-episode accuracy from precomputed features."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from .base import Head

if TYPE_CHECKING:  # annotations only: heads sit below features in the import order
    from ..episodes import EpisodeSet
    from ..features import FeatureTable


def episode_accuracies(features: "FeatureTable", episodes: "EpisodeSet", head: Head,
                       chunk_size: int = 2048) -> np.ndarray:
    """Accuracy ``[E]`` of ``head`` on every episode, gathering features chunk by chunk.

    Args:
        features: anything with ``lookup(sample_indices [...]) -> [..., D]`` covering the samples
            the episodes use (a :class:`~fewshot_clce.features.FeatureTable`).
        episodes: the episodes (support ``[E, N, K]``, query ``[E, N, Q]`` sample indices).
        head: the head fitted on each support set.
        chunk_size: episodes gathered at once (bounds memory, not the result).
    """
    s_lab = torch.from_numpy(episodes.support_labels())  # [N*K]
    q_lab = torch.from_numpy(episodes.query_labels())  # [N*Q]
    flat_s, flat_q = episodes.flat_support(), episodes.flat_query()  # [E, N*K], [E, N*Q]
    acc = []
    for i in range(0, len(episodes), chunk_size):
        sup = features.lookup(flat_s[i:i + chunk_size])  # [e, N*K, D]
        qry = features.lookup(flat_q[i:i + chunk_size])  # [e, N*Q, D]
        pred = head.predict(sup, s_lab.expand(len(sup), -1), qry, episodes.ways)  # [e, N*Q]
        acc.append((pred == q_lab).double().mean(1).numpy())
    return np.concatenate(acc) if acc else np.zeros(0)
