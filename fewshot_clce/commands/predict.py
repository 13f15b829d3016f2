"""``fewshot-clce predict``: classify query images given a folder of labelled ones -> CSV, table."""

from __future__ import annotations

import argparse
from pathlib import Path

from .evaluate import BACKBONE_HELP, _number, _positive_int, add_checkpoint_options

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
    p.add_argument(
        "run_dir",
        metavar="RUN_DIR",
        nargs="?",
        default=None,
        help="folder written by `fewshot-clce train` (or none, with --backbone)",
    )
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
    p.add_argument("--batch-size", type=_positive_int, default=64, help="images per forward pass")
    p.add_argument(
        "--device", default="cpu", help="where the backbone runs (cpu, cuda, cuda:N, auto)"
    )
    ext = p.add_argument_group("a backbone without a run folder")
    ext.add_argument("--backbone", default=None, help=BACKBONE_HELP)
    ext.add_argument(
        "--checkpoint", default=None, metavar="FILE", help="its weights (as for evaluate)"
    )
    add_checkpoint_options(ext)
    ext.add_argument(
        "--pretrained", action="store_true", help="timm's published weights (cached, or online)"
    )
    ext.add_argument(
        "--image-size", type=_positive_int, default=None, metavar="S", help="square input side"
    )
    ext.add_argument(
        "--mean", nargs="+", type=_number, default=None, metavar="M", help="normalisation mean"
    )
    ext.add_argument(
        "--std", nargs="+", type=_number, default=None, metavar="S", help="normalisation std"
    )
    p.set_defaults(func=run)


EXTERNAL = (
    "checkpoint",
    "pretrained",
    "image_size",
    "mean",
    "std",
    "checkpoint_prefix",
    "checkpoint_key",
)


def run(args: argparse.Namespace) -> int:
    from ..prediction import predict
    from ..utils import files as _io

    if args.run_dir and args.backbone:
        raise ValueError(f"pass RUN_DIR {args.run_dir!r} or --backbone {args.backbone!r}, not both")
    if not args.run_dir and not args.backbone:
        raise ValueError(
            "no backbone to predict with: pass a run folder (RUN_DIR) or --backbone NAME with "
            "--checkpoint FILE or --pretrained"
        )
    typed = [k for k in EXTERNAL if getattr(args, k) not in (None, False, "")]
    if args.run_dir and typed:
        flag = "--" + typed[0].replace("_", "-")
        raise ValueError(
            f"{flag} describes a backbone given with --backbone; a run folder brings its own "
            f"weights and preprocessing: drop {flag}"
        )
    out = Path(args.out)
    _io.check_output_file(out, "--out")
    if out.exists() and not args.force:
        raise FileExistsError(
            f"{str(out)!r} exists; pass --force to replace it or --out to write elsewhere"
        )
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
