"""The crossed seeds x episodes random-effects model: the seed-level t interval and test.

Per-episode accuracies ``x[s, e]`` of ``S`` training seeds on the same ``E`` episodes follow the
two-way random-effects model of a crossed design, ``x[s, e] = mu + u_s + v_e + w_se`` (seed
effect, episode effect, interaction). The variance of the grand mean,
``var(u)/S + var(v)/E + var(w)/(S E)``, is estimated from the ANOVA mean squares (components
truncated at zero) and its degrees of freedom by Satterthwaite's approximation (Satterthwaite
1946, *Biometrics Bulletin* 2(6); the variance-component estimators are the classical ones, e.g.
Searle, Casella and McCulloch, *Variance Components*, 1992, ch. 4). The same statistic gives the
seed-level p-value of a paired difference. It is the ``"crossed"`` method of
:mod:`fewshot_clce.stats.seeds`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CrossedT:
    """The crossed random-effects t statistic of a ``[S, E]`` matrix's grand mean (arrays: one per matrix).

    Attributes:
        mean: grand mean; se: its standard error; df: Satterthwaite degrees of freedom.
        var_seed, var_episode, var_residual: variance components (truncated at zero).
    """

    mean: np.ndarray
    se: np.ndarray
    df: np.ndarray
    var_seed: np.ndarray
    var_episode: np.ndarray
    var_residual: np.ndarray

    def interval(self, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """``(low, high)`` of the two-sided ``level`` interval."""
        from scipy import stats as _st

        q = _st.t.ppf(0.5 + level / 2, self.df)
        return self.mean - q * self.se, self.mean + q * self.se

    def p_value(self, null: float = 0.0) -> np.ndarray:
        """Two-sided p-value of ``mean == null`` (1 where the difference and its se are both 0)."""
        from scipy import stats as _st

        diff = self.mean - null
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.abs(diff) / self.se
        p = 2 * _st.t.sf(t, self.df)
        return np.where(self.se > 0, p, np.where(diff == 0, 1.0, 0.0))


def crossed_t(values: np.ndarray) -> CrossedT:
    """Estimate the grand mean's standard error under the crossed seeds x episodes model.

    Args:
        values: ``[S, E]`` (one matrix) or ``[n, S, E]`` (n matrices at once; the coverage
            simulation uses this) with ``S >= 2`` seeds.

    Returns:
        :class:`CrossedT` with arrays of shape ``[]`` or ``[n]``. With one episode per seed
        (``E == 1``) the model reduces to the t interval over seed means.

    Raises:
        ValueError: for fewer than 2 seeds.
    """
    x = np.asarray(values, dtype=np.float64)
    single = x.ndim == 2
    x = x[None] if single else x  # [n, S, E]
    n, s, e = x.shape
    if s < 2:
        raise ValueError(f"a seed-level interval needs at least 2 seeds, got {s}")
    grand = x.mean(axis=(1, 2))  # [n]
    rows = x.mean(axis=2)  # [n, S] seed means
    cols = x.mean(axis=1)  # [n, E] episode means
    ms_seed = e * ((rows - grand[:, None]) ** 2).sum(1) / (s - 1)
    if e > 1:
        ms_ep = s * ((cols - grand[:, None]) ** 2).sum(1) / (e - 1)
        resid = x - rows[:, :, None] - cols[:, None, :] + grand[:, None, None]  # [n, S, E]
        ms_res = (resid**2).sum(axis=(1, 2)) / ((s - 1) * (e - 1))
    else:
        ms_ep = np.zeros(n)
        ms_res = np.zeros(n)
    # Components truncated at zero; var(grand) = var_seed/S + var_ep/E + var_res/(S E) is then a
    # combination sum_i k_i MS_i / (S E) with k_i in {-1, 0, 1}, whose df follow Satterthwaite.
    seed_pos = ms_seed > ms_res
    ep_pos = (ms_ep > ms_res) & (e > 1)
    k_seed = seed_pos.astype(float)
    k_ep = ep_pos.astype(float)
    k_res = 1.0 - k_seed - k_ep
    var_grand = (k_seed * ms_seed + k_ep * ms_ep + k_res * ms_res) / (s * e)
    df_seed, df_ep, df_res = s - 1, max(e - 1, 1), max((s - 1) * (e - 1), 1)
    num = (k_seed * ms_seed + k_ep * ms_ep + k_res * ms_res) ** 2
    den = (
        (k_seed * ms_seed) ** 2 / df_seed
        + (k_ep * ms_ep) ** 2 / df_ep
        + (k_res * ms_res) ** 2 / df_res
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        df = np.where(den > 0, num / den, float(df_seed))
    df = np.maximum(df, 1.0)
    out = CrossedT(
        grand,
        np.sqrt(np.maximum(var_grand, 0.0)),
        df,
        np.maximum(ms_seed - ms_res, 0.0) / e,
        np.maximum(ms_ep - ms_res, 0.0) / s if e > 1 else np.zeros(n),
        ms_res,
    )
    if single:
        out = CrossedT(
            *(
                np.asarray(getattr(out, f)[0])
                for f in ("mean", "se", "df", "var_seed", "var_episode", "var_residual")
            )
        )
    return out
