"""The parts of the training loop: seeds, data order, optimizer, schedule, one epoch."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from ..data.transforms import Augment
from ..utils.distributed import DistContext, all_reduce_sum

if TYPE_CHECKING:
    from ..losses.modules import LossOutput

# Stream tags: each kind of randomness gets its own seed derived from (seed, tag, epoch, rank).
ORDER, AUGMENT, MODEL_RNG, INIT = 1, 2, 3, 4


class NonFiniteLossError(ValueError):
    """The loss became NaN or infinite; the run stopped and its last good checkpoint is kept."""


def derive_seed(seed: int, *keys: int) -> int:
    """A 63-bit seed from ``seed`` and integer keys, independent across different keys."""
    return int(
        np.random.SeedSequence([seed, *keys]).generate_state(2, np.uint64)[0] >> np.uint64(1)
    )


def generator(seed: int, *keys: int) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded with :func:`derive_seed`."""
    return torch.Generator().manual_seed(derive_seed(seed, *keys))


def epoch_batches(
    n: int, batch_size: int, seed: int, epoch: int, ctx: DistContext
) -> list[torch.Tensor]:
    """This rank's batches of sample indices for ``epoch`` (drop-last, the same order on every rank).

    The permutation depends only on ``(seed, epoch)``; rank r takes every world_size-th batch
    position, so the processes together see ``steps * batch_size * world_size`` distinct samples.
    """
    perm = torch.randperm(n, generator=generator(seed, ORDER, epoch))
    steps = n // (batch_size * ctx.world_size)
    perm = perm[: steps * batch_size * ctx.world_size].view(
        steps, ctx.world_size, batch_size
    )  # [S, W, B]
    return list(perm[:, ctx.rank])


def epoch_steps(
    n_images: int,
    global_batch: int,
    cap: Optional[int] = None,
    equal_to_batch: Optional[int] = None,
) -> int:
    """Optimizer steps per epoch: one pass over ``n_images`` at ``global_batch``, at most ``cap``,
    and at most the steps of one pass at the global batch ``equal_to_batch`` (equal steps across
    batch sizes)."""
    steps = n_images // global_batch
    if equal_to_batch is not None:
        steps = min(steps, n_images // equal_to_batch)
    return max(1, min(steps, cap or steps))


def build_optimizer(
    model: nn.Module, name: str, lr: float, weight_decay: float, momentum: float
) -> torch.optim.Optimizer:
    """SGD (Nesterov) or AdamW; weight decay on weight matrices and kernels only, not on biases or norms."""
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim <= 1]
    groups = [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=momentum, nesterov=momentum > 0)
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=lr)
    raise ValueError(f"unknown optimizer {name!r}; valid: sgd, adamw")


