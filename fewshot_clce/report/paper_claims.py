"""The CLCE paper's claims (:data:`~fewshot_clce.report.claims.PAPER`), checked when a run holds
what they need: CLCE against CE, hard negatives (β > 0 against β = 0), small batches. Their
verdicts follow the rules of :mod:`fewshot_clce.report.claims`.
"""

from __future__ import annotations

from typing import Optional

import pandas as pd

from ..stats import seeds as seedstats
from ..stats import selection
from ..stats.paired import paired_row
from .analysis import Analysis
from .claims import NO_VERDICT, Finding, _finding, _judge, _row, _rows_table, overall, verdict_rule


def _profile_matrix(an: Analysis, config: str, dataset: str, head: str, shots: int) -> pd.DataFrame:
    df = an.per_episode
    cell = df[
        (df["split"] == "novel")
        & (df["config"] == config)
        & (df["dataset"] == dataset)
        & (df["head"] == head)
        & (df["shots"] == shots)
    ]
    return seedstats.seed_matrix(cell)


def _compare(an: Analysis, a: str, b: str, what: str, dataset: Optional[str] = None) -> list[dict]:
    """Paired ``a - b`` for every (dataset, head, shots) both configurations were evaluated on."""
    df = an.per_episode
    out = []
    mine = df[(df["split"] == "novel") & (df["config"] == a)]
    if dataset is not None:
        mine = mine[mine["dataset"] == dataset]
    for d, h, k in mine[["dataset", "head", "shots"]].drop_duplicates().itertuples(index=False):
        try:
            pr = paired_row(
                _profile_matrix(an, a, d, h, k),
                _profile_matrix(an, b, d, h, k),
                n_boot=an.n_boot,
                boot_seed=an.boot_seed,
                ci_method=an.ci_method,
                seed_method=an.seed_method,
            )
        except ValueError:
            continue
        out.append(_row(what, d, h, k, pr, an))
    return out


def _profile_configs(an: Analysis, hp: str, loss: str) -> pd.DataFrame:
    chosen = selection.select(an.per_episode, by=(hp,))
    return chosen[chosen["loss"] == loss].sort_values(hp)


def clce_beats_ce(an: Analysis) -> Optional[Finding]:
    """CLCE beats CE in 5-way 1-shot and 5-shot (chosen configurations, novel classes); None when
    the run lacks either."""
    claim = "CLCE beats CE in 1-shot and 5-shot"
    if an.baseline == "ce":
        m = an.main
        cells = m[(m["loss"] == "clce") & m["delta"].notna()] if "delta" in m else m.iloc[:0]
        rows = [
            _row("clce − ce", r["dataset"], r["head"], r["shots"], r, an)
            for _, r in cells.iterrows()
        ]
    else:
        rows = []
        for d, g in an.chosen.groupby("dataset", sort=False):
            cfg = g.set_index("loss")["config"]
            if "clce" in cfg.index and "ce" in cfg.index:
                rows += _compare(an, cfg["clce"], cfg["ce"], "clce − ce", dataset=d)
    if not rows:
        return None
    verdict = _judge(rows)
    parts = []
    for k in sorted({r["shots"] for r in rows}):
        vs = [r["verdict"] for r in rows if r["shots"] == k]
        parts.append(f"{k}-shot: {verdict if NO_VERDICT in verdict else overall(vs)}")
    text = "; ".join(parts) + ". " + verdict_rule(rows, an)
    return Finding(claim, verdict, text, _rows_table(rows), rows, "paper")


def hard_negatives_help(an: Analysis) -> Optional[Finding]:
    """Hard negative mining (β > 0) adds to the SupCon+CE hybrid (CLCE with β = 0); None when the
    run has no CLCE at β = 0 and at β > 0."""
    claim = "hard negative mining adds to the SupCon+CE hybrid (CLCE with β > 0 vs β = 0)"
    df = an.per_episode
    clce = df[df["loss"] == "clce"]
    if "beta" not in df.columns or not (clce["beta"] == 0).any() or not (clce["beta"] > 0).any():
        return None
    prof = _profile_configs(an, "beta", "clce")
    base = prof[prof["beta"] == 0]["config"].iloc[0]
    rows = []
    for _, r in prof[prof["beta"] > 0].iterrows():
        rows += _compare(an, r["config"], base, f"β={r['beta']:g} − β=0")
    if not rows:
        return None
    before = (
        f"Each β is compared with β = 0 on the same episodes and seeds; the other hyper-parameters "
        f"are chosen on val at each β ({base} is the hybrid). "
    )
    return _finding(claim, rows, an, "paper", before)


