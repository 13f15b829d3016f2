"""The evaluation inner loop: a head fitted and applied on many episodes at once, per-episode
predictions and accuracies from precomputed features."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Optional

import numpy as np
import torch

from ..episodes import EpisodeSet
from ..features import FeatureTable
from ..heads.base import Head

# Episodes whose queries are gathered at once: a block small enough (32 5-way 15-query episodes of
# 640-d features: 6 MB) to be used while it is still in the CPU's cache, which a whole chunk is not.
QUERY_BLOCK = 32


def episode_predictions(
    features: FeatureTable,
    episodes: EpisodeSet,
    head: Head,
    chunk_size: int = 256,
    workers: Optional[int] = None,
) -> torch.Tensor:
    """Predicted episode-local labels ``[E, N*Q]`` of ``head`` on every episode.

    Support features are gathered chunk by chunk, and the head fitted on the chunk; the queries
    are then gathered in blocks of :data:`QUERY_BLOCK` episodes. Both go into buffers reused
    throughout: a fresh ``[chunk, N*Q, D]`` tensor per chunk (tens of MB) costs more in page
    faults than the head spends on it.

    Args:
        features: anything with ``lookup(sample_indices [...], out=None) -> [..., D]`` covering the
            samples the episodes use (a :class:`~fewshot_clce.features.FeatureTable`).
        episodes: the episodes (support ``[E, N, K]``, query ``[E, N, Q]`` sample indices).
        head: the head fitted on each support set.
        chunk_size: episodes gathered at once (bounds memory, not the result).
        workers: chunks processed at once, each by one thread on one core (default: torch's
            thread count, the cores; features on a GPU: 1). The predictions do not depend on it.
    """
    if int(chunk_size) < 1:
        raise ValueError(f"chunk_size must be a positive number of episodes, got {chunk_size}")
    if workers is not None and int(workers) < 1:
        raise ValueError(f"workers must be a positive number of threads, got {workers}")
    s_lab = torch.from_numpy(episodes.support_labels())  # [N*K]
    flat_s, flat_q = episodes.flat_support(), episodes.flat_query()  # [E, N*K], [E, N*Q]
    out = torch.zeros(len(episodes), flat_q.shape[1], dtype=torch.int64)
    starts = list(range(0, len(episodes), chunk_size))
    if not starts:
        return out
    first = features.lookup(flat_s[:1])  # [1, N*K, D]: the width, dtype and device
    local = threading.local()

    def run(i: int) -> None:
        if not hasattr(local, "buffers"):  # per thread: filled and read back chunk after chunk
            local.buffers = tuple(
                torch.empty(n, idx.shape[1], first.shape[2], dtype=first.dtype, device=first.device)
                for n, idx in (
                    (min(chunk_size, len(episodes)), flat_s),
                    (min(QUERY_BLOCK, len(episodes)), flat_q),
                )
            )
        s_buf, q_buf = local.buffers
        s_idx, q_idx = flat_s[i : i + chunk_size], flat_q[i : i + chunk_size]
        e = len(s_idx)
        sup = features.lookup(s_idx, out=s_buf[:e])  # [e, N*K, D]
        fitted = head._fit_chunk(sup, s_lab.expand(e, -1), episodes.ways)
        for lo in range(0, e, QUERY_BLOCK):
            hi = min(e, lo + QUERY_BLOCK)
            qry = features.lookup(q_idx[lo:hi], out=q_buf[: hi - lo])  # [hi - lo, N*Q, D]
            out[i + lo : i + hi] = head._predict_fitted(fitted, lo, hi, qry)

    n = (
        int(workers)
        if workers is not None
        else (torch.get_num_threads() if first.device.type == "cpu" else 1)
    )
    n = min(n, len(starts))
    if n == 1:
        for i in starts:
            run(i)
        return out
    # One intra-op thread per worker: the chunks are independent, and small operations on many
    # threads each would pay a fork/join per operation (see heads.logistic_solver.one_thread).
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(n) as pool:
            for _ in pool.map(run, starts):  # re-raises a worker's exception here
                pass
    finally:
        torch.set_num_threads(before)
    return out


def episode_accuracies(
    features: FeatureTable, episodes: EpisodeSet, head: Head, chunk_size: int = 256
) -> np.ndarray:
    """Accuracy ``[E]`` of ``head`` on every episode (arguments as :func:`episode_predictions`)."""
    pred = episode_predictions(features, episodes, head, chunk_size)  # [E, N*Q]
    q_lab = torch.from_numpy(episodes.query_labels())  # [N*Q]
    return (pred == q_lab).double().mean(1).numpy()