def build_scheduler(
    optimizer: torch.optim.Optimizer, epochs: int, steps_per_epoch: int, warmup_epochs: float
) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up over ``warmup_epochs``, then cosine decay to zero; stepped every batch."""
    total = epochs * steps_per_epoch
    warm = min(int(round(warmup_epochs * steps_per_epoch)), total)

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        progress = (step - warm) / max(1, total - warm)
        return 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def native_bfloat16(device: torch.device) -> bool:
    """Whether ``device`` computes in bfloat16 natively: CUDA, or a CPU with AVX512-BF16 or AMX."""
    if device.type == "cuda":
        return True
    if device.type != "cpu":
        return False
    try:  # private probes of torch's CPU capabilities; absent in some builds: float32 then
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except AttributeError:
        return False


def resolve_precision(precision: str, device: torch.device) -> str:
    """``"float32"`` or ``"bfloat16"`` for a TrainConfig ``precision`` on ``device``."""
    if precision == "auto":
        return "bfloat16" if native_bfloat16(device) else "float32"
    if precision not in ("float32", "bfloat16"):
        raise ValueError(f"unknown precision {precision!r}; valid: auto, float32, bfloat16")
    return precision


def _autocast(device: torch.device, precision: str):
    """bfloat16 autocast of the forward pass, or full precision; both deterministic on the CPU."""
    if precision == "bfloat16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return nullcontext()


@dataclass
class EpochSetup:
    """What every epoch of a training uses, the same from one epoch to the next.

    Attributes:
        model: maps ``[B * V, C, h, w]`` to a :class:`~fewshot_clce.training.model.ModelOutput`
            (DDP-wrapped under torchrun).
        split: the base split, read with its batched ``get_images``.
        views: augmented views per image.
        grad_clip: bound on the gradient norm; None or 0 leaves it unclipped.
        loader_workers: processes reading the images (0: this one).
        precision: ``"float32"`` or ``"bfloat16"`` autocast of the forward pass.
    """

    model: nn.Module
    loss_fn: nn.Module
    split: Any
    augment: Augment
    views: int
    optimizer: torch.optim.Optimizer
    scheduler: Any
    grad_clip: Optional[float]
    ctx: DistContext
    loader_workers: int = 0
    progress: bool = True
    precision: str = "float32"


def train_epoch(
    setup: EpochSetup, batches: list[torch.Tensor], aug_gen: torch.Generator, epoch: int
) -> dict[str, float]:
    """One pass over ``batches``; returns mean loss, mean parts, images per second and time.

    Raises:
        NonFiniteLossError: at the first step whose loss is NaN or infinite on any rank (before
            the optimizer step, so no weights are touched).
    """
    model, ctx = setup.model, setup.ctx
    optimizer, scheduler = setup.optimizer, setup.scheduler
    model.train()
    device = ctx.device
    sums: Optional[torch.Tensor] = None
    names: list[str] = []
    seen = 0
    bar = tqdm(
        total=len(batches),
        desc=f"epoch {epoch}",
        unit="batch",
        leave=False,
        disable=not (setup.progress and ctx.is_main),
    )
    start = time.perf_counter()
    for step, (images, labels) in enumerate(
        _load(setup.split, batches, setup.loader_workers, device)
    ):
        b = images.shape[0]
        res = _batch_loss(setup, images, labels, aug_gen)
        if not names:
            names = list(res.parts)
        values = torch.stack(
            [res.total.detach().float()]
            + [torch.as_tensor(res.parts[k]).detach().float().to(device) for k in names]
        )
        values = all_reduce_sum(ctx, values) / ctx.world_size  # [1 + parts]
        if not bool(torch.isfinite(values).all()):
            bad = ", ".join(f"{k}={v:.4g}" for k, v in zip(["total", *names], values.tolist()))
            bar.close()
            raise NonFiniteLossError(
                f"loss became non-finite at epoch {epoch}, step {step + 1}/{len(batches)} ({bad}); stopped "
                f"before updating the weights; lower --lr, set --grad-clip, or check the data"
            )
        optimizer.zero_grad(set_to_none=True)
        res.total.backward()
        if setup.grad_clip:
            nn.utils.clip_grad_norm_(model.parameters(), setup.grad_clip)
        optimizer.step()
        scheduler.step()
        sums = values if sums is None else sums + values
        seen += b * ctx.world_size
        bar.update(1)
        bar.set_postfix(loss=f"{values[0].item():.4f}", lr=f"{scheduler.get_last_lr()[0]:.3g}")
    bar.close()
    if device.type == "cuda":  # count the queued kernels of the last step too
        torch.cuda.synchronize(device)
    elapsed = time.perf_counter() - start
    means = (
        (sums / max(1, len(batches))).tolist()
        if sums is not None
        else [float("nan")] * (1 + len(names))
    )
    row = {"loss": means[0], **{f"loss_{k}": v for k, v in zip(names, means[1:])}}
    row.update(images_per_s=seen / elapsed if elapsed > 0 else float("nan"), epoch_time_s=elapsed)
    return row


def _batch_loss(
    setup: EpochSetup, images: torch.Tensor, labels: torch.Tensor, aug_gen: torch.Generator
) -> LossOutput:
    """The loss's output on one batch of ``images [B, C, H, W]``: its augmented views through the
    model in ``setup.precision``, the loss in float32 on the outputs it uses."""
    model, loss_fn, views = setup.model, setup.loss_fn, setup.views
    b = images.shape[0]
    x = setup.augment(images, views, aug_gen)  # [B, V, C, h, w]
    x = x.flatten(0, 1)  # [B * V, C, h, w]
    x = x.contiguous(memory_format=torch.channels_last)  # as the model's weights (trainer)
    with _autocast(setup.ctx.device, setup.precision):
        out = model(x)
    # Losses run in float32: contrastive terms are sensitive to bfloat16 rounding.
    logits = (
        out.logits.float().view(b, views, -1) if out.logits is not None else None
    )  # [B, V, classes]
    z = out.z.float().view(b, views, -1) if out.z is not None else None  # [B, V, d]
    inputs = (
        logits if getattr(loss_fn, "uses_logits", False) else None,
        z if getattr(loss_fn, "uses_projection", False) else None,
        labels,
    )
    if getattr(loss_fn, "uses_features", False):
        return loss_fn(*inputs, features=out.features.float().view(b, views, -1))  # [B, V, D]
    return loss_fn(*inputs)


def _load(
    split, batches: list[torch.Tensor], workers: int, device: torch.device
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """``(images [B, C, H, W], labels [B])`` on ``device`` per batch; ``workers`` read files in parallel."""
    dataset = _BatchReader(split, batches)
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=None,
        shuffle=False,
        num_workers=workers,
        pin_memory=device.type == "cuda",
    )
    for images, labels in loader:
        yield images.to(device, non_blocking=True), labels.to(device, non_blocking=True)


class _BatchReader(torch.utils.data.Dataset):
    """Item i is the whole i-th batch, read with the split's batched ``get_images``."""

    def __init__(self, split, batches: list[torch.Tensor]):
        self.split = split
        self.batches = batches

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        idx = self.batches[i].numpy()
        return self.split.get_images(idx), torch.from_numpy(self.split.labels[idx])
