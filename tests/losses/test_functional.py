"""Losses against deliberately naive per-anchor loops, a peer implementation, and their limits."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from fewshot_clce.losses import (
    LOSSES,
    LossOutput,
    ce_loss,
    clce_loss,
    create_loss,
    lacln_loss,
    list_losses,
    supcon_loss,
)


def _batch(b=10, v=2, d=6, classes=3, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    z = (
        torch.randn(b, v, d, generator=g, dtype=dtype)
        if v
        else torch.randn(b, d, generator=g, dtype=dtype)
    )
    labels = torch.randint(0, classes, (b,), generator=g)
    logits = (
        torch.randn(b, v, classes, generator=g, dtype=dtype)
        if v
        else torch.randn(b, classes, generator=g, dtype=dtype)
    )
    return logits, z, labels


def naive_contrastive(z, labels, tau, beta=0.0, detach_weights=True):
    """One anchor at a time, every sum written out, the weights as defined (no log space)."""
    if z.dim() == 3:
        views = z.shape[1]
        z = z.reshape(-1, z.shape[-1])
        labels = labels.repeat_interleave(views)
    z = z / z.norm(dim=1, keepdim=True)
    n = z.shape[0]
    losses = []
    for i in range(n):
        positives = [p for p in range(n) if p != i and labels[p] == labels[i]]
        negatives = [k for k in range(n) if labels[k] != labels[i]]
        if not positives:
            continue
        s = {a: torch.dot(z[i], z[a]) for a in range(n)}
        denominator = sum(torch.exp(s[p] / tau) for p in positives)
        if negatives:
            mean_w = sum(torch.exp(beta * s[k] / tau) for k in negatives) / len(negatives)
            for k in negatives:
                w = torch.exp(beta * s[k] / tau) / mean_w
                if detach_weights:
                    w = w.detach()
                denominator = denominator + w * torch.exp(s[k] / tau)
        terms = [torch.log(torch.exp(s[p] / tau) / denominator) for p in positives]
        losses.append(-sum(terms) / len(positives))
    if not losses:
        return z.sum() * 0
    return sum(losses) / len(losses)


@pytest.mark.parametrize("views", [0, 1, 3])
@pytest.mark.parametrize("tau", [0.07, 0.5])
def test_supcon_matches_naive_loop(views, tau):
    _, z, labels = _batch(b=9, v=views, seed=views)
    z1, z2 = z.clone().requires_grad_(), z.clone().requires_grad_()
    ours, ref = supcon_loss(z1, labels, temperature=tau), naive_contrastive(z2, labels, tau)
    torch.testing.assert_close(ours, ref)
    ours.backward()
    ref.backward()
    torch.testing.assert_close(z1.grad, z2.grad)


@pytest.mark.parametrize("beta", [0.0, 0.3, 1.0, 2.5])
@pytest.mark.parametrize("detach", [True, False])
def test_lacln_matches_naive_loop_value_and_gradient(beta, detach):
    _, z, labels = _batch(b=8, v=2, seed=1)
    z1 = z.clone().requires_grad_()
    z2 = z.clone().requires_grad_()
    ours = lacln_loss(z1, labels, temperature=0.2, beta=beta, detach_weights=detach)
    ref = naive_contrastive(z2, labels, 0.2, beta=beta, detach_weights=detach)
    torch.testing.assert_close(ours, ref)
    ours.backward()
    ref.backward()
    torch.testing.assert_close(z1.grad, z2.grad)


@settings(max_examples=25, deadline=None)
@given(
    labels=st.lists(st.integers(0, 3), min_size=1, max_size=7),
    views=st.integers(1, 2),
    beta=st.sampled_from([0.0, 0.5, 2.0]),
    seed=st.integers(0, 2**16),
)
def test_any_label_pattern_matches_naive_loop(labels, views, beta, seed):
    """Singletons, one class, no positives at all: the vectorised loss agrees with the loop."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(len(labels), views, 3, generator=g, dtype=torch.float64)
    labels = torch.tensor(labels)
    torch.testing.assert_close(
        lacln_loss(z, labels, temperature=0.3, beta=beta),
        naive_contrastive(z, labels, 0.3, beta=beta),
    )


