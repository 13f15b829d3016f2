"""How often does a seed-level 95% interval contain the truth? Simulated benchmarks, three methods.

Each simulated benchmark is one results cell: S training seeds evaluated on the same E episodes
(a fresh manifest per benchmark), with seed, episode and seed x episode effects (see
``fewshot_clce.stats.coverage``). The effect sizes are either given or measured on a real
benchmark folder (``--from DIR``: the variance components of every cell of its per_episode.csv
with two or more seeds, accuracies and paired differences against the baseline; the medians
become the two scenarios).

    python benchmarks/seed_interval_coverage.py [--from results/paper-glyphs] [--sims 4000]
        [--bootstrap-sims 500] [--episodes 1000] [--seeds 2 3 5 10]

Prints, ready to paste into the README, the command and the effect sizes, a markdown table of
coverage per method and seed count, then one line per method and, last, from how many seeds the
default (crossed) interval covers at least 92.5% in every scenario, against the toolkit's
``fewshot_clce.stats.seeds.TRUSTED_SEEDS``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere in a checkout

from fewshot_clce.stats.coverage import TRUST_FLOOR, Scenario, coverage_table, trusted_seeds  # noqa: E402
from fewshot_clce.stats.crossed import crossed_t  # noqa: E402
from fewshot_clce.stats.seeds import TRUSTED_SEEDS, seed_matrix  # noqa: E402

# Defaults: the medians measured on this project's glyphs ablation (3 seeds; see the README).
DEFAULT_DELTA = dict(sd_seed=0.004, sd_episode=0.02, sd_residual=0.05)
DEFAULT_ACCURACY = dict(sd_seed=0.006, sd_episode=0.09, sd_residual=0.06, accuracy=0.85)
QUERIES = 75  # predictions per 5-way 15-query episode


def measured_scenarios(folder: Path, baseline: str = "ce"):
    """Median variance components (accuracy scale) of the cells of a benchmark's per_episode.csv.

    Returns the paired-difference and the accuracy effect sizes, and the median number of
    episodes of a cell; cells need two or more seeds.
    """
    from fewshot_clce.stats.summary import with_config

    df = with_config(pd.read_csv(folder / "per_episode.csv"))
    df = df[df["split"] == "novel"]
    acc, delta, episodes = [], [], []
    for _, cell in df.groupby(["dataset", "head", "shots"]):
        mats = {c: seed_matrix(g) for c, g in cell.groupby("config")}
        base = [c for c in mats if c.split("(")[0] == baseline]
        for c, m in mats.items():
            if len(m) < 2:
                continue
            ct = crossed_t(m.to_numpy())
            episodes.append(m.shape[1])
            acc.append(
                (
                    float(ct.var_seed),
                    float(ct.var_episode),
                    float(ct.var_residual),
                    float(m.to_numpy().mean()),
                )
            )
            if base and c not in base and list(mats[base[0]].index) == list(m.index):
                ct = crossed_t(m.to_numpy() - mats[base[0]].to_numpy())
                delta.append((float(ct.var_seed), float(ct.var_episode), float(ct.var_residual)))
    if not acc or not delta:
        raise SystemExit(
            f"{folder}: no cells with two or more seeds (and a {baseline} baseline) to measure"
        )
    a, d = np.median(np.array(acc), axis=0), np.median(np.array(delta), axis=0)
    print(
        f"measured on {folder}: {len(acc)} accuracy cells, {len(delta)} paired-difference cells (medians)"
    )
    return (
        dict(
            sd_seed=float(np.sqrt(d[0])),
            sd_episode=float(np.sqrt(d[1])),
            sd_residual=float(np.sqrt(d[2])),
        ),
        dict(
            sd_seed=float(np.sqrt(a[0])),
            sd_episode=float(np.sqrt(a[1])),
            sd_residual=float(np.sqrt(a[2])),
            accuracy=float(a[3]),
        ),
        int(np.median(episodes)),
    )


def binomial_version(acc: dict) -> Scenario:
    """The accuracy scenario as per-episode counts of right predictions (delta method to the logit
    scale; the binomial part of the measured residual variance is left to the draw itself)."""
    p = acc["accuracy"]
    slope = p * (1 - p)  # d sigmoid / d logit at p
    resid = max(acc["sd_residual"] ** 2 - p * (1 - p) / QUERIES, 0.0)
    return Scenario(
        "accuracy, binomial",
        sd_seed=acc["sd_seed"] / slope,
        sd_episode=acc["sd_episode"] / slope,
        sd_residual=float(np.sqrt(resid)) / slope,
        kind="binomial",
        accuracy=p,
        queries=QUERIES,
    )


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--from",
        dest="source",
        default=None,
        help="benchmark folder to measure the effect sizes on",
    )
    p.add_argument(
        "--sims", type=int, default=4000, help="simulated benchmarks per method and seed count"
    )
    p.add_argument(
        "--bootstrap-sims", type=int, default=500, help="the same for the (slow) bootstrap"
    )
    p.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples")
    p.add_argument(
        "--episodes",
        type=int,
        default=None,
        help="episodes per simulated benchmark (default: the --from folder's, else 1000)",
    )
    p.add_argument("--seeds", type=int, nargs="+", default=[2, 3, 5, 10])
    args = p.parse_args(argv)
    print(
        "command: python benchmarks/seed_interval_coverage.py "
        + " ".join(sys.argv[1:] if argv is None else argv)
    )
    if args.source:
        delta, accuracy, measured_episodes = measured_scenarios(Path(args.source))
    else:
        delta, accuracy, measured_episodes = DEFAULT_DELTA, DEFAULT_ACCURACY, 1000
    args.episodes = args.episodes or measured_episodes
    scenarios = [
        Scenario("paired difference", **delta),
        Scenario("accuracy", **{k: v for k, v in accuracy.items() if k != "accuracy"}),
        binomial_version(accuracy),
    ]
    for s in scenarios:
        print(
            f"scenario {s.name}: sd seed {s.sd_seed:.4g}, sd episode {s.sd_episode:.4g}, "
            f"sd residual {s.sd_residual:.4g} ({s.kind}{', logit scale' if s.kind == 'binomial' else ''})"
        )
    start = time.perf_counter()
    table = coverage_table(
        scenarios,
        seeds=args.seeds,
        n_episodes=args.episodes,
        n_sims=args.sims,
        bootstrap_sims=args.bootstrap_sims,
        n_boot=args.n_boot,
    )
    took = time.perf_counter() - start
    wide = table.pivot_table(
        index=["scenario", "method"], columns="seeds", values="coverage"
    ).reset_index()
    order = {"crossed": 0, "bootstrap": 1, "t-seed-means": 2}  # the default first
    wide = wide.sort_values(
        ["scenario", "method"], key=lambda c: c.map(order) if c.name == "method" else c
    )
    cols = [c for c in wide.columns if isinstance(c, (int, np.integer))]
    print("\n| scenario | method | " + " | ".join(f"{c} seeds" for c in cols) + " |")
    print("|---|---|" + "---|" * len(cols))
    for _, r in wide.iterrows():
        print(
            f"| {r['scenario']} | {r['method']} | "
            + " | ".join(f"{100 * r[c]:.1f}%" for c in cols)
            + " |"
        )
    sims = {m: int(g["sims"].iloc[0]) for m, g in table.groupby("method")}
    print(f"\n{args.episodes} episodes per benchmark; simulations per cell: {sims}; {took:.0f} s")
    for m, g in table.groupby("method", sort=False):
        worst = g.loc[g["coverage"].idxmin()]
        print(
            f"coverage of nominal 95%: {m}: {100 * g['coverage'].min():.1f}%-{100 * g['coverage'].max():.1f}% "
            f"(lowest at {int(worst['seeds'])} seeds, {worst['scenario']})"
        )
    trusted = trusted_seeds(table, "crossed")
    where = "never, up to the largest seed count" if trusted is None else f"from {trusted} seeds on"
    print(
        f"crossed interval covers at least {100 * TRUST_FLOOR:.1f}% in every scenario: {where} "
        f"(fewshot_clce.stats.seeds.TRUSTED_SEEDS = {TRUSTED_SEEDS}"
        f"{'' if trusted == TRUSTED_SEEDS else '; this run disagrees with it'})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
