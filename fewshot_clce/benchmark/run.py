"""The benchmark: train one backbone per (loss, hyper-parameters, seed), evaluate all on the same episodes.

Only orchestration: training is :func:`fewshot_clce.training.trainer.train`, evaluation
:func:`fewshot_clce.evaluation.evaluate_run`, episodes come from :mod:`fewshot_clce.benchmark.manifests`
and every number from :mod:`fewshot_clce.report.analysis`. Output layout: see :mod:`fewshot_clce.report.writer`.

Resuming: a training whose run folder holds a finished run (all epochs, a best checkpoint, the
same settings) is reused, an interrupted one is continued from its last checkpoint, and a run's
evaluation is reused when its result file was made from the same checkpoint, episodes and heads
and holds every row of them (a damaged or incomplete one is evaluated again, with a log line).
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import pandas as pd

from ..report import writer as report
from ..report.analysis import Analysis, analyse
from ..utils.files import StartGuard
from .config import BenchmarkConfig
from .estimate import print_estimate
from .output_folder import prepare_output
from .plan import (
    RunSpec,
    check_names,
    explicit_fields,
    plan_runs,
    refuse_different_runs,
    run_state,
    train_config,
)
from .result_cache import cached, evaluation_key
from .validation import check_identities, check_splits, check_trainings

if TYPE_CHECKING:
    from .executors import Executor
    from .init_weights import InitWeights

SPLITS = ("val", "novel")


@dataclass
class BenchmarkResult:
    """What a benchmark did: the analysis, and which trainings/evaluations ran or were reused."""

    out: Path
    analysis: Analysis
    trained: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    evaluated: list[str] = field(default_factory=list)
    reused_evaluations: list[str] = field(default_factory=list)
    timing: dict[str, float] = field(default_factory=dict)


def evaluate_spec(
    spec: RunSpec,
    cfg: BenchmarkConfig,
    out: Path,
    manifests: dict,
    log: Callable[[str], None] = lambda m: None,
) -> tuple:
    """Per-episode rows of one run on every manifest, and whether they were reused from disk
    (:func:`~fewshot_clce.benchmark.result_cache.cached`; ``log`` says why a file was not)."""
    from ..evaluation import evaluate_run
    from ..training.run_folder import checkpoint_id

    run_dir = spec.run_dir(out)

    def compute() -> pd.DataFrame:
        df = evaluate_run(
            run_dir, [eps for eps, _ in manifests.values()], heads=cfg.heads, device=cfg.device
        )
        return spec.annotate(df, run_dir, cfg.backbone)

    key = evaluation_key(checkpoint_id(run_dir), manifests, cfg.heads)
    return cached(spec.result_path(out), key, compute, log)


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run_benchmark(
    cfg: BenchmarkConfig, out: str | Path, force: bool = False, log: Callable[[str], None] = _log
) -> BenchmarkResult:
    """Run (or resume) the benchmark described by ``cfg`` into ``out``; see the module docstring.

    The folder is locked while it runs (:func:`~fewshot_clce.utils.folder_lock.folder_lock`).

    Raises:
        FolderInUseError: another benchmark is running in ``out`` (the message names it).
    """
    from ..utils.folder_lock import folder_lock

    out = Path(out).expanduser()
    with folder_lock(out, "benchmark folder", "pass another --out"):
        return _run_benchmark(cfg, out, force, log)


@dataclass
class _Prepared:
    """What a benchmark start read, drew and checked before any training."""

    specs: list[RunSpec]
    states: dict
    executor: Executor
    datasets: dict
    init: Optional[InitWeights]
    targets: dict
    manifests: dict
    cross: dict


def _run_benchmark(
    cfg: BenchmarkConfig, out: Path, force: bool, log: Callable[[str], None]
) -> BenchmarkResult:
    t0 = time.perf_counter()
    out = Path(out).expanduser()
    prep = _prepare(cfg, out, force, log)
    res = BenchmarkResult(out, None)  # type: ignore[arg-type]
    _train(cfg, out, force, prep, res)
    frames = _evaluate(cfg, out, prep, res, log)
    res.analysis = analyse(
        pd.concat(frames, ignore_index=True),
        baseline=cfg.baseline,
        n_boot=cfg.n_boot,
        boot_seed=cfg.boot_seed,
    )
    _write_report(cfg, out, prep, res, t0, log)
    return res


def _prepare(cfg: BenchmarkConfig, out: Path, force: bool, log: Callable[[str], None]) -> _Prepared:
    """Check everything, load the datasets, write config.json and the episodes; until the first
    training starts, a failure takes back what this call wrote into ``out``, so the corrected
    command needs no --force."""
    from ..data import create_dataset, dataset_id
    from . import cross_domain, init_weights
    from .executors import make_executor

    specs = plan_runs(cfg)  # validates losses before anything is written
    check_names(cfg)
    check_identities(cfg.datasets)
    check_trainings(cfg, specs, out)
    executor = make_executor(cfg, out, log)  # its options are checked before any training starts
    # keyed by identity, as result rows name datasets; each is loaded from the spec the user gave
    datasets = {dataset_id(d): create_dataset(d, root=cfg.data_root) for d in cfg.datasets}
    check_splits(datasets)
    init = init_weights.prepare_init(cfg, datasets)  # read and digested before any work
    targets = cross_domain.cross_datasets(cfg, datasets)
    guard = StartGuard(out, ["config.json"], added_to=["episodes"])
    try:
        init_weights.check_init_digest(out, init, force)
        prepare_output(out, cfg, force, init.record() if init else None)
        manifests, cross = _episodes(cfg, out, datasets, targets, log)
        states = {
            (s.dataset_id, s.name): run_state(
                s.run_dir(out), train_config(s, cfg, out), explicit_fields(s, cfg)
            )
            for s in specs
        }
        init_weights.check_run_inits(specs, out, init, states, force)
        refuse_different_runs(specs, states, out, cfg, force)
        todo = [s for s in specs if states[(s.dataset_id, s.name)] != "finished"]
        print_estimate(cfg, specs, todo, datasets, manifests, out, log)
    except Exception:
        guard.undo()
        raise
    return _Prepared(specs, states, executor, datasets, init, targets, manifests, cross)


def _episodes(
    cfg: BenchmarkConfig, out: Path, datasets: dict, targets: dict, log: Callable[[str], None]
) -> tuple:
    """``(manifests, cross)``: the fixed episodes of every dataset and ``eval_datasets`` entry,
    logged with where each comes from."""
    from .cross_domain import cross_manifests
    from .manifests import benchmark_manifests, committed_dir, unused_manifests

    search = [Path(cfg.manifests_dir)] if cfg.manifests_dir else [committed_dir()]
    counts = {"val": cfg.val_episodes, "novel": cfg.episodes}
    manifests = {
        d: benchmark_manifests(
            ds,
            SPLITS,
            cfg.ways,
            cfg.shots,
            cfg.queries,
            counts,
            cfg.episode_seed,
            out / "episodes",
            search,
        )
        for d, ds in datasets.items()
    }
    cross = cross_manifests(cfg, targets, out / "episodes", search)
    for d, m in {**manifests, **cross}.items():
        for (s, k), (eps, src) in sorted(m.items()):
            log(f"episodes {d}/{s} {cfg.ways}-way {k}-shot: {len(eps)} from {src}")
    if cfg.manifests_dir:
        used = [src for m in {**manifests, **cross}.values() for _, src in m.values()]
        for path in unused_manifests(Path(cfg.manifests_dir), used):
            log(
                f"note: {path} in --manifests is for no dataset, split, ways and shots of "
                "this benchmark; not used"
            )
    return manifests, cross


def _train(
    cfg: BenchmarkConfig, out: Path, force: bool, prep: _Prepared, res: BenchmarkResult
) -> None:
    """Train (or continue) every run that is not finished, through the executor."""
    from .training_task import Training

    trainings = []
    for spec in prep.specs:
        state = prep.states[(spec.dataset_id, spec.name)]
        if state == "finished":
            res.reused.append(spec.name)
            continue
        config = dataclasses.replace(
            train_config(spec, cfg, out),
            resume=state == "partial",
            force=state == "different" and force,
        )
        trainings.append(Training(spec, config))
    took = prep.executor.run(trainings) if trainings else {}
    for t in trainings:
        res.trained.append(t.name)
        res.timing[f"train/{t.key}"] = took[t.key]


def _evaluate(
    cfg: BenchmarkConfig,
    out: Path,
    prep: _Prepared,
    res: BenchmarkResult,
    log: Callable[[str], None],
) -> list[pd.DataFrame]:
    """The per-episode rows of every run (and of the reference rows), reused where they may be."""
    from tqdm import tqdm

    from . import cross_domain, init_weights, untrained

    frames = []
    for spec in tqdm(prep.specs, desc="evaluate", unit="run", disable=not cfg.progress):
        start = time.perf_counter()
        df, reused = evaluate_spec(spec, cfg, out, prep.manifests[spec.dataset_id], log)
        (res.reused_evaluations if reused else res.evaluated).append(spec.name)
        if not reused:
            res.timing[f"evaluate/{spec.dataset_id}/{spec.name}"] = time.perf_counter() - start
        frames.append(df)
        for d, df, reused in cross_domain.evaluate_cross(
            spec, cfg, out, prep.targets, prep.cross, log
        ):
            (res.reused_evaluations if reused else res.evaluated).append(f"{spec.name} on {d}")
            frames.append(df)
    frames = (
        untrained.evaluate_untrained(cfg, out, prep.specs, prep.datasets, prep.manifests, log)
        + frames
    )
    if cfg.baseline_backbone:
        frames = (
            init_weights.evaluate_init(
                cfg,
                out,
                prep.specs,
                prep.init,
                prep.datasets,
                prep.manifests,
                prep.targets,
                prep.cross,
                log,
            )
            + frames
        )
    return frames


def _write_report(
    cfg: BenchmarkConfig,
    out: Path,
    prep: _Prepared,
    res: BenchmarkResult,
    t0: float,
    log: Callable[[str], None],
) -> None:
    """Plots, sanity warnings, the result files and REPORT.md of the analysed benchmark."""
    from ..report import sanity

    start = time.perf_counter()
    report.write_plots(out, res.analysis)
    if cfg.tsne:
        _tsne_plots(res.analysis, cfg, out, prep.datasets, prep.specs)
    res.timing["plots_s"] = time.perf_counter() - start
    res.timing["total_s"] = time.perf_counter() - t0
    novel_classes = sanity.novel_class_counts(prep.datasets)
    for warning in sanity.sanity_warnings(res.analysis, novel_classes):
        log(warning)
    config = json.loads((out / "config.json").read_text())
    report.write_results(out, res.analysis, config, res.timing, novel_classes)
    report.write_report(out, analysis=res.analysis)  # analysed and drawn above: not read back


def _tsne_plots(
    an: Analysis, cfg: BenchmarkConfig, out: Path, datasets, specs: list[RunSpec]
) -> None:
    """t-SNE of novel-class features, CE beside CLCE (else every chosen loss), first seed."""
    from ..report import plots
    from ..report.claims import REFERENCE_LOSSES
    from ..report.embeddings import embed_runs

    run_dirs = {(s.dataset_id, s.name): s.run_dir(out) for s in specs}

    for d in an.datasets:
        chosen = an.chosen[an.chosen["dataset"] == d].set_index("loss")["config"]
        chosen = chosen[~chosen.index.isin(REFERENCE_LOSSES)]  # no run folder of their own
        losses = [name for name in (cfg.baseline, "clce") if name in chosen.index]
        if len(losses) < 2:
            losses = list(chosen.index)
        df = an.per_episode
        seed = min(an.seeds)
        runs = {}
        for loss in losses:
            names = df.loc[
                (df["dataset"] == d) & (df["config"] == chosen[loss]) & (df["seed"] == seed), "run"
            ]
            runs[f"{chosen[loss]}, seed {seed}"] = run_dirs[(d, str(names.iloc[0]))]
        split = datasets[d].split("novel")
        emb = embed_runs(
            runs,
            split,
            cfg.tsne_classes,
            cfg.tsne_per_class,
            seed=cfg.episode_seed,
            device=cfg.device,
        )
        plots.embedding_panels(
            emb,
            out / "plots" / f"tsne_{d}.png",
            split.class_names,
            title=f"{d}: t-SNE of novel-class features ({cfg.tsne_classes} classes)",
        )
