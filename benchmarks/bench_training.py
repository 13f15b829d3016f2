"""Training throughput of CE against CLCE on the same model, the same two views and the same batches.

Each measurement runs the trainer's own epoch loop (``train_epoch``: batch reading, batched
augmentation, forward, loss, backward, optimizer step) over ``--steps`` batches; CE and CLCE
alternate, ``--repeats`` times, and the best images per second of each is reported (as
``timeit`` does: a load on the machine only ever slows a measurement down). It also estimates the time of one epoch over the base split.
bfloat16 autocast and channels-last are used on CUDA, as in training.

The peer is CE: the goal is a CLCE step at most 1.15x a CE step on CPU (5% on GPU).
The last line reads ``clce/ce step time at B=128: 1.07x``.

Usage:
    python benchmarks/bench_training.py [--dataset glyphs] [--backbone conv4] [--batch-sizes 64 128]
    python benchmarks/bench_training.py --dataset synthetic --image-size 84 --backbone resnet12 \\
        --batch-sizes 64 256 --device cuda          # the GPU check
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Dict, List

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from any folder without installing

from fewshot_clce.utils.distributed import DistContext, resolve_device  # noqa: E402
from fewshot_clce.training.loop import build_optimizer, epoch_batches, generator, train_epoch  # noqa: E402
from fewshot_clce.data.transforms import Augment, choose_preset  # noqa: E402
from fewshot_clce.backbones import create_backbone, embedding_dim  # noqa: E402
from fewshot_clce.data import ArraySplit, create_dataset, list_datasets  # noqa: E402
from fewshot_clce.losses import create_loss  # noqa: E402
from fewshot_clce.training.model import TrainingModel  # noqa: E402


def _split(name: str, image_size: int):
    if name == "synthetic":  # random colour images: throughput does not depend on the content
        rng = np.random.default_rng(0)
        n, classes = 4096, 64
        images = rng.integers(0, 256, (n, image_size, image_size, 3), dtype=np.uint8)
        return ArraySplit("synthetic", "base", images, np.arange(n) % classes, [f"c{i}" for i in range(classes)])
    return create_dataset(name).split("base")


def bench(split, backbone: str, batch: int, size, steps: int, repeats: int,
          device: torch.device) -> Dict[str, float]:
    """Best images per second of a training step over the repeats, per loss."""
    channels = split.image_shape[0]
    augment = Augment(choose_preset(split.image_shape), size, channels)
    ctx = DistContext(device=device)
    runs = {}
    for name in ("ce", "clce"):
        torch.manual_seed(0)
        net = create_backbone(backbone, in_chans=channels)
        loss = create_loss(name)
        model = TrainingModel(net, embedding_dim(net, (channels, *size)), split.num_classes, loss.uses_logits,
                              loss.uses_projection).to(device)
        if device.type == "cuda":
            model = model.to(memory_format=torch.channels_last)
        optimizer = build_optimizer(model, "sgd", 0.01, 5e-4, 0.9)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
        runs[name] = (model, loss.to(device), optimizer, scheduler)
    rates: Dict[str, List[float]] = {name: [] for name in runs}
    for r in range(repeats + 1):  # round 0 warms up (allocator, first-call dispatch)
        batches = epoch_batches(len(split), batch, 0, r, ctx)[:steps]
        order = list(runs) if r % 2 else list(runs)[::-1]  # neither loss always runs first
        for name in order:
            model, loss, optimizer, scheduler = runs[name]
            row = train_epoch(model, loss, split, batches, augment, 2, optimizer, scheduler, None,
                              generator(0, r), ctx=ctx, epoch=r, progress=False)
            if r:
                rates[name].append(row["images_per_s"])
    return {name: max(v) for name, v in rates.items()}


def main(argv: List[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="glyphs" if "glyphs" in list_datasets() else "digits",
                        help="a dataset name or 'synthetic' (random colour images)")
    parser.add_argument("--backbone", default="conv4")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--image-size", type=int, default=None, help="default: the dataset's own")
    parser.add_argument("--steps", type=int, default=10, help="batches per measurement")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    split = _split(args.dataset, args.image_size or 84)
    size = (args.image_size,) * 2 if args.image_size else tuple(split.image_shape[1:])
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{torch.get_num_threads()} threads"
    print(f"torch {torch.__version__}, {device} ({name}), {args.backbone} on {args.dataset} base "
          f"({len(split)} images) at {size[0]}x{size[1]}, 2 views, best of {args.repeats} x {args.steps} steps")
    print(f"{'B':>5} {'ce img/s':>9} {'clce img/s':>11} {'ce epoch s':>11} {'clce epoch s':>13} {'clce/ce':>8}")
    line = ""
    for batch in args.batch_sizes:
        r = bench(split, args.backbone, batch, size, args.steps, args.repeats, device)
        ratio = r["ce"] / r["clce"]
        print(f"{batch:>5} {r['ce']:>9.0f} {r['clce']:>11.0f} {len(split) / r['ce']:>11.1f} "
              f"{len(split) / r['clce']:>13.1f} {ratio:>7.2f}x")
        line = f"clce/ce step time at B={batch}: {ratio:.2f}x"
    print(line)


if __name__ == "__main__":
    main()
