"""Options of ``evaluate`` and ``compare``: the episodes (manifests, or drawn for a dataset), the
heads and the feature extraction; and what they resolve to."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..heads import list_heads
from .options import positive_int

# Settings of the episodes drawn for --dataset without --manifests, with their defaults.
DRAW_OPTIONS = {"shots": [1, 5], "ways": 5, "queries": 15, "n_episodes": 1000, "episode_seed": 0}


def _head_spec(text: str) -> str:
    """A head with its options (``logistic[C=0.1]``), checked as benchmark checks them."""
    from ..heads.registry import parse_head
    from ..utils.registry import UnknownNameError

    try:
        parse_head(text)
    except (UnknownNameError, ValueError) as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


class _EpisodesOption(argparse.Action):
    """``--episodes N`` (episodes per shot setting, as in ``benchmark`` and ``episodes make``) or,
    as before ``--manifests`` existed, ``--episodes MANIFEST...``: one whole number that names no
    file is a count, anything else manifests."""

    def __call__(self, parser, namespace, values, option_string=None):
        if len(values) == 1 and values[0].isdigit() and not Path(values[0]).exists():
            namespace.n_episodes = positive_int(values[0])
        else:
            namespace.episodes = list(values)


def _add_draw_option(p: argparse.ArgumentParser, flag: str, setting: str, what: str, **kw) -> None:
    """An option of the episodes drawn for ``--dataset``; its help names its default."""
    default = DRAW_OPTIONS[setting]
    shown = " ".join(map(str, default)) if isinstance(default, list) else default
    p.add_argument(
        flag,
        dest=setting,
        default=None,
        help=f"with --dataset and no --manifests: {what} (default: {shown})",
        **kw,
    )


def _add_episode_options(p: argparse.ArgumentParser) -> None:
    """Which episodes: ``--manifests``, or ``--dataset`` with the settings of the episodes drawn."""
    p.add_argument(
        "--manifests",
        dest="episodes",
        nargs="+",
        default=None,
        metavar="MANIFEST",
        help="episode manifests (.npz or .csv) of one dataset: the run's, or another "
        "(cross-domain); --episodes MANIFEST... is the older spelling",
    )
    p.add_argument(
        "--dataset",
        default=None,
        metavar="DATASET",
        help="dataset to evaluate on (default: the manifests' own); without "
        "--manifests, its novel split's committed manifests where they fit, else "
        "episodes drawn with --episode-seed",
    )
    _add_draw_option(
        p, "--shots", "shots", "shot settings", nargs="+", type=positive_int, metavar="K"
    )
    _add_draw_option(p, "--ways", "ways", "classes per episode", type=positive_int)
    _add_draw_option(p, "--queries", "queries", "query images per class", type=positive_int)
    _add_draw_option(
        p,
        "--episodes",
        "n_episodes",
        "episodes per shot setting",
        action=_EpisodesOption,
        nargs="+",
        metavar="N",
    )
    p.add_argument(
        "--n-episodes",
        dest="n_episodes",
        type=positive_int,
        default=None,
        metavar="N",
        help="the same as --episodes N",
    )
    _add_draw_option(
        p,
        "--episode-seed",
        "episode_seed",
        "seed of episodes drawn when no committed manifest fits",
        type=int,
        metavar="SEED",
    )


def _add_extraction_options(p: argparse.ArgumentParser) -> None:
    """The heads, the checkpoint and how features are extracted."""
    p.add_argument(
        "--heads",
        "--head",
        dest="head",
        nargs="+",
        type=_head_spec,
        default=["centroid", "logistic"],
        metavar="HEAD",
        help=f"heads fitted on each episode's support set, with options in brackets "
        f"(logistic[C=0.1]); one of {', '.join(list_heads())} "
        f"(default: centroid logistic)",
    )
    p.add_argument(
        "--which", default="best", choices=("best", "last"), help="checkpoint to evaluate"
    )
    p.add_argument("--flip", action="store_true", help="average features over a horizontal flip")
    p.add_argument("--batch-size", type=positive_int, default=256, help="images per forward pass")
    p.add_argument(
        "--device", default="cpu", help="where the backbone runs (cpu, cuda, cuda:N, auto)"
    )
    p.add_argument("--no-cache", action="store_true", help="do not read or write the feature cache")
    # --root as in `datasets`, `show` and `episodes`; --data-root as in `train`
    p.add_argument(
        "--data-root",
        "--root",
        dest="data_root",
        default=None,
        help="dataset folder (default: the run's)",
    )


def add_common(p: argparse.ArgumentParser) -> None:
    """Options shared by ``evaluate`` and ``compare``."""
    _add_episode_options(p)
    _add_extraction_options(p)


def _refuse_repeated(paths: list) -> None:
    """Refuse a manifest given twice (the same file, or two files of the same bytes), before any
    evaluation: its episodes would be counted twice in every summary.

    Raises:
        ValueError: naming both paths.
    """
    import hashlib

    seen: dict = {}
    for path in paths:
        try:
            key = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        except OSError:
            continue  # loading it names the problem
        if key in seen:
            raise ValueError(
                f"--manifests lists the same episodes twice ({str(seen[key])!r} and "
                f"{str(path)!r}); give each manifest once"
            )
        seen[key] = path


def episodes_of(args: argparse.Namespace) -> list:
    """The manifests to evaluate on: ``--manifests``, or for ``--dataset`` alone its novel split's
    manifests (committed ones where they fit, else drawn with ``--episode-seed``, in memory).

    Raises:
        ValueError: for neither option, or a drawing option given with ``--manifests``.
    """
    given = [k for k in DRAW_OPTIONS if getattr(args, k, None) is not None]
    if args.episodes:
        if given:
            flag = "--episodes" if given[0] == "n_episodes" else "--" + given[0].replace("_", "-")
            raise ValueError(
                f"{flag} applies to episodes drawn for --dataset; the --manifests "
                f"files fix their own: drop {flag}, or drop --manifests"
            )
        _refuse_repeated(list(args.episodes))
        return list(args.episodes)
    if not args.dataset:
        raise ValueError(
            "nothing to evaluate on: pass --manifests MANIFEST... (fewshot-clce "
            "episodes make), or --dataset NAME to use its novel split's manifests"
        )
    from ..benchmark.manifests import committed_dir, find_committed
    from ..data import create_dataset
    from ..episodes import sample_episodes

    o = {
        k: getattr(args, k) if getattr(args, k, None) is not None else v
        for k, v in DRAW_OPTIONS.items()
    }
    split = create_dataset(args.dataset, root=args.data_root).split("novel")
    out = []
    for k in o["shots"]:
        found = find_committed(
            split, o["ways"], k, o["queries"], o["n_episodes"], [committed_dir()]
        )
        if found is not None:
            out.append(found[0])
            continue
        try:
            out.append(
                sample_episodes(
                    split, o["ways"], k, o["queries"], o["n_episodes"], seed=o["episode_seed"]
                )
            )
        except ValueError as e:
            raise ValueError(
                f"cannot draw {o['ways']}-way {k}-shot {o['queries']}-query episodes on "
                f"{split.dataset}/novel: {e}"
            ) from None
    return out


def evaluate_kwargs(args: argparse.Namespace) -> dict:
    return dict(
        which=args.which,
        flip=args.flip,
        batch_size=args.batch_size,
        device=args.device,
        cache=not args.no_cache,
        data_root=args.data_root,
        dataset=args.dataset,
    )
