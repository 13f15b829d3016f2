"""Writing a benchmark's results: CSV / markdown / JSON files, plots, and the reproduction report.

Layout of a benchmark folder (``fewshot-clce benchmark --out DIR``)::

    config.json          the resolved BenchmarkConfig (a different one is refused on re-run)
    per_episode.csv      every run x split x head x shots x episode (the results schema)
    selection.csv        validation score of every configuration and which one was chosen
    summary.csv          chosen configurations on novel: mean, CIs, paired Δ vs the baseline
    summary_all.csv      every configuration on novel (for inspection, not for choosing)
    summary_cross.csv    with --eval-datasets: the chosen configurations on other datasets' novel split
    summary.md           the tables in markdown
    results.json         summaries, choices, config and timings in one file
    plots/*.png          accuracy bars (also trained on X, evaluated on Y), paired differences,
                         accuracy vs batch size, t-SNE
    REPORT.md, report.ipynb   the reproduction report (``fewshot-clce report DIR``; its text:
                         :mod:`fewshot_clce.report.sections`)
    runs/, results/, episodes/   training runs, per-run results, generated manifests

Everything is recomputed from ``per_episode.csv``; summaries are never the only record.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Optional

import pandas as pd

from ..losses.recorded import records
from ..stats import seeds as seedstats
from ..stats.seeds import DEFAULT_BOOT, DEFAULT_BOOT_SEED
from ..stats.summary import hparam_columns
from ..utils import files as _io
from ..utils.checks import at_least
from ..utils.files import write_json_atomic, write_text_atomic
from . import plots
from .analysis import Analysis, analyse
from .claims import Finding, check_all, findings_frame
from .results_json import (
    RESULTS_FORMAT_VERSION,
    novel_classes_of,
    read_meta,
    recorded_rows,
    remember_losses_of,
)
from .sanity import sanity_warnings
from .sections import dataset_tables, report_sections, transfer_overview, transfer_tables
from .sensitivity import write_sensitivity_plots
from .tables import selection_markdown, summary_markdown
from .tuning import grid_edges, tuning_rows


def write_csv(df: pd.DataFrame, path: Path) -> Path:
    """``df`` as a CSV file, atomically; text that a spreadsheet would run as a formula is quoted."""
    return _io.write_csv(df, path)


def _json_rows(df: pd.DataFrame) -> list:
    rows = json.loads(df.to_json(orient="records"))  # NaN -> null
    return rows


def console_text(an: Analysis) -> str:
    """What the benchmark prints at the end: per dataset the loss x head x shots table (and, with
    cross-domain rows, each training dataset's accuracy on every dataset)."""
    parts = []
    for d, table in dataset_tables(an).items():
        parts.append(
            f"## {d}: novel classes, 95% CI, Δ vs {an.baseline} paired on the same episodes\n\n{table}"
        )
    parts += transfer_overview(an)
    if an.swept:
        hp = hparam_columns(an.chosen.columns)
        parts.append(
            "## hyper-parameters chosen on the val split (never on novel)\n\n"
            + selection_markdown(an.chosen, hp)
        )
    edges = grid_edges(an.chosen, an.per_episode)
    if edges:
        parts.append(
            "## WARNING: choices at the edge of their grid\n\n"
            + "\n".join(f"- {e.text()}" for e in edges)
        )
    return "\n\n".join(parts)


def write_results(
    out: Path,
    an: Analysis,
    config: Optional[dict] = None,
    timing: Optional[dict] = None,
    novel_classes: Optional[dict[str, int]] = None,
) -> list[Path]:
    """The result files of a benchmark folder (all atomic).

    Args:
        novel_classes: dataset -> classes of its novel split, kept in results.json for the report's
            small-split warning.
    """
    out = Path(out)
    paths = [
        write_csv(an.all_episodes, out / "per_episode.csv"),
        write_csv(an.main, out / "summary.csv"),
        write_csv(an.all_configs, out / "summary_all.csv"),
    ]
    if not an.cross.empty:
        paths.append(write_csv(an.cross, out / "summary_cross.csv"))
    sel = an.scores.copy() if not an.scores.empty else an.chosen.copy()
    if not sel.empty:
        chosen = set(zip(an.chosen["dataset"], an.chosen["config"]))
        sel["chosen"] = [(d, c) in chosen for d, c in zip(sel["dataset"], sel["config"])]
        paths.append(write_csv(sel, out / "selection.csv"))
    md = [f"# Benchmark summary\n\n{console_text(an)}"]
    for (x, y), table in transfer_tables(an).items():
        md.append(
            f"## trained on {x}, evaluated on {y}: novel classes, 95% CI, Δ vs {an.baseline} paired on the "
            f"same episodes\n\n{table}"
        )
    for hp in an.profiles:
        prof = an.profile_of(hp)  # the losses that swept it, and the baseline
        for d in an.datasets:
            p = prof[prof["dataset"] == d]
            md.append(
                f"## {d}: profile over {hp} (others chosen on val at each value)\n\n"
                + summary_markdown(p, an.baseline, extra=[hp])
            )
    paths.append(write_text_atomic(out / "summary.md", "\n\n".join(md) + "\n"))
    blob = {
        "format_version": RESULTS_FORMAT_VERSION,
        "config": config or {},
        "timing": timing or {},
        "seeds": an.seeds,
        "swept": an.swept,
        "per_episode_rows": len(an.all_episodes),
        "summary": _json_rows(an.main),
        "cross": _json_rows(an.cross),
        "chosen": _json_rows(an.chosen),
        "profiles": {hp: _json_rows(p) for hp, p in an.profiles.items()},
        "intervals": {
            "ci_method": an.ci_method,
            "seed_method": an.seed_method,
            "trusted_seeds": seedstats.TRUSTED_SEEDS,
        },
        "bootstrap": {"n_boot": an.n_boot, "seed": an.boot_seed},
        "tuning": _json_rows(pd.DataFrame(tuning_rows(an.chosen, an.per_episode))),
        "grid_edges": [e.as_dict() for e in grid_edges(an.chosen, an.per_episode)],
        "novel_classes": dict(novel_classes or {}),
        # every loss's declared hyper-parameters, for a report read where its code is not
        "loss_hparams": records(pd.unique(an.all_episodes["loss"])),
    }
    paths.append(write_json_atomic(out / "results.json", blob))
    return paths


def write_plots(out: Path, an: Analysis) -> list[Path]:
    """Accuracy bars and paired differences per dataset; accuracy vs batch size when it was swept."""
    pdir = Path(out) / "plots"
    paths = []
    for d in an.datasets:
        main = an.main[an.main["dataset"] == d]
        paths.append(plots.accuracy_bars(main, pdir / f"accuracy_{d}.png", dataset=d))
        chosen = an.chosen[an.chosen["dataset"] == d]
        base = chosen.loc[chosen["loss"] == an.baseline, "config"]
        if len(base) == 1 and len(chosen) > 1:
            order = {loss: i for i, loss in enumerate(pd.unique(main["loss"]))}  # as the tables
            chosen = chosen.sort_values("loss", key=lambda c: c.map(order), kind="stable")
            paths.append(
                plots.paired_differences(
                    an.per_episode,
                    list(chosen["config"]),
                    pdir / f"differences_{d}.png",
                    base.iloc[0],
                    dataset=d,
                )
            )
        if "batch_size" in an.profiles:
            prof = an.profiles["batch_size"]
            paths.append(
                plots.accuracy_vs_batch_size(
                    prof[prof["dataset"] == d], pdir / f"batch_size_{d}.png", d
                )
            )
    for x, y in an.transfers:
        s = an.cross[(an.cross["train_dataset"] == x) & (an.cross["dataset"] == y)]
        paths.append(
            plots.accuracy_bars(
                s, pdir / f"accuracy_{x}_on_{y}.png", title=f"trained on {x}, evaluated on {y}"
            )
        )
    paths += write_sensitivity_plots(an.per_episode, pdir)
    return paths


def load_benchmark(folder: str | Path) -> tuple:
    """``(per_episode DataFrame, config dict, timing dict)`` of a finished benchmark folder.

    The per-episode table is ``per_episode.csv``, else ``per_episode.csv.gz`` (how the README's
    results are committed).

    Raises:
        FileNotFoundError: naming the folder when it holds no ``per_episode.csv``.
    """
    folder = Path(folder)
    pe = folder / "per_episode.csv"
    if (
        not pe.is_file() and (folder / "per_episode.csv.gz").is_file()
    ):  # a folder committed compressed
        pe = folder / "per_episode.csv.gz"
    if not pe.is_file():
        raise FileNotFoundError(
            f"{str(folder)!r} holds no per_episode.csv; is it the --out folder of a "
            "finished `fewshot-clce benchmark` run?"
        )
    from .integrity import DamagedResultsError, check_per_episode

    try:
        df = _io.read_csv(pe, dtype={"manifest": str, "run": str})
    except (ValueError, UnicodeDecodeError, EOFError, OSError) as e:  # parser errors: ValueErrors
        text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DamagedResultsError(
            f"results file {str(pe)!r} is not a readable CSV ({text}); "
            "re-run the benchmark's command into its folder to write it "
            "again"
        ) from None
    config, timing = read_meta(folder)
    remember_losses_of(folder)
    rows = recorded_rows(folder)
    check_per_episode(df, pe, rows)
    return df, config, timing


def _notebook(sections: list[str]) -> dict:
    cells = [{"cell_type": "markdown", "metadata": {}, "source": s} for s in sections]
    cells.append(
        {
            "cell_type": "code",
            "metadata": {},
            "execution_count": None,
            "outputs": [],
            "source": "import pandas as pd\npd.read_csv('summary.csv')",
        }
    )
    return {
        "cells": cells,
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def write_report(
    folder: str | Path,
    n_boot: Optional[int] = None,
    seed_method: str = seedstats.DEFAULT_SEED_METHOD,
    analysis: Optional[Analysis] = None,
    log: Optional[Callable[[str], None]] = None,
) -> tuple[list[Path], list[Finding]]:
    """Recompute every summary from ``folder``'s per-episode results and write REPORT.md + report.ipynb.

    Plots that need only the results (accuracy, differences, batch size) are drawn again; the
    t-SNE plot needs the trained runs and is drawn by the benchmark itself.

    Args:
        n_boot: bootstrap resamples (default: the benchmark's own setting, else 2000); used with
            ``seed_method="bootstrap"``.
        seed_method: seed-level interval, ``"crossed"`` (default) or ``"bootstrap"``.
        analysis: the analysis of this folder's results with its own settings, its plots already
            drawn (what a benchmark holds when it has just written the folder): used as it is,
            instead of reading the results back, analysing and drawing them a second time.
        log: where each sanity warning (:mod:`fewshot_clce.report.sanity`) also goes; None: only
            into REPORT.md.

    Returns:
        The written paths and the claims' findings.
    """
    folder = Path(folder)
    if analysis is not None:
        config, timing = read_meta(folder)
        an = analysis
    else:
        if n_boot is not None:
            at_least("n_boot", n_boot)
        df, config, timing = load_benchmark(folder)
        n_boot = n_boot if n_boot is not None else config.get("n_boot", DEFAULT_BOOT)
        an = analyse(
            df,
            baseline=config.get("baseline", "ce"),
            n_boot=n_boot,
            boot_seed=config.get("boot_seed", DEFAULT_BOOT_SEED),
            seed_method=seed_method,
        )
        write_plots(folder, an)
    findings = check_all(an, config)
    novel_classes = novel_classes_of(folder)
    if log is not None:
        for warning in sanity_warnings(an, novel_classes):
            log(warning)
    sections = report_sections(an, findings, config, timing, folder, novel_classes)
    ff = findings_frame(findings)
    paths = [
        write_text_atomic(folder / "REPORT.md", "\n\n".join(sections) + "\n"),
        write_json_atomic(folder / "report.ipynb", _notebook(sections)),
    ]
    if ff is not None:
        paths.append(write_csv(ff, folder / "claims.csv"))
    return paths, findings
