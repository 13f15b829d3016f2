"""Several tests read as one verdict: p-values adjusted for the number of cells a claim looks at.

A claim such as "L beats the baseline" looks at every (dataset, head, shots) cell; with four cells
tested at p < 0.05 each, one of them passes by chance far more often than once in twenty. Holm's
step-down procedure (Holm 1979, *Scandinavian Journal of Statistics* 6(2)) keeps the chance of any
false "supported" cell at 5% without assuming the cells independent, and rejects everything
Bonferroni does.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm-adjusted p-values, in the order given.

    The ``i``-th smallest of ``m`` p-values is multiplied by ``m - i`` (``i`` from 0), made
    non-decreasing along that order and capped at 1; a cell is rejected at level ``a`` when its
    adjusted p is below ``a``. NaN stays NaN and does not count among the ``m`` tests.

    Args:
        p_values: ``[m]`` unadjusted two-sided p-values.

    Returns:
        ``[m]`` adjusted p-values.
    """
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    known = np.flatnonzero(~np.isnan(p))
    m = len(known)
    order = known[np.argsort(p[known], kind="stable")]
    running = 0.0
    for i, idx in enumerate(order):
        running = max(running, min(1.0, (m - i) * p[idx]))
        out[idx] = running
    return out
