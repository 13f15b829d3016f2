"""The benchmark's configuration (a typed dataclass), resolved from the defaults, a preset
(:mod:`fewshot_clce.benchmark.presets`) and the values given.

A preset fills the fields it names; anything given explicitly (on the command line or as a
keyword) wins over the preset, which wins over the defaults below. The resolved configuration
is written to ``config.json`` in the output folder; a later run into the same folder must
resolve to the same :meth:`BenchmarkConfig.identity` (or pass ``--force``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Optional

from .loss_grid import checked_hp_item, parse_sweep

# Fields that say how to run, not what is measured: they may change between a run and its resume.
RUNTIME_FIELDS = (
    "preset",
    "data_root",
    "device",
    "time_budget",
    "progress",
    "command",
    "executor",
    "jobs",
    "devices",
    "threads",
    "precision",
    "gpus_per_job",
    "cpus_per_job",
    "mem_gb",
    "timeout_min",
    "slurm_partition",
    "slurm_account",
    "slurm_array_parallelism",
)
# Where trainings can run (see fewshot_clce.benchmark.executors).
EXECUTORS = ("local", "submitit")
# ``--init timm:NAME``: timm's pretrained weights of model NAME.
TIMM = "timm:"
# The loss name of the starting weights evaluated without fine-tuning (``--baseline-backbone``).
INIT_LOSS = "init"
# The loss hyper-parameters a benchmark sweeps per loss; the batch size is swept for every loss.
LOSS_SWEEPS = ("lam", "temperature", "beta")
SWEEPS = LOSS_SWEEPS + ("batch_size",)


def _s(default: Any = None, help: str = "", factory=None, **meta: Any):
    """A setting: its default (or ``factory``) and the metadata its command-line option is built from."""
    if factory is not None:
        return field(default_factory=factory, metadata={"help": help, **meta})
    return field(default=default, metadata={"help": help, **meta})


@dataclass
class BenchmarkConfig:
    """Everything that defines a benchmark; ``fewshot-clce benchmark`` is built from these fields.

    **Which configurations are trained.** Each loss is trained at every configuration of its own
    hyper-parameters in a grid, every batch size and every seed, all with the same budget; the
    configuration reported on novel classes is chosen on the val split. The grid of a loss is:

    - ``sweeps`` when given: a list of blocks, each the product of the values it names
      (``[{"lam": [0.05, 0.1], "beta": [0, 1]}, {"temperature": [0.05, 0.2]}]``); the union of
      the blocks is trained, the values a block does not name at the loss's defaults;
    - else the values given in ``lam`` / ``temperature`` / ``beta`` (one block);
    - else, with ``default_grids`` (the default), the loss's default grid (the ``grid`` of each
      hyper-parameter it declares);
    - else the loss's defaults alone;

    then ``hp`` (``clce.lam=0.05,0.1``) replaces the values of one loss's hyper-parameter in every
    block, and values in brackets in ``losses`` (``clce[detach_weights=false]``) fix them.

    A loss is swept only over the hyper-parameters it declares (CE is not trained once per λ).
    """

    datasets: list[str] = _s(
        help="datasets to benchmark (fewshot-clce datasets lists them)",
        factory=lambda: ["glyphs"],
        flag="--dataset",
        nonempty=True,
        distinct=True,
    )
    losses: list[str] = _s(
        help="losses to compare: registered names (ce, lsce, supcon, lacln, "
        "clce, baselinepp, negmargin, cosface, arcface, proto), "
        "package.module:Class, ./file.py:Class or pml:Name; values in "
        "brackets: 'clce[detach_weights=false]'",
        factory=lambda: ["ce", "supcon", "clce"],
        aliases=("--loss",),
        nonempty=True,
        distinct=True,
    )
    backbone: str = _s("conv4", "conv4, resnet12 or any timm model name")
    shots: list[int] = _s(
        help="shot settings of the episodes",
        factory=lambda: [1, 5],
        nonempty=True,
        minimum=1,
        distinct=True,
    )
    ways: int = _s(5, "classes per episode", check="ways")
    queries: int = _s(15, "query images per class", minimum=1)
    heads: list[str] = _s(
        help="few-shot heads, with options in brackets (logistic[C=0.1])",
        factory=lambda: ["centroid", "logistic"],
        aliases=("--head",),
        nonempty=True,
        distinct=True,
    )
    episodes: int = _s(
        1000, "novel-split episodes per shot setting", aliases=("--n-episodes",), minimum=1
    )
    val_episodes: int = _s(
        300, "val-split episodes per shot setting, for choosing hyper-parameters", minimum=0
    )
    seeds: list[int] = _s(
        help="training seeds, the same for every loss",
        factory=lambda: [0],
        aliases=("--seed",),
        nonempty=True,
        check="seed",
        distinct=True,
    )
    lam: Optional[list[float]] = _s(
        None,
        "CLCE weight λ values to try (omitted: each loss's default grid)",
        flag="--lambda",
        metavar="LAMBDA",
        distinct=True,
    )
    temperature: Optional[list[float]] = _s(
        None, "temperatures τ to try (omitted: each loss's default grid)", distinct=True
    )
    beta: Optional[list[float]] = _s(
        None, "hard-negative β values to try (omitted: each loss's default grid)", distinct=True
    )
    batch_size: list[int] = _s(
        help="training batch sizes, each tried for every loss",
        factory=lambda: [64],
        nonempty=True,
        minimum=1,
        distinct=True,
    )
    sweeps: Optional[list[dict[str, list[float]]]] = _s(
        None,
        "grid blocks, each the product of its values, e.g. 'lam=0.05,0.1 beta=0,1' 'temperature=0.05,0.2' "
        "(instead of --lambda/--temperature/--beta)",
        flag="--sweep",
        type=parse_sweep,
        metavar="BLOCK",
    )
    hp: Optional[list[str]] = _s(
        None,
        "values of any declared hyper-parameter of one loss, "
        "each tried: LOSS.NAME=V1,V2 (e.g. "
        "clce.detach_weights=true,false arcface.margin=0.3,0.5)",
        flag="--hp",
        metavar="LOSS.NAME=V1,V2",
        type=checked_hp_item,
    )
    default_grids: bool = _s(
        True,
        "sweep each loss's default grid when no values are given",
        flag="--no-default-grids",
        action="store_false",
        cli_help="train every loss at its default hyper-parameters when no values are given "
        "(no choice on val)",
    )
    epochs: int = _s(
        10,
        "training epochs per run (the same budget for every loss); several values run a budget "
        "study: the whole benchmark once per budget, into OUT/epochs-E, each loss's configuration "
        "chosen on val at each budget, and OUT/BUDGET.md across them",
        nargs="+",
        minimum=1,
    )
    lr: Optional[float] = _s(None, "peak learning rate (default: training's)", check="positive")
    train_options: dict[str, Any] = _s(
        help="further TrainConfig settings for every run", factory=dict, api_only=True
    )
    episode_seed: int = _s(
        0, "seed of the manifests generated when no committed one fits", check="seed"
    )
    manifests_dir: Optional[str] = _s(
        None, "folder of committed manifests to use (default: the package's)", flag="--manifests"
    )
    baseline: str = _s("ce", "the loss every other is compared with, paired on the same episodes")
    init: Optional[str] = _s(
        None,
        "weights every loss fine-tunes from: a weights file (.pt, .pth, .safetensors, a run's "
        "checkpoint) or timm:NAME (timm's pretrained weights; sets --backbone NAME)",
        metavar="FILE|timm:NAME",
    )
    baseline_backbone: bool = _s(
        False,
        "also evaluate the --init weights without fine-tuning, as the loss 'init' in "
        "every table (what fine-tuning with each loss adds)",
        flag="--baseline-backbone",
    )
    eval_datasets: Optional[list[str]] = _s(
        None,
        "also evaluate every trained run on the novel split of these "
        "datasets (cross-domain rows: trained on X, evaluated on Y)",
        metavar="DATASET",
    )
    n_boot: int = _s(
        2000, "bootstrap resamples (statistics that use them)", api_only=True, minimum=1
    )
    boot_seed: int = _s(0, "seed of the bootstrap's generator", api_only=True, check="seed")
    tsne: bool = _s(
        True,
        "draw the t-SNE plot",
        flag="--no-tsne",
        action="store_false",
        cli_help="skip the t-SNE plot",
    )
    tsne_classes: int = _s(10, "classes in the t-SNE plot", api_only=True, minimum=1)
    tsne_per_class: int = _s(30, "images per class in the t-SNE plot", api_only=True, minimum=1)
    # runtime
    preset: Optional[str] = _s(None, "the preset these values came from", api_only=True)
    data_root: Optional[str] = _s(
        None,
        "folder holding downloaded datasets (default: $FEWSHOT_CLCE_DATA)",
        flag="--root",
        aliases=("--data-root",),
    )
    device: str = _s("auto", "auto, cpu, cuda or cuda:N")
    time_budget: Optional[float] = _s(
        None,
        "minutes; warn before starting when the estimate exceeds it",
        check="positive",
        hint=" (minutes)",
    )
    progress: bool = _s(
        True,
        "progress bars",
        flag="--no-progress",
        action="store_false",
        cli_help="no progress bars",
        on_flag="--progress",
        on_help="progress bars even when stderr is not a terminal (default: only on a terminal)",
    )
    # runtime: where the trainings run (fewshot_clce.benchmark.executors)
    executor: str = _s(
        "local",
        "where trainings run: local (this machine, --jobs at once) or submitit (one job "
        "each: on Slurm where srun exists, else local subprocesses)",
        valid=EXECUTORS,
        choice_of="an executor",
    )
    jobs: Optional[int] = _s(
        None,
        "trainings at once: local processes (default: one per --devices entry, else 1, "
        "in this process); submitit without Slurm: local jobs at once (default 1)",
        minimum=1,
    )
    devices: Optional[list[str]] = _s(
        None,
        "devices of the local executor's processes, one training at a time on "
        "each (cycled when --jobs is larger; default: every visible GPU when "
        "--device is auto, the CPU when there is none, else --device)",
    )
    threads: Optional[int] = _s(
        None,
        "intra-op CPU threads of each training (default: this process's torch count, "
        "whatever the executor; CPU results depend on it in the last bits)",
        minimum=1,
    )
    precision: Optional[str] = _s(
        None,
        "autocast precision of every training's forward pass (default: training's "
        "auto: bfloat16 on CUDA and on CPUs with native bfloat16, else float32); "
        "recorded in each run's config.yaml",
        choices=("auto", "float32", "bfloat16"),
    )
    gpus_per_job: Optional[int] = _s(
        None,
        "submitit: GPUs of each training job; above 1 the training runs under "
        "DDP, one process per GPU (default 0)",
        minimum=0,
    )
    cpus_per_job: Optional[int] = _s(
        None, "submitit: CPU cores of each job, shared by its processes", minimum=1
    )
    mem_gb: Optional[float] = _s(
        None, "submitit: memory of each job in GB (default: the cluster's)", check="positive"
    )
    timeout_min: Optional[int] = _s(
        None,
        "submitit: time limit of each job in minutes; a job that reaches it is "
        "requeued (up to 3 times) and resumes from its last checkpoint "
        "(default 1440)",
        minimum=1,
    )
    slurm_partition: Optional[str] = _s(None, "Slurm partition of the jobs")
    slurm_account: Optional[str] = _s(None, "Slurm account the jobs are charged to")
    slurm_array_parallelism: Optional[int] = _s(
        None,
        "Slurm: at most this many of the benchmark's jobs run at once "
        "(they are submitted as one job array)",
        minimum=1,
    )
    command: str = _s("", "the command line, for the record", api_only=True)

    def identity(self) -> dict[str, Any]:
        """The fields that define the results (all but the runtime ones)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in RUNTIME_FIELDS}

    @property
    def init_timm(self) -> Optional[str]:
        """The timm model name of ``init = "timm:NAME"``; None for a file or no init."""
        return self.init[len(TIMM) :] if self.init and self.init.startswith(TIMM) else None

    def given_grid(self) -> Optional[list[dict[str, list[float]]]]:
        """The grid blocks the user gave (``sweeps``, or one block of ``lam``/``temperature``/``beta``); None if none."""
        if self.sweeps:
            return [dict(b) for b in self.sweeps]
        block = {h: list(getattr(self, h)) for h in LOSS_SWEEPS if getattr(self, h) is not None}
        return [block] if block else None

    def loss_hp(self, name: str, reference: str, declared: list[str]) -> dict[str, list[Any]]:
        """The ``hp`` values of the loss called ``name`` (or ``reference``), by hyper-parameter; an
        item without a loss applies to every loss that declares its name."""
        from ..losses.plugins import parse_hp

        out: dict[str, list[Any]] = {}
        for item in self.hp or []:
            loss, hp_name, values = parse_hp(item)
            if loss in (name, reference) or (loss is None and hp_name in declared):
                out[hp_name] = values
        return out

    def check(self) -> None:
        """Fail fast on values that cannot work, naming them
        (:func:`fewshot_clce.benchmark.validation.check_benchmark`).

        Raises:
            SettingError: naming the setting and the value.
        """
        from .validation import check_benchmark

        check_benchmark(self)


