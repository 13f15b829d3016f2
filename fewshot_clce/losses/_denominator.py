"""log D_i of SupCon / LACLN in one autograd function: one matmul, in-place passes, no copies.

torch.logsumexp on the CPU allocates a shifted copy of its input and its backward recomputes
exp(x - lse) in two more [n, m] tensors; at B = 4096 with two views that is 8192 x 8192 floats
each. Here the forward exponentiates the similarity matrix in place, keeps it, and the backward
is one scaling of that matrix followed by the two matmuls of the similarity's gradient.

The hard-negative weights are constants here (``detach_weights=True``); the fully
differentiated variant goes through plain autograd in ``_contrastive``.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable


class _LogDenominator(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx,
        anchors: Tensor,
        contrast: Tensor,
        same: Optional[Tensor],
        negative_count: Tensor,
        beta: float,
        offset: int,
    ) -> Tensor:
        x = anchors @ contrast.T  # [n, m], s_ia / τ (anchors carry the 1/τ)
        if same is not None:  # given exactly when beta > 0
            x.add_(_log_weights(x, same, negative_count, beta))
        x.diagonal(offset).fill_(-math.inf)  # the self-pair of anchor i is column offset + i
        row_max = x.amax(dim=1, keepdim=True)  # [n, 1], finite: each row keeps m - 1 >= 1 entries
        x.sub_(row_max).exp_()  # [n, m], exp(x - max), 0 on the self-pair
        total = x.sum(dim=1, keepdim=True)  # [n, 1], >= 1
        ctx.save_for_backward(anchors, contrast, x, total)
        return (row_max + total.log()).squeeze(1)  # [n]

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor):
        anchors, contrast, x, total = ctx.saved_tensors
        softmax_grad = x * (grad[:, None] / total)  # [n, m], d loss / d x
        grad_anchors = softmax_grad @ contrast if ctx.needs_input_grad[0] else None
        grad_contrast = softmax_grad.T @ anchors if ctx.needs_input_grad[1] else None
        return grad_anchors, grad_contrast, None, None, None, None


def log_denominator(
    anchors: Tensor,
    contrast: Tensor,
    anchor_labels: Tensor,
    contrast_labels: Tensor,
    negative_count: Tensor,
    beta: float,
    offset: int,
) -> Tensor:
    """log D_i for every anchor, the weights w_ik held constant in the backward pass.

    Args:
        anchors: z_i / τ [n, d] (normalised, then divided by τ).
        contrast: z_k [m, d] (normalised), the anchors at rows offset .. offset + n - 1.
        anchor_labels: [n]; contrast_labels: [m].
        negative_count: |N(i)| [n].
        beta: β >= 0; 0 gives SupCon's denominator.
        offset: row of the first anchor in ``contrast``.

    Returns:
        [n]: log( Σ_{p∈P(i)} exp(s_ip/τ) + Σ_{k∈N(i)} w_ik exp(s_ik/τ) ).
    """
    same = anchor_labels[:, None] == contrast_labels[None, :] if beta > 0 else None  # [n, m]
    return _LogDenominator.apply(anchors, contrast, same, negative_count, beta, offset)


def _log_weights(x: Tensor, same: Tensor, negative_count: Tensor, beta: float) -> Tensor:
    """log w_ik = β x_ik - log mean_{n∈N(i)} exp(β x_in) on negatives, 0 on the rest [n, m].

    Args:
        x: s/τ [n, m]; same: [n, m] True where k has i's label (k = i included).
    """
    t = torch.mul(x, beta).masked_fill_(same, -math.inf)  # [n, m], β s/τ on negatives only
    row_max = t.amax(dim=1, keepdim=True)  # [n, 1]; -inf for a row without negatives
    row_max = torch.where(torch.isfinite(row_max), row_max, torch.zeros_like(row_max))
    log_mean = row_max + t.sub_(row_max).exp_().sum(dim=1, keepdim=True).log()  # [n, 1]
    log_mean -= negative_count.clamp_min(1).to(x.dtype).log()[:, None]
    # reuse t: β x - log_mean, zero where k shares i's label
    return torch.add(-log_mean, x, alpha=beta, out=t).masked_fill_(same, 0.0)
