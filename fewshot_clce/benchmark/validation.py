"""The benchmark's checks across settings: the grids against the losses' declared
hyper-parameters, the baseline among the losses, episode counts, the starting weights and the
cross-domain datasets. Each field's own constraints are declared in its metadata
(:class:`~fewshot_clce.benchmark.config.BenchmarkConfig`) and checked by
:func:`~fewshot_clce.utils.checks.check_fields`.

Then, before a benchmark writes anything, the checks that need its plan and its datasets: one
dataset per identity, the splits a benchmark uses, and every planned training's settings.
"""

from __future__ import annotations

from pathlib import Path

from ..utils import checks as _checks
from .config import LOSS_SWEEPS, SWEEPS, TIMM, BenchmarkConfig
from .loss_grid import benchmark_losses
from .plan import RunSpec, train_config


def check_benchmark(cfg: BenchmarkConfig) -> None:
    """Fail fast on values of ``cfg`` that cannot work, naming them: the constraints its fields
    declare (:func:`~fewshot_clce.utils.checks.check_fields`), then those across fields and the
    losses'.

    Raises:
        SettingError: empty lists, sizes below 1, 1-way episodes, negative seeds, NaN or
            out-of-range hyper-parameters, a grid value no chosen loss takes, episode counts
            too large to hold, a baseline not among the losses.
    """
    from ..episodes import check_episode_count

    _checks.check_fields(cfg)  # what each field declares: sizes, seeds, choices, repeats
    for name in LOSS_SWEEPS + ("sweeps",):
        if getattr(cfg, name) is not None and not getattr(cfg, name):
            raise _checks.SettingError(
                name,
                "{setting} is an empty grid; give at least one value, or leave "
                "{setting} out to use each loss's default grid",
            )
    if cfg.devices is not None and not cfg.devices:
        raise _checks.SettingError(
            "devices", "{setting} needs at least one device (e.g. cuda:0 cuda:1), or leave it out"
        )

    # unknown losses, bad bracket values, one name twice
    entries = benchmark_losses(cfg.losses)
    if cfg.baseline not in entries:
        raise _checks.SettingError(
            "losses",
            f"the baseline loss {cfg.baseline!r} is not among "
            + "{setting} "
            + f"{list(entries)}; add it (paired differences are taken against it)",
        )
    _check_hp(cfg, entries)
    _check_given_grid(cfg, entries)
    for name in ("episodes", "val_episodes"):
        for k in cfg.shots:  # a manifest of this size is drawn per split and shot count
            check_episode_count(getattr(cfg, name), cfg.ways, k, cfg.queries, name)
    _check_init_and_eval_datasets(cfg)
    if cfg.val_episodes < 1 and (len(cfg.batch_size) > 1 or cfg.given_grid() or cfg.default_grids):
        raise _checks.SettingError(
            "val_episodes",
            "{setting} is 0, but configurations are chosen on val "
            "episodes; set {setting} to at least 1 (or --no-default-grids with one "
            "batch size and no grid)",
        )


def _check_given_grid(cfg: BenchmarkConfig, entries) -> None:
    """The grid the user gave (``sweeps`` or ``lam``/``temperature``/``beta``): one of the two
    forms, names the benchmark sweeps, values in range for every loss that declares them, and
    each loss hyper-parameter taken by at least one loss."""
    from ..losses.declare import check_hparam
    from ..losses.hparams import check_value, loss_takes
    from ..losses.plugins import hparams_of

    if cfg.sweeps and any(getattr(cfg, h) is not None for h in LOSS_SWEEPS):
        raise _checks.SettingError(
            "sweeps",
            "give the grid either as {setting} blocks or as --lambda/--temperature/"
            "--beta values, not both",
        )
    takes = {loss: loss_takes(loss) for loss in cfg.losses}  # unknown losses are named here
    for block in cfg.given_grid() or []:
        for name, values in block.items():
            setting = "sweeps" if cfg.sweeps else name
            what = f"{{setting}} gives {name} " if cfg.sweeps else "{setting} is given with "
            if name not in SWEEPS:
                raise _checks.SettingError(
                    setting,
                    "{setting} " + f"names {name!r}, which the benchmark does not "
                    f"sweep; it sweeps {', '.join(SWEEPS)}",
                )
            if not values:
                raise _checks.SettingError(setting, what + "no values")
            for v in values:
                check_value(name, v)
                for entry in entries.values():
                    decl = hparams_of(entry.reference)
                    if name in decl:
                        check_hparam(entry.name, decl[name], v)
            if name in LOSS_SWEEPS and not any(name in t for t in takes.values()):
                raise _checks.SettingError(
                    setting,
                    what + f"values, but none of the losses "
                    f"{', '.join(cfg.losses)} takes {name}; add a loss that does "
                    f"(e.g. clce) or drop them",
                )


