"""Forward + backward time of supcon, lacln and clce against pytorch-metric-learning's SupConLoss.

Same inputs for all ([B, 2, d] projections, two views, labels from ``--classes`` classes; the
peer gets the [2B, d] flattened projections and repeated labels and normalises them itself).
The losses run in ``--rounds`` alternating rounds (peer, supcon, lacln, clce, then the reverse)
so a load on the machine hits all alike; a round's figure for a loss is the median of its
``--repeats`` runs. The script prints every round, the median ratio against the peer with its
range, and the load average before and after. Uses torch's default number of threads. The last
line reads ``time vs pml at B=4096: supcon 0.80x, lacln 1.10x, clce 1.20x`` (medians).

Usage: python benchmarks/bench_losses.py [--sizes 256 1024 4096] [--rounds 3] [--repeats N] [--device cpu]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(
    0, str(Path(__file__).resolve().parents[1])
)  # run from any folder without installing
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import load_line, ratio_text, ratios, summary  # noqa: E402

from fewshot_clce.losses import clce_loss, lacln_loss, supcon_loss  # noqa: E402


def _timed(fn: Callable[[], torch.Tensor], device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    fn().backward()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def bench(
    batch: int,
    dim: int,
    classes: int,
    repeats: int,
    rounds: int,
    tau: float,
    beta: float,
    lam: float,
    device: torch.device,
) -> dict[str, list[float]]:
    """Per round, the median seconds of ``repeats`` forward + backward passes of each loss at batch size
    ``batch``; the losses run in alternating order (reversed every other round).

    Returns:
        name -> ``[rounds]`` seconds.
    """
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
    for fn in runs.values():  # warm-up: allocator, first-call dispatch
        _timed(fn, device)
    times: dict[str, list[float]] = {name: [] for name in runs}
    names = list(runs)
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            one = []
            for _ in range(repeats):
                z.grad = logits.grad = None
                one.append(_timed(runs[name], device))
            times[name].append(statistics.median(one))
    return times


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 1024, 4096])
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--classes", type=int, default=64)
    parser.add_argument(
        "--rounds", type=int, default=3, help="alternating rounds per size (at least 1)"
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="runs per loss, size and round (default: 9 up to B=512, 3 up to B=2048, then 2)",
    )
    parser.add_argument("--temperature", type=float, default=0.1)
    parser.add_argument("--beta", type=float, default=0.5)
    parser.add_argument("--lam", type=float, default=0.5)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error(f"--rounds must be at least 1, got {args.rounds}")
    device = torch.device(args.device)
    print(
        f"torch {torch.__version__}, device {device}, {torch.get_num_threads()} threads, d={args.dim}, "
        f"{args.classes} classes, 2 views, {args.rounds} alternating rounds (each the median of its repeats)"
    )
    print(load_line("before"), flush=True)
    line = ""
    for batch in args.sizes:
        repeats = args.repeats or (9 if batch <= 512 else 3 if batch <= 2048 else 2)
        t = bench(
            batch,
            args.dim,
            args.classes,
            repeats,
            args.rounds,
            args.temperature,
            args.beta,
            args.lam,
            device,
        )
        for r in range(args.rounds):
            row = ", ".join(f"{name} {1e3 * t[name][r]:.1f} ms" for name in t)
            print(f"B={batch} round {r + 1}: {row}", flush=True)
        parts = [
            f"{name} {ratio_text(ratios(t[name], t['pml']), digits=2)}"
            for name in ("supcon", "lacln", "clce")
        ]
        print(f"B={batch} time vs pml: " + "; ".join(parts), flush=True)
        line = f"time vs pml at B={batch}: " + ", ".join(
            f"{name} {summary(ratios(t[name], t['pml']))[0]:.2f}x"
            for name in ("supcon", "lacln", "clce")
        )
    print(load_line("after"))
    print(line)


if __name__ == "__main__":
    main()
