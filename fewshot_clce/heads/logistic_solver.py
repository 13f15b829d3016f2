"""Batched L2-regularised multinomial logistic regression, scikit-learn's objective.

Solves, independently for each of ``E`` episodes,

    min_{W, b}  sum_i  -log softmax(W x_i + b)[y_i]  +  1 / (2 C) * ||W||_F^2

which is exactly what ``sklearn.linear_model.LogisticRegression(C=C)`` minimises with
the lbfgs solver for three or more classes (it minimises the mean log-loss plus
``1 / (2 C n) ||W||^2``, the same optimum); the intercept is not penalised. With two
classes scikit-learn fits a single binary model (one weight vector, logit ``w x + b``
for class 1, penalty ``1 / (2 C) ||w||^2``), which is not the same optimum as the
two-class multinomial; :func:`fit_logistic` follows it there too.

Why it is fast: the loss depends on ``W`` only through ``W x_i`` and the penalty only
grows outside the span of the support features, so the optimal ``W`` lies in that span
(the representer theorem). The eigendecomposition of the support's Gram matrix gives an
isometric ``n``-dimensional copy ``Z`` of the ``n`` support points, and the problem
in ``Z`` has ``(n + 1) * classes`` parameters instead of ``(D + 1) * classes``. Damped
Newton with a batched Cholesky solve then reaches the optimum in a few steps (3 on
typical 5-way 5-shot episodes) for all episodes at once.
"""
from __future__ import annotations

import contextlib
from typing import Iterator, NamedTuple

import torch

_ARMIJO = 1e-4  # sufficient-decrease constant of the backtracking line search
_HALVINGS = 30


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """Run the solver on one intra-op thread, then restore the caller's setting.

    The solver is a long sequence of operations on small tensors (and LAPACK calls on small
    matrices, which torch issues one matrix at a time). Each parallel region pays an OpenMP
    fork/join; on a machine shared with other processes the spinning threads wait for CPU
    slices, measured 3x slower overall than one thread (and 10-1000x for the batched
    Cholesky alone). Episodes are independent, so callers wanting more cores can split them.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class LogisticFit(NamedTuple):
    """The fitted models of a batch of episodes.

    Attributes:
        weight: ``[E, R, D]`` weights in the input feature space (``R`` = classes, or 1 for
            a binary problem, whose class-0 logit is 0).
        bias: ``[E, R]`` intercepts.
        iterations: Newton iterations used by the slowest episode.
        grad_norm: ``[E]`` final max-abs gradient of the (sum) objective.
    """
    weight: torch.Tensor
    bias: torch.Tensor
    iterations: int
    grad_norm: torch.Tensor


def logits_from(weight: torch.Tensor, bias: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Class logits ``[E, M, classes]`` of ``x`` ``[E, M, D]`` under a fitted model."""
    out = x @ weight.transpose(1, 2) + bias.unsqueeze(1)  # [E, M, R]
    if weight.shape[1] == 1:  # binary model: class 0 has logit 0
        out = torch.cat([torch.zeros_like(out), out], dim=2)  # [E, M, 2]
    return out


def objective(weight: torch.Tensor, bias: torch.Tensor, x: torch.Tensor, y: torch.Tensor,
              C: float = 1.0) -> torch.Tensor:
    """scikit-learn's objective ``sum log-loss + ||W||^2 / (2C)`` per episode, ``[E]``.

    Args:
        weight: ``[E, R, D]``; bias: ``[E, R]``; x: ``[E, n, D]``; y: ``[E, n]`` int64.
    """
    logits = logits_from(weight, bias, x)
    nll = torch.logsumexp(logits, 2) - logits.gather(2, y.unsqueeze(2)).squeeze(2)  # [E, n]
    return nll.sum(1) + 0.5 / C * weight.pow(2).sum((1, 2))


