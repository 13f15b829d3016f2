"""torch.distributed plumbing for ``train``: process group set-up under torchrun, rank helpers."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Optional

import torch
import torch.distributed as dist

# Exceptions a rank-0 failure may be re-raised as on every rank (others become RuntimeError).
_RERAISE = {
    cls.__name__: cls
    for cls in (ValueError, FileExistsError, FileNotFoundError, PermissionError, OSError, KeyError)
}


@dataclass
class DistContext:
    """Where this process stands: ``rank`` of ``world_size`` processes, on ``device``."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    owns_group: bool = (
        False  # True when this module created the process group (and must destroy it)
    )

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto`` -> ``cuda:<local_rank>`` when a GPU is visible, else ``cpu``; other names as given.

    Raises:
        ValueError: for a CUDA device when no GPU is visible.
    """
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise ValueError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device {name!r} requested but no CUDA GPU is visible; use --device cpu"
            )
        if device.index is None:
            device = torch.device("cuda", local_rank)
        if device.index >= torch.cuda.device_count():
            raise ValueError(
                f"device {str(device)!r} requested but only {torch.cuda.device_count()} CUDA "
                f"GPU(s) are visible (cuda:0 to cuda:{torch.cuda.device_count() - 1})"
            )
    return device


def init_distributed(device: str) -> DistContext:
    """Join the process group torchrun describes (``WORLD_SIZE`` > 1), or run as a single process.

    Uses NCCL on GPUs and gloo on CPUs. A process group that already exists (the caller set it up)
    is used as it is.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = resolve_device(device, local_rank)
    if dist.is_available() and dist.is_initialized():
        return DistContext(
            dist.get_rank(), dist.get_world_size(), local_rank, dev, owns_group=False
        )
    if world <= 1:
        return DistContext(device=dev)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
    return DistContext(dist.get_rank(), dist.get_world_size(), local_rank, dev, owns_group=True)


def shutdown_distributed(ctx: DistContext) -> None:
    if ctx.owns_group and dist.is_initialized():
        dist.destroy_process_group()


def broadcast_from_main(ctx: DistContext, obj: Any) -> Any:
    """Rank 0's ``obj`` on every rank (pickled; only for small objects and trusted peers)."""
    if not ctx.distributed:
        return obj
    box: list[Any] = [obj if ctx.is_main else None]
    dist.broadcast_object_list(box, src=0, device=ctx.device if ctx.device.type == "cuda" else None)
    return box[0]


def run_on_main(ctx: DistContext, fn, *args, **kwargs) -> Any:
    """Run ``fn`` on rank 0 only and give its result to every rank; its exception is raised on all."""
    result: dict[str, Any] = {}
    error: Optional[BaseException] = None
    if ctx.is_main:
        try:
            result = {"ok": fn(*args, **kwargs)}
        except Exception as e:  # raised below on every rank alike, the original one on rank 0
            if not ctx.distributed:
                raise
            error = e
            result = {"error": (type(e).__name__, str(e))}
    result = broadcast_from_main(ctx, result)
    if error is not None:
        raise error
    if "error" in result:
        name, message = result["error"]
        raise _RERAISE.get(name, RuntimeError)(message)
    return result["ok"]


def all_reduce_sum(ctx: DistContext, t: torch.Tensor) -> torch.Tensor:
    """Sum of ``t`` over all ranks (``t`` itself on a single process)."""
    if ctx.distributed:
        t = t.clone()
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def maybe_seeded_devices(device: torch.device) -> Optional[list]:
    """Devices whose RNG state ``torch.random.fork_rng`` must protect."""
    if device.type != "cuda":
        return []
    return [device.index if device.index is not None else torch.cuda.current_device()]
