"""``fewshot-clce predict``: classify query images given a folder of labelled ones -> CSV, table."""

from __future__ import annotations

import argparse
from pathlib import Path

from .options import (
    add_backbone_options,
    add_run_dir_argument,
    check_backbone_source,
    check_out,
    positive_int,
)

# Rows of the printed table; the CSV holds them all.
SHOWN_ROWS = 20


def add_parser(sub) -> None:
    p = sub.add_parser(
        "predict",
        help="classify new images from a few labelled ones (a folder per class)",
        description="Fit a head on the support images (SUPPORT/<class>/<image>) with a trained "
        "run's backbone or any backbone's weights, and classify the query images: a CSV with the "
        "predicted class and a probability per class, and a short table. Query class folders "
        "named as the support's give the accuracy too. The images are preprocessed as evaluation "
        "does.",
        epilog="example: fewshot-clce predict runs/ce --support shots/ --query new/ "
        "--out predictions.csv",
    )
    add_run_dir_argument(p)
    p.add_argument(
        "--support", required=True, metavar="DIR", help="folder of class folders of labelled images"
    )
    p.add_argument(
        "--query",
        required=True,
        nargs="+",
        metavar="PATH",
        help="images to classify: files, a folder of images, or a folder of class folders",
    )
    p.add_argument(
        "--heads",
        "--head",
        dest="head",
        default="logistic",
        metavar="HEAD",
        help="head fitted on the support images: logistic (default), centroid or centroid_cosine, "
        "options as logistic[C=0.1]",
    )
    p.add_argument(
        "--out",
        default="predictions.csv",
        metavar="CSV",
        help="predictions file (default: %(default)s)",
    )
    p.add_argument("--force", action="store_true", help="replace an existing predictions file")
    p.add_argument("--which", default="best", choices=("best", "last"), help="the run's checkpoint")
    p.add_argument("--batch-size", type=positive_int, default=64, help="images per forward pass")
    p.add_argument(
        "--device", default="cpu", help="where the backbone runs (cpu, cuda, cuda:N, auto)"
    )
    add_backbone_options(
        p, checkpoint_help="its weights (as for evaluate)", image_size_help="square input side"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..prediction import predict
    from ..utils import files as _io

    check_backbone_source(args, "no backbone to predict with")
    out = Path(args.out)
    check_out(out, args.force)
    table = predict(
        args.support,
        args.query,
        run_dir=args.run_dir,
        backbone=args.backbone,
        checkpoint=args.checkpoint,
        pretrained=args.pretrained,
        head=args.head,
        which=args.which,
        image_size=args.image_size,
        mean=args.mean,
        std=args.std,
        checkpoint_prefix=args.checkpoint_prefix,
        checkpoint_key=args.checkpoint_key,
        batch_size=args.batch_size,
        device=args.device,
    )
    _io.write_csv(table, out, overwrite=args.force)
    if table.attrs.get("checkpoint_layout"):
        print(f"{args.checkpoint}: {table.attrs['checkpoint_layout']}")
    shown = table[
        ["image", "predicted", "probability"] + (["true"] if "true" in table.columns else [])
    ].copy()
    shown["probability"] = [f"{v:.1%}" for v in shown["probability"]]
    print(shown.head(SHOWN_ROWS).to_string(index=False))
    if len(table) > SHOWN_ROWS:
        print(f"... {len(table) - SHOWN_ROWS} more rows in the CSV")
    n_classes = sum(c.startswith("p(") for c in table.columns)
    images = f"{len(table)} image{'s' if len(table) != 1 else ''}"
    print(
        f"{images}, {n_classes} classes, head {table.attrs['head']}, backbone "
        f"{table.attrs['backbone']} ({table.attrs['embedding_dim']}-d features)"
    )
    if table.attrs.get("accuracy") is not None:
        known = int(table["correct"].notna().sum())
        accuracy = table.attrs["accuracy"]
        print(f"accuracy: {accuracy:.1%} on the {known} images whose class folder names the truth")
    print(f"predictions: {out}")
    return 0