def test_lacln_weights_change_the_loss_and_the_gradient_choice_matters():
    """Hard-negative weights make a difference, and so does differentiating through them."""
    _, z, labels = _batch(b=8, v=2, seed=2)
    assert not torch.isclose(lacln_loss(z, labels, beta=1.0), supcon_loss(z, labels))
    grads = []
    for detach in (True, False):
        zz = z.clone().requires_grad_()
        lacln_loss(zz, labels, beta=1.0, detach_weights=detach).backward()
        grads.append(zz.grad)
    assert not torch.allclose(grads[0], grads[1])


def test_full_gradient_pulls_easy_negatives_closer_detached_does_not():
    """The reason the weights are detached by default (see lacln_loss's docstring)."""
    beta = 2.0
    # one anchor's logits s/τ: a positive, then a hard negative and two easy ones
    row = torch.tensor([5.0, 4.0, -3.0, -6.0], dtype=torch.float64)
    grads = {}
    for detach in (True, False):
        x = row.clone().requires_grad_()
        neg = x[1:].detach() if detach else x[1:]
        w = torch.exp(beta * neg) / torch.exp(beta * neg).mean()
        torch.log(torch.exp(x[0]) + (w * torch.exp(x[1:])).sum()).backward()
        grads[detach] = x.grad
    w = torch.exp(beta * row[1:]) / torch.exp(beta * row[1:]).mean()
    e = torch.exp(row)
    d = e[0] + (w * e[1:]).sum()
    torch.testing.assert_close(grads[True][1:], w * e[1:] / d)
    torch.testing.assert_close(
        grads[False][1:], w * ((1 + beta) * e[1:] - beta * (w * e[1:]).mean()) / d
    )
    assert (grads[True][1:] > 0).all()  # every negative is pushed away
    assert grads[False][3] < 0  # the easiest negative would be pulled closer


def test_supcon_matches_pytorch_metric_learning():
    # a test dependency (setup.cfg `test` extra): a missing install fails here instead of skipping
    from pytorch_metric_learning import losses as pml

    _, z, labels = _batch(b=32, v=2, d=16, classes=5, seed=3)
    flat = F.normalize(z.reshape(64, 16), dim=1)
    flat_labels = labels.repeat_interleave(2)
    ref = pml.SupConLoss(temperature=0.1)(flat, flat_labels)
    torch.testing.assert_close(supcon_loss(z, labels, temperature=0.1), ref)
    torch.testing.assert_close(supcon_loss(flat, flat_labels, temperature=0.1), ref)


def test_ce_matches_torch_and_averages_views():
    logits, _, labels = _batch(b=7, v=3, seed=4)
    per_view = [F.cross_entropy(logits[:, v], labels, label_smoothing=0.1) for v in range(3)]
    torch.testing.assert_close(ce_loss(logits, labels, label_smoothing=0.1), sum(per_view) / 3)
    torch.testing.assert_close(ce_loss(logits[:, 0], labels), F.cross_entropy(logits[:, 0], labels))


def test_limits_of_clce():
    logits, z, labels = _batch(b=12, v=2, seed=5)
    assert torch.equal(
        lacln_loss(z, labels, temperature=0.2, beta=0.0), supcon_loss(z, labels, temperature=0.2)
    )
    # through the general (log-weight) path with a vanishing beta
    torch.testing.assert_close(
        lacln_loss(z, labels, temperature=0.2, beta=1e-9), supcon_loss(z, labels, temperature=0.2)
    )
    assert torch.equal(clce_loss(logits, z, labels, lam=0.0), ce_loss(logits, labels))
    assert torch.equal(
        clce_loss(logits, z, labels, lam=1.0, beta=0.7), lacln_loss(z, labels, beta=0.7)
    )
    hybrid = 0.3 * supcon_loss(z, labels, temperature=0.1) + 0.7 * ce_loss(logits, labels)
    torch.testing.assert_close(
        clce_loss(logits, z, labels, lam=0.3, temperature=0.1, beta=0.0), hybrid
    )


