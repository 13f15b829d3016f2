"""A benchmark folder's records read back: ``results.json`` (its format, the row count of
per_episode.csv, timings, novel classes) and ``config.json``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

# The format of results.json; format 1 (files without a format_version) may lack per_episode_rows.
RESULTS_FORMAT_VERSION = 2


def recorded_rows(folder: Path) -> Optional[int]:
    """The row count of per_episode.csv that results.json records (None when it records none)."""
    try:
        rows = json.loads((folder / "results.json").read_text()).get("per_episode_rows")
    except (OSError, ValueError, AttributeError):
        return None
    return rows if isinstance(rows, int) and not isinstance(rows, bool) else None


def read_meta(folder: Path) -> tuple:
    """``(config dict, timing dict)`` of a benchmark folder (config.json, results.json)."""

    def read(name: str) -> dict:
        path = folder / name
        if not path.is_file():
            return {}
        try:
            blob = json.loads(path.read_text())
        except (ValueError, UnicodeDecodeError) as e:  # JSONDecodeError is a ValueError
            raise ValueError(
                f"{str(path)!r} is not readable JSON ({str(e).splitlines()[0]}); it may have been cut "
                "short: re-run the benchmark's command with --force into this folder (finished runs are reused) "
                "to write it again"
            ) from None
        return blob if isinstance(blob, dict) else {}

    results = read("results.json")
    return read("config.json") or results.get("config", {}), results.get("timing", {})


def novel_classes_of(folder: Path) -> dict[str, int]:
    """dataset -> novel classes, as the benchmark recorded them in results.json (else {})."""
    try:
        blob = json.loads((folder / "results.json").read_text())
        counts = blob.get("novel_classes") if isinstance(blob, dict) else None
        return {str(k): int(v) for k, v in counts.items()} if isinstance(counts, dict) else {}
    except (OSError, ValueError, TypeError, UnicodeDecodeError, AttributeError):
        return {}  # an unreadable results.json is named by read_meta; only the warning needs these


def remember_losses_of(folder: Path) -> None:
    """Register the loss declarations the benchmark kept in results.json (``loss_hparams``), so
    this process's tables know the hyper-parameters of losses it never imported
    (:mod:`fewshot_clce.losses.recorded`); nothing when there are none."""
    from ..losses.recorded import remember

    try:
        blob = json.loads((folder / "results.json").read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return  # an unreadable results.json is named by read_meta
    if isinstance(blob, dict) and isinstance(blob.get("loss_hparams"), dict):
        remember(blob["loss_hparams"], str(folder / "results.json"))
