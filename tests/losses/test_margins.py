"""The field's standard losses (Baseline++, NegMargin, CosFace, ArcFace, ProtoNet's loss,
label-smoothed CE, the PML adapter) against naive loops written from their papers' formulas."""

import math

import pytest
import torch

from fewshot_clce.losses import create_loss
from fewshot_clce.losses.declare import declared


def _features(b=6, v=2, d=5, classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    features = torch.randn(b, v, d, generator=g)
    labels = torch.tensor([i % classes for i in range(b)])
    return features, labels


def naive_cosine_softmax(features, labels, weight, scale, margin, kind):
    """One sample at a time: cosines by hand, the margin on the label's logit, -log softmax."""
    views = features.shape[1]
    total, count = 0.0, 0
    for i in range(features.shape[0]):
        for v in range(views):
            f = features[i, v].tolist()
            f_norm = math.sqrt(sum(x * x for x in f))
            logits = []
            for c in range(weight.shape[0]):
                w = weight[c].tolist()
                w_norm = math.sqrt(sum(x * x for x in w))
                cos = sum(a * b for a, b in zip(f, w)) / (f_norm * w_norm)
                if c == int(labels[i]):
                    if kind == "arc":
                        cos = math.cos(math.acos(cos) + margin)
                    else:
                        cos = cos - margin
                logits.append(scale * cos)
            top = max(logits)
            log_sum = top + math.log(sum(math.exp(x - top) for x in logits))
            total += log_sum - logits[int(labels[i])]
            count += 1
    return total / count


@pytest.mark.parametrize(
    "name, margin, kind",
    [
        ("baselinepp", 0.0, "add"),
        ("negmargin", -0.05, "add"),
        ("cosface", 0.35, "add"),
        ("arcface", 0.5, "arc"),
    ],
)
def test_cosine_classifier_losses_match_naive_loop(name, margin, kind):
    features, labels = _features(seed=1)
    options = {"scale": 7.0} if name == "baselinepp" else {"scale": 7.0, "margin": margin}
    loss = create_loss(name, **options)
    loss.setup(num_classes=3, feature_dim=5)
    out = loss(None, None, labels, features=features)
    expected = naive_cosine_softmax(features, labels, loss.weight.detach(), 7.0, margin, kind)
    assert out.total.item() == pytest.approx(expected, rel=1e-5)
    out.total.backward()
    assert loss.weight.grad is not None and loss.weight.grad.abs().sum() > 0
    # the margin matters: without it the value is another
    if margin:
        plain = naive_cosine_softmax(features, labels, loss.weight.detach(), 7.0, 0.0, "add")
        assert abs(plain - expected) > 1e-3


def test_baselinepp_learns_its_scale_the_others_keep_theirs():
    features, labels = _features(seed=2)
    learned = create_loss("baselinepp", scale=4.0)
    learned.setup(3, 5)
    learned(None, None, labels, features=features).total.backward()
    assert learned.scale.requires_grad and learned.scale.grad.abs() > 0
    assert {n for n, _ in learned.named_parameters()} == {"scale", "weight"}
    fixed = create_loss("cosface")
    fixed.setup(3, 5)
    assert {n for n, _ in fixed.named_parameters()} == {"weight"}


def naive_proto(features, labels, scale):
    """Each sample a query; prototypes the class means of the other samples (its own excluded)."""
    x = features.reshape(-1, features.shape[-1]).tolist()
    y = labels.repeat_interleave(features.shape[1]).tolist()
    classes = sorted(set(y))
    total, count = 0.0, 0
    for i in range(len(x)):
        members = {c: [x[j] for j in range(len(x)) if y[j] == c and j != i] for c in classes}
        if not members[y[i]]:
            continue
        logits = []
        for c in classes:
            proto = [sum(col) / len(members[c]) for col in zip(*members[c])]
            logits.append(-scale * sum((a - b) ** 2 for a, b in zip(x[i], proto)))
        top = max(logits)
        total += (
            top + math.log(sum(math.exp(v - top) for v in logits)) - logits[classes.index(y[i])]
        )
        count += 1
    return total / count


@pytest.mark.parametrize("views", [1, 2])
def test_proto_loss_matches_naive_loop(views):
    features, labels = _features(b=7, v=views, d=4, seed=3)
    labels = torch.tensor(
        [0, 0, 1, 1, 2, 2, 5]
    )  # with one view, class 5 has no other sample: no query
    loss = create_loss("proto", scale=0.3)
    out = loss(None, None, labels, features=features)
    assert out.total.item() == pytest.approx(naive_proto(features, labels, 0.3), rel=1e-5)


def test_label_smoothed_ce_matches_naive_loop():
    g = torch.Generator().manual_seed(4)
    logits, labels = torch.randn(5, 2, 4, generator=g), torch.tensor([0, 1, 2, 3, 1])
    loss = create_loss("lsce")
    assert loss.label_smoothing == 0.1
    expected, count = 0.0, 0
    for i in range(5):
        for v in range(2):
            row = logits[i, v].tolist()
            log_z = math.log(sum(math.exp(x) for x in row))
            target = [0.1 / 4 + (0.9 if c == int(labels[i]) else 0.0) for c in range(4)]
            expected += -sum(t * (x - log_z) for t, x in zip(target, row))
            count += 1
    assert loss(logits, None, labels).total.item() == pytest.approx(expected / count, rel=1e-6)


def test_every_default_grid_brackets_its_default():
    from fewshot_clce.losses import LOSSES

    for name in LOSSES.list():
        for h in declared(LOSSES.get(name)).values():
            if h.grid:  # values on both sides of the default, the default among them
                assert min(h.grid) < h.default < max(h.grid) and h.default in h.grid, (
                    name,
                    h.name,
                    h.grid,
                )
    for name in ("lsce", "baselinepp", "negmargin", "cosface", "arcface", "proto"):
        assert any(h.grid for h in declared(LOSSES.get(name)).values()), name


def test_pml_adapter_is_pml_on_the_features():
    pml_losses = pytest.importorskip("pytorch_metric_learning.losses")
    features, labels = _features(b=8, v=2, d=6, seed=5)
    adapter = create_loss("pml:ArcFaceLoss[margin=20]")
    adapter.setup(num_classes=3, feature_dim=6)
    direct = pml_losses.ArcFaceLoss(num_classes=3, embedding_size=6, margin=20)
    direct.load_state_dict(adapter.loss.state_dict())
    flat, flat_labels = features.reshape(16, 6), labels.repeat_interleave(2)
    out = adapter(None, None, labels, features=features)
    torch.testing.assert_close(out.total, direct(flat, flat_labels))
    assert [n for n, _ in adapter.named_parameters()] == ["loss.W"]

    triplet = create_loss("pml:TripletMarginLoss[miner=triplet,margin=0.2]")
    assert triplet.miner is not None
    features.requires_grad_()
    out = triplet(None, None, labels, features=features)
    out.total.backward()
    assert torch.isfinite(out.total) and features.grad.abs().sum() > 0