def _check_hp(cfg: BenchmarkConfig, entries) -> None:
    """Every ``hp`` item names a loss being compared and a hyper-parameter it declares, with
    values in its range."""
    from ..losses.declare import check_hparam
    from ..losses.plugins import describe, hparams_of, parse_hp

    for item in cfg.hp or []:
        loss, name, values = parse_hp(item)
        if loss is None:
            mine = [e for e in entries.values() if name in hparams_of(e.reference)]
            if not mine:
                raise _checks.SettingError(
                    "hp",
                    "{setting} " + f"{item!r}: none of the losses {', '.join(entries)} "
                    f"declares {name!r}; write LOSS.{name}=...",
                )
        else:
            mine = [e for e in entries.values() if loss in (e.name, e.reference)]
            if not mine:
                raise _checks.SettingError(
                    "hp",
                    "{setting} " + f"{item!r} names loss {loss!r}, which is not "
                    f"compared; the losses are {', '.join(entries)}",
                )
        for entry in mine:
            decl = hparams_of(entry.reference)
            if name not in decl:
                raise _checks.SettingError(
                    "hp",
                    "{setting} " + f"{item!r}: loss {entry.name!r} does not take {name}; "
                    f"it takes {describe(decl)}",
                )
            for v in values:
                try:
                    check_hparam(entry.name, decl[name], v)
                except ValueError as e:
                    raise _checks.SettingError("hp", "{setting} " + f"{item!r}: {e}") from None


def _check_init_and_eval_datasets(cfg: BenchmarkConfig) -> None:
    """``init`` names weights (the file itself is read by the benchmark, before any work),
    ``baseline_backbone`` has them, and ``eval_datasets`` are distinct."""
    if cfg.init is not None:
        if not str(cfg.init).strip() or cfg.init == TIMM:
            raise _checks.SettingError(
                "init",
                "{setting} is empty; give a weights file or timm:NAME (e.g. timm:resnet18.a1_in1k)",
            )
        if cfg.init_timm and cfg.backbone != cfg.init_timm:
            raise _checks.SettingError(
                "init",
                "{setting} " + f"{cfg.init!r} gives weights of {cfg.init_timm!r}, "
                f"but --backbone is {cfg.backbone!r}; drop --backbone (it follows --init) "
                "or make them agree",
            )
        if not cfg.init_timm:  # named as --init here, before training's --checkpoint check sees it
            path = Path(cfg.init).expanduser()
            if not path.is_file():
                what = "is a folder, not a weights file" if path.is_dir() else "does not exist"
                raise _checks.SettingError(
                    "init",
                    "{setting} " + f"{cfg.init!r} {what}; give a weights file "
                    "(.pt, .pth, .safetensors, a run's checkpoint) or timm:NAME",
                )
    for where in ("checkpoint_prefix", "checkpoint_key"):
        if cfg.train_options.get(where) and (cfg.init is None or cfg.init_timm):
            raise _checks.SettingError(
                where,
                "{setting} says where the backbone sits in the --init weights file, but "
                + ("no --init is given" if cfg.init is None else f"--init is {cfg.init!r}")
                + "; give --init FILE",
            )
    if cfg.baseline_backbone and cfg.init is None:
        raise _checks.SettingError(
            "baseline_backbone",
            "{setting} evaluates the starting weights without "
            "fine-tuning; pass --init FILE or --init timm:NAME to say which",
        )
    if cfg.eval_datasets is not None:
        if not cfg.eval_datasets:
            raise _checks.SettingError(
                "eval_datasets", "{setting} needs at least one dataset, or leave it out"
            )
        if len(set(cfg.eval_datasets)) != len(cfg.eval_datasets):
            raise _checks.SettingError(
                "eval_datasets", "{setting} repeats a value: " + str(cfg.eval_datasets)
            )


def check_identities(specs: list[str]) -> None:
    """Refuse two datasets of one identity (results are grouped by it), before anything is written.

    Raises:
        ValueError: naming both specs and the identity.
    """
    from ..data import dataset_id

    seen: dict[str, str] = {}
    for spec in specs:
        identity = dataset_id(spec)
        if identity in seen:
            raise _checks.SettingError(
                "datasets",
                "{setting} " + f"{seen[identity]!r} and {spec!r} are one dataset "
                f"({identity!r}) to the benchmark, whose results name datasets so; give it once, or "
                "benchmark the two in separate output folders",
            )
        seen[identity] = spec


def check_splits(datasets: dict) -> None:
    """Every dataset has the splits a benchmark uses: base and val to train, val and novel to evaluate.

    Raises:
        ValueError: naming the dataset, the missing split and the splits it has.
    """
    from ..data.registry import require_splits

    for name, ds in datasets.items():
        require_splits(
            ds,
            ("base", "val", "novel"),
            "the benchmark",
            "base classes to train on, val classes to pick epochs and hyper-parameters, novel "
            "classes to report",
            "Folder datasets take a split file naming them (folder:PATH::SPLITFILE)",
            name=name,
            scope=" of every dataset",
        )


def check_trainings(cfg: BenchmarkConfig, specs: list[RunSpec], out: Path) -> None:
    """Every check training makes before loading data, for every planned training (``train_options``
    included), so that a value that cannot work is refused before the output folder is touched."""
    from ..training.trainer import check_config

    seen = set()
    for spec in specs:
        if (
            spec.loss,
            spec.hparams,
            spec.batch_size,
        ) not in seen:  # seeds are checked by cfg.check()
            seen.add((spec.loss, spec.hparams, spec.batch_size))
            check_config(train_config(spec, cfg, out))
