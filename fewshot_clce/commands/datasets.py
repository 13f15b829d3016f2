"""``fewshot-clce datasets``: every registered dataset, its splits, and whether it is here."""

from __future__ import annotations

import argparse

import pandas as pd

from .options import add_root_option


def add_parser(sub) -> None:
    p = sub.add_parser(
        "datasets",
        help="list datasets, their splits and whether they are available",
        description="List every registered dataset with its splits, class and image "
        "counts, and whether it can be loaded here.",
    )
    add_root_option(p, "folder holding downloaded datasets (default: $FEWSHOT_CLCE_DATA)")
    p.add_argument(
        "--download",
        metavar="NAME",
        action="append",
        default=[],
        help="download dataset NAME into --root first (repeatable; needs internet)",
    )
    p.set_defaults(func=run)


def _probe(fn, *args):
    """What a dataset's listing probe (archive not extracted, embedded data not built) says, or None
    when it has none or cannot look (loading the dataset then says what is wrong)."""
    if fn is None:
        return None
    try:
        return fn(*args)
    except OSError:
        return None


def _published_counts(name: str, info: dict, available: str, why: str) -> list:
    """Rows of a dataset listed without loading it: its published class counts per split."""
    return [
        dict(
            dataset=name,
            split=split,
            classes=n,
            images=pd.NA,
            min_per_class=pd.NA,
            image_shape="",
            fingerprint="",
            available=available,
            why=why,
        )
        for split, n in (info.get("classes") or {"-": 0}).items()
    ]


def dataset_table(root=None) -> pd.DataFrame:
    """One row per (dataset, split): classes, images, availability, and why not when missing.

    Available is ``yes``, ``no``, or ``archive`` when only an archive is here: listing never
    extracts anything (and never runs an archive's contents past the safety checks), so such a
    dataset is reported with its published class counts and extracted on first use. Nor does it
    build an embedded dataset that is made on first use (``glyphs``): while it is not built, it is
    ``yes`` with its class counts, and ``why`` says what its first use does.
    """
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
        why = (
            ""
            if here or info["embedded"]
            else f"expected under --root: {info['layout'] or 'see README'}"
        )
        archive = _probe(info.get("unextracted"), root) if here else None
        if archive is not None:
            rows += _published_counts(
                name, info, "archive", f"{archive} is here, extracted on first use"
            )
            continue
        pending = _probe(info.get("unbuilt")) if here else None
        if pending:
            rows += _published_counts(name, info, "yes", pending)
            continue
        if here:
            try:
                for r in create_dataset(name, root=root).summary():
                    rows.append(dict(r, available="yes", why=""))
                continue
            except Exception as e:  # found but unreadable: say why
                why = f"found but unreadable: {e}"
        rows += _published_counts(name, info, "no", why)
    table = pd.DataFrame(rows)
    for col in ("images", "min_per_class"):
        table[col] = table[col].astype("Int64")
    return table


def run(args: argparse.Namespace) -> int:
    from ..data import create_dataset, default_root

    for name in args.download:
        create_dataset(name, root=args.root, download=True)
    table = dataset_table(args.root)
    shown = table.drop(columns="why")
    for col in ("images", "min_per_class"):
        shown[col] = shown[col].map(lambda v: "-" if pd.isna(v) else str(int(v)))
    with pd.option_context("display.max_rows", None, "display.width", 200):
        print(shown.to_string(index=False))
    unbuilt = table[(table.available == "yes") & (table.why != "")].drop_duplicates("dataset")
    if len(unbuilt):
        print("\nNot built yet (images and fingerprints are shown once built):")
        for r in unbuilt.itertuples():
            print(f"  {r.dataset}: {r.why}")
    archived = table[table.available == "archive"].drop_duplicates("dataset")
    if len(archived):
        print(
            "\nArchives not extracted yet (the first command that loads the dataset extracts them):"
        )
        for r in archived.itertuples():
            print(f"  {r.dataset}: {r.why}")
    missing = table[table.available == "no"].drop_duplicates("dataset")
    if len(missing):
        root = default_root(args.root)
        if root is None:
            where = "(no --root or $FEWSHOT_CLCE_DATA given)"
        else:
            where = f"under {root}" + ("" if root.is_dir() else " (that folder does not exist)")
        print(f"\nNot found {where}:")
        for r in missing.itertuples():
            print(f"  {r.dataset}: {r.why}")
    return 0
