"""The training budget as an axis: one benchmark per number of epochs, and a report across them
(:mod:`fewshot_clce.benchmark.budget_report`).

A comparison of losses at one budget says nothing about another: a loss that learns faster wins a
short budget and may tie or lose a long one. ``fewshot-clce benchmark --epochs 3 10 30`` runs the
same benchmark at every budget, each into its own folder ``OUT/epochs-E`` (a complete benchmark
folder: resumable, reportable on its own), with every loss's configuration chosen on val *at that
budget*, and then writes the budget report across them.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from .budget_report import BUDGET_FILE, budget_folder, write_budget_report
from .config import BenchmarkConfig
from .config_format import FORMAT_VERSION, migrate_identity


def check_budgets(budgets: Sequence[int]) -> list[int]:
    """The budgets in increasing order.

    Raises:
        ValueError: for fewer than two budgets, a repeated one or one below 1.
    """
    values = [int(b) for b in budgets]
    if len(values) < 2:
        raise ValueError(f"a budget study needs two or more --epochs values; got {values}")
    if len(set(values)) != len(values):
        raise ValueError(f"--epochs repeats a value: {values}")
    if min(values) < 1:
        raise ValueError(f"--epochs values must be at least 1; got {values}")
    return sorted(values)


def _record(cfg: BenchmarkConfig, budgets: list[int]) -> dict:
    identity = {k: v for k, v in cfg.identity().items() if k != "epochs"}
    return {
        "format_version": FORMAT_VERSION,
        "budgets": budgets,
        "config": identity,
        "command": cfg.command,
    }


def _write_record(out: Path, cfg: BenchmarkConfig, budgets: list[int], force: bool) -> None:
    """Write ``budget.json``; a folder of another study is refused unless ``force``.

    The budgets may grow between runs (a longer budget added later): only the rest of the
    configuration must agree.
    """
    path = out / BUDGET_FILE
    record = _record(cfg, budgets)
    if path.is_file() and not force:
        old = json.loads(path.read_text(encoding="utf-8"))
        recorded = migrate_identity(old.get("config", {}), old.get("format_version"), str(path))
        if recorded != record["config"]:
            differ = sorted(
                k
                for k in set(recorded) | set(record["config"])
                if recorded.get(k) != record["config"].get(k)
            )
            raise ValueError(
                f"{out} holds a budget study of another configuration (differs in {', '.join(differ)}); "
                "choose another --out, or pass --force to replace it"
            )
        record["budgets"] = sorted(set(old.get("budgets", [])) | set(budgets))
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")


@dataclass
class BudgetResult:
    out: Path
    budgets: list[int]
    results: dict[int, object]
    paths: list[Path]


def run_budget_study(
    cfg: BenchmarkConfig,
    budgets: Sequence[int],
    out: Path,
    force: bool = False,
    log: Optional[Callable[[str], None]] = None,
) -> BudgetResult:
    """Run (or resume) the benchmark ``cfg`` at every budget, then write the budget report.

    Budgets run shortest first, so an interrupted study has its short budgets complete.
    """
    from .run import _log, run_benchmark

    log = log or _log
    budgets = check_budgets(budgets)
    out = Path(out).expanduser()
    _write_record(out, cfg, budgets, force)
    results = {}
    for epochs in budgets:
        log(f"=== budget: {epochs} epochs -> {budget_folder(out, epochs)}")
        sub = dataclasses.replace(
            cfg, epochs=epochs, command=f"{cfg.command} (budget {epochs} epochs)"
        )
        results[epochs] = run_benchmark(sub, budget_folder(out, epochs), force=force, log=log)
    paths = write_budget_report(out)
    return BudgetResult(out, budgets, results, paths)
