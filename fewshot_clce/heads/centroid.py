"""Nearest class centroid (Prototypical Networks' rule) and SimpleShot's variants."""

from __future__ import annotations

import torch

from .base import Head, as_tensor, check_normalize, transform


def class_means(support: torch.Tensor, support_labels: torch.Tensor, ways: int) -> torch.Tensor:
    """Per-episode class means ``[E, N, D]`` of ``support [E, S, D]`` with labels ``[E, S]``."""
    onehot = torch.nn.functional.one_hot(support_labels, ways).to(support.dtype)  # [E, S, N]
    counts = onehot.sum(1).clamp_min(1).unsqueeze(2)  # [E, N, 1]
    return onehot.transpose(1, 2) @ support / counts


class CentroidHead(Head):
    """Nearest class centroid.

    Args:
        metric: "euclidean" (squared distance to the class mean) or "cosine".
        normalize: feature transform before averaging: "none", "l2n" (L2-normalise),
            "cl2n" (subtract ``base_mean``, then L2-normalise; SimpleShot).
        base_mean: ``[D]`` mean feature of the base classes, required for "cl2n".
        chunk_size: episodes per chunk.
    """

    name = "centroid"

    def __init__(
        self,
        metric: str = "euclidean",
        normalize: str = "none",
        base_mean=None,
        chunk_size: int = 1024,
    ):
        super().__init__(chunk_size)
        if metric not in ("euclidean", "cosine"):
            raise ValueError(f"unknown centroid metric {metric!r}; use 'euclidean' or 'cosine'")
        check_normalize(normalize, base_mean)
        self.metric, self.normalize = metric, normalize
        self.base_mean = None if base_mean is None else as_tensor(base_mean).float()

    def _predict_chunk(self, support, support_labels, query, ways):
        return self._scores_chunk(support, support_labels, query, ways).argmax(2)

    def _scores_chunk(self, support, support_labels, query, ways):
        support = transform(support.float(), self.normalize, self.base_mean)
        query = transform(query.float(), self.normalize, self.base_mean)
        protos = class_means(support, support_labels, ways)  # [E, N, D]
        if self.metric == "cosine":
            scores = torch.nn.functional.normalize(query, dim=-1) @ torch.nn.functional.normalize(
                protos, dim=-1
            ).transpose(1, 2)  # [E, M, N]
        else:
            # -||q - c||^2 up to the per-query constant ||q||^2, which does not change the argmax.
            scores = 2 * query @ protos.transpose(1, 2) - protos.pow(2).sum(2).unsqueeze(
                1
            )  # [E, M, N]
        return scores


class CosineCentroidHead(CentroidHead):
    """Nearest class mean by cosine similarity (``centroid`` with ``metric="cosine"``)."""

    name = "centroid_cosine"

    def __init__(
        self,
        metric: str = "cosine",
        normalize: str = "none",
        base_mean=None,
        chunk_size: int = 1024,
    ):
        super().__init__(metric, normalize, base_mean, chunk_size)


class CL2NCentroidHead(CentroidHead):
    """SimpleShot's CL2N: subtract the base-class mean, L2-normalise, nearest centroid by Euclidean distance."""

    name = "centroid_cl2n"

    def __init__(
        self,
        metric: str = "euclidean",
        normalize: str = "cl2n",
        base_mean=None,
        chunk_size: int = 1024,
    ):
        super().__init__(metric, normalize, base_mean, chunk_size)
