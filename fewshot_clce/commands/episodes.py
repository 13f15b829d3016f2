"""``fewshot-clce episodes``: make, show and convert episode manifests."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import numpy as np

from ..utils import checks as _checks
from ..utils.files import check_output_file
from .options import add_root_option

DEFAULT_NAME = "{dataset}_{split}_{ways}way_{shots}shot_{queries}query.npz"


def add_parser(sub) -> None:
    p = sub.add_parser(
        "episodes",
        help="make, show and convert episode manifests",
        description="Seeded N-way K-shot episode manifests bound to a dataset split.",
    )
    cmds = p.add_subparsers(dest="episodes_command", metavar="ACTION")
    p.set_defaults(func=lambda args: p.print_help() or 2)
    _add_make_parser(cmds)
    _add_show_parser(cmds)
    _add_convert_parser(cmds)


def _add_make_parser(cmds) -> None:
    make = cmds.add_parser(
        "make",
        help="draw episodes and save one manifest per shot count",
        description="Draw episodes from a split and save one .npz manifest per shot "
        f"count. Default file name: {DEFAULT_NAME} in --out-dir.",
    )
    make.add_argument("--dataset", required=True, help="dataset name (see `fewshot-clce datasets`)")
    make.add_argument("--split", default="novel", help="split to draw from (default: novel)")
    make.add_argument("--ways", type=int, default=5, help="classes per episode (default: 5)")
    make.add_argument(
        "--shots",
        type=int,
        nargs="+",
        default=[1, 5],
        help="support samples per class; one file per value (default: 1 5)",
    )
    make.add_argument(
        "--queries", type=int, default=15, help="query samples per class (default: 15)"
    )
    make.add_argument(
        "--episodes", type=int, default=2000, help="number of episodes (default: 2000)"
    )
    make.add_argument(
        "--episode-seed",
        "--seed",
        dest="seed",
        type=int,
        default=0,
        metavar="SEED",
        help="seed the episodes are drawn with (default: 0)",
    )
    make.add_argument(
        "--out",
        default=None,
        help="output file (.npz, or .csv for the table format); with several --shots it "
        "must contain {shots}; default: --out-dir/" + DEFAULT_NAME,
    )
    make.add_argument("--out-dir", default=".", help="folder for default file names (default: .)")
    add_root_option(make)
    make.add_argument(
        "--skip-small-classes",
        action="store_true",
        help="leave out classes with fewer than shots + queries samples instead of refusing",
    )
    make.add_argument("--force", action="store_true", help="overwrite existing files")
    make.set_defaults(func=run_make)


def _add_show_parser(cmds) -> None:
    show = cmds.add_parser(
        "show",
        help="summarise a manifest; draw one episode as an image grid",
        description="Print a manifest's metadata and class usage; with --out, draw "
        "one episode's support and query images into a PNG.",
    )
    show.add_argument("file", help="manifest (.npz or .csv)")
    show.add_argument(
        "--dataset",
        default=None,
        help="dataset to check the manifest against and draw from (default: the one the "
        "manifest names, when --out is given)",
    )
    add_root_option(show)
    show.add_argument("--episode", type=int, default=0, help="episode to draw (default: 0)")
    show.add_argument("--out", default=None, help="PNG file for the image grid")
    show.add_argument("--force", action="store_true", help="overwrite an existing PNG")
    show.set_defaults(func=run_show)


def _add_convert_parser(cmds) -> None:
    convert = cmds.add_parser(
        "convert",
        help="convert between .npz manifests and the .csv table",
        description="Read a manifest (.npz or .csv) and write it in the format "
        "named by the output's extension. With --dataset it is "
        "checked against that split and bound to it (dataset, split "
        "and fingerprint recorded in the output).",
    )
    convert.add_argument("src", help="input manifest (.npz or .csv)")
    convert.add_argument("dst", help="output manifest (.npz or .csv)")
    convert.add_argument(
        "--dataset",
        default=None,
        help="dataset to check against (needed for a .csv naming its classes)",
    )
    convert.add_argument(
        "--split", default=None, help="split of --dataset (default: the file's, else novel)"
    )
    add_root_option(convert)
    convert.add_argument("--force", action="store_true", help="overwrite an existing output")
    convert.set_defaults(func=run_convert)


def default_path(out_dir, dataset: str, split: str, ways: int, shots: int, queries: int) -> Path:
    """``out_dir/<dataset>_<split>_<N>way_<K>shot_<Q>query.npz``, the dataset's identity (as manifests
    record it, see :func:`~fewshot_clce.data.registry.dataset_id`) made file-safe."""
    from ..episodes import file_safe

    return Path(out_dir) / DEFAULT_NAME.format(
        dataset=file_safe(dataset), split=split, ways=ways, shots=shots, queries=queries
    )


def make_command(dataset, split, ways, shots, queries, episodes, seed) -> str:
    """The command line that draws exactly these episodes (stored in each manifest)."""
    return (
        f"fewshot-clce episodes make --dataset {shlex.quote(dataset)} --split {split} --ways {ways} "
        f"--shots {shots} --queries {queries} --episodes {episodes} --seed {seed}"
    )


def run_make(args: argparse.Namespace) -> int:
    from ..data import create_dataset, dataset_id
    from ..episodes import check_episode_count, sample_episodes

    _checks.ways("ways", args.ways)
    for flag, value in [("--shots", k) for k in args.shots] + [
        ("--queries", args.queries),
        ("--episodes", args.episodes),
    ]:
        _checks.at_least(flag, value)
    _checks.seed("seed", args.seed)
    shots = list(dict.fromkeys(args.shots))
    for k in shots:  # every file's size, before the data is loaded or a file written
        check_episode_count(args.episodes, args.ways, k, args.queries, "episodes")
    if args.out and len(shots) > 1 and "{shots}" not in args.out:
        raise ValueError(
            f"--out {args.out!r} names one file but --shots gives {len(shots)} values; "
            f"put {{shots}} in it (e.g. episodes_{{shots}}shot.npz) or use --out-dir"
        )
    identity = dataset_id(args.dataset)  # what the manifests record: a folder's name, not its path
    paths = [
        Path(args.out.format(shots=k))
        if args.out
        else default_path(args.out_dir, identity, args.split, args.ways, k, args.queries)
        for k in shots
    ]
    for path in paths:
        check_output_file(path, "--out" if args.out else "--out-dir")
        if path.exists() and not args.force:
            raise FileExistsError(f"{str(path)!r} exists; pass --force to replace it")
    split = create_dataset(args.dataset, root=args.root).split(args.split)
    made = []  # every shot setting is drawn before any file is written: one that cannot be made writes none
    for k in shots:
        eps = sample_episodes(
            split,
            args.ways,
            k,
            args.queries,
            args.episodes,
            args.seed,
            skip_small_classes=args.skip_small_classes,
        )
        eps.meta["made_by"] = make_command(
            args.dataset, args.split, args.ways, k, args.queries, args.episodes, args.seed
        )
        made.append(eps)
    written = []
    try:
        for eps, path in zip(made, paths):
            new = not path.exists()
            eps.save(path, overwrite=args.force)
            written += [path] if new else []
    except Exception:
        for (
            path
        ) in written:  # a failed command leaves no file of its own behind (replaced ones stay new)
            path.unlink(missing_ok=True)
        raise
    for eps, path in zip(made, paths):
        print(
            f"{path}: {len(eps)} episodes, {eps.ways}-way {eps.shots}-shot {eps.queries}-query, "
            f"{eps.dataset}/{eps.split} fingerprint {eps.fingerprint}, seed {eps.seed}"
        )
    return 0


def summary_lines(eps) -> list:
    """Human-readable lines describing a manifest: metadata and how often each class occurs."""
    per_class = np.bincount(eps.classes.ravel())
    used = per_class[per_class > 0]
    names = eps.meta.get("class_names")
    top = np.argsort(-per_class, kind="stable")[:3]
    lines = [
        f"episodes:    {len(eps)} x {eps.ways}-way {eps.shots}-shot {eps.queries}-query",
        f"dataset:     {eps.dataset or '?'} / {eps.split or '?'} (fingerprint {eps.fingerprint or 'none'})",
        f"seed:        {eps.seed if eps.seed is not None else 'none'}",
        f"classes:     {len(used)} used, {int(used.min())} to {int(used.max())} episodes each"
        + (f" (most: {', '.join(repr(names[c]) for c in top)})" if names else ""),
        f"samples:     {len(eps.used_indices())} distinct"
        + (f" of {eps.meta['split_size']} in the split" if "split_size" in eps.meta else ""),
    ]
    for key, label in (
        ("made_by", "made by:"),
        ("source", "source:"),
        ("created_with", "written by:"),
    ):
        if key in eps.meta:
            lines.append(f"{label:<13}{eps.meta[key]}")
    return lines


def run_show(args: argparse.Namespace) -> int:
    from ..data import create_dataset
    from ..episodes import EpisodeSet
    from ..episodes.plot import plot_episode

    _checks.at_least("episode", args.episode, 0)
    eps = EpisodeSet.load(args.file)
    dataset = args.dataset or (eps.dataset if args.out else None)
    if dataset and not args.dataset and dataset.startswith("folder:"):
        raise ValueError(
            f"{args.file!r} was made from {dataset!r}, a folder known by its name only; pass "
            "--dataset folder:PATH (as given to `episodes make`) to draw its images"
        )
    split = None
    if dataset:
        if not eps.split:
            raise ValueError(
                f"{args.file!r} does not name its split; convert it with --split first"
            )
        split = create_dataset(dataset, root=args.root).split(eps.split)
        eps = EpisodeSet.load(args.file, split=split)
    print("\n".join(summary_lines(eps)))
    if split is not None:
        print(
            f"checked:     matches {split.dataset}/{split.name} (fingerprint {split.fingerprint})"
        )
    if args.out:
        path = plot_episode(split, eps, args.episode, args.out, overwrite=args.force)
        print(f"wrote {path} (episode {args.episode})")
    return 0


def run_convert(args: argparse.Namespace) -> int:
    from ..data import create_dataset
    from ..episodes import EpisodeSet

    split = None
    if args.dataset:
        name = args.split
        if name is None:
            name = (
                EpisodeSet.load(args.src).split if Path(args.src).suffix.lower() != ".csv" else None
            )
            name = name or _csv_split(args.src) or "novel"
        split = create_dataset(args.dataset, root=args.root).split(name)
    eps = EpisodeSet.load(args.src, split=split)
    if split is not None:
        eps.bind(split)  # the output names the split it was checked against, fingerprint included
    elif not eps.fingerprint:
        print(
            f"note: {args.src} names no split fingerprint and no --dataset was given, so {args.dst} is not "
            "bound to a split; pass --dataset (and --split) to check it and bind it",
            file=sys.stderr,
        )
    path = eps.save(args.dst, overwrite=args.force)
    bound = (
        f", bound to {eps.dataset}/{eps.split} (fingerprint {eps.fingerprint})"
        if eps.fingerprint
        else ""
    )
    print(
        f"{path}: {len(eps)} episodes, {eps.ways}-way {eps.shots}-shot {eps.queries}-query{bound}"
    )
    return 0


def _csv_split(path) -> str:
    from ..episodes.table import read_header

    return read_header(Path(path)).get("split", "")