def small_batch(an: Analysis, steps_as_batch: Optional[int] = None) -> Optional[Finding]:
    """CLCE holds at small batch sizes where SupCon degrades; None when the run lacks SupCon and
    CLCE each at two or more batch sizes.

    Args:
        steps_as_batch: the batch size whose optimizer steps every training took (training's
            ``--steps-as-batch``); None: every batch size trained the same epochs, so the smaller
            batch also took more steps, which the claim's text says.
    """
    claim = "CLCE holds up at small batch sizes where SupCon degrades"
    df = an.per_episode
    if "batch_size" not in df.columns:
        return None
    sizes = {
        loss: sorted(int(b) for b in df.loc[df["loss"] == loss, "batch_size"].dropna().unique())
        for loss in ("clce", "supcon")
    }
    common = sorted(set(sizes["clce"]) & set(sizes["supcon"]))
    if any(len(v) < 2 for v in sizes.values()) or len(common) < 2:
        return None
    small, large = common[0], common[-1]
    cfg = {
        loss: _profile_configs(an, "batch_size", loss).set_index("batch_size")["config"]
        for loss in ("clce", "supcon")
    }
    rows = []
    for loss in ("supcon", "clce"):
        rows += _compare(
            an, cfg[loss][small], cfg[loss][large], f"{loss}: bs {small:g} − bs {large:g}"
        )
    rows += _compare(an, cfg["clce"][small], cfg["supcon"][small], f"clce − supcon at bs {small:g}")
    if not rows:
        return None
    judged = _judge(rows)
    rule = verdict_rule(rows, an)
    where = (
        f"Smallest batch size {small:g} against the largest {large:g} (same episodes and seeds; "
        "other "
        f"hyper-parameters chosen on val at each batch size). {_step_budget(small, large, steps_as_batch)} "
    )
    if NO_VERDICT in judged:
        return Finding(claim, judged, where + rule, _rows_table(rows), rows, "paper")
    sup = [r for r in rows if r["what"].startswith("supcon:")]
    degrades = bool(sup) and all(
        r["verdict"] == "contradicted" for r in sup
    )  # every cell: a measured drop
    clce_drops = any(r["verdict"] == "contradicted" for r in rows if r["what"].startswith("clce:"))
    vs = [r["verdict"] for r in rows if r["what"].startswith("clce −")]
    # CLCE dropping measurably contradicts "holds"; without a SupCon drop the premise is not seen.
    verdict = "contradicted" if clce_drops else "supported" if degrades else "inconclusive"
    text = (
        where
        + f"SupCon degrades in every cell: {'yes' if degrades else 'no'}; CLCE drops measurably in "
        f"some cell: {'yes' if clce_drops else 'no'}; CLCE vs SupCon at batch size {small:g}: "
        f"{overall(vs)}. " + rule
    )
    return Finding(claim, verdict, text, _rows_table(rows), rows, "paper")


def _step_budget(small: int, large: int, steps_as_batch: Optional[int]) -> str:
    """How the batch sizes' trainings compare in optimizer steps and images seen."""
    if steps_as_batch:
        return (
            f"Equal optimizer steps: every batch size took the steps of batch {steps_as_batch:g}, so "
            f"batch {small:g} saw {large / small:g} times fewer images than batch {large:g}."
        )
    return (
        f"Equal epochs: batch {small:g} took {large / small:g} times the optimizer steps of batch "
        f"{large:g} (training's --steps-as-batch {large:g} compares them at equal steps)."
    )


PAPER_CLAIMS = {
    "CLCE beats CE in 1-shot and 5-shot": "`ce` and `clce` in `--losses`",
    "hard negative mining adds to the SupCon+CE hybrid (CLCE with β > 0 vs β = 0)": (
        "CLCE trained with β = 0 and with β > 0 (e.g. `--preset ablation-lambda`, or "
        "`--losses ce clce --beta 0 1 2`)"
    ),
    "CLCE holds up at small batch sizes where SupCon degrades": (
        "`supcon` and `clce` each trained at two or more batch sizes "
        "(e.g. `--preset ablation-batch`)"
    ),
}


def paper_claims(an: Analysis, config: Optional[dict] = None) -> list[Finding]:
    """The CLCE paper's claims this run can check, in the paper's order (none without CLCE);
    ``config``: the benchmark's ``config.json``, when known."""
    steps_as = ((config or {}).get("train_options") or {}).get("steps_as_batch")
    found = [clce_beats_ce(an), hard_negatives_help(an), small_batch(an, steps_as)]
    return [f for f in found if f is not None]


def unchecked_paper_claims(an: Analysis, findings: list[Finding]) -> list[str]:
    """``"claim (needs ...)"`` for each paper claim a run with CLCE could not check; empty without
    CLCE."""
    if not (an.per_episode["loss"] == "clce").any():
        return []
    done = {f.claim for f in findings}
    return [
        f"{claim} (needs {needs})" for claim, needs in PAPER_CLAIMS.items() if claim not in done
    ]
