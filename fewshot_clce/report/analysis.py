"""From a per-episode results table to every summary the benchmark reports.

- ``scores`` / ``chosen``: validation score of each configuration, and the one chosen per
  (dataset, loss) on the ``val`` split (see :mod:`fewshot_clce.stats.selection`).
- ``main``: the chosen configurations on the ``novel`` split, with paired Δ vs the baseline.
- ``all_configs``: every configuration on ``novel`` (for inspection; not for choosing).
- ``profiles``: for each swept hyper-parameter, the configuration chosen on ``val`` at each of
  its values, on ``novel`` (the ablation curves).
- ``cross``: the chosen configurations (chosen on their training dataset's val split) on the
  novel split of the other datasets they were evaluated on (``train_dataset`` != ``dataset``),
  with paired Δ vs the baseline; their per-episode rows are ``cross_episode``, kept apart from
  ``per_episode`` (the in-domain rows every other summary and claim is about).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from ..stats import seeds as seedstats
from ..stats import selection
from ..stats.intervals import DEFAULT_CI_METHOD
from ..stats.summary import summarize, with_config

REQUIRED_COLUMNS = (
    "run",
    "loss",
    "seed",
    "dataset",
    "split",
    "head",
    "ways",
    "shots",
    "episode",
    "accuracy",
)


@dataclass
class Analysis:
    """Every summary of one benchmark's per-episode table (all recomputed from it)."""

    per_episode: pd.DataFrame
    scores: pd.DataFrame
    chosen: pd.DataFrame
    main: pd.DataFrame
    all_configs: pd.DataFrame
    profiles: dict[str, pd.DataFrame] = field(default_factory=dict)
    swept: list[str] = field(default_factory=list)
    baseline: str = "ce"
    n_boot: int = seedstats.DEFAULT_BOOT
    boot_seed: int = seedstats.DEFAULT_BOOT_SEED
    ci_method: str = DEFAULT_CI_METHOD
    seed_method: str = seedstats.DEFAULT_SEED_METHOD
    cross_episode: pd.DataFrame = field(default_factory=pd.DataFrame)
    cross: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def all_episodes(self) -> pd.DataFrame:
        """Every per-episode row, in-domain and cross-domain (what ``per_episode.csv`` holds)."""
        return (
            pd.concat([self.per_episode, self.cross_episode], ignore_index=True)
            if len(self.cross_episode)
            else self.per_episode
        )

    @property
    def transfers(self) -> list[tuple]:
        """``(trained on, evaluated on)`` pairs of the cross-domain rows, in order."""
        if self.cross.empty:
            return []
        return list(dict.fromkeys(zip(self.cross["train_dataset"], self.cross["dataset"])))

    def swept_by(self, hparam: str) -> list[str]:
        """The losses whose grids tried two or more values of ``hparam``."""
        counts = self.per_episode.groupby("loss", sort=False)[hparam].nunique(dropna=True)
        return [loss for loss, n in counts.items() if n > 1]

    def profile_of(self, hparam: str) -> pd.DataFrame:
        """The ablation table of ``hparam``: the profile's rows of the losses that swept it and
        of the baseline (the others would repeat their one chosen configuration)."""
        prof = self.profiles[hparam]
        return prof[prof["loss"].isin([self.baseline, *self.swept_by(hparam)])]

    @property
    def datasets(self) -> list[str]:
        return list(pd.unique(self.main["dataset"]))

    @property
    def seeds(self) -> list[int]:
        return sorted(int(s) for s in self.per_episode["seed"].unique())


def check_columns(df: pd.DataFrame) -> None:
    """Raise ValueError naming the columns of the results schema that ``df`` lacks."""
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(
            f"per-episode results lack column(s) {missing}; expected the results schema "
            f"({', '.join(REQUIRED_COLUMNS)})"
        )


def _trivial_choice(df: pd.DataFrame) -> pd.DataFrame:
    """Without validation rows: allowed only when every loss has a single configuration."""
    counts = df.groupby(["dataset", "loss"])["config"].nunique()
    if (counts > 1).any():
        many = counts[counts > 1].index.tolist()
        raise ValueError(
            f"several configurations of {many} but no results on the val split to choose "
            "among them; evaluate on val episodes too (never choose on novel)"
        )
    chosen = (
        df.groupby(["dataset", "loss", "config"])
        .size()
        .reset_index()[["dataset", "loss", "config"]]
    )
    chosen["val_accuracy"] = float("nan")
    chosen["candidates"] = 1
    return chosen


def analyse(
    per_episode: pd.DataFrame,
    baseline: str = "ce",
    ci_method: str = DEFAULT_CI_METHOD,
    n_boot: int = seedstats.DEFAULT_BOOT,
    boot_seed: int = seedstats.DEFAULT_BOOT_SEED,
    seed_method: str = seedstats.DEFAULT_SEED_METHOD,
) -> Analysis:
    """All summaries of ``per_episode`` (results schema, rows on ``val`` and ``novel``).

    Args:
        ci_method: episode-level interval (``"t"`` or ``"normal"``); seed_method: seed-level one
            (``"crossed"`` or ``"bootstrap"``, whose resamples and generator seed are ``n_boot``,
            ``boot_seed``). See :mod:`fewshot_clce.stats.summary`.
    """
    check_columns(per_episode)
    df = with_config(per_episode)
    transfer = df["dataset"] != df["train_dataset"]
    cross_episode = df[transfer].copy()
    if transfer.any():
        df = df[~transfer].copy()
    kw = dict(
        baseline=baseline,
        ci_method=ci_method,
        n_boot=n_boot,
        boot_seed=boot_seed,
        seed_method=seed_method,
    )
    has_val = (df["split"] == selection.VAL_SPLIT).any()
    scores = selection.validation_scores(df) if has_val else pd.DataFrame()
    chosen = selection.select(df) if has_val else _trivial_choice(df)
    main = summarize(selection.restrict(df, chosen), **kw)
    all_configs = summarize(df, **kw)
    swept = selection.swept(df)
    profiles = {}
    for hp in swept:
        if not has_val:
            raise ValueError(
                f"{hp} was swept but there are no val results to choose the other settings on"
            )
        profiles[hp] = summarize(
            selection.restrict(df, selection.select(df, by=(hp,))), pair_on=(hp,), **kw
        )
    cross = (
        summarize(selection.restrict(cross_episode, chosen), **kw)
        if len(cross_episode)
        else pd.DataFrame()
    )
    return Analysis(
        df,
        scores,
        chosen,
        main,
        all_configs,
        profiles,
        swept,
        baseline,
        n_boot,
        boot_seed,
        ci_method,
        seed_method,
        cross_episode,
        cross,
    )