# Command-line flags that are not the field name with dashes (the others: --field-name).
FLAGS = {
    "datasets": "--dataset",
    "lam": "--lambda",
    "manifests_dir": "--manifests",
    "data_root": "--root",
}


def flag(name: str) -> str:
    """The ``fewshot-clce benchmark`` flag of a setting."""
    return FLAGS.get(name, "--" + name.replace("_", "-"))


def resolve(preset: Optional[str] = None, **given: Any) -> BenchmarkConfig:
    """Defaults, then the preset's values, then every ``given`` value that is not None.

    Raises:
        ValueError: on an unknown preset (listing the valid ones) or an unknown field.
    """
    from .presets import PRESETS

    values: dict[str, Any] = {}
    if preset is not None:
        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}; valid presets: {', '.join(PRESETS)}")
        values.update(PRESETS[preset].values)
    names = {f.name for f in dataclasses.fields(BenchmarkConfig)}
    unknown = sorted(set(given) - names)
    if unknown:
        raise ValueError(
            f"unknown benchmark setting(s) {unknown}; valid: {', '.join(sorted(names))}"
        )
    values.update({k: v for k, v in given.items() if v is not None})
    init = values.get("init")
    if isinstance(init, str) and init.startswith(TIMM) and given.get("backbone") is None:
        values["backbone"] = init[len(TIMM) :]  # the weights name their architecture
    cfg = BenchmarkConfig(preset=preset, **{k: v for k, v in values.items() if k != "preset"})
    cfg.check()
    return cfg
