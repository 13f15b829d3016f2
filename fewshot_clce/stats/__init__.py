"""Statistics of per-episode results: intervals and paired tests, seed-level inference, the one
summary every command prints, and the choice of hyper-parameters on the val split."""

from .._lazy import lazy_dir, lazy_exports
from .intervals import (
    CI_METHODS,
    DEFAULT_CI_METHOD,
    MeanCI,
    PairedComparison,
    mean_ci,
    paired_comparison,
    wilcoxon_p,
)

_NAMES = {
    "hierarchical_bootstrap": ".seeds",
    "seed_level": ".seeds",
    "seed_paired": ".seeds",
    "seed_matrix": ".seeds",
    "crossed_t": ".crossed",
    "TRUSTED_SEEDS": ".seeds",
    "summarize": ".summary",
    "paired_row": ".paired",
}
__all__ = [
    "CI_METHODS",
    "DEFAULT_CI_METHOD",
    "MeanCI",
    "PairedComparison",
    "mean_ci",
    "paired_comparison",
    "wilcoxon_p",
    *_NAMES,
]
__getattr__ = lazy_exports(__name__, _NAMES)
__dir__ = lazy_dir(__all__, _NAMES)
