"""``fewshot-clce benchmark``: train every loss with the same budget, evaluate on the same episodes, report."""

from __future__ import annotations

import argparse
import shlex
import sys
import time

from ..utils.text import epochs_text


def add_parser(sub) -> None:
    from ..benchmark.config import BenchmarkConfig, flag
    from ..benchmark.presets import PRESETS
    from ._from_config import add_config_arguments

    presets = "; ".join(f"{k}: {v.description} ({v.expected})" for k, v in PRESETS.items())
    p = sub.add_parser(
        "benchmark",
        help="compare losses on fixed few-shot episodes (train, evaluate, report)",
        description="Train one backbone per loss, configuration of its hyper-parameters and seed (same budget), "
        "evaluate every one on the same fixed episode manifests, choose each loss's configuration on "
        "the val split (from its default grid unless you give values), and print per dataset the "
        "loss x head x shots table with 95% CIs and the paired difference against the baseline. "
        "Re-running the same command resumes.",
        epilog=f"Presets: {presets}. Explicit options override the preset's values.",
    )
    p.add_argument("--preset", default=None, help=f"named setting: {', '.join(PRESETS)}")
    # None for every option not typed, so that the preset's values can fill them
    add_config_arguments(p, BenchmarkConfig, given_only=True)
    add_training_arguments(p)
    p.add_argument(
        "--out", default=None, help="output folder (default: results/<preset or 'benchmark'>)"
    )
    p.add_argument(
        "--force", action="store_true", help="replace an output folder of another configuration"
    )
    p.add_argument(
        "--plan",
        action="store_true",
        help="print the trainings (as `fewshot-clce train` commands) and their state, then stop; "
        "runs trained with them elsewhere (e.g. under torchrun) are reused",
    )
    p.set_defaults(func=run, flag_of=flag)


# TrainConfig fields the benchmark sets per run, or has an option of its own for.
SET_BY_BENCHMARK = (
    "dataset",
    "backbone",
    "loss",
    "out",
    "epochs",
    "batch_size",
    "seed",
    "lam",
    "temperature",
    "beta",
    "label_smoothing",
    "loss_options",
    "data_root",
    "device",
    "progress",
    "resume",
    "force",
    "lr",
    "precision",
    "threads",
    "checkpoint",
    "pretrained",
)
TRAIN_DEST = "train__"
_TRAIN_FLAGS: dict = {}


def add_training_arguments(p: argparse.ArgumentParser) -> None:
    """One option per further TrainConfig field, applied to every training of the benchmark and
    recorded in each run's config.yaml; a flag the benchmark already uses for something else gets
    the prefix ``--train-`` (``--train-val-episodes``: episodes of the per-epoch validation)."""
    import dataclasses

    from ..training.config import TrainConfig
    from ._from_config import add_config_arguments

    group = p.add_argument_group("training options (every run; see `fewshot-clce train --help`)")
    scratch = argparse.ArgumentParser(add_help=False)
    skip = [f.name for f in dataclasses.fields(TrainConfig) if f.name in SET_BY_BENCHMARK]
    add_config_arguments(scratch, TrainConfig, given_only=True, skip=skip)
    taken = set(p._option_string_actions)
    for action in scratch._actions:
        flags = [f for f in action.option_strings if f not in taken] or [
            "--train-" + action.option_strings[0].lstrip("-")
        ]
        # training's --checkpoint is the benchmark's --init FILE
        text = (
            action.help.replace("with --checkpoint:", "with --init FILE:") if action.help else None
        )
        kwargs = dict(dest=TRAIN_DEST + action.dest, default=None, help=text)
        _TRAIN_FLAGS[action.dest] = flags[0]
        if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
            group.add_argument(*flags, action="store_const", const=action.const, **kwargs)
        else:
            group.add_argument(
                *flags,
                type=action.type,
                choices=action.choices,
                metavar=action.metavar,
                nargs=action.nargs,
                **kwargs,
            )


def training_options(args: argparse.Namespace) -> dict:
    """The training options given on the command line, by TrainConfig field."""
    return {
        k[len(TRAIN_DEST) :]: v
        for k, v in vars(args).items()
        if k.startswith(TRAIN_DEST) and v is not None
    }


def config_from_args(args: argparse.Namespace):
    """The benchmark's configuration; with several ``--epochs``, that of the first budget."""
    from ..benchmark.config import BenchmarkConfig, resolve
    from ..benchmark.presets import PRESETS
    from ._from_config import given_values

    given = given_values(args, BenchmarkConfig)
    given["command"] = command_line(args)
    if given.get("progress") is None:  # bars only where someone watches; --progress forces them
        given["progress"] = sys.stderr.isatty()
    if isinstance(given.get("epochs"), list):
        given["epochs"] = given["epochs"][0]
    options = training_options(args)
    if options:  # over the preset's own training options
        preset = (
            PRESETS[args.preset].values.get("train_options", {}) if args.preset in PRESETS else {}
        )
        given["train_options"] = {**preset, **options}
    return resolve(args.preset, **given)


