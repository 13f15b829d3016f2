"""Few-shot classification heads fitted on each episode's support set, batched over episodes.

Every head maps ``support [E, N*K, D]``, ``support_labels [E, N*K]`` (episode-local labels
in ``[0, N)``) and ``query [E, M, D]`` to ``predictions [E, M]``. Episodes are processed in
chunks of ``chunk_size`` so that memory stays bounded for any number of episodes; the
predictions do not depend on the chunk size.

Registered heads (``HEADS.create(name, **options)``):

- ``centroid``: nearest class mean (prototype), Euclidean distance on raw features
  (Prototypical Networks' rule); options ``metric`` ("euclidean" or "cosine") and
  ``normalize`` ("none", "l2n", "cl2n": SimpleShot's feature transforms).
- ``centroid_cosine``: the same with cosine similarity.
- ``centroid_cl2n``: SimpleShot's CL2N: subtract the base-class mean feature (pass
  ``base_mean [D]``), L2-normalise, nearest centroid by Euclidean distance.
- ``logistic``: L2-regularised multinomial logistic regression with scikit-learn's
  ``LogisticRegression(C=1.0)`` objective on L2-normalised features (the RFS protocol),
  solved for all episodes of a chunk at once (see :mod:`fewshot_clce.heads.logistic_solver`).
"""
from __future__ import annotations

import warnings
from typing import Optional

import numpy as np
import torch

from .logistic_solver import fit_logistic, logits_from
from ..utils.registry import Registry

HEADS: Registry["Head"] = Registry("head")

_NORMALIZE = ("none", "l2n", "cl2n")


def _as_tensor(x, dtype=None) -> torch.Tensor:
    t = torch.from_numpy(np.asarray(x)) if not isinstance(x, torch.Tensor) else x
    return t.to(dtype) if dtype is not None else t


class Head:
    """A head: fits on each episode's support set, predicts its queries.

    Args:
        chunk_size: episodes processed together; bounds memory, not the result.
    """

    name = "head"
    needs_base_mean = False

    def __init__(self, chunk_size: int = 256):
        if int(chunk_size) < 1:
            raise ValueError(f"chunk_size must be a positive number of episodes, got {chunk_size}")
        self.chunk_size = int(chunk_size)

    def predict(self, support, support_labels, query, ways: int) -> torch.Tensor:
        """Predicted episode-local labels.

        Args:
            support: ``[E, N*K, D]`` support features.
            support_labels: ``[E, N*K]`` int64 labels in ``[0, ways)``.
            query: ``[E, M, D]`` query features.
            ways: N, the number of classes of every episode.

        Returns:
            ``[E, M]`` int64 predictions.
        """
        support = _as_tensor(support)
        support_labels = _as_tensor(support_labels, torch.int64)
        query = _as_tensor(query)
        if support.ndim != 3 or query.ndim != 3 or support_labels.shape != support.shape[:2]:
            raise ValueError(f"expected support [E, N*K, D], support_labels [E, N*K] and query [E, M, D]; "
                             f"got {tuple(support.shape)}, {tuple(support_labels.shape)}, {tuple(query.shape)}")
        if len(support) != len(query) or support.shape[2] != query.shape[2]:
            raise ValueError(f"support {tuple(support.shape)} and query {tuple(query.shape)} disagree on "
                             "the number of episodes or the feature width")
        if support_labels.numel() and (support_labels.min() < 0 or support_labels.max() >= ways):
            raise ValueError(f"support labels must lie in [0, {ways}) for a {ways}-way head")
        out = [self._predict_chunk(support[i:i + self.chunk_size], support_labels[i:i + self.chunk_size],
                                   query[i:i + self.chunk_size], ways)
               for i in range(0, len(support), self.chunk_size)]
        if not out:
            return torch.zeros(0, query.shape[1], dtype=torch.int64)
        return torch.cat(out)

    def _predict_chunk(self, support, support_labels, query, ways):
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


