"""The Newton directions of the logistic solver against the Hessian autograd forms explicitly."""

import pytest
import torch

from fewshot_clce.heads.logistic_solver import _loss_grad
from fewshot_clce.heads.newton_cg import hvp, newton_direction, preconditioner


def _problem(binary: bool, episodes: int = 3, n: int = 6, C: float = 0.7):
    gen = torch.Generator().manual_seed(0)
    classes = 2 if binary else 3
    rows = 1 if binary else classes
    za = torch.cat(
        [
            torch.randn(episodes, n, n, generator=gen, dtype=torch.float64),
            torch.ones(episodes, n, 1, dtype=torch.float64),
        ],
        dim=2,
    )  # [E, n, p]
    y = torch.arange(n).remainder(classes).expand(episodes, n)
    onehot = torch.nn.functional.one_hot(y, classes).double()
    theta = 0.3 * torch.randn(episodes, rows, n + 1, generator=gen, dtype=torch.float64)
    reg = torch.full((n + 1,), 1.0 / C, dtype=torch.float64)
    reg[-1] = 0.0
    return za, onehot, theta, reg, C


def _explicit_hessian(za, onehot, theta, C, binary):
    """``[E, R*p, R*p]``: autograd's Hessian of each episode's objective."""
    out = []
    for e in range(theta.shape[0]):

        def f(t, e=e):
            return _loss_grad(
                t.view(1, *theta.shape[1:]), za[e : e + 1], onehot[e : e + 1], C, binary
            )[0].sum()

        out.append(torch.autograd.functional.hessian(f, theta[e].reshape(-1)))
    return torch.stack(out)


@pytest.mark.parametrize("binary", [True, False])
def test_hvp_is_the_hessian_times_the_direction(binary):
    za, onehot, theta, reg, C = _problem(binary)
    _, _, prob = _loss_grad(theta, za, onehot, C, binary)
    v = torch.randn(theta.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    expected = (
        _explicit_hessian(za, onehot, theta, C, binary) @ v.flatten(1).unsqueeze(2)
    ).view_as(v)
    if not binary:  # hvp adds the intercepts' shift direction, along which the loss is flat
        expected[..., -1] += v[..., -1].mean(1, keepdim=True)
    torch.testing.assert_close(hvp(v, za, prob, reg, binary), expected)


@pytest.mark.parametrize("binary", [True, False])
def test_newton_direction_solves_the_newton_system(binary):
    za, onehot, theta, reg, C = _problem(binary)
    _, grad, prob = _loss_grad(theta, za, onehot, C, binary)
    mean_scale = torch.full((za.shape[2],), C, dtype=torch.float64)
    mean_scale[-1] = 1.0
    pinv = preconditioner(za, grad.shape[1], C, binary)
    target = torch.full((len(za),), 1e-20, dtype=torch.float64)
    step, steps = newton_direction(grad, za, prob, pinv, reg, mean_scale, binary, target)
    assert 1 <= steps <= za.shape[2] * grad.shape[1]
    torch.testing.assert_close(hvp(step, za, prob, reg, binary), -grad)
