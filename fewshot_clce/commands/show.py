"""``fewshot-clce show DATASET``: a PNG grid of sample images, one row per class."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ..data.base import Split
from ..utils import checks as _checks
from ..utils.files import atomic_path, check_png
from .options import add_root_option


def add_parser(sub) -> None:
    p = sub.add_parser(
        "show",
        help="write a PNG grid of sample images per class",
        description="Write a PNG grid of sample images of one split: a row per class "
        "(picked at random with --seed), its images left to right, as the "
        "models see them (no transform).",
    )
    p.add_argument(
        "dataset", help="dataset name (see `fewshot-clce datasets`) or folder:PATH[::SPLITFILE]"
    )
    p.add_argument("--split", default="novel", help="base, val or novel (default: novel)")
    p.add_argument("--out", required=True, help="PNG file to write")
    p.add_argument("--classes", type=int, default=10, help="number of classes (rows), default 10")
    p.add_argument(
        "--per-class", type=int, default=10, help="images per class (columns), default 10"
    )
    p.add_argument(
        "--seed", type=int, default=0, help="seed picking the classes and images, default 0"
    )
    add_root_option(p, "folder holding downloaded datasets (default: $FEWSHOT_CLCE_DATA)")
    p.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    p.set_defaults(func=run)


def write_grid(
    split: Split,
    out: str | Path,
    classes: int = 10,
    per_class: int = 10,
    seed: int = 0,
    overwrite: bool = False,
) -> Path:
    """Draw ``classes`` random classes of ``split`` with up to ``per_class`` random images each.

    Raises:
        ValueError: for a non-positive count.
        FileExistsError: if ``out`` exists and ``overwrite`` is False.
    """
    from matplotlib.figure import Figure

    if classes < 1 or per_class < 1:
        raise ValueError(
            f"--classes and --per-class must be at least 1, got {classes} and {per_class}"
        )
    out = check_png(out)
    if out.exists() and not overwrite:
        raise FileExistsError(f"{str(out)!r} exists; pass --force to replace it")
    rng = np.random.default_rng(seed)
    picked = np.sort(rng.choice(split.num_classes, min(classes, split.num_classes), replace=False))
    cols = min(per_class, int(split.class_counts[picked].max()))
    rows = []
    for c in picked:
        members = split.indices_of(int(c))
        chosen = np.sort(rng.choice(members, min(cols, len(members)), replace=False))
        rows.append(
            split.get_images(chosen).permute(0, 2, 3, 1).numpy()
        )  # [B, C, H, W] -> [B, H, W, C]
    _, h, w, ch = rows[0].shape
    gap = max(1, h // 14)
    # mosaic [rows * (h + gap), cols * (w + gap), ch]; white lines between cells
    mosaic = np.ones((len(rows) * (h + gap), cols * (w + gap), ch), dtype=np.float32)
    for r, imgs in enumerate(rows):
        for k, img in enumerate(imgs):
            mosaic[r * (h + gap) : r * (h + gap) + h, k * (w + gap) : k * (w + gap) + w] = img
    cell = 0.6  # inches per image
    label_w = (
        0.062 * max(len(split.class_names[c]) for c in picked) + 0.25
    )  # inches for the row labels
    fig = Figure(figsize=(label_w + cell * cols, 0.45 + cell * len(rows)))
    ax = fig.add_axes(
        (
            label_w / fig.get_figwidth(),
            0.01,
            1 - label_w / fig.get_figwidth() - 0.01,
            1 - 0.45 / fig.get_figheight(),
        )
    )
    if ch == 1:
        ax.imshow(
            mosaic[..., 0], cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest", aspect="auto"
        )
    else:
        ax.imshow(mosaic, interpolation="nearest", aspect="auto")
    ax.set_xticks([])
    ax.set_yticks(
        [r * (h + gap) + h / 2 - 0.5 for r in range(len(rows))],
        [split.class_names[c] for c in picked],
        fontsize=7,
    )
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_title(
        f"{split.dataset} / {split.name}: {len(picked)} of {split.num_classes} classes, seed {seed}",
        fontsize=9,
    )
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    return out


def run(args: argparse.Namespace) -> int:
    from ..data import create_dataset

    _checks.at_least("classes", args.classes)
    _checks.at_least("per_class", args.per_class)
    _checks.seed("seed", args.seed)
    split = create_dataset(args.dataset, root=args.root).split(args.split)
    path = write_grid(
        split, args.out, args.classes, args.per_class, args.seed, overwrite=args.force
    )
    print(f"wrote {path} ({split.dataset} / {split.name})")
    return 0
