"""Multinomial logistic regression per episode (the RFS protocol), batched over episodes."""

from __future__ import annotations

import warnings

import torch

from .base import Head, as_tensor, check_normalize
from .logistic_solver import binary_to_two, fit_logistic_gram, one_thread

# Weights are recomputed in float64 where sum_i |coef_i| |x_i| exceeds their norm this many times
# (typical episodes: about 5, a float32 error near 2e-7 relative).
_CANCELLATION = 16.0


class LogisticHead(Head):
    """Multinomial logistic regression per episode, scikit-learn's ``LogisticRegression(C)``.

    The solver (:mod:`fewshot_clce.heads.logistic_solver`) reaches scikit-learn's optimum for all
    episodes of a chunk at once.

    Args:
        C: inverse regularisation strength (scikit-learn's meaning; RFS uses 1.0).
        normalize: "l2n" (RFS: L2-normalise features first), "none" or "cl2n".
        base_mean: ``[D]`` base-class mean, required for "cl2n".
        tol: gradient tolerance of the Newton solver on the mean objective (1e-7: float32 features and
            their Gram matrix carry about that relative error; scikit-learn stops at 1e-4).
        max_iter: Newton steps at most.
        chunk_size: episodes per chunk.
    """

    name = "logistic"

    def __init__(
        self,
        C: float = 1.0,
        normalize: str = "l2n",
        base_mean=None,
        tol: float = 1e-7,
        max_iter: int = 100,
        chunk_size: int = 256,
    ):
        super().__init__(chunk_size)
        if not C > 0:
            raise ValueError(f"C must be positive, got {C}")
        check_normalize(normalize, base_mean)
        self.C, self.normalize, self.tol, self.max_iter = float(C), normalize, tol, max_iter
        self.base_mean = None if base_mean is None else as_tensor(base_mean)

    def _predict_chunk(self, support, support_labels, query, ways):
        return self._predict_fitted(
            self._fit_chunk(support, support_labels, ways), 0, len(support), query
        )

    def _fit_chunk(self, support, support_labels, ways):
        """``(weight [E, R, D], bias [E, R])`` of every episode, in the support's precision."""
        with one_thread():  # small operations throughout: see logistic_solver.one_thread
            return self._fit_one_thread(support, support_labels, ways)

    def _centre(self) -> torch.Tensor:
        """The base-class mean that ``cl2n`` subtracts."""
        if self.base_mean is None:
            raise ValueError("normalize='cl2n' needs the base classes' mean feature (base_mean)")
        return self.base_mean

    def _fit_one_thread(self, support, support_labels, ways):
        # The solve runs in float64 on the (small) support set. Its Gram matrix and the query
        # logits are computed in the features' own precision (float32 features: about 1e-7
        # relative, so only exact near-ties could flip): float64 copies of the features would
        # dominate the time. L2 normalisation is folded into the Gram matrix and divided out of
        # the query logits (W q / |q| + b), so that no normalised copy of the features is made.
        scaled = self.normalize in ("l2n", "cl2n")
        if support.dtype not in (torch.float32, torch.float64):  # half-precision features
            support = support.float()
        if self.normalize == "cl2n":
            support = support - self._centre().to(support.dtype)
        gram = support @ support.transpose(1, 2)  # [E, n, n]
        norms = gram.diagonal(dim1=1, dim2=2).double().sqrt()  # [E, n] |x_i|
        if scaled:
            inv = norms.clamp_min(1e-12).reciprocal()  # 1 / max(|x|, 1e-12), as F.normalize divides
            gram = (gram.double() * inv.unsqueeze(2) * inv.unsqueeze(1)).to(gram.dtype)
        fit = fit_logistic_gram(
            gram, support_labels, ways, C=self.C, tol=self.tol, max_iter=self.max_iter
        )
        worst = float(fit.grad_norm.max()) / support.shape[1] if len(support) else 0.0
        if worst > 1e-4:  # looser than scikit-learn's own tolerance: say so, do not hide it
            warnings.warn(
                f"logistic head: {int((fit.grad_norm / support.shape[1] > 1e-4).sum())} episodes "
                f"did not converge in {self.max_iter} Newton steps (gradient {worst:.2e}); "
                "raise max_iter",
                stacklevel=2,
            )
        coef = fit.coef * inv.unsqueeze(1) if scaled else fit.coef  # [E, R, n]
        return _weights(coef, support, norms), fit.bias.to(support.dtype)  # [E, R, D], [E, R]

    def _predict_fitted(self, fitted, lo, hi, query):
        return self._scores_fitted(fitted, lo, hi, query).argmax(2)

    def _scores_chunk(self, support, support_labels, query, ways):
        fitted = self._fit_chunk(support, support_labels, ways)
        return self._scores_fitted(fitted, 0, len(support), query)

    def _scores_fitted(self, fitted, lo, hi, query):
        """Logits ``[hi - lo, M, N]`` of episodes ``lo:hi`` of a fitted chunk."""
        weight, bias = fitted[0][lo:hi], fitted[1][lo:hi]
        with one_thread():
            if query.dtype not in (torch.float32, torch.float64):  # half-precision features
                query = query.float()
            if self.normalize == "cl2n":
                query = query - self._centre().to(query.dtype)
            logits = query @ weight.to(query.dtype).transpose(1, 2)  # [e, M, R]
            if self.normalize in ("l2n", "cl2n"):
                logits = logits / torch.linalg.vector_norm(query, dim=2, keepdim=True).clamp_min(
                    1e-12
                )
            return binary_to_two(logits + bias.to(query.dtype).unsqueeze(1))


def _weights(coef: torch.Tensor, support: torch.Tensor, norms: torch.Tensor) -> torch.Tensor:
    """``coef @ support`` ``[E, R, D]``, in the support's precision where that is accurate.

    A float32 product has an error of about ``eps * sum_i |coef_i| |x_i|``, small against the
    weights unless the combination cancels heavily (nearly dependent support samples with large
    coefficients of opposite signs); those episodes are recomputed in float64.

    Args:
        coef: ``[E, R, n]`` float64; support: ``[E, n, D]``; norms: ``[E, n]`` float64 ``|x_i|``.
    """
    weight = coef.to(support.dtype) @ support  # [E, R, D]
    if support.dtype == torch.float64:
        return weight
    mass = (coef.abs() @ norms.unsqueeze(2)).squeeze(2)  # [E, R] sum_i |coef_i| |x_i|
    cancels = (mass > _CANCELLATION * weight.double().norm(dim=2)).any(1)  # [E]
    if cancels.any():
        weight[cancels] = (coef[cancels] @ support[cancels].double()).to(weight.dtype)
    return weight