def budgets_of(args: argparse.Namespace):
    """The budgets of a budget study (two or more ``--epochs`` values), else None."""
    from ..benchmark.budget import check_budgets
    from ..benchmark.presets import PRESETS

    epochs = getattr(args, "epochs", None)
    if isinstance(epochs, list) and len(epochs) > 1:
        return check_budgets(epochs)
    if epochs is None and args.preset in PRESETS and PRESETS[args.preset].budgets:
        return check_budgets(PRESETS[args.preset].budgets)
    return None


def command_line(args: argparse.Namespace) -> str:
    """The command as given (options that were set), for the record in config.json and the report."""
    from ..benchmark.config import BenchmarkConfig
    from ._from_config import cli_fields, flag_of

    flags = {name: flag_of(f) for name, f in cli_fields(BenchmarkConfig).items()}
    parts = ["fewshot-clce", "benchmark"] + (
        ["--preset", shlex.quote(args.preset)] if args.preset else []
    )
    for k, v in vars(args).items():
        if k not in flags or v is None:
            continue
        if isinstance(v, bool):  # only a flag that was typed is not None
            on_flag = cli_fields(BenchmarkConfig)[k].metadata.get("on_flag")
            parts += [on_flag if v and on_flag else flags[k]]
        elif isinstance(v, list):
            texts = [
                " ".join(f"{n}={','.join(f'{x:g}' for x in vals)}" for n, vals in x.items())
                if isinstance(x, dict)
                else str(x)
                for x in v
            ]
            parts += [flags[k], *(shlex.quote(t) for t in texts)]
        else:
            parts += [flags[k], shlex.quote(str(v))]
    for k, v in training_options(args).items():
        parts += [_train_flag(k), *([] if isinstance(v, bool) else [shlex.quote(str(v))])]
    if args.out:
        parts += ["--out", shlex.quote(str(args.out))]
    return " ".join(parts)


def _train_flag(field: str) -> str:
    """The benchmark's flag of a training option (as :func:`add_training_arguments` made it)."""
    return _TRAIN_FLAGS.get(field, "--" + field.replace("_", "-"))


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..benchmark.run import run_benchmark
    from ..report.writer import console_text

    cfg = config_from_args(args)
    out = Path(args.out or f"results/{cfg.preset or 'benchmark'}")
    budgets = budgets_of(args)
    if budgets is not None:
        return run_budgets(cfg, budgets, out, args)
    if args.plan:
        return print_plan(cfg, out)
    start = time.perf_counter()
    res = run_benchmark(cfg, out, force=args.force)
    print(console_text(res.analysis))
    print(
        f"\nEvery run trained {epochs_text(cfg.epochs)}: these comparisons "
        "hold at that budget. Whether they "
        "last is a budget study's question (--epochs 3 10 30; on glyphs see "
        "results/glyphs-budget/BUDGET.md)."
    )
    from ..benchmark.committed_budget import committed_budget_lines

    an = res.analysis
    for line in committed_budget_lines(an.datasets, list(an.main["loss"].unique()), an.baseline):
        print(line)
    print(
        f"\n{len(res.trained)} trained, {len(res.reused)} reused; {len(res.evaluated)} evaluated, "
        f"{len(res.reused_evaluations)} evaluations reused; {time.perf_counter() - start:.0f} s in all"
    )
    print(
        f"results in {out}/ (summary.md, summary.csv, per_episode.csv, results.json, plots/, REPORT.md)"
    )
    return 0


def run_budgets(cfg, budgets, out, args: argparse.Namespace) -> int:
    """``--epochs 3 10 30``: the benchmark at every budget, then the budget report."""
    import dataclasses

    from ..benchmark.budget import run_budget_study
    from ..benchmark.budget_report import REPORT, budget_folder

    if args.plan:
        for epochs in budgets:
            print(f"# budget {epochs_text(epochs)}")
            print_plan(dataclasses.replace(cfg, epochs=epochs), budget_folder(out, epochs))
        return 0
    start = time.perf_counter()
    res = run_budget_study(cfg, budgets, out, force=args.force)
    print(
        f"\nbudgets {', '.join(map(str, res.budgets))} epochs; {time.perf_counter() - start:.0f} s in all"
    )
    print(
        f"results in {out}/ ({REPORT}, budget.csv, convergence.csv, budget_gains.csv, plots/; each budget in epochs-E/)"
    )
    return 0


def print_plan(cfg, out) -> int:
    """The planned trainings, one line each: state and train command."""
    from ..benchmark.plan import (
        check_names,
        explicit_fields,
        plan_runs,
        run_state,
        train_command,
        train_config,
    )
    from ..utils.checks import SettingError

    specs = plan_runs(cfg)
    check_names(cfg)  # what the run refuses, the plan refuses too
    if out.exists() and not out.is_dir():
        raise SettingError(
            "out", "{setting} " + f"{str(out)!r} is a file; pass a folder for the benchmark"
        )
    for s in specs:
        state = run_state(s.run_dir(out), train_config(s, cfg, out), explicit_fields(s, cfg))
        print(f"[{state}] {train_command(s, cfg, out)}")
    print(f"{len(specs)} trainings into {out}/runs/")
    return 0
