"""From per-episode results to what a reader sees: the analysis, the paper's claims, tables, plots,
embeddings and the reproduction report (REPORT.md)."""

from .._lazy import lazy_dir, lazy_exports

_NAMES = {
    "Analysis": ".analysis",
    "analyse": ".analysis",
    "check_all": ".claims",
    "Finding": ".claims",
    "console_text": ".writer",
    "write_report": ".writer",
    "write_results": ".writer",
    "load_benchmark": ".writer",
}
__all__ = list(_NAMES)
__getattr__ = lazy_exports(__name__, _NAMES)
__dir__ = lazy_dir([], _NAMES)