@pytest.mark.parametrize("name", ["supcon", "lacln", "clce"])
def test_invariant_to_batch_order(name):
    logits, z, labels = _batch(b=16, v=2, seed=6)
    perm = torch.randperm(16, generator=torch.Generator().manual_seed(0))
    loss = create_loss(name)
    torch.testing.assert_close(
        loss(logits, z, labels).total, loss(logits[perm], z[perm], labels[perm]).total
    )
    # swapping the views of each sample changes nothing either
    torch.testing.assert_close(
        loss(logits, z, labels).total, loss(logits.flip(1), z.flip(1), labels).total
    )


def test_no_positive_pair_gives_attached_zero():
    z = torch.randn(4, 8, requires_grad=True)
    labels = torch.arange(4)
    for loss in (supcon_loss(z, labels), lacln_loss(z, labels, beta=1.0)):
        assert loss.item() == 0.0 and loss.requires_grad
        (g,) = torch.autograd.grad(loss, z)
        assert torch.equal(g, torch.zeros_like(g))
    lone = torch.randn(1, 8, requires_grad=True)
    assert supcon_loss(lone, torch.tensor([3])).requires_grad


def test_batch_of_one_class_has_no_negatives_to_weigh():
    _, z, _ = _batch(b=6, v=2, seed=10)
    labels = torch.zeros(6, dtype=torch.long)
    for detach in (True, False):
        lacln = lacln_loss(z, labels, temperature=0.2, beta=1.0, detach_weights=detach)
        torch.testing.assert_close(lacln, supcon_loss(z, labels, temperature=0.2))
        torch.testing.assert_close(lacln, naive_contrastive(z, labels, 0.2, beta=1.0))


def test_anchors_without_positives_are_left_out_of_the_mean():
    _, z, labels = _batch(b=6, v=0, seed=7)
    labels = torch.tensor([0, 0, 1, 1, 2, 3])  # anchors 4 and 5 have no positive
    torch.testing.assert_close(
        supcon_loss(z, labels, temperature=0.3), naive_contrastive(z, labels, 0.3)
    )
    # the same samples each with a copy: every anchor has a positive now, the value differs
    assert not torch.isclose(
        supcon_loss(z, labels, 0.3), supcon_loss(torch.stack([z, z], 1), labels, 0.3)
    )


def test_bad_inputs_are_named():
    logits, z, labels = _batch(b=4, v=2, seed=8)
    with pytest.raises(ValueError, match="temperature must be a positive number.*got 0"):
        supcon_loss(z, labels, temperature=0)
    assert torch.isfinite(supcon_loss(z, labels, temperature=np.float32(0.1)))
    with pytest.raises(ValueError, match="temperature must be a positive number.*got nan"):
        supcon_loss(z, labels, temperature=float("nan"))
    with pytest.raises(ValueError, match="beta must be a number >= 0.*got -1"):
        lacln_loss(z, labels, beta=-1)
    with pytest.raises(ValueError, match=r"lam must be in \[0, 1\].*got 1.5"):
        clce_loss(logits, z, labels, lam=1.5)
    with pytest.raises(ValueError, match=r"labels must be a tensor \[B\] with B = 4"):
        supcon_loss(z, labels[:3])
    with pytest.raises(ValueError, match=r"z must be a tensor \[B, d\] or \[B, V, d\]; got \(4,\)"):
        supcon_loss(z[:, 0, 0], labels)
    with pytest.raises(ValueError, match="labels must be integer class indices"):
        supcon_loss(z, labels.double())
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\).*got labels from 0 to 5"):
        ce_loss(logits, torch.tensor([0, 1, 2, 5]))


