"""Batched L2-regularised multinomial logistic regression, scikit-learn's objective.

Solves, independently for each of ``E`` episodes,

    min_{W, b}  sum_i  -log softmax(W x_i + b)[y_i]  +  1 / (2 C) * ||W||_F^2

which is exactly what ``sklearn.linear_model.LogisticRegression(C=C)`` minimises with
the lbfgs solver for three or more classes (it minimises the mean log-loss plus
``1 / (2 C n) ||W||^2``, the same optimum); the intercept is not penalised. With two
classes scikit-learn fits a single binary model (one weight vector, logit ``w x + b``
for class 1, penalty ``1 / (2 C) ||w||^2``), which is not the same optimum as the
two-class multinomial; :func:`fit_logistic` follows it there too.

Why it is fast:

* The loss depends on ``W`` only through ``W x_i`` and the penalty only grows outside the
  span of the support features, so the optimal ``W`` lies in that span (the representer
  theorem). A factor ``K = Z Z^T`` of the support's Gram matrix (Cholesky; an
  eigendecomposition where the support is rank-deficient) gives an isometric ``n``-dimensional
  copy ``Z`` of the ``n`` support points, and the problem in ``Z`` has ``(n + 1) * classes``
  parameters instead of ``(D + 1) * classes``. Only the Gram matrix is needed, so a caller can
  fold a normalisation into it (:func:`fit_logistic_gram`).
* The Hessian is ``sum_i D_i (x) za_i za_i^T`` (``D_i = diag(p_i) - p_i p_i^T``, ``za_i = [z_i, 1]``)
  plus the penalty. At ``W = 0`` every ``D_i`` is the same matrix ``(I - 11^T / R) / R``, and the
  Hessian is a Kronecker product that one ``(n + 1)``-square matrix per episode inverts. Away
  from 0 that inverse is still an excellent preconditioner, so each Newton direction comes from
  a few conjugate-gradient steps made of batched Hessian-vector products (a handful of small
  matrix products, never the ``(n + 1) * classes``-square Hessian; the first step is exact).
  Newton then reaches the optimum in 3-4 steps on typical 5-way 5-shot episodes, for all
  episodes at once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import NamedTuple

import torch

from .newton_cg import newton_direction, preconditioner
from .support_coordinates import support_coordinates

_ARMIJO = 1e-4  # sufficient-decrease constant of the backtracking line search
_HALVINGS = 30


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run the solver on one intra-op thread, then restore the caller's setting.

    The solver is a long sequence of operations on small tensors (and LAPACK calls on small
    matrices, which torch issues one matrix at a time). Each parallel region pays an OpenMP
    fork/join; on a machine shared with other processes the spinning threads wait for CPU
    slices, measured 3x slower overall than one thread. Episodes are independent, so callers
    wanting more cores can split them.
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


class GramFit(NamedTuple):
    """The fitted models of a batch of episodes, with weights as combinations of the support.

    Attributes:
        coef: ``[E, R, n]``: the weights are ``coef @ x`` for the support ``x [E, n, D]`` whose
            Gram matrix was fitted (``R`` = classes, or 1 for a binary problem).
        bias: ``[E, R]`` intercepts.
        iterations: Newton iterations used by the slowest episode.
        grad_norm: ``[E]`` final max-abs gradient of the (sum) objective.
    """

    coef: torch.Tensor
    bias: torch.Tensor
    iterations: int
    grad_norm: torch.Tensor


def logits_from(weight: torch.Tensor, bias: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Class logits ``[E, M, classes]`` of ``x`` ``[E, M, D]`` under a fitted model."""
    out = x @ weight.transpose(1, 2) + bias.unsqueeze(1)  # [E, M, R]
    return binary_to_two(out)


def binary_to_two(logits: torch.Tensor) -> torch.Tensor:
    """``[E, M, 1]`` logits of a binary model as ``[E, M, 2]`` (class 0 has logit 0); others unchanged."""
    if logits.shape[2] == 1:
        return torch.cat([torch.zeros_like(logits), logits], dim=2)
    return logits


