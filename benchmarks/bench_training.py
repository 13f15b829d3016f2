"""Training throughput of CE against CLCE, timed by the trainer itself, exactly as ``fewshot-clce train`` runs.

Each measurement is one ``fewshot-clce train`` command (through ``fewshot_clce.cli.main``: the
same model with the heads the loss needs, the same loss object, the same data path, two views)
into a fresh run folder; the figure is the ``images_per_s`` the trainer writes to metrics.csv
for its last epoch (training steps only; validation is not counted). CE and CLCE alternate for
``--rounds`` rounds (the order reversed every other round, so a load on the machine hits both
alike); the script prints every round, the median ratio with its range, and the load average
before and after.

The goal: a CLCE step at most 1.10x a CE step in the trainer's own metrics. The last line reads
``clce/ce step time (trainer's images_per_s): 1.05x (median of 3 rounds, 1.02x-1.08x)``.

Usage:
    python benchmarks/bench_training.py [--dataset glyphs] [--backbone conv4] [--batch-size 64] \\
        [--steps 60] [--epochs 1] [--rounds 3]
    python benchmarks/bench_training.py --image-size 84 --backbone resnet12 --batch-size 256 --device cuda   # a GPU
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(
    0, str(Path(__file__).resolve().parents[1])
)  # run from any folder without installing
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import load_line, ratio_text, summary, train_metrics  # noqa: E402

from fewshot_clce.data import list_datasets  # noqa: E402

LOSSES = ("ce", "clce")


def train_rate(loss: str, out: Path, args: argparse.Namespace) -> float:
    """Run ``fewshot-clce train`` once; the images per second of its last epoch from metrics.csv."""
    argv = [
        "train",
        "--dataset",
        args.dataset,
        "--backbone",
        args.backbone,
        "--loss",
        loss,
        "--out",
        str(out),
        "--epochs",
        str(args.epochs),
        "--steps-per-epoch",
        str(args.steps),
        "--batch-size",
        str(args.batch_size),
        "--device",
        args.device,
        "--num-workers",
        str(args.num_workers),
        "--val-episodes",
        str(args.val_episodes),
        "--no-progress",
        "--force",
    ]
    if args.image_size:
        argv += ["--image-size", str(args.image_size)]
    rows = train_metrics(argv, out)  # quietly: its log lines would break up the table
    return float(rows["images_per_s"].dropna().iloc[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dataset",
        default="glyphs" if "glyphs" in list_datasets() else "digits",
        help="any dataset spec `fewshot-clce train --dataset` takes",
    )
    parser.add_argument("--backbone", default="conv4")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--image-size", type=int, default=None, help="default: the dataset's own")
    parser.add_argument("--steps", type=int, default=60, help="training steps per epoch")
    parser.add_argument("--epochs", type=int, default=1, help="the last epoch's rate is reported")
    parser.add_argument(
        "--rounds", type=int, default=3, help="alternating CE/CLCE rounds (at least 1)"
    )
    parser.add_argument(
        "--val-episodes",
        type=int,
        default=20,
        help="validation episodes per epoch (not timed; fewer make a round quicker)",
    )
    parser.add_argument("--num-workers", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error(f"--rounds must be at least 1, got {args.rounds}")

    print(
        f"torch {torch.__version__}, {args.device}, {torch.get_num_threads()} threads: fewshot-clce train "
        f"--dataset {args.dataset} --backbone {args.backbone} --batch-size {args.batch_size} --epochs "
        f"{args.epochs} --steps-per-epoch {args.steps} (2 views), {args.rounds} alternating rounds"
    )
    print(load_line("before"), flush=True)
    rates: dict[str, list[float]] = {name: [] for name in LOSSES}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for name in LOSSES if r % 2 == 0 else LOSSES[::-1]:
                rates[name].append(train_rate(name, Path(tmp) / name, args))
            ratio = rates["ce"][-1] / rates["clce"][-1]
            print(
                f"round {r + 1}: ce {rates['ce'][-1]:.0f} img/s, clce {rates['clce'][-1]:.0f} img/s, "
                f"clce/ce step time {ratio:.2f}x",
                flush=True,
            )
    print(load_line("after"))
    for name in LOSSES:
        med, low, high = summary(rates[name])
        print(f"{name}: median {med:.0f} img/s ({low:.0f}-{high:.0f})")
    step_ratios = [ce / clce for ce, clce in zip(rates["ce"], rates["clce"])]
    print(f"clce/ce step time (trainer's images_per_s): {ratio_text(step_ratios, digits=2)}")


if __name__ == "__main__":
    main()