def test_registry_names_and_errors():
    assert list_losses() == [
        "arcface",
        "baselinepp",
        "ce",
        "clce",
        "cosface",
        "lacln",
        "lsce",
        "negmargin",
        "proto",
        "supcon",
    ]
    with pytest.raises(ValueError, match="unknown loss 'triplet'; valid names: arcface"):
        create_loss("triplet")
    with pytest.raises(
        ValueError, match=r"loss 'supcon' does not take beta; it takes temperature \(a number"
    ):
        create_loss("supcon", beta=1.0)
    assert create_loss("clce", lam=0.2, temperature=0.05, beta=1.0, label_smoothing=0.1).lam == 0.2
    with pytest.raises(ValueError, match="needs classifier logits"):
        create_loss("ce")(None, None, torch.zeros(2, dtype=torch.long))


@pytest.mark.parametrize("name", list_losses())
@pytest.mark.parametrize("views", [0, 2])
def test_contract_of_every_registered_loss(name, views):
    logits, z, labels = _batch(b=8, v=views, seed=9, dtype=torch.float32)
    loss = create_loss(name)
    meta = LOSSES.meta(name)
    uses_features = getattr(loss, "uses_features", False)
    assert (getattr(loss, "uses_logits", False), getattr(loss, "uses_projection", False)) == (
        meta["uses_logits"],
        meta["uses_projection"],
    )
    logits = logits.requires_grad_() if meta["uses_logits"] else None
    z = z.requires_grad_() if meta["uses_projection"] else None
    if uses_features:  # the backbone features, in the z slot's shape
        if callable(getattr(loss, "setup", None)):
            loss.setup(num_classes=3, feature_dim=6)
        features = _batch(b=8, v=views, seed=9, dtype=torch.float32)[1].requires_grad_()
        out = loss(logits, z, labels, features=features)
        z = features
    else:
        out = loss(logits, z, labels)
    assert isinstance(out, LossOutput)
    assert out.total.dim() == 0 and torch.isfinite(out.total) and out.total.dtype == torch.float32
    assert out.parts and all(p.dim() == 0 and not p.requires_grad for p in out.parts.values())
    out.total.backward()
    for used, x in ((meta["uses_logits"], logits), (meta["uses_projection"] or uses_features, z)):
        if used:
            assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    if len(out.parts) == 1:
        assert torch.equal(next(iter(out.parts.values())), out.total.detach())


@pytest.mark.parametrize("onehot_max", [0, 1 << 22])
def test_both_class_sum_paths_match_naive_loop(monkeypatch, onehot_max):
    """Class sums by one-hot matmul (small batches) and by index_add_ (many classes x big batches)."""
    from fewshot_clce.losses import _contrastive

    monkeypatch.setattr(_contrastive, "ONEHOT_MAX", onehot_max)
    _, z, labels = _batch(b=11, v=2, classes=4, seed=7)
    z1, z2 = z.clone().requires_grad_(), z.clone().requires_grad_()
    ours, ref = (
        lacln_loss(z1, labels, temperature=0.2, beta=0.7),
        naive_contrastive(z2, labels, 0.2, beta=0.7),
    )
    torch.testing.assert_close(ours, ref)
    ours.backward()
    ref.backward()
    torch.testing.assert_close(z1.grad, z2.grad)


def test_clce_at_training_batch_size_avoids_scatter_and_index_put():
    """On the CPU, scatter_add_ / index_put_ (index_add_ and a gather's backward) are slow in parallel;
    at a training batch (B = 64, two views, 64 classes) the loss runs on matmuls instead."""
    from torch.profiler import ProfilerActivity, profile

    logits, z, labels = _batch(b=64, v=2, d=16, classes=64, dtype=torch.float32)
    z.requires_grad_()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        clce_loss(logits, z, labels).backward()
    ops = {e.key for e in prof.key_averages()}
    assert not ops & {"aten::scatter_add_", "aten::index_add_", "aten::_index_put_impl_"}, sorted(
        ops
    )