def objective(
    weight: torch.Tensor, bias: torch.Tensor, x: torch.Tensor, y: torch.Tensor, C: float = 1.0
) -> torch.Tensor:
    """scikit-learn's objective ``sum log-loss + ||W||^2 / (2C)`` per episode, ``[E]``.

    Args:
        weight: ``[E, R, D]``; bias: ``[E, R]``; x: ``[E, n, D]``; y: ``[E, n]`` int64.
    """
    logits = logits_from(weight, bias, x)
    nll = torch.logsumexp(logits, 2) - logits.gather(2, y.unsqueeze(2)).squeeze(2)  # [E, n]
    return nll.sum(1) + 0.5 / C * weight.pow(2).sum((1, 2))


def _loss_grad(
    theta: torch.Tensor, za: torch.Tensor, onehot: torch.Tensor, C: float, binary: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Objective ``[E]``, gradient ``[E, R, r+1]`` and class probabilities ``[E, n, R]``."""
    logits = za @ theta.transpose(1, 2)  # [E, n, R]
    if binary:
        full = torch.cat([torch.zeros_like(logits), logits], dim=2)  # [E, n, 2]
    else:
        full = logits
    logz = torch.logsumexp(full, 2, keepdim=True)  # [E, n, 1]
    prob = torch.exp(full - logz)  # [E, n, classes]
    nll = (logz.squeeze(2) - (full * onehot).sum(2)).sum(1)
    weight = theta[..., :-1]
    objective = nll + 0.5 / C * weight.pow(2).sum((1, 2))
    resid = prob - onehot  # [E, n, classes]
    if binary:
        prob, resid = prob[..., 1:], resid[..., 1:]  # [E, n, 1]: only class 1 is free
    grad = resid.transpose(1, 2) @ za  # [E, R, r+1]
    grad[..., :-1] += weight / C
    return objective, grad, prob


def _line_search(
    theta: torch.Tensor,
    step: torch.Tensor,
    objective: torch.Tensor,
    slope: torch.Tensor,
    za: torch.Tensor,
    onehot: torch.Tensor,
    C: float,
    binary: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Backtracking (Armijo) along ``step``: the full Newton step for most episodes, halved only
    for those where it does not decrease the objective enough.

    Returns:
        The new parameters ``[A, R, p]`` and the objective, gradient and probabilities there,
        so that the next iteration does not evaluate them again.
    """
    new = theta + step
    new_objective, new_grad, new_prob = _loss_grad(new, za, onehot, C, binary)
    length = torch.ones_like(objective)  # [A] fraction of the step taken
    # NaN counts as a failure
    todo = torch.nonzero(~(new_objective <= objective + _ARMIJO * slope)).flatten()
    for _ in range(_HALVINGS):
        if not len(todo):
            break
        length[todo] *= 0.5
        cand = theta[todo] + length[todo].view(-1, 1, 1) * step[todo]
        cand_objective, cand_grad, cand_prob = _loss_grad(cand, za[todo], onehot[todo], C, binary)
        new[todo], new_objective[todo], new_grad[todo], new_prob[todo] = (
            cand,
            cand_objective,
            cand_grad,
            cand_prob,
        )
        todo = todo[~(cand_objective <= objective[todo] + _ARMIJO * length[todo] * slope[todo])]
    return new, new_objective, new_grad, new_prob


def fit_logistic(
    x: torch.Tensor,
    y: torch.Tensor,
    classes: int,
    C: float = 1.0,
    tol: float = 1e-9,
    max_iter: int = 100,
) -> LogisticFit:
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
    with one_thread():
        x = x.to(torch.float64)
        fit = _fit_gram(
            x @ x.transpose(1, 2), y, classes, C, tol, max_iter, torch.finfo(x.dtype).eps
        )
        return LogisticFit(fit.coef @ x, fit.bias, fit.iterations, fit.grad_norm)


def fit_logistic_gram(
    gram: torch.Tensor,
    y: torch.Tensor,
    classes: int,
    C: float = 1.0,
    tol: float = 1e-9,
    max_iter: int = 100,
) -> GramFit:
    """:func:`fit_logistic` from the support's Gram matrix alone.

    The features enter the problem only through their inner products, so a caller can fold a
    per-sample scaling (an L2 normalisation) into ``gram`` instead of materialising scaled
    features, and form the weights (``coef @ x``) or the query logits however suits it.

    Args:
        gram: ``[E, n, n]`` Gram matrices ``x x^T`` of the support features. The solve runs in
            float64 either way; a Gram matrix computed in float32 keeps its rounding error
            (about 1e-7 relative, the precision of float32 features themselves), and directions
            within that error of singular are dropped as dependent.
        y, classes, C, tol, max_iter: as in :func:`fit_logistic`.

    Returns:
        :class:`GramFit` in float64.
    """
    with one_thread():
        return _fit_gram(
            gram.to(torch.float64), y, classes, C, tol, max_iter, torch.finfo(gram.dtype).eps
        )


class _ActiveEpisodes(NamedTuple):
    """The episodes still iterating and their state (a copy: converged ones are written back).

    Attributes:
        positions: ``[A]`` positions of these episodes in the batch.
        theta: ``[A, R, p]`` parameters.
        za, za32: ``[A, n, p]`` support coordinates with a constant 1 appended, float64 and
            float32 (the conjugate-gradient solves run in float32).
        onehot: ``[A, n, classes]`` labels.
        precond: ``[A, p, p]`` preconditioner (:func:`~fewshot_clce.heads.newton_cg.preconditioner`).
        objective, grad, prob: the objective ``[A]``, gradient ``[A, R, p]`` and class
            probabilities ``[A, n, R]`` at ``theta``.
    """

    positions: torch.Tensor
    theta: torch.Tensor
    za: torch.Tensor
    za32: torch.Tensor
    onehot: torch.Tensor
    precond: torch.Tensor
    objective: torch.Tensor
    grad: torch.Tensor
    prob: torch.Tensor

    def select(self, keep: torch.Tensor) -> _ActiveEpisodes:
        """The episodes where the boolean ``keep`` ``[A]`` holds."""
        return _ActiveEpisodes(*(t[keep] for t in self))


def _penalty_scales(p: int, C: float, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """The penalty ``[p]`` on each coordinate and its inverse on the class-mean direction ``[p]``.

    Both float32, for the conjugate-gradient solves (:func:`~fewshot_clce.heads.newton_cg.hvp`).
    """
    reg = torch.full((p,), 1.0 / C, dtype=torch.float32, device=device)
    reg[-1] = 0.0  # the intercept is not penalised
    mean_scale = torch.full((p,), float(C), dtype=torch.float32, device=device)
    mean_scale[-1] = 1.0  # the intercepts' class-mean direction: the 11^T / R of newton_cg.hvp
    return reg, mean_scale


def _descent_step(
    active: _ActiveEpisodes,
    reg: torch.Tensor,
    mean_scale: torch.Tensor,
    binary: bool,
    floor: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """A truncated Newton step ``[A, R, p]`` for every active episode, and its slope ``[A]``.

    The direction is solved in float32 (a Newton direction needs no more; the objective,
    gradient and stopping test stay float64), on half the memory traffic. Where it is not a
    descent direction (never expected: the system is definite), steepest descent is taken.
    """
    grad = active.grad
    # Forcing term min(0.5, sqrt(||g||)): loose directions far from the optimum, ever tighter
    # ones near it, which keeps Newton's fast local convergence (Eisenstat & Walker).
    grad_sq = grad.pow(2).sum((1, 2))  # [A] ||g||^2
    target = (grad_sq * grad_sq.sqrt().clamp(max=0.25)).clamp_min(floor)  # (forcing * ||g||)^2
    step, _ = newton_direction(
        grad.float(),
        active.za32,
        active.prob.float(),
        active.precond,
        reg,
        mean_scale,
        binary,
        target.float(),
    )
    step = step.double()
    slope = (grad * step).sum((1, 2))  # [A], negative for a descent direction
    failed = ~(slope < 0) | ~torch.isfinite(step).flatten(1).all(1)
    if failed.any():
        step[failed] = -grad[failed]
        slope = (grad * step).sum((1, 2))
    return step, slope


def _fit_gram(
    gram: torch.Tensor,
    y: torch.Tensor,
    classes: int,
    C: float,
    tol: float,
    max_iter: int,
    eps: float,
) -> GramFit:
    """Newton's method on the coordinates of the support, for every episode at once.

    With ``z_i`` the coordinates of support sample ``i`` (``K = Z Z^T``,
    :func:`~fewshot_clce.heads.support_coordinates.support_coordinates`), ``za_i = [z_i, 1]`` and
    parameters ``theta = [V, b]`` (``[E, R, p]``, ``p = n + 1``), it minimises
    ``f(theta) = sum_i -log softmax(theta za_i)[y_i] + 1 / (2 C) ||V||^2`` (binary: one logit
    row, the other class fixed at 0). Each step solves ``H d = -grad`` approximately
    (:func:`_descent_step`) to a residual ``||H d + grad|| <= min(0.5, sqrt(||grad||)) ||grad||``
    and searches along it (:func:`_line_search`); an episode stops once
    ``max |grad| / n <= tol``. The weights are ``W = V back x`` (``back`` from
    :func:`~fewshot_clce.heads.support_coordinates.support_coordinates`).

    Args:
        gram: ``[E, n, n]`` float64 Gram matrices of the support.
        y: ``[E, n]`` labels; eps: the precision ``gram`` was computed in.
    """
    E, n, _ = gram.shape
    dtype, device = gram.dtype, gram.device
    binary = classes == 2
    R = 1 if binary else classes
    z, back = support_coordinates(gram, eps)  # [E, n, n] each
    za = torch.cat(
        [z, torch.ones(E, n, 1, dtype=dtype, device=device)], dim=2
    )  # [E, n, p], p = n + 1
    p = n + 1
    reg, mean_scale = _penalty_scales(p, C, device)
    onehot = torch.nn.functional.one_hot(y, classes).to(dtype)  # [E, n, classes]
    theta = torch.zeros(E, R, p, dtype=dtype, device=device)
    grad_max = torch.full((E,), float("inf"), dtype=dtype, device=device)
    start = theta.clone()
    active = _ActiveEpisodes(
        torch.arange(E, device=device),
        start,
        za,
        za.float(),
        onehot,
        preconditioner(za, R, C, binary).float(),  # [E, p, p]
        *_loss_grad(start, za, onehot, C, binary),
    )
    # Residual a Newton direction need not go below: a tenth of the stopping tolerance (on the
    # sum objective); float rounding would keep conjugate gradients from reaching much less.
    floor = (0.1 * tol * n) ** 2
    it = 0
    while True:
        act_grad_max = active.grad.abs().flatten(1).amax(1)
        grad_max[active.positions] = act_grad_max
        keep = act_grad_max / n > tol
        if not keep.all():  # converged episodes leave the batch
            theta[active.positions] = active.theta
            active = active.select(keep)
        if not len(active.positions) or it == max_iter:
            break
        it += 1
        step, slope = _descent_step(active, reg, mean_scale, binary, floor)
        new_theta, objective, grad, prob = _line_search(
            active.theta, step, active.objective, slope, active.za, active.onehot, C, binary
        )
        active = active._replace(theta=new_theta, objective=objective, grad=grad, prob=prob)
    theta[active.positions] = active.theta
    coef = theta[..., :-1] @ back  # [E, R, n]
    return GramFit(coef, theta[..., -1], it, grad_max)
