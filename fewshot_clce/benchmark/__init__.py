"""The benchmark: its configuration and named presets, the trainings it plans, the fixed episodes it
evaluates on, the time estimate, and the run that ties them together (train, evaluate, report)."""

from .._lazy import lazy_dir, lazy_exports

_NAMES = {
    "BenchmarkConfig": ".config",
    "PRESETS": ".presets",
    "resolve": ".config",
    "run_benchmark": ".run",
    "BenchmarkResult": ".run",
}
__all__ = list(_NAMES)
__getattr__ = lazy_exports(__name__, _NAMES)
__dir__ = lazy_dir([], _NAMES)
