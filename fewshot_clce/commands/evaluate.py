"""``fewshot-clce evaluate``: a run on episode manifests -> per-episode CSV and a summary table."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional

import pandas as pd

from ..heads import list_heads
from ..report.tables import fmt_interval, seeds_flag
from ..stats.intervals import CI_METHODS, DEFAULT_CI_METHOD


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


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
            namespace.n_episodes = _positive_int(values[0])
        else:
            namespace.episodes = list(values)


def add_common(p: argparse.ArgumentParser) -> None:
    """Options shared by ``evaluate`` and ``compare``."""
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
    p.add_argument(
        "--shots",
        nargs="+",
        type=_positive_int,
        default=None,
        metavar="K",
        help="with --dataset and no --manifests: shot settings (default: 1 5)",
    )
    p.add_argument(
        "--ways",
        type=_positive_int,
        default=None,
        help="with --dataset and no --manifests: classes per episode (default: 5)",
    )
    p.add_argument(
        "--queries",
        type=_positive_int,
        default=None,
        help="with --dataset and no --manifests: query images per class (default: 15)",
    )
    p.add_argument(
        "--episodes",
        dest="n_episodes",
        action=_EpisodesOption,
        nargs="+",
        default=None,
        metavar="N",
        help="with --dataset and no --manifests: episodes per shot setting (default: 1000)",
    )
    p.add_argument(
        "--n-episodes",
        dest="n_episodes",
        type=_positive_int,
        default=None,
        metavar="N",
        help="the same as --episodes N",
    )
    p.add_argument(
        "--episode-seed",
        type=int,
        default=None,
        metavar="SEED",
        help="with --dataset and no --manifests: seed of episodes drawn when no "
        "committed manifest fits (default: 0)",
    )
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
    p.add_argument("--batch-size", type=_positive_int, default=256, help="images per forward pass")
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


DRAW_OPTIONS = {"shots": [1, 5], "ways": 5, "queries": 15, "n_episodes": 1000, "episode_seed": 0}


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


BACKBONE_HELP = (
    "conv4, resnet12 or any timm model name, with options as NAME[key=value,...]: "
    "conv4[global_pool=flatten] is the literature's 1,600-d Conv-4 (at 84 px), "
    "resnet12 its 640-d ResNet-12; resnet12[channels=64-128-256-512] another width"
)


def add_checkpoint_options(p) -> None:
    """``--checkpoint-prefix`` and ``--checkpoint-key``: where a checkpoint keeps the weights."""
    p.add_argument(
        "--checkpoint-prefix",
        default="",
        metavar="PREFIX",
        help="keep the weights under this key prefix, without it (Lightning: "
        "model.backbone.; a whole model: backbone.); DDP's module. is always "
        "removed",
    )
    p.add_argument(
        "--checkpoint-key",
        default=None,
        metavar="KEY",
        help="the checkpoint entry holding the weights (state_dict, model, params, "
        "ema.model; default: the first of state_dict, model, params, embedding)",
    )


def add_parser(sub) -> None:
    p = sub.add_parser(
        "evaluate",
        help="evaluate a trained run (or any backbone's weights) on episode manifests",
        description="Extract features once per image, fit each head on every episode, write "
        "one CSV row per (episode, head) and print mean accuracy with its CI. The "
        "episodes may be of another dataset than the run was trained on: its "
        "preprocessing adapts the images (size; grayscale <-> RGB).",
        epilog="Without a run folder: --backbone NAME with --checkpoint FILE or --pretrained "
        "evaluates those weights (a run's checkpoint file gives its own preprocessing).",
    )
    p.add_argument(
        "run_dir",
        metavar="RUN_DIR",
        nargs="?",
        default=None,
        help="folder written by `fewshot-clce train` (or none, with --backbone)",
    )
    add_common(p)
    ext = p.add_argument_group("a backbone without a run folder")
    ext.add_argument("--backbone", default=None, help=BACKBONE_HELP)
    ext.add_argument(
        "--checkpoint",
        default=None,
        metavar="FILE",
        help="its weights: a run's checkpoint, a state dict (.pt, .pth) or "
        ".safetensors; RFS, MetaOptNet, FEAT, easyfsl, learn2learn and ProtoNet "
        "files are recognised",
    )
    add_checkpoint_options(ext)
    p.add_argument(
        "--pretrained-on",
        default=None,
        metavar="DATA",
        help="what the weights were pretrained on (e.g. imagenet), recorded with the "
        "results and flagged on mini-/tiered-ImageNet (default: timm's tag for "
        "--pretrained)",
    )
    ext.add_argument(
        "--pretrained", action="store_true", help="timm's published weights (cached, or online)"
    )
    ext.add_argument(
        "--image-size",
        type=_positive_int,
        default=None,
        metavar="S",
        help="square input side (default: the checkpoint's run, timm's, else the images')",
    )
    ext.add_argument(
        "--mean",
        nargs="+",
        type=_number,
        default=None,
        metavar="M",
        help="normalisation mean, one value or one per channel",
    )
    ext.add_argument(
        "--std",
        nargs="+",
        type=_number,
        default=None,
        metavar="S",
        help="normalisation std, one value or one per channel",
    )
    p.add_argument(
        "--out",
        default=None,
        metavar="CSV",
        help="per-episode results file (default: RUN_DIR/evaluation.csv; required with --backbone)",
    )
    p.add_argument("--force", action="store_true", help="replace an existing results file")
    p.add_argument(
        "--ci",
        default=DEFAULT_CI_METHOD,
        choices=CI_METHODS,
        help=f"confidence-interval method over episodes (default: {DEFAULT_CI_METHOD})",
    )
    p.set_defaults(func=run)


def ci_footer(summary: pd.DataFrame) -> str:
    """Which interval the table shows, and what it leaves out."""
    lines = [
        f"{c:.0%} CI: {m}"
        for c, m in dict.fromkeys(zip(summary["confidence"], summary["ci_method"]))
    ]
    if (summary["ci_kind"] == "episode").any():
        lines.append(
            "one training seed per run: the CI measures episode noise only, not seed-to-seed noise "
            f"(a seed-level CI needs a benchmark with several seeds: fewshot-clce benchmark {seeds_flag()})"
        )
    return "\n".join(lines)


EXTERNAL = (
    "checkpoint",
    "pretrained",
    "image_size",
    "mean",
    "std",
    "checkpoint_prefix",
    "checkpoint_key",
)


def _check_source(args: argparse.Namespace) -> None:
    """A run folder or an external backbone, not both, not neither; options of one not given to the other."""
    typed = [k for k in EXTERNAL if getattr(args, k) not in (None, False, "")]
    if args.run_dir and args.backbone:
        raise ValueError(f"pass RUN_DIR {args.run_dir!r} or --backbone {args.backbone!r}, not both")
    if not args.run_dir and not args.backbone:
        raise ValueError(
            "nothing to evaluate: pass a run folder (RUN_DIR) or --backbone NAME with "
            "--checkpoint FILE or --pretrained"
        )
    if args.run_dir and typed:
        flag = "--" + typed[0].replace("_", "-")
        raise ValueError(
            f"{flag} describes a backbone given with --backbone; a run folder brings its own weights "
            f"and preprocessing: drop {flag}"
        )
    if args.backbone and not args.out:
        raise ValueError(
            "--backbone has no run folder to write evaluation.csv into: pass --out CSV"
        )


def format_summary(summary: pd.DataFrame, results: Optional[pd.DataFrame] = None) -> str:
    """The printed table: dataset, split, ways, shots, head, episodes, embedding size, mean and CI
    (percent), then the interval method in words.

    Args:
        summary: rows of :func:`fewshot_clce.stats.summary.summarize` (``by="run"``).
        results: the per-episode rows, whose ``embedding_dim`` the table names.
    """
    table = summary[["dataset", "split", "ways", "shots", "head", "n_episodes"]].rename(
        columns={"n_episodes": "episodes"}
    )
    if results is not None and "embedding_dim" in results.columns and "run" in summary.columns:
        dims = results.groupby("run")["embedding_dim"].first()
        table["dim"] = [int(dims[r]) if r in dims.index else "" for r in summary["run"]]
    table["accuracy (%)"] = [
        fmt_interval(*r)
        for r in zip(summary["mean"], summary["ci_low"], summary["ci_high"], summary["ci_kind"])
    ]
    return table.to_string(index=False) + "\n" + ci_footer(summary)


def run(args: argparse.Namespace) -> int:
    from ..evaluation import evaluate_backbone, evaluate_run
    from ..stats.summary import summarize
    from ..utils import files as _io

    _check_source(args)
    out = Path(args.out) if args.out else Path(args.run_dir) / "evaluation.csv"
    _io.check_output_file(out, "--out")  # before the evaluation, not after it
    if out.exists() and not args.force:
        raise FileExistsError(
            f"{str(out)!r} exists; pass --force to replace it or --out to write elsewhere"
        )
    episodes = episodes_of(args)
    if args.run_dir:
        results = evaluate_run(
            args.run_dir,
            episodes,
            args.head,
            pretrained_on=args.pretrained_on,
            **evaluate_kwargs(args),
        )
    else:
        kw = evaluate_kwargs(args)
        kw.pop("which")
        results = evaluate_backbone(
            args.backbone,
            episodes,
            checkpoint=args.checkpoint,
            pretrained=args.pretrained,
            image_size=args.image_size,
            mean=args.mean,
            std=args.std,
            heads=args.head,
            checkpoint_prefix=args.checkpoint_prefix,
            checkpoint_key=args.checkpoint_key,
            pretrained_on=args.pretrained_on,
            **kw,
        )
    if results.attrs.get("checkpoint_layout"):
        print(f"{args.checkpoint}: {results.attrs['checkpoint_layout']}")
    warnings = results.attrs.get("warnings", [])
    _io.write_csv(results, out, overwrite=args.force)
    warning = base_split_warning(results)
    if warning:
        print(warning, file=sys.stderr)
    print(
        format_summary(
            summarize(results, baseline=None, split=None, ci_method=args.ci, by="run"), results
        )
    )
    print(adaptation_note(results))
    for line in warnings:
        print(f"warning: {line}", file=sys.stderr)
    print(f"per-episode results: {out}")
    return 0


def base_split_warning(results: pd.DataFrame) -> str:
    """A warning when a run is evaluated on episodes of the base split of the dataset it was trained
    on: its training classes, so the accuracy is no few-shot accuracy; empty otherwise."""
    if not {"split", "dataset", "train_dataset"} <= set(results.columns):
        return ""
    own = results[(results["split"] == "base") & (results["dataset"] == results["train_dataset"])]
    if own.empty:
        return ""
    return (
        f"WARNING: these episodes are drawn from the base split of {own['dataset'].iloc[0]}, "
        "the classes the run was trained on: their accuracy measures memorised classes, not "
        "few-shot learning; evaluate on the novel split (or val) for few-shot accuracy"
    )


def adaptation_note(results: pd.DataFrame) -> str:
    """``trained on glyphs, evaluated on digits (images adapted: 8x8 -> 28x28)``."""
    parts = []
    for (train, ds, how), _ in results.groupby(
        ["train_dataset", "dataset", "adaptation"], sort=False
    ):
        parts.append(f"trained on {train}, evaluated on {ds} (images adapted: {how})")
    return "; ".join(parts)
