"""Gradients (gradcheck in float64) and finiteness in float32 / bfloat16 at small temperatures."""

import pytest
import torch

from fewshot_clce.losses import ce_loss, clce_loss, lacln_loss, supcon_loss


def _inputs(b, v, d, classes, seed, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(b, v, d, generator=g, dtype=dtype)
    labels = torch.randint(0, classes, (b,), generator=g)
    logits = torch.randn(b, v, classes, generator=g, dtype=dtype)
    return logits, z, labels


@pytest.mark.parametrize(
    "labels", [[0, 1, 0, 2, 1, 3], [4, 4, 4, 4, 4, 4]], ids=["mixed", "one-class"]
)
def test_gradcheck(labels):
    labels = torch.tensor(labels)
    logits, z, _ = _inputs(6, 2, 4, 5, seed=0)
    z.requires_grad_()
    logits.requires_grad_()
    assert torch.autograd.gradcheck(lambda z: supcon_loss(z, labels, temperature=0.3), (z,))
    assert torch.autograd.gradcheck(
        lambda z: lacln_loss(z, labels, 0.3, beta=1.5, detach_weights=False), (z,)
    )
    assert torch.autograd.gradcheck(
        lambda lg, z: clce_loss(
            lg, z, labels, lam=0.4, temperature=0.3, beta=0.8, detach_weights=False
        ),
        (logits, z),
    )
    assert torch.autograd.gradcheck(
        lambda lg: ce_loss(lg, labels % 5, label_smoothing=0.1), (logits,)
    )


def test_gradcheck_single_view_without_positives_for_some_anchors():
    z = torch.randn(
        5, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1), requires_grad=True
    )
    labels = torch.tensor([0, 0, 1, 2, 2])  # anchor 2 has no positive
    assert torch.autograd.gradcheck(lambda z: supcon_loss(z, labels, temperature=0.2), (z,))
    assert torch.autograd.gradcheck(
        lambda z: lacln_loss(z, labels, 0.2, beta=1.0, detach_weights=False), (z,)
    )


def _hard_case(dtype):
    """Near-duplicates of one direction and exact opposites: logits at both extremes."""
    g = torch.Generator().manual_seed(2)
    base = torch.randn(1, 32, generator=g)
    z = torch.cat(
        [
            base + 1e-3 * torch.randn(40, 32, generator=g),
            -base + 1e-3 * torch.randn(24, 32, generator=g),
            torch.randn(64, 32, generator=g),
        ]
    )  # [128, 32]
    labels = torch.cat(
        [torch.zeros(20), torch.ones(20), torch.full((24,), 2), torch.arange(64) % 7 + 3]
    ).long()
    return (100 * z).to(dtype).view(64, 2, 32), labels.view(64, 2)[:, 0]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("tau", [0.05, 0.1])
def test_finite_at_small_temperature(dtype, tau):
    z, labels = _hard_case(dtype)
    logits = torch.randn(64, 2, 10, generator=torch.Generator().manual_seed(3)).mul(30).to(dtype)
    fns = {
        "supcon": lambda lg, z: supcon_loss(z, labels, temperature=tau),
        "lacln": lambda lg, z: lacln_loss(z, labels, temperature=tau, beta=2.0),
        "lacln_full": lambda lg, z: lacln_loss(
            z, labels, temperature=tau, beta=2.0, detach_weights=False
        ),
        "clce": lambda lg, z: clce_loss(lg, z, labels, temperature=tau, beta=2.0),
    }
    for name, fn in fns.items():
        zz, lg = z.clone().requires_grad_(), logits.clone().requires_grad_()
        loss = fn(lg, zz)
        loss.backward()
        assert torch.isfinite(loss), name
        assert torch.isfinite(zz.grad).all() and zz.grad.abs().sum() > 0, name
        if lg.grad is not None:
            assert torch.isfinite(lg.grad).all(), name
        # low precision inputs give the float32 value of the rounded inputs
        ref = fn(logits.float(), z.float())
        torch.testing.assert_close(loss.float(), ref, rtol=1e-4, atol=1e-4)


def test_float32_close_to_float64():
    logits, z, labels = _inputs(256, 2, 64, 20, seed=4)
    for fn in (
        lambda z: supcon_loss(z, labels, 0.05),
        lambda z: lacln_loss(z, labels, 0.05, beta=1.0),
    ):
        torch.testing.assert_close(fn(z.float()).double(), fn(z), rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_large_batch_on_cpu():
    """B = 4096 with two views: [8192, 8192] similarities, finite value and gradient."""
    logits, z, labels = _inputs(4096, 2, 128, 100, seed=5, dtype=torch.float32)
    z.requires_grad_()
    loss = clce_loss(logits, z, labels, temperature=0.05, beta=1.0)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(z.grad).all()


def test_autocast_keeps_float32():
    logits, z, labels = _inputs(32, 2, 16, 4, seed=6, dtype=torch.float32)
    expected = clce_loss(logits, z, labels, temperature=0.05, beta=1.0)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = clce_loss(logits, z, labels, temperature=0.05, beta=1.0)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, expected)
