"""The field's standard few-shot training losses on backbone features.

Cosine-softmax classifiers with class weights of their own (trained and saved with the model:
the trainer calls :meth:`setup` with the number of base classes and the feature width), and
the prototypical loss on the batch itself. With f the L2-normalised feature of a sample, w_c the
L2-normalised weight of class c, cos_c = f·w_c, θ_y = arccos(cos_y) for the sample's label y:

- Baseline++ (Chen et al. 2019): logits s·cos_c with a learnable scale s.
- NegMargin (Liu et al. 2020): s·(cos_c − m·[c = y]) with a negative margin m.
- CosFace (Wang et al. 2018): s·(cos_c − m·[c = y]), m > 0.
- ArcFace (Deng et al. 2019): s·cos(θ_y + m) for the label, s·cos_c for the others.
- ProtoNet's objective (Snell et al. 2017) on in-batch episodes: each sample is a query against
  the class means of the batch (its own class's mean without itself), logits −scale·‖x − p_c‖².

Every view of a sample is a sample with its label.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .declare import HyperParam
from .modules import FeatureLoss


def _scale(default: float, grid=()) -> HyperParam:
    return HyperParam(
        "scale",
        float,
        default,
        grid=tuple(grid),
        low=0.0,
        low_open=True,
        label="s",
        scale="log",
        help="scale s of the cosine logits",
    )


def _margin(default: float, grid, low: Optional[float], high: Optional[float]) -> HyperParam:
    return HyperParam(
        "margin",
        float,
        default,
        grid=tuple(grid),
        low=low,
        high=high,
        label="m",
        help="margin m on the label's logit",
    )


class _CosineClassifierLoss(FeatureLoss):
    """Cross-entropy on ``scale x`` (margin-adjusted) cosines against learned class weights."""

    needs_classes = True
    learn_scale = False

    def __init__(self, scale: float, margin: float = 0.0):
        super().__init__()
        self.margin = float(margin)
        self.weight: Optional[nn.Parameter] = None
        if self.learn_scale:
            self.scale = nn.Parameter(torch.tensor(float(scale)))
        else:
            self.register_buffer("scale", torch.tensor(float(scale)), persistent=False)

    def setup(self, num_classes: int, feature_dim: int) -> None:
        """Create the class weights ``[num_classes, feature_dim]``."""
        generator = torch.Generator().manual_seed(0)
        self.weight = nn.Parameter(
            torch.randn(num_classes, feature_dim, generator=generator) / math.sqrt(feature_dim)
        )

    def cosines(self, features: Tensor) -> Tensor:
        """features [N, D] -> cos [N, C]."""
        if self.weight is None:
            raise ValueError(
                f"loss {self.name!r} has class weights: call setup(num_classes, feature_dim) first"
            )
        return F.normalize(features.float(), dim=-1) @ F.normalize(self.weight, dim=-1).T

    def target_logit(self, cos_y: Tensor) -> Tensor:
        """The label's cosine after the margin: cos_y [N] -> [N]."""
        return cos_y - self.margin

    def loss_of_features(self, features: Tensor, labels: Tensor) -> Tensor:
        """features [N, D]; labels [N]."""
        cos = self.cosines(features)  # [N, C]
        target = self.target_logit(cos.gather(1, labels[:, None]).squeeze(1))  # [N]
        adjusted = cos.scatter(1, labels[:, None], target[:, None])  # [N, C]
        return F.cross_entropy(self.scale * adjusted, labels)


class BaselinePPLoss(_CosineClassifierLoss):
    """Baseline++: a cosine classifier whose scale is learned, starting from ``scale``."""

    name = "baselinepp"
    learn_scale = True
    hyperparams = (_scale(10.0, (2.0, 10.0, 30.0)),)

    def __init__(self, scale: float = 10.0):
        super().__init__(scale)


class NegMarginLoss(_CosineClassifierLoss):
    """Cosine softmax with a negative margin on the label's logit (Liu et al. 2020)."""

    name = "negmargin"
    hyperparams = (_scale(5.0), _margin(-0.02, (-0.05, -0.02, -0.01), None, 0.0))

    def __init__(self, scale: float = 5.0, margin: float = -0.02):
        super().__init__(scale, margin)


class CosFaceLoss(_CosineClassifierLoss):
    """Additive-margin cosine softmax, CosFace (s = 64, m = 0.35 published)."""

    name = "cosface"
    hyperparams = (_scale(64.0), _margin(0.35, (0.2, 0.35, 0.5), 0.0, 1.0))

    def __init__(self, scale: float = 64.0, margin: float = 0.35):
        super().__init__(scale, margin)


class ArcFaceLoss(_CosineClassifierLoss):
    """Additive angular-margin softmax, ArcFace (s = 64, m = 0.5 published)."""

    name = "arcface"
    hyperparams = (_scale(64.0), _margin(0.5, (0.3, 0.5, 0.7), 0.0, math.pi / 2))

    def __init__(self, scale: float = 64.0, margin: float = 0.5):
        super().__init__(scale, margin)

    def target_logit(self, cos_y: Tensor) -> Tensor:
        # arccos has an infinite slope at ±1: keep the cosine just inside
        theta = torch.acos(cos_y.clamp(-1 + 1e-6, 1 - 1e-6))
        return torch.cos(theta + self.margin)


class ProtoLoss(FeatureLoss):
    """ProtoNet's objective on the batch as an episode (see the module docstring).

    Samples whose class has no other sample in the batch are no queries; a batch without any
    query gives 0, attached to the graph.
    """

    name = "proto"
    hyperparams = (
        HyperParam(
            "scale",
            float,
            1.0,
            grid=(0.1, 1.0, 10.0),
            low=0.0,
            low_open=True,
            label="s",
            scale="log",
            help="factor of the negative squared distances in the logits",
        ),
    )

    def __init__(self, scale: float = 1.0):
        super().__init__()
        self.scale = float(scale)

    def loss_of_features(self, features: Tensor, labels: Tensor) -> Tensor:
        """features [N, D]; labels [N]."""
        x, y = features.float(), labels
        classes, y_idx = torch.unique(y, return_inverse=True)  # y_idx [N] in 0 .. C-1
        onehot = F.one_hot(y_idx, classes.shape[0]).to(x.dtype)  # [N, C]
        counts = onehot.sum(0)  # [C]
        sums = onehot.T @ x  # [C, D]
        protos = sums / counts[:, None]  # [C, D]
        dist = torch.cdist(x, protos).pow(2)  # [N, C]
        own_count = counts[y_idx] - 1  # [N]
        own_proto = (sums[y_idx] - x) / own_count.clamp_min(1)[:, None]  # [N, D], leave-one-out
        own_dist = (x - own_proto).pow(2).sum(-1)  # [N]
        dist = dist.scatter(1, y_idx[:, None], own_dist[:, None])
        query = own_count > 0
        per = F.cross_entropy(-self.scale * dist, y_idx, reduction="none")  # [N]
        return torch.where(query, per, torch.zeros_like(per)).sum() / query.sum().clamp_min(1)
