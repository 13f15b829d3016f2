"""Gathering embeddings across ``torch.distributed`` ranks for the contrastive losses.

The contrastive terms need every sample of the global batch in each anchor's denominator.
Each rank gathers the (normalised) embeddings of all ranks; the backward pass sums the
gradient that every rank's loss sends to a sample and hands it to the rank that owns the
sample, so each rank's embeddings receive the gradient of the *sum* of all ranks' losses.
Ranks may hold different numbers of samples (a last, smaller batch): tensors are padded to
the largest size for the collective and trimmed afterwards.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor


def world() -> tuple[int, int]:
    """``(world_size, rank)`` of the default process group, ``(1, 0)`` when not distributed."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size(), dist.get_rank()
    return 1, 0


def _sizes(n: int, device: torch.device) -> list[int]:
    """The first-dimension size of the local tensor on every rank."""
    size_count = world()[0]
    mine = torch.tensor([n], dtype=torch.int64, device=device)
    sizes = [torch.zeros_like(mine) for _ in range(size_count)]
    dist.all_gather(sizes, mine)
    return [int(s.item()) for s in sizes]


def _all_gather_padded(x: Tensor, sizes: list[int]) -> Tensor:
    """Concatenate ``x`` [n_r, ...] of every rank along dim 0 -> [sum(sizes), ...] (no gradient)."""
    largest = max(sizes)
    padded = x.new_zeros((largest,) + tuple(x.shape[1:]))
    padded[: x.shape[0]] = x
    parts = [torch.empty_like(padded) for _ in sizes]
    dist.all_gather(parts, padded.contiguous())
    return torch.cat([p[:s] for p, s in zip(parts, sizes)], dim=0)


class _GatherWithGradient(torch.autograd.Function):
    """all_gather whose backward sums the gradients of all ranks and returns the own slice."""

    @staticmethod
    def forward(ctx, x: Tensor, sizes: list[int], rank: int) -> Tensor:
        ctx.sizes, ctx.rank = sizes, rank
        return _all_gather_padded(x, sizes)

    @staticmethod
    def backward(ctx, grad: Tensor):
        # grad: [sum(sizes), d]; every rank's loss may depend on every sample.
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        start = sum(ctx.sizes[: ctx.rank])
        return grad[start : start + ctx.sizes[ctx.rank]], None, None


def gather(z: Tensor, labels: Tensor) -> tuple[Tensor, Tensor, int]:
    """Embeddings and labels of the whole (global) batch.

    Args:
        z: local embeddings [n, d].
        labels: local labels [n].

    Returns:
        ``(z_all [m, d], labels_all [m], offset)``: the global batch in rank order and the
        position of this rank's first sample in it. Without an initialised process group (or
        with one process) these are the inputs and 0. ``z_all`` carries gradients back to the
        ranks that own the samples (see the module docstring).
    """
    size_count, rank = world()
    if size_count == 1:
        return z, labels, 0
    sizes = _sizes(z.shape[0], z.device)
    z_all = _GatherWithGradient.apply(z, sizes, rank)
    labels_all = _all_gather_padded(labels, sizes)
    return z_all, labels_all, sum(sizes[:rank])


def global_sum(x: Tensor) -> Tensor:
    """Sum of a (gradient-free) tensor over all ranks; the tensor itself when not distributed."""
    if world()[0] == 1:
        return x
    x = x.detach().clone()
    dist.all_reduce(x, op=dist.ReduceOp.SUM)
    return x
