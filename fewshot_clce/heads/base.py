"""The head interface: fitted on each episode's support set, predicting its queries, batched.

Every head maps ``support [E, N*K, D]``, ``support_labels [E, N*K]`` (episode-local labels in
``[0, N)``) and ``query [E, M, D]`` to ``predictions [E, M]``. Episodes are processed in chunks of
``chunk_size`` so that memory stays bounded for any number of episodes; the predictions do not
depend on the chunk size.

A head's :attr:`~Head.label` names it with every option that differs from its defaults
(``logistic[C=0.1]``), in the grammar :func:`fewshot_clce.heads.create_head` reads, and results
are keyed by it: two differently configured heads of one class are two result rows.
"""

from __future__ import annotations

import abc
import inspect
from typing import Optional

import numpy as np
import torch

from ..utils.registry import format_spec

NORMALIZE = ("none", "l2n", "cl2n")


def as_tensor(x, dtype=None) -> torch.Tensor:
    t = torch.from_numpy(np.asarray(x)) if not isinstance(x, torch.Tensor) else x
    return t.to(dtype) if dtype is not None else t


def check_normalize(normalize: str, base_mean) -> None:
    if normalize not in NORMALIZE:
        raise ValueError(f"unknown normalize {normalize!r}; use one of {', '.join(NORMALIZE)}")
    if normalize == "cl2n" and base_mean is None:
        raise ValueError(
            "normalize='cl2n' needs base_mean, the [D] mean feature of the base classes"
        )


def transform(x: torch.Tensor, normalize: str, base_mean: Optional[torch.Tensor]) -> torch.Tensor:
    """SimpleShot's feature transforms of ``x [..., D]``: none, L2N, or CL2N (centre on ``base_mean``, then L2N)."""
    if normalize == "cl2n":
        if base_mean is None:
            raise ValueError(
                "normalize='cl2n' needs base_mean, the [D] mean feature of the base classes"
            )
        x = x - base_mean.to(x.dtype)
    if normalize in ("l2n", "cl2n"):
        x = torch.nn.functional.normalize(x, dim=-1)
    return x


class Head(abc.ABC):
    """A head: fits on each episode's support set, predicts its queries.

    Subclasses set :attr:`name` (their registry name), implement :meth:`_predict_chunk`, and
    accept their options as keyword arguments of ``__init__`` (stored as attributes of the same
    name), so that :attr:`label` and :meth:`options` can be read off the signature.

    Args:
        chunk_size: episodes processed together; bounds memory, not the result.
    """

    name = "head"
    # Options that are data rather than settings: never part of the label.
    _NOT_OPTIONS = ("base_mean", "chunk_size")

    def __init__(self, chunk_size: int = 256):
        if int(chunk_size) < 1:
            raise ValueError(f"chunk_size must be a positive number of episodes, got {chunk_size}")
        self.chunk_size = int(chunk_size)

    @property
    def needs_base_mean(self) -> bool:
        """Whether the head centres features on the base-class mean (CL2N)."""
        return getattr(self, "normalize", None) == "cl2n"

    def options(self) -> dict[str, object]:
        """The head's settings that differ from its class's defaults."""
        out = {}
        for k, p in inspect.signature(type(self).__init__).parameters.items():
            if k in ("self", *self._NOT_OPTIONS) or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
                continue
            v = getattr(self, k, p.default)
            if p.default is p.empty or v != p.default:
                out[k] = v
        return out

    @property
    def label(self) -> str:
        """``name`` plus the non-default options: how results name this head."""
        return format_spec(self.name, self.options())

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
        support = as_tensor(support)
        support_labels = as_tensor(support_labels, torch.int64)
        query = as_tensor(query)
        if support.ndim != 3 or query.ndim != 3 or support_labels.shape != support.shape[:2]:
            raise ValueError(
                f"expected support [E, N*K, D], support_labels [E, N*K] and query [E, M, D]; "
                f"got {tuple(support.shape)}, {tuple(support_labels.shape)}, {tuple(query.shape)}"
            )
        if len(support) != len(query) or support.shape[2] != query.shape[2]:
            raise ValueError(
                f"support {tuple(support.shape)} and query {tuple(query.shape)} disagree on "
                "the number of episodes or the feature width"
            )
        if support_labels.numel() and (support_labels.min() < 0 or support_labels.max() >= ways):
            raise ValueError(f"support labels must lie in [0, {ways}) for a {ways}-way head")
        out = [
            self._predict_chunk(
                support[i : i + self.chunk_size],
                support_labels[i : i + self.chunk_size],
                query[i : i + self.chunk_size],
                ways,
            )
            for i in range(0, len(support), self.chunk_size)
        ]
        if not out:
            return torch.zeros(0, query.shape[1], dtype=torch.int64)
        return torch.cat(out)

    def probabilities(self, support, support_labels, query, ways: int) -> torch.Tensor:
        """Class probabilities ``[E, M, N]``: a softmax over the head's scores (a centroid head's
        negative squared distances or cosines, logistic regression's logits); shapes as in
        :meth:`predict`.

        Raises:
            NotImplementedError: for a head that only gives labels.
        """
        scores = getattr(self, "_scores_chunk", None)
        if scores is None:
            raise NotImplementedError(f"head {self.label!r} gives labels, not scores")
        support, query = as_tensor(support), as_tensor(query)
        labels = as_tensor(support_labels, torch.int64)
        return torch.softmax(scores(support, labels, query, ways).float(), dim=2)

    @abc.abstractmethod
    def _predict_chunk(
        self, support: torch.Tensor, support_labels: torch.Tensor, query: torch.Tensor, ways: int
    ) -> torch.Tensor:
        """Predictions ``[e, M]`` for one chunk of episodes (shapes as in :meth:`predict`)."""

    # Fitting and predicting apart, for callers that gather the queries of a chunk in smaller blocks
    # (episode_predictions: a block of queries is used while it is still in the CPU cache). A head
    # with a per-episode model to fit overrides both; the default keeps the support set and fits
    # nothing until the queries come.
    def _fit_chunk(self, support: torch.Tensor, support_labels: torch.Tensor, ways: int):
        """The fitted state of a chunk of episodes, sliceable by episode in :meth:`_predict_fitted`."""
        return support, support_labels, ways

    def _predict_fitted(self, fitted, lo: int, hi: int, query: torch.Tensor) -> torch.Tensor:
        """Predictions ``[hi - lo, M]`` for episodes ``lo:hi`` of a fitted chunk; ``query [hi - lo, M, D]``."""
        support, support_labels, ways = fitted
        return self._predict_chunk(support[lo:hi], support_labels[lo:hi], query, ways)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.label!r})"
