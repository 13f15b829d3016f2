"""``fewshot-clce datasets``: every registered dataset, its splits, and whether it is here."""
from __future__ import annotations

import argparse

import pandas as pd


def add_parser(sub) -> None:
    p = sub.add_parser("datasets", help="list datasets, their splits and whether they are available",
                       description="List every registered dataset with its splits, class and image "
                                   "counts, and whether it can be loaded here.")
    p.add_argument("--root", default=None, help="folder holding downloaded datasets "
                                                "(default: $FEWSHOT_CLCE_DATA)")
    p.add_argument("--download", metavar="NAME", action="append", default=[],
                   help="download dataset NAME into --root first (repeatable; needs internet)")
    p.set_defaults(func=run)


def dataset_table(root=None) -> pd.DataFrame:
    """One row per (dataset, split): classes, images, availability."""
    from ..data import create_dataset, dataset_info, default_root, list_datasets

    root = default_root(root)
    rows = []
    for name in list_datasets():
        info = dataset_info(name)
        avail_fn = info.get("available")
        try:
            here = bool(avail_fn(root)) if avail_fn else False
        except Exception:  # an availability probe must never break the listing
            here = False
        if here:
            try:
                for r in create_dataset(name, root=root).summary():
                    rows.append(dict(r, available="yes"))
                continue
            except Exception as e:  # found but unreadable: say why
                here_note = f"no ({e})"
        else:
            here_note = "no" if info["embedded"] else f"no (see README: {info['layout'] or 'Datasets'})"
        for split, n in (info.get("classes") or {"-": 0}).items():
            rows.append(dict(dataset=name, split=split, classes=n, images=None, min_per_class=None,
                             image_shape="", fingerprint="", available=here_note))
    return pd.DataFrame(rows)


def run(args: argparse.Namespace) -> int:
    from ..data import create_dataset

    for name in args.download:
        create_dataset(name, root=args.root, download=True)
    table = dataset_table(args.root)
    with pd.option_context("display.max_rows", None, "display.width", 200, "display.max_colwidth", 60):
        print(table.to_string(index=False))
    return 0
