"""Truncated Newton directions of the batched logistic regression
(:mod:`fewshot_clce.heads.logistic_solver`): preconditioned conjugate gradients on Hessian-vector
products, with the Hessian at ``theta = 0`` as the preconditioner.

Notation as in the solver: ``za [A, n, p]`` the support coordinates with a constant 1 appended,
``theta [A, R, p]`` the parameters (``R`` logit rows: the classes, or 1 for a binary model),
``D_i = diag(p_i) - p_i p_i^T`` the softmax Jacobian at sample ``i``.
"""

from __future__ import annotations

import torch

_MAX_CG = 100  # conjugate-gradient steps per Newton direction at most (3 or fewer are typical)


def preconditioner(za: torch.Tensor, R: int, C: float, binary: bool) -> torch.Tensor:
    """The inverse ``[E, p, p]`` of the Hessian at ``theta = 0`` on the classes' difference space.

    At ``theta = 0`` every class probability is ``1 / classes``, so every ``D_i`` equals
    ``d0 (I - 11^T / R)`` (binary: the scalar ``1 / 4``) and the Hessian is
    ``(I - 11^T / R) (x) (d0 za^T za + P) + (11^T / R) (x) P'`` with ``P`` the penalty (``1 / C`` on
    the weights, 0 on the intercept) and ``P'`` its value on the class-mean direction, where the
    loss is flat (:func:`_apply_preconditioner`). One ``p x p`` inverse serves every class.
    """
    d0 = 0.25 if binary else 1.0 / R
    p = za.shape[2]
    m = d0 * (za.transpose(1, 2) @ za)  # [E, p, p]
    reg = torch.full((p,), 1.0 / C, dtype=za.dtype, device=za.device)
    reg[-1] = 0.0  # the intercept is not penalised (d0 * n on the diagonal keeps m definite)
    m.diagonal(dim1=1, dim2=2).add_(reg)
    chol, info = torch.linalg.cholesky_ex(m)
    if bool((info != 0).any()):  # not expected (m is definite); the general inverse then
        return torch.linalg.inv_ex(m)[0]
    return torch.cholesky_inverse(chol)


def _apply_preconditioner(
    v: torch.Tensor, pinv: torch.Tensor, mean_scale: torch.Tensor, binary: bool
) -> torch.Tensor:
    """The preconditioner applied to ``v [A, R, p]``.

    For a multinomial model the class-mean part of ``v`` is split off: there every ``D_i``
    vanishes (softmax is shift-invariant), so the Hessian is the penalty on the weights and the
    ``11^T / R`` added on the intercepts (see :func:`hvp`): ``mean_scale`` ``[p]`` inverts it.
    """
    if binary:
        return v @ pinv  # [A, 1, p]; pinv is symmetric
    mean = v.mean(1, keepdim=True)  # [A, 1, p]
    return torch.baddbmm(mean * mean_scale, v - mean, pinv)


def hvp(
    v: torch.Tensor, za: torch.Tensor, prob: torch.Tensor, reg: torch.Tensor, binary: bool
) -> torch.Tensor:
    """Hessian-vector products ``[A, R, p]`` for directions ``v [A, R, p]``, never forming the Hessian.

    ``H v = sum_i (D_i (v za_i)) za_i^T + penalty``: the change of the logits along ``v``
    (``[A, n, R]``), times the softmax Jacobian ``D_i = diag(p_i) - p_i p_i^T``, mapped back.
    """
    t = prob * (za @ v.transpose(1, 2))  # [A, n, R]: p_i * (v za_i)
    # D_i u_i = p_i * u_i - p_i (p_i . u_i); binary: p (1 - p) u.
    t.addcmul_(prob, t if binary else t.sum(2, keepdim=True), value=-1.0)
    out = torch.baddbmm(v * reg, t.transpose(1, 2), za)  # [A, R, p]
    if not binary:
        # Shifting every intercept by the same amount changes nothing: a null direction
        # (intercepts all 1 / sqrt(R)). The gradient is always orthogonal to it, so adding its
        # outer product makes the system definite without changing the Newton step.
        out[..., -1] += v[..., -1].mean(1, keepdim=True)
    return out


def newton_direction(
    g: torch.Tensor,
    za: torch.Tensor,
    prob: torch.Tensor,
    pinv: torch.Tensor,
    reg: torch.Tensor,
    mean_scale: torch.Tensor,
    binary: bool,
    target: torch.Tensor,
) -> tuple[torch.Tensor, int]:
    """Preconditioned conjugate gradients for ``H d = -g``, stopped per episode once
    ``||H d + g||^2 <= target`` (a truncated Newton direction; ``target`` ``[A]``).

    Returns:
        ``d [A, R, p]`` and the conjugate-gradient steps taken by the slowest episode.
    """
    r = -g
    z = _apply_preconditioner(r, pinv, mean_scale, binary)
    direction = z
    rz = (r * z).sum((1, 2))
    rr = r.pow(2).sum((1, 2))
    d = torch.zeros_like(g)
    one = torch.ones_like(rz)
    steps = 0
    for steps in range(1, _MAX_CG + 1):  # noqa: B007 (the count is returned)
        hp = hvp(direction, za, prob, reg, binary)
        curv = (direction * hp).sum((1, 2))
        # Episodes already at their target (or with nothing left to do) take no step.
        done = (rr <= target) | ~(curv > 0)
        alpha = torch.where(done, 0.0, rz / torch.where(done, one, curv)).view(-1, 1, 1)
        d.addcmul_(alpha, direction)
        r.addcmul_(alpha, hp, value=-1.0)
        rr = r.pow(2).sum((1, 2))
        if bool((done | (rr <= target)).all()):
            break
        z = _apply_preconditioner(r, pinv, mean_scale, binary)
        rz_new = (r * z).sum((1, 2))
        beta = rz_new / torch.where(rz > 0, rz, one)
        direction = torch.addcmul(z, beta.view(-1, 1, 1), direction)
        rz = rz_new
    return d, steps
