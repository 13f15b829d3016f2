"""Training throughput on a ``folder:`` dataset of image files against the same images held as arrays.

The images of some ``--source`` classes (glyphs by default) are upscaled to ``--file-size`` pixels
and written as PNG files in class folders with a split file (as Omniglot is laid out: 105 px
files trained at 28 px). Two datasets hold exactly the same pixels: ``folder:`` over those files
(decoded by Pillow; the trainer decodes each image once before the first epoch, see
:mod:`fewshot_clce.data.decoded`), and an in-memory array dataset of the decoded files,
registered in this process for the benchmark. Each measurement is one ``fewshot-clce train``
command (through ``fewshot_clce.cli.main``) with ``--image-size`` and the images per second the
trainer writes to metrics.csv for its epochs from the second on (the first includes nothing of
the decoding pass, which runs before it, but the second is the goal's reference). The two alternate
for ``--rounds`` rounds; the script prints every round, the median with its range, and the load
average before and after.

The goal: the folder dataset at >= 90% of the arrays' images per second from the second epoch on.
The last line reads ``folder/arrays images per second (epochs 2+): 0.97x (median of 3 rounds, ...)``.

    python benchmarks/bench_folder.py [--classes 30] [--file-size 105] [--image-size 28] [--rounds 3]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(
    0, str(Path(__file__).resolve().parents[1])
)  # run from any folder without installing
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import load_line, ratio_text, ratios, summary, train_metrics  # noqa: E402

from fewshot_clce.data import ArraySplit, FewShotDataset, create_dataset  # noqa: E402
from fewshot_clce.data.registry import DATASETS, register_dataset  # noqa: E402

ARRAYS = "bench-folder-arrays"  # the array twin, registered in this process only


def write_folder(root: Path, source: str, classes: int, file_size: int) -> str:
    """PNG class folders of ``classes`` base and ``max(5, classes // 4)`` val classes of ``source``,
    upscaled to ``file_size``; returns the ``folder:PATH::SPLITFILE`` spec."""
    data = create_dataset(source)
    lines = []
    for split_name, count in (("base", classes), ("val", max(5, classes // 4))):
        split = data.split(split_name)
        if split.num_classes < count:
            raise ValueError(
                f"{source}'s {split_name} split has {split.num_classes} classes; --classes asks "
                f"for {count}: lower --classes"
            )
        labels = np.asarray(split.labels)
        for c in range(count):
            folder = root / f"{split_name}{c:03d}"
            folder.mkdir(parents=True)
            lines.append(f"{split_name}\t{folder.name}")
            for i, index in enumerate(np.flatnonzero(labels == c)):
                pixels = (split.get_image(int(index)) * 255).round().to(torch.uint8)  # [C, H, W]
                mode = "L" if pixels.shape[0] == 1 else "RGB"
                array = pixels[0].numpy() if mode == "L" else pixels.permute(1, 2, 0).numpy()
                Image.fromarray(array, mode).resize((file_size, file_size), Image.BILINEAR).save(
                    folder / f"{i}.png"
                )
    (root / "splits.txt").write_text("\n".join(lines) + "\n")
    return f"folder:{root}::{root / 'splits.txt'}"


def register_arrays(folder_spec: str) -> None:
    """Register :data:`ARRAYS`: the folder dataset's decoded images as :class:`ArraySplit` s."""
    folder = create_dataset(folder_spec)
    splits = {}
    for name, split in folder.splits.items():
        split.preload(cache=False)
        splits[name] = ArraySplit(
            ARRAYS, name, np.asarray(split._decoded), split.labels, split.class_names
        )
    if ARRAYS not in DATASETS:  # registered once per process; a later call replaces what it serves
        register_dataset(ARRAYS, description="bench_folder.py's array twin", embedded=True)(_Twin())
    DATASETS.get(ARRAYS).dataset = FewShotDataset(
        ARRAYS, splits, "the folder benchmark's images as arrays"
    )


class _Twin:
    """The registered factory of :data:`ARRAYS`: serves the dataset last set by :func:`register_arrays`."""

    dataset = None

    def __call__(self) -> FewShotDataset:
        return self.dataset


def train_rates(dataset: str, out: Path, args: argparse.Namespace) -> float:
    """One ``fewshot-clce train``; the mean images per second of its epochs from the second on."""
    argv = [
        "train",
        "--dataset",
        dataset,
        "--backbone",
        args.backbone,
        "--loss",
        "ce",
        "--out",
        str(out),
        "--epochs",
        str(args.epochs),
        "--steps-per-epoch",
        str(args.steps),
        "--batch-size",
        str(args.batch_size),
        "--image-size",
        str(args.image_size),
        "--num-workers",
        str(args.num_workers),
        "--val-episodes",
        "10",
        "--device",
        "cpu",
        "--no-progress",
        "--force",
    ]
    rows = train_metrics(argv, out)  # quietly: its log lines would break up the table
    rows = rows[rows["epoch"] >= 2]
    return float(rows["images_per_s"].mean())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--source", default="glyphs", help="dataset whose images are written as files"
    )
    parser.add_argument(
        "--classes", type=int, default=30, help="base classes written (val: a quarter, >= 5)"
    )
    parser.add_argument(
        "--file-size", type=int, default=105, help="pixels of the written PNG files"
    )
    parser.add_argument("--image-size", type=int, default=28, help="training size (--image-size)")
    parser.add_argument("--backbone", default="conv4")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20, help="training steps per epoch")
    parser.add_argument("--epochs", type=int, default=3, help="at least 2 (epochs 2+ are reported)")
    parser.add_argument(
        "--num-workers", type=int, default=2, help="decoding workers of the first pass"
    )
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.epochs < 2:
        parser.error(
            f"--rounds must be at least 1 and --epochs at least 2; got {args.rounds} and {args.epochs}"
        )
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        spec = write_folder(tmp / "images", args.source, args.classes, args.file_size)
        register_arrays(spec)
        n = len(create_dataset(spec).split("base"))
        print(
            f"torch {torch.__version__}, cpu, {torch.get_num_threads()} threads: {args.classes} {args.source} "
            f"classes as {n} base PNG files of {args.file_size} px, trained at {args.image_size} px "
            f"(fewshot-clce train --loss ce --backbone {args.backbone} --batch-size {args.batch_size} --epochs "
            f"{args.epochs} --steps-per-epoch {args.steps}), {args.rounds} alternating rounds"
        )
        print(load_line("before"), flush=True)
        contenders = {"folder": spec, "arrays": ARRAYS}
        rates: dict[str, list[float]] = {name: [] for name in contenders}
        for r in range(args.rounds):
            names = list(contenders) if r % 2 == 0 else list(contenders)[::-1]
            for name in names:
                # a fresh cache folder per round: every folder run decodes its files once, as a first training does
                with _cache_env(tmp / f"cache{r}"):
                    rates[name].append(train_rates(contenders[name], tmp / "runs" / name, args))
            print(
                f"round {r + 1}: folder {rates['folder'][-1]:.0f} img/s, arrays {rates['arrays'][-1]:.0f} img/s, "
                f"folder/arrays {rates['folder'][-1] / rates['arrays'][-1]:.2f}x",
                flush=True,
            )
    print(load_line("after"))
    for name, values in rates.items():
        med, low, high = summary(values)
        print(f"{name}: median {med:.0f} img/s ({low:.0f}-{high:.0f}) from epoch 2 on")
    print(
        f"folder/arrays images per second (epochs 2+): {ratio_text(ratios(rates['folder'], rates['arrays']), 2)}"
    )


@contextlib.contextmanager
def _cache_env(path: Path):
    old = os.environ.get("FEWSHOT_CLCE_CACHE")
    os.environ["FEWSHOT_CLCE_CACHE"] = str(path)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("FEWSHOT_CLCE_CACHE", None)
        else:
            os.environ["FEWSHOT_CLCE_CACHE"] = old


if __name__ == "__main__":
    main()
