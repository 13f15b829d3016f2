"""``fewshot-clce benchmark``: train every loss with the same budget, evaluate on the same episodes, report."""
from __future__ import annotations

import argparse
import shlex
import time


def add_parser(sub) -> None:
    from ..benchmark.config import PRESETS

    presets = "; ".join(f"{k}: {v.description} ({v.expected})" for k, v in PRESETS.items())
    p = sub.add_parser(
        "benchmark", help="compare losses on fixed few-shot episodes (train, evaluate, report)",
        description="Train one backbone per loss, hyper-parameter combination and seed (same budget), "
                    "evaluate every one on the same fixed episode manifests, choose swept hyper-parameters "
                    "on the val split, and print per dataset the loss x head x shots table with 95% CIs and "
                    "the paired difference against the baseline. Re-running the same command resumes.",
        epilog=f"Presets: {presets}. Explicit options override the preset's values.")
    p.add_argument("--preset", default=None, help=f"named setting: {', '.join(PRESETS)}")
    p.add_argument("--dataset", dest="datasets", nargs="+", default=None, help="datasets (default: glyphs)")
    p.add_argument("--losses", nargs="+", default=None, help="losses to compare (default: ce supcon clce)")
    p.add_argument("--backbone", default=None, help="backbone (default: conv4)")
    p.add_argument("--shots", nargs="+", type=int, default=None, help="shot settings (default: 1 5)")
    p.add_argument("--ways", type=int, default=None, help="classes per episode (default: 5)")
    p.add_argument("--queries", type=int, default=None, help="queries per class (default: 15)")
    p.add_argument("--heads", nargs="+", default=None, help="few-shot heads (default: centroid logistic)")
    p.add_argument("--episodes", type=int, default=None, help="novel-split episodes per shot setting (default 1000)")
    p.add_argument("--val-episodes", type=int, default=None,
                   help="val-split episodes per shot setting, for choosing swept hyper-parameters (default 300)")
    p.add_argument("--seeds", nargs="+", type=int, default=None, help="training seeds (default: 0)")
    p.add_argument("--lambda", dest="lam", nargs="+", type=float, default=None, help="CLCE weight λ values to sweep")
    p.add_argument("--temperature", nargs="+", type=float, default=None, help="temperatures τ to sweep")
    p.add_argument("--beta", nargs="+", type=float, default=None, help="hard-negative β values to sweep")
    p.add_argument("--batch-size", nargs="+", type=int, default=None, help="training batch sizes (default: 64)")
    p.add_argument("--epochs", type=int, default=None, help="training epochs per run (default: 10)")
    p.add_argument("--lr", type=float, default=None, help="peak learning rate (default: training's)")
    p.add_argument("--episode-seed", type=int, default=None, help="seed of generated manifests (default 0)")
    p.add_argument("--manifests", dest="manifests_dir", default=None,
                   help="folder of committed manifests to use (default: the repository's episodes/)")
    p.add_argument("--no-tsne", dest="tsne", action="store_false", default=None, help="skip the t-SNE plot")
    p.add_argument("--time-budget", type=float, default=None,
                   help="minutes; warn before starting when the estimate exceeds it")
    p.add_argument("--root", dest="data_root", default=None, help="folder holding downloaded datasets")
    p.add_argument("--device", default=None, help="auto, cpu, cuda, cuda:N (default: auto)")
    p.add_argument("--no-progress", dest="progress", action="store_false", default=None, help="no progress bars")
    p.add_argument("--out", default=None, help="output folder (default: results/<preset or 'benchmark'>)")
    p.add_argument("--force", action="store_true", help="replace an output folder of another configuration")
    p.add_argument("--plan", action="store_true",
                   help="print the trainings (as `fewshot-clce train` commands) and their state, then stop; "
                        "runs trained with them elsewhere (e.g. under torchrun) are reused")
    from ..benchmark.config import flag

    p.set_defaults(func=run, flag_of=flag)


def config_from_args(args: argparse.Namespace):
    from ..benchmark.config import resolve

    given = {k: getattr(args, k) for k in ("datasets", "losses", "backbone", "shots", "ways", "queries", "heads",
                                           "episodes", "val_episodes", "seeds", "lam", "temperature", "beta",
                                           "batch_size", "epochs", "lr", "episode_seed", "manifests_dir", "tsne",
                                           "time_budget", "data_root", "device", "progress")}
    given["command"] = command_line(args)
    return resolve(args.preset, **given)


_FLAGS = {"datasets": "--dataset", "lam": "--lambda", "manifests_dir": "--manifests", "data_root": "--root",
          "tsne": "--no-tsne", "progress": "--no-progress"}


def command_line(args: argparse.Namespace) -> str:
    """The command as given (options that were set), for the record in config.json and the report."""
    parts = ["fewshot-clce", "benchmark"]
    for k, v in vars(args).items():
        if k in ("func", "flag_of", "command", "debug", "force", "plan") or v is None:
            continue
        flag = _FLAGS.get(k, "--" + k.replace("_", "-"))
        if isinstance(v, bool):
            parts += [flag] if (v is False) == flag.startswith("--no-") else []
        elif isinstance(v, list):
            parts += [flag, *(shlex.quote(str(x)) for x in v)]
        else:
            parts += [flag, shlex.quote(str(v))]
    return " ".join(parts)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..benchmark.run import run_benchmark
    from ..report.writer import console_text

    cfg = config_from_args(args)
    out = Path(args.out or f"results/{cfg.preset or 'benchmark'}")
    if args.plan:
        return print_plan(cfg, out)
    start = time.perf_counter()
    res = run_benchmark(cfg, out, force=args.force)
    print(console_text(res.analysis))
    print(f"\n{len(res.trained)} trained, {len(res.reused)} reused; {len(res.evaluated)} evaluated, "
          f"{len(res.reused_evaluations)} evaluations reused; {time.perf_counter() - start:.0f} s in all")
    print(f"results in {out}/ (summary.md, summary.csv, per_episode.csv, results.json, plots/, REPORT.md)")
    return 0


def print_plan(cfg, out) -> int:
    """The planned trainings, one line each: state and train command."""
    from ..benchmark.plan import explicit_fields, plan_runs, run_state, train_command, train_config

    specs = plan_runs(cfg)
    for s in specs:
        state = run_state(s.run_dir(out), train_config(s, cfg, out), explicit_fields(s, cfg))
        print(f"[{state}] {train_command(s, cfg, out)}")
    print(f"{len(specs)} trainings into {out}/runs/")
    return 0
