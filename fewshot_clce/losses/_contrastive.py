"""The shared core of SupCon and LACLN: one similarity matmul, masks built once, log space.

Notation (DESIGN.md): z_i is an L2-normalised embedding, s_ik = z_i·z_k, P(i) the other
samples (other views included) with i's label, N(i) the samples with another label. The
per-anchor loss is

    l_i = -1/|P(i)| Σ_{p∈P(i)} s_ip/τ + log D_i,
    D_i = Σ_{p∈P(i)} exp(s_ip/τ) + Σ_{k∈N(i)} w_ik exp(s_ik/τ),

with w_ik = 1 for SupCon and w_ik = exp(β s_ik/τ) / mean_{n∈N(i)} exp(β s_in/τ) for LACLN.
Since log w_ik = β s_ik/τ - log mean_{n∈N(i)} exp(β s_in/τ) is linear in s_ik, log D_i is a
single logsumexp over a≠i of s_ia/τ + [a∈N(i)] log w_ia; nothing is exponentiated outside a
logsumexp, so no overflow at small τ.
"""

from __future__ import annotations

import math
import numbers
from typing import TypeGuard

import torch
import torch.nn.functional as F
from torch import Tensor

from . import _denominator, distributed

#: Low-precision inputs are upcast: a logsumexp over thousands of terms in bfloat16 (8-bit
#: mantissa) at τ = 0.05 loses about 0.1 in each logit.
_UPCAST = (torch.float16, torch.bfloat16)


def _is_number(x: object) -> TypeGuard[float]:
    return isinstance(x, numbers.Real) and not isinstance(x, bool) and math.isfinite(x)


def check_temperature(temperature: object) -> None:
    if not (_is_number(temperature) and temperature > 0):
        raise ValueError(f"temperature must be a positive number (e.g. 0.1); got {temperature!r}")


def check_beta(beta: object) -> None:
    if not (_is_number(beta) and beta >= 0):
        raise ValueError(
            f"beta must be a number >= 0 (0 turns the hard-negative weights off); got {beta!r}"
        )


def check_lam(lam: object) -> None:
    if not (_is_number(lam) and 0.0 <= lam <= 1.0):
        raise ValueError(f"lam must be in [0, 1] (0 is plain CE, 1 is plain LACLN); got {lam!r}")


def check_smoothing(label_smoothing: object) -> None:
    if not (_is_number(label_smoothing) and 0.0 <= label_smoothing < 1.0):
        raise ValueError(
            f"label_smoothing must be in [0, 1) (0 turns it off); got {label_smoothing!r}"
        )


def flatten_views(z: Tensor, labels: Tensor, what: str = "z") -> tuple[Tensor, Tensor]:
    """Check shapes and turn views into samples.

    Args:
        z: [B, d] or [B, V, d]; the V views of one sample share its label.
        labels: [B] integer class labels.

    Returns:
        ``(z [B*V, d], labels [B*V])`` (V = 1 for a 2-D ``z``), sample-major.
    """
    if not isinstance(z, Tensor) or z.dim() not in (2, 3):
        shape = tuple(z.shape) if isinstance(z, Tensor) else type(z).__name__
        raise ValueError(f"{what} must be a tensor [B, d] or [B, V, d]; got {shape}")
    if not isinstance(labels, Tensor) or labels.dim() != 1 or labels.shape[0] != z.shape[0]:
        shape = tuple(labels.shape) if isinstance(labels, Tensor) else type(labels).__name__
        raise ValueError(
            f"labels must be a tensor [B] with B = {z.shape[0]} ({what} is {tuple(z.shape)}); got {shape}"
        )
    if labels.dtype.is_floating_point or labels.dtype.is_complex or labels.dtype == torch.bool:
        raise ValueError(f"labels must be integer class indices (int64); got dtype {labels.dtype}")
    if z.dim() == 3:
        views = z.shape[1]
        z = z.reshape(-1, z.shape[-1])  # [B*V, d], the views of sample b at rows b*V .. b*V+V-1
        labels = labels.repeat_interleave(views)  # [B*V]
    return z, labels.long()


def contrastive_loss(
    z: Tensor, labels: Tensor, temperature: float, beta: float = 0.0, detach_weights: bool = True
) -> Tensor:
    """SupCon (``beta == 0``) or LACLN (``beta > 0``) averaged over anchors with positives.

    Args:
        z: projections [B, d] or [B, V, d], normalised here.
        labels: [B] class labels.
        temperature: τ > 0.
        beta: β >= 0, hardness of the negative weights.
        detach_weights: treat w_ik as constants in the backward pass (see ``lacln_loss``).

    Returns:
        Scalar loss, float32 for half/bfloat16 inputs. Under ``torch.distributed`` the anchors
        are the local samples and the contrast set is the global batch; the local loss is
        scaled by world_size / (global number of anchors with positives), so the mean of the
        ranks' losses equals the single-process loss on the whole batch and DDP's averaged
        gradients equal the single-process gradients.
    """
    check_temperature(temperature)
    check_beta(beta)
    anchors, anchor_labels = flatten_views(z, labels)
    if anchors.dtype in _UPCAST:
        anchors = anchors.float()
    # under mixed precision the matmul would run in half precision again: keep float32
    with torch.autocast(anchors.device.type, enabled=False):
        return _contrastive(anchors, anchor_labels, temperature, beta, detach_weights)