def _loss_grad(theta, za, onehot, C, binary):
    """Objective ``[E]``, gradient ``[E, R, r+1]`` and class probabilities ``[E, n, R]``."""
    logits = za @ theta.transpose(1, 2)  # [E, n, R]
    if binary:
        full = torch.cat([torch.zeros_like(logits), logits], dim=2)  # [E, n, 2]
    else:
        full = logits
    logz = torch.logsumexp(full, 2, keepdim=True)  # [E, n, 1]
    prob = torch.exp(full - logz)  # [E, n, classes]
    nll = (logz.squeeze(2) - (full * onehot).sum(2)).sum(1)
    w = theta[..., :-1]
    f = nll + 0.5 / C * w.pow(2).sum((1, 2))
    resid = prob - onehot  # [E, n, classes]
    if binary:
        prob, resid = prob[..., 1:], resid[..., 1:]  # [E, n, 1]: only class 1 is free
    grad = resid.transpose(1, 2) @ za  # [E, R, r+1]
    grad[..., :-1] += w / C
    return f, grad, prob


def _hessian(za, prob, C, binary):
    """Hessian ``[E, R*(r+1), R*(r+1)]`` of the objective, flattened class-major, in float32.

    float32 is enough for a Newton *direction* (the line search and the stopping test use
    float64 objectives and gradients) and makes this, the costliest step, several times faster.
    """
    za, prob = za.float(), prob.float()
    E, n, p = za.shape
    R = prob.shape[2]
    # sum_i (diag(p_i) - p_i p_i^T) (x) za_i za_i^T (for a binary model R = 1 and this is
    # p_i (1 - p_i) za_i za_i^T): a rank-n product minus, plus block-diagonal terms, so that
    # no [E, n, p, p] tensor is ever formed.
    weighted = prob.transpose(1, 2).unsqueeze(3) * za.unsqueeze(1)  # [E, R, n, p]
    outer = weighted.permute(0, 2, 1, 3).reshape(E, n, R * p)  # [E, n, R*p]: p_ic * za_i
    h = -(outer.transpose(1, 2) @ outer)  # [E, R*p, R*p]
    blocks = torch.einsum("ernp,enq->erpq", weighted, za)  # [E, R, p, p]
    hv = h.view(E, R, p, R, p)  # [E, R, p, R, p] view of h
    for c in range(R):
        hv[:, c, :, c, :] += blocks[:, c]
    reg = torch.full((R, p), 1.0 / C, dtype=za.dtype, device=za.device)
    reg[:, -1] = 0.0  # the intercept is not penalised
    h.diagonal(dim1=1, dim2=2).add_(reg.reshape(-1))
    if not binary:
        # Shifting every intercept by the same amount changes nothing: a null direction
        # v = (intercepts all 1/sqrt(R)). The gradient is always orthogonal to it, so adding
        # v v^T makes the system definite without changing the Newton step.
        hv[:, :, -1, :, -1] += 1.0 / R
    return h


def _line_search(th, d, f, slope, za, onehot, C, binary):
    """Backtracking (Armijo) along ``d``: the full Newton step for most episodes, halved only
    for those where it does not decrease the objective enough.

    Returns:
        The new parameters ``[A, R, p]`` and the objective, gradient and probabilities there,
        so that the next iteration does not evaluate them again.
    """
    new = th + d
    fn, gn, pn = _loss_grad(new, za, onehot, C, binary)
    t = torch.ones_like(f)
    todo = torch.nonzero(~(fn <= f + _ARMIJO * slope)).flatten()  # NaN counts as a failure
    for _ in range(_HALVINGS):
        if not len(todo):
            break
        t[todo] *= 0.5
        cand = th[todo] + t[todo].view(-1, 1, 1) * d[todo]
        fc, gc, pc = _loss_grad(cand, za[todo], onehot[todo], C, binary)
        new[todo], fn[todo], gn[todo], pn[todo] = cand, fc, gc, pc
        todo = todo[~(fc <= f[todo] + _ARMIJO * t[todo] * slope[todo])]
    return new, fn, gn, pn


