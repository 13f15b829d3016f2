"""Shared by the benchmark scripts: alternating rounds, per-round ratios, medians, and the load.

A ratio against a peer is only meaningful when both were timed under the same conditions. Each
script therefore runs its contenders in alternating order for several rounds, takes the ratio
within each round, and reports the median with its range, next to the load average before and
after (a machine busy with other jobs slows the contenders unequally).
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Sequence


def cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def load_average() -> tuple[float, float, float]:
    """The 1-, 5- and 15-minute load averages (zeros where the system has none)."""
    try:
        return os.getloadavg()
    except OSError:
        return (0.0, 0.0, 0.0)


def load_line(when: str) -> str:
    """``"load average before: 0.41 0.52 0.60 (2 cores)"``, with a warning when the machine is busy."""
    one, five, fifteen = load_average()
    n = cores()
    text = f"load average {when}: {one:.2f} {five:.2f} {fifteen:.2f} ({n} cores)"
    if one > n:
        text += (
            "  WARNING: the load exceeds the core count; other jobs are running and the ratios below "
            "say as much about them as about the code"
        )
    return text


def timed(fn: Callable[[], object]) -> float:
    """Seconds one call of ``fn`` takes."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def alternate(contenders: dict[str, Callable[[], object]], rounds: int) -> dict[str, list[float]]:
    """Time every contender once per round, the order reversed every other round (ABBA...).

    Returns:
        name -> ``[rounds]`` seconds.
    """
    return alternate_rounds({n: (lambda r, fn=fn: fn()) for n, fn in contenders.items()}, rounds)


def alternate_rounds(
    contenders: dict[str, Callable[[int], object]], rounds: int
) -> dict[str, list[float]]:
    """:func:`alternate` for contenders that take the round number (``0 .. rounds-1``), e.g. to
    work on that round's block of inputs.

    Returns:
        name -> ``[rounds]`` seconds.
    """
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1, got {rounds}")
    names = list(contenders)
    out: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        for n in names if r % 2 == 0 else names[::-1]:
            out[n].append(timed(lambda n=n, r=r: contenders[n](r)))
    return out


def ratios(slow: Sequence[float], fast: Sequence[float]) -> list[float]:
    """Per-round ``slow / fast``."""
    return [s / f for s, f in zip(slow, fast)]


def summary(values: Sequence[float]) -> tuple[float, float, float]:
    """``(median, min, max)``."""
    return statistics.median(values), min(values), max(values)


def ratio_text(values: Sequence[float], digits: int = 1) -> str:
    """``"12.3x (median of 5 rounds, 11.8x-13.0x)"``, with ``digits`` decimals."""
    med, low, high = summary(values)
    return (
        f"{med:.{digits}f}x (median of {len(values)} rounds, {low:.{digits}f}x-{high:.{digits}f}x)"
    )


def train_metrics(argv, out):
    """Run ``fewshot-clce train ARGV`` quietly (its log lines would break up the benchmark's table)
    and return the run's metrics.csv; a failed command ends the script with its one-line error.

    Args:
        argv: the command's arguments after ``fewshot-clce``, ``--out`` included.
        out: the run folder ``argv`` names.
    """
    import contextlib
    import io
    from pathlib import Path

    from fewshot_clce.cli import main as cli_main
    from fewshot_clce.training.run_folder import METRICS
    from fewshot_clce.utils.files import read_csv

    log = io.StringIO()
    with contextlib.redirect_stderr(log), contextlib.redirect_stdout(io.StringIO()):
        code = cli_main(list(argv))
    if code:  # the command's one-line error, instead of a missing metrics.csv
        raise SystemExit(f"fewshot-clce {' '.join(argv)} failed:\n{log.getvalue().strip()}")
    return read_csv(Path(out) / METRICS)
