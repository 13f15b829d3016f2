"""``fewshot-clce benchmark``: train every loss with the same budget, evaluate on the same episodes, report."""
from __future__ import annotations

import argparse
import shlex
import time


def add_parser(sub) -> None:
    from ..benchmark.config import PRESETS, BenchmarkConfig, flag
    from ._from_config import add_config_arguments

    presets = "; ".join(f"{k}: {v.description} ({v.expected})" for k, v in PRESETS.items())
    p = sub.add_parser(
        "benchmark", help="compare losses on fixed few-shot episodes (train, evaluate, report)",
        description="Train one backbone per loss, configuration of its hyper-parameters and seed (same budget), "
                    "evaluate every one on the same fixed episode manifests, choose each loss's configuration on "
                    "the val split (from its default grid unless you give values), and print per dataset the "
                    "loss x head x shots table with 95% CIs and the paired difference against the baseline. "
                    "Re-running the same command resumes.",
        epilog=f"Presets: {presets}. Explicit options override the preset's values.")
    p.add_argument("--preset", default=None, help=f"named setting: {', '.join(PRESETS)}")
    # None for every option not typed, so that the preset's values can fill them
    add_config_arguments(p, BenchmarkConfig, given_only=True)
    p.add_argument("--out", default=None, help="output folder (default: results/<preset or 'benchmark'>)")
    p.add_argument("--force", action="store_true", help="replace an output folder of another configuration")
    p.add_argument("--plan", action="store_true",
                   help="print the trainings (as `fewshot-clce train` commands) and their state, then stop; "
                        "runs trained with them elsewhere (e.g. under torchrun) are reused")
    p.set_defaults(func=run, flag_of=flag)


def config_from_args(args: argparse.Namespace):
    from ..benchmark.config import BenchmarkConfig, resolve
    from ._from_config import given_values

    given = given_values(args, BenchmarkConfig)
    given["command"] = command_line(args)
    return resolve(args.preset, **given)


def command_line(args: argparse.Namespace) -> str:
    """The command as given (options that were set), for the record in config.json and the report."""
    from ..benchmark.config import BenchmarkConfig
    from ._from_config import cli_fields, flag_of

    flags = {name: flag_of(f) for name, f in cli_fields(BenchmarkConfig).items()}
    parts = ["fewshot-clce", "benchmark"] + (["--preset", shlex.quote(args.preset)] if args.preset else [])
    for k, v in vars(args).items():
        if k not in flags or v is None:
            continue
        if isinstance(v, bool):
            parts += [flags[k]]  # only a flag that was typed is not None
        elif isinstance(v, list):
            texts = [" ".join(f"{n}={','.join(f'{x:g}' for x in vals)}" for n, vals in x.items())
                     if isinstance(x, dict) else str(x) for x in v]
            parts += [flags[k], *(shlex.quote(t) for t in texts)]
        else:
            parts += [flags[k], shlex.quote(str(v))]
    if args.out:
        parts += ["--out", shlex.quote(str(args.out))]
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

    from ..benchmark.plan import check_names
    from ..utils.checks import SettingError

    specs = plan_runs(cfg)
    check_names(cfg)  # what the run refuses, the plan refuses too
    if out.exists() and not out.is_dir():
        raise SettingError("out", "{setting} " + f"{str(out)!r} is a file; pass a folder for the "
                           "benchmark")
    for s in specs:
        state = run_state(s.run_dir(out), train_config(s, cfg, out), explicit_fields(s, cfg))
        print(f"[{state}] {train_command(s, cfg, out)}")
    print(f"{len(specs)} trainings into {out}/runs/")
    return 0