def fit_logistic(x: torch.Tensor, y: torch.Tensor, classes: int, C: float = 1.0,
                 tol: float = 1e-9, max_iter: int = 100) -> LogisticFit:
    """Fit one regularised logistic model per episode, all episodes at once.

    Args:
        x: ``[E, n, D]`` support features (used as given: normalise them beforehand).
        y: ``[E, n]`` int64 labels in ``[0, classes)``.
        classes: number of classes (every episode has the same).
        C: inverse regularisation strength, as in scikit-learn.
        tol: stop when the max-abs gradient of the mean objective is below ``tol``
            (scikit-learn's ``gtol`` is on the same scale; its default is 1e-4).
        max_iter: Newton iterations at most.

    Returns:
        :class:`LogisticFit` in float64.
    """
    with _one_thread():
        return _fit(x, y, classes, C, tol, max_iter)


def _fit(x: torch.Tensor, y: torch.Tensor, classes: int, C: float, tol: float, max_iter: int) -> LogisticFit:
    x = x.to(torch.float64)
    E, n, D = x.shape
    binary = classes == 2
    R = 1 if binary else classes
    # The Gram matrix K = X X^T = U S U^T gives an exact copy Z = U S^(1/2) of the support
    # in r = n coordinates (X = Z V^T with orthonormal V^T = S^(-1/2) U^T X); directions with
    # a zero eigenvalue (repeated support samples) get zero coordinates and no weight.
    s, u = torch.linalg.eigh(x @ x.transpose(1, 2))  # s [E, n], u [E, n, n]
    s = s.clamp_min(0)
    keep_dir = s > s.amax(1, keepdim=True) * n * torch.finfo(x.dtype).eps
    z = u * s.sqrt().unsqueeze(1)  # [E, n, n]
    inv_sqrt = torch.where(keep_dir, s.clamp_min(torch.finfo(x.dtype).tiny).rsqrt(), torch.zeros_like(s))
    basis = (u * inv_sqrt.unsqueeze(1)).transpose(1, 2) @ x  # V^T [E, n, D]
    za = torch.cat([z, torch.ones(E, n, 1, dtype=x.dtype, device=x.device)], dim=2)  # [E, n, r+1]
    p = za.shape[2]
    onehot = torch.nn.functional.one_hot(y, classes).to(x.dtype)  # [E, n, classes]
    theta = torch.zeros(E, R, p, dtype=x.dtype, device=x.device)
    gnorm = torch.full((E,), float("inf"), dtype=x.dtype, device=x.device)
    active = torch.arange(E, device=x.device)
    th, zz, oh = theta, za, onehot  # the state of the episodes still iterating
    f, g, prob = _loss_grad(th, zz, oh, C, binary)
    it = 0
    while True:
        gmax = g.abs().flatten(1).amax(1)
        gnorm[active] = gmax
        keep = gmax / n > tol
        if not keep.all():  # converged episodes leave the batch
            theta[active] = th
            active, th, zz, oh, f, g, prob = (t[keep] for t in (active, th, zz, oh, f, g, prob))
        if not len(active) or it == max_iter:
            break
        it += 1
        h = _hessian(zz, prob, C, binary)
        chol, info = torch.linalg.cholesky_ex(h)
        # Two triangular solves; much faster than cholesky_solve for many small systems.
        d = torch.linalg.solve_triangular(chol, g.float().reshape(len(active), -1, 1), upper=False)
        d = -torch.linalg.solve_triangular(chol.mT, d, upper=True).reshape(g.shape).double()  # [A, R, p]
        failed = (info != 0) | ~torch.isfinite(d).flatten(1).all(1)
        if failed.any():  # a float32 system too ill-conditioned to factorise: steepest descent there
            d[failed] = -g[failed]
        slope = (g * d).sum((1, 2))  # [A], negative for a descent direction
        th, f, g, prob = _line_search(th, d, f, slope, zz, oh, C, binary)
    theta[active] = th
    weight = theta[..., :-1] @ basis  # [E, R, D]
    return LogisticFit(weight, theta[..., -1], it, gnorm)