def _transform(x: torch.Tensor, normalize: str, base_mean: Optional[torch.Tensor]) -> torch.Tensor:
    if normalize == "cl2n":
        x = x - base_mean.to(x.dtype)
    if normalize in ("l2n", "cl2n"):
        x = torch.nn.functional.normalize(x, dim=-1)
    return x


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

    def __init__(self, metric: str = "euclidean", normalize: str = "none",
                 base_mean=None, chunk_size: int = 1024):
        super().__init__(chunk_size)
        if metric not in ("euclidean", "cosine"):
            raise ValueError(f"unknown centroid metric {metric!r}; use 'euclidean' or 'cosine'")
        if normalize not in _NORMALIZE:
            raise ValueError(f"unknown normalize {normalize!r}; use one of {', '.join(_NORMALIZE)}")
        if normalize == "cl2n" and base_mean is None:
            raise ValueError("normalize='cl2n' needs base_mean, the [D] mean feature of the base classes")
        self.metric, self.normalize = metric, normalize
        self.base_mean = None if base_mean is None else _as_tensor(base_mean).float()
        self.needs_base_mean = normalize == "cl2n"

    def _predict_chunk(self, support, support_labels, query, ways):
        support = _transform(support.float(), self.normalize, self.base_mean)
        query = _transform(query.float(), self.normalize, self.base_mean)
        protos = class_means(support, support_labels, ways)  # [E, N, D]
        if self.metric == "cosine":
            scores = torch.nn.functional.normalize(query, dim=-1) @ \
                torch.nn.functional.normalize(protos, dim=-1).transpose(1, 2)  # [E, M, N]
        else:
            # -||q - c||^2 up to the per-query constant ||q||^2, which does not change the argmax.
            scores = 2 * query @ protos.transpose(1, 2) - protos.pow(2).sum(2).unsqueeze(1)  # [E, M, N]
        return scores.argmax(2)


class LogisticHead(Head):
    """Multinomial logistic regression per episode, scikit-learn's ``LogisticRegression(C)``.

    Args:
        C: inverse regularisation strength (scikit-learn's meaning; RFS uses 1.0).
        normalize: "l2n" (RFS: L2-normalise features first), "none" or "cl2n".
        base_mean: ``[D]`` base-class mean, required for "cl2n".
        tol: gradient tolerance of the Newton solver on the mean objective.
        chunk_size: episodes per chunk.
    """

    name = "logistic"

    def __init__(self, C: float = 1.0, normalize: str = "l2n", base_mean=None, tol: float = 1e-9,
                 max_iter: int = 100, chunk_size: int = 256):
        super().__init__(chunk_size)
        if not C > 0:
            raise ValueError(f"C must be positive, got {C}")
        if normalize not in _NORMALIZE:
            raise ValueError(f"unknown normalize {normalize!r}; use one of {', '.join(_NORMALIZE)}")
        if normalize == "cl2n" and base_mean is None:
            raise ValueError("normalize='cl2n' needs base_mean, the [D] mean feature of the base classes")
        self.C, self.normalize, self.tol, self.max_iter = float(C), normalize, tol, max_iter
        self.base_mean = None if base_mean is None else _as_tensor(base_mean)
        self.needs_base_mean = normalize == "cl2n"

    def _predict_chunk(self, support, support_labels, query, ways):
        # The fit runs in float64 on the (small) support set; the many query rows are scored
        # in their own precision (float32 features: logits accurate to ~1e-6, so only exact
        # near-ties could flip) because converting them to float64 would dominate the time.
        support = _transform(support.double(), self.normalize, self.base_mean)
        query = _transform(query, self.normalize, self.base_mean)
        fit = fit_logistic(support, support_labels, ways, C=self.C, tol=self.tol, max_iter=self.max_iter)
        worst = float(fit.grad_norm.max()) / support.shape[1] if len(support) else 0.0
        if worst > 1e-4:  # looser than scikit-learn's own tolerance: say so, do not hide it
            warnings.warn(f"logistic head: {int((fit.grad_norm / support.shape[1] > 1e-4).sum())} episodes "
                          f"did not converge in {self.max_iter} Newton steps (gradient {worst:.2e}); "
                          "raise max_iter")
        return logits_from(fit.weight.to(query.dtype), fit.bias.to(query.dtype), query).argmax(2)


HEADS.register("centroid", lambda **kw: CentroidHead(**kw), needs_base_mean=False,
               description="nearest class mean, Euclidean, raw features (ProtoNet rule)")
HEADS.register("centroid_cosine", lambda **kw: CentroidHead(**{"metric": "cosine", **kw}),
               needs_base_mean=False, description="nearest class mean, cosine similarity")
HEADS.register("centroid_cl2n", lambda **kw: CentroidHead(**{"normalize": "cl2n", **kw}),
               needs_base_mean=True,
               description="SimpleShot CL2N: subtract base mean, L2-normalise, Euclidean")
HEADS.register("logistic", lambda **kw: LogisticHead(**kw), needs_base_mean=False,
               description="RFS logistic regression, sklearn LogisticRegression(C=1.0) objective, L2N features")


def create_head(name: str, **options) -> Head:
    """Build the head registered under ``name`` (see :data:`HEADS`)."""
    head = HEADS.create(name, **options)
    head.name = name
    return head


def list_heads() -> list:
    return HEADS.list()