def _contrastive(
    anchors: Tensor, anchor_labels: Tensor, temperature: float, beta: float, detach_weights: bool
) -> Tensor:
    """``contrastive_loss`` on flattened inputs: anchors [n, d] (not yet normalised), labels [n]."""
    anchors = F.normalize(anchors, dim=-1)  # [n, d]
    contrast, contrast_labels, offset = distributed.gather(anchors, anchor_labels)  # [m, d], [m]
    n, m = anchors.shape[0], contrast.shape[0]
    size_count = distributed.world()[0]
    if m < 2:  # a lone sample has neither positives nor a denominator
        return anchors.sum() * 0.0

    # Σ_{p∈P(i)} s_ip = z_i·(sum of i's class) - z_i·z_i: O((n+m) d) instead of an [n, m] mask.
    classes, contrast_class = torch.unique(contrast_labels, return_inverse=True)
    anchor_class = contrast_class[offset : offset + n]
    class_count = torch.bincount(contrast_class, minlength=classes.shape[0])
    own_class_sum = _own_class_sum(contrast, contrast_class, classes.shape[0], offset, n)  # [n, d]
    positive_count = class_count[anchor_class] - 1  # [n]
    positive_sum = (anchors * (own_class_sum - anchors)).sum(-1) / temperature  # [n]

    negative_count = m - class_count[anchor_class]  # [n]
    if beta > 0 and not detach_weights:
        log_denominator = _differentiated_log_denominator(
            anchors / temperature,
            contrast,
            anchor_labels,
            contrast_labels,
            negative_count,
            beta,
            offset,
        )
    else:
        log_denominator = _denominator.log_denominator(
            anchors / temperature,
            contrast,
            anchor_labels,
            contrast_labels,
            negative_count,
            beta,
            offset,
        )

    has_positive = positive_count > 0
    per_anchor = log_denominator - positive_sum / positive_count.clamp_min(1)  # [n]
    anchor_count = distributed.global_sum(has_positive.sum())
    total = torch.where(has_positive, per_anchor, torch.zeros_like(per_anchor)).sum()
    # a batch without any positive pair sums only zeros: 0, still on the graph
    return total * (size_count / anchor_count.clamp_min(1).to(total.dtype))


#: Above this many entries of the [classes, m] one-hot matrix, class sums use index_add_ instead.
ONEHOT_MAX = 1 << 22


def _own_class_sum(
    contrast: Tensor, contrast_class: Tensor, classes: int, offset: int, n: int
) -> Tensor:
    """Σ_{k: y_k = y_i} z_k for each anchor i (itself included).

    Args:
        contrast: z_k [m, d]; contrast_class: class index of each row [m], in ``0 .. classes-1``.
        offset, n: the anchors are rows ``offset .. offset+n-1`` of ``contrast``.

    Returns:
        [n, d].
    """
    m = contrast.shape[0]
    if classes * m > ONEHOT_MAX:  # many classes in a big batch: a one-hot matrix would not fit well
        class_sum = contrast.new_zeros(classes, contrast.shape[1]).index_add_(
            0, contrast_class, contrast
        )
        return class_sum[contrast_class[offset : offset + n]]
    # Two small matmuls, forward and backward: on the CPU index_add_ runs as scatter_add_ and the
    # gather's backward as index_put_, both slow in parallel (at B = 64 they cost more than the
    # rest of the loss on two threads).
    onehot = contrast_class[None, :] == torch.arange(classes, device=contrast.device)[:, None]
    onehot = onehot.to(contrast.dtype)  # [classes, m]
    class_sum = onehot @ contrast  # [classes, d]
    return onehot[:, offset : offset + n].T @ class_sum  # [n, d]


def _differentiated_log_denominator(
    anchors: Tensor,
    contrast: Tensor,
    anchor_labels: Tensor,
    contrast_labels: Tensor,
    negative_count: Tensor,
    beta: float,
    offset: int,
) -> Tensor:
    """``_denominator.log_denominator`` differentiated through the weights w_ik, by autograd.

    Slower and heavier than the default path; every intermediate stays finite (rows without
    negatives keep all their entries in the weights' logsumexp) so the gradient does too.
    """
    logits = anchors @ contrast.T  # [n, m]
    negative = anchor_labels[:, None] != contrast_labels[None, :]  # [n, m]
    keep = negative | (negative_count == 0)[:, None]
    scaled = (logits * beta).masked_fill(~keep, -math.inf)
    log_mean = (
        torch.logsumexp(scaled, dim=1, keepdim=True)
        - negative_count.clamp_min(1).to(logits.dtype).log()[:, None]
    )
    logits = logits + (scaled - log_mean).masked_fill(~negative, 0.0)
    logits.diagonal(offset).fill_(-math.inf)
    return torch.logsumexp(logits, dim=1)  # [n]
