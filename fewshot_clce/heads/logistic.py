"""Multinomial logistic regression per episode (the RFS protocol), batched over episodes."""
from __future__ import annotations

import warnings

from .base import Head, as_tensor, check_normalize, transform
from .logistic_solver import fit_logistic, logits_from


class LogisticHead(Head):
    """Multinomial logistic regression per episode, scikit-learn's ``LogisticRegression(C)``.

    The solver (:mod:`fewshot_clce.heads.logistic_solver`) reaches scikit-learn's optimum for all
    episodes of a chunk at once.

    Args:
        C: inverse regularisation strength (scikit-learn's meaning; RFS uses 1.0).
        normalize: "l2n" (RFS: L2-normalise features first), "none" or "cl2n".
        base_mean: ``[D]`` base-class mean, required for "cl2n".
        tol: gradient tolerance of the Newton solver on the mean objective.
        max_iter: Newton steps at most.
        chunk_size: episodes per chunk.
    """

    name = "logistic"

    def __init__(self, C: float = 1.0, normalize: str = "l2n", base_mean=None, tol: float = 1e-9,
                 max_iter: int = 100, chunk_size: int = 256):
        super().__init__(chunk_size)
        if not C > 0:
            raise ValueError(f"C must be positive, got {C}")
        check_normalize(normalize, base_mean)
        self.C, self.normalize, self.tol, self.max_iter = float(C), normalize, tol, max_iter
        self.base_mean = None if base_mean is None else as_tensor(base_mean)

    def _predict_chunk(self, support, support_labels, query, ways):
        # The fit runs in float64 on the (small) support set; the many query rows are scored
        # in their own precision (float32 features: logits accurate to ~1e-6, so only exact
        # near-ties could flip) because converting them to float64 would dominate the time.
        support = transform(support.double(), self.normalize, self.base_mean)
        query = transform(query, self.normalize, self.base_mean)
        fit = fit_logistic(support, support_labels, ways, C=self.C, tol=self.tol, max_iter=self.max_iter)
        worst = float(fit.grad_norm.max()) / support.shape[1] if len(support) else 0.0
        if worst > 1e-4:  # looser than scikit-learn's own tolerance: say so, do not hide it
            warnings.warn(f"logistic head: {int((fit.grad_norm / support.shape[1] > 1e-4).sum())} episodes "
                          f"did not converge in {self.max_iter} Newton steps (gradient {worst:.2e}); "
                          "raise max_iter")
        return logits_from(fit.weight.to(query.dtype), fit.bias.to(query.dtype), query).argmax(2)
