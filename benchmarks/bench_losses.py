"""Forward + backward time of supcon, lacln and clce against pytorch-metric-learning's SupConLoss.

Same inputs for all ([B, 2, d] projections, two views, labels from ``--classes`` classes; the
peer gets the [2B, d] flattened projections and repeated labels and normalises them itself).
Measurements are interleaved (peer, supcon, lacln, clce, peer, ...) so a load on the machine
hits all alike; each figure is the median of ``--repeats`` runs. Uses torch's default number
of threads. The last line reads ``time vs pml at B=4096: supcon 0.8x, lacln 1.1x, clce 1.2x``.

Usage: python benchmarks/bench_losses.py [--sizes 256 1024 4096] [--repeats N] [--device cpu]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from any folder without installing

from fewshot_clce.losses import clce_loss, lacln_loss, supcon_loss  # noqa: E402


def _timed(fn: Callable[[], torch.Tensor], device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    fn().backward()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def bench(batch: int, dim: int, classes: int, repeats: int, tau: float, beta: float, lam: float,
          device: torch.device) -> Dict[str, float]:
    """Median seconds of one forward + backward per loss at batch size ``batch``."""
    from pytorch_metric_learning.losses import SupConLoss

    g = torch.Generator().manual_seed(batch)
    z = torch.randn(batch, 2, dim, generator=g).to(device).requires_grad_()  # [B, V, d]
    logits = torch.randn(batch, 2, classes, generator=g).to(device).requires_grad_()  # [B, V, C]
    labels = torch.randint(0, classes, (batch,), generator=g).to(device)
    flat_labels = labels.repeat_interleave(2)  # [2B], matching z.reshape(2B, d)'s rows
    peer = SupConLoss(temperature=tau)
    runs = {
        "pml": lambda: peer(z.reshape(2 * batch, dim), flat_labels),  # [2B, d]
        "supcon": lambda: supcon_loss(z, labels, temperature=tau),
        "lacln": lambda: lacln_loss(z, labels, temperature=tau, beta=beta),
        "clce": lambda: clce_loss(logits, z, labels, lam=lam, temperature=tau, beta=beta),
    }
    times: Dict[str, List[float]] = {name: [] for name in runs}
    for name, fn in runs.items():  # warm-up: allocator, first-call dispatch
        _timed(fn, device)
    for _ in range(repeats):
        for name, fn in runs.items():
            z.grad = logits.grad = None
            times[name].append(_timed(fn, device))
    return {name: statistics.median(t) for name, t in times.items()}


def main(argv: List[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 1024, 4096])
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--classes", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=None,
                        help="runs per loss and size (default: 25 up to B=512, 9 up to B=2048, then 5)")
    parser.add_argument("--temperature", type=float, default=0.1)
    parser.add_argument("--beta", type=float, default=0.5)
    parser.add_argument("--lam", type=float, default=0.5)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    print(f"torch {torch.__version__}, device {device}, {torch.get_num_threads()} threads, d={args.dim}, "
          f"{args.classes} classes, 2 views, medians of interleaved runs")
    print(f"{'B':>6} {'pml ms':>9} {'supcon ms':>10} {'lacln ms':>9} {'clce ms':>8}   ratios vs pml")
    line = ""
    for batch in args.sizes:
        repeats = args.repeats or (25 if batch <= 512 else 9 if batch <= 2048 else 5)
        t = bench(batch, args.dim, args.classes, repeats, args.temperature, args.beta, args.lam, device)
        ratios = ", ".join(f"{name} {t[name] / t['pml']:.2f}x" for name in ("supcon", "lacln", "clce"))
        print(f"{batch:>6} {1e3 * t['pml']:>9.1f} {1e3 * t['supcon']:>10.1f} {1e3 * t['lacln']:>9.1f} "
              f"{1e3 * t['clce']:>8.1f}   {ratios}", flush=True)
        line = f"time vs pml at B={batch}: {ratios}"
    print(line)


if __name__ == "__main__":
    main()
