"""The paper's claims, checked one by one against a finished benchmark's results.

Each check returns a :class:`Finding` whose verdict rule is the 95% interval of a paired difference
Δ, seed level with two or more seeds (the crossed seeds x episodes random-effects t interval of
:mod:`fewshot_clce.stats.seeds`), episode level with one (t over episodes):

- ``supported``: the whole interval is above 0;
- ``contradicted``: the whole interval is below 0 (the opposite effect is measured);
- ``inconclusive``: the interval contains 0;
- ``not measured in this run``: the run lacks the configurations the claim needs.

The p-value shown beside it is the test of the same level (the crossed model's t test, whose
p < 0.05 exactly when the interval leaves 0 out; with one seed the Wilcoxon signed-rank test over
episodes). When the seeds' own Δ disagree in sign, the finding says so next to the verdict.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional

import numpy as np
import pandas as pd

from ..stats import selection
from ..stats import seeds as seedstats
from .analysis import Analysis
from ..stats.summary import paired_row
from .tables import CELL_LEVEL, P_HEADER, fmt_interval, fmt_p, markdown, seeds_flag, sentence, trust_text

NOT_MEASURED = "not measured in this run"


@dataclass
class Finding:
    """What a run found about one claim.

    Attributes:
        claim: the claim in words; verdict: see the module docstring; text: how it was measured
            (the verdict rule included); table: markdown of the compared cells; rows: those cells.
    """

    claim: str
    verdict: str
    text: str
    table: str = ""
    rows: List[dict] = field(default_factory=list)

    @property
    def disagreement(self) -> str:
        """``"seeds disagree in 1 of 4 cells: clce − ce, centroid 5-shot: 2 of 3 positive"``, or ""."""
        cells = [r for r in self.rows if r.get("n_seeds", 0) >= 2 and r.get("positive", 0) and r.get("negative", 0)]
        if not cells:
            return ""
        what = "; ".join(f"{r['what']}, {r['head']} {r['shots']}-shot: {r['positive']} of {r['n_seeds']} positive"
                         for r in cells)
        return f"seeds disagree in sign in {len(cells)} of {len(self.rows)} cells: {what}"

    @property
    def headline(self) -> str:
        """The verdict, followed in words by the seeds' disagreement when they disagree."""
        return f"{self.verdict} ({self.disagreement})" if self.disagreement else self.verdict


ABOVE, BELOW, SPANS = "above 0", "below 0", "includes 0"


def measured(low: float, high: float) -> str:
    """Where a difference's 95% interval lies relative to 0."""
    if np.isnan(low) or np.isnan(high):
        return SPANS
    return ABOVE if low > 0 else BELOW if high < 0 else SPANS


def verdict_of(low: float, high: float) -> str:
    """Verdict on a claim that the difference is positive."""
    return {ABOVE: "supported", BELOW: "contradicted", SPANS: "inconclusive"}[measured(low, high)]


def overall(verdicts: List[str]) -> str:
    """One verdict for several cells: all supported, any contradicted, else mixed/inconclusive."""
    if not verdicts:
        return NOT_MEASURED
    if all(v == "supported" for v in verdicts):
        return "supported"
    if any(v == "contradicted" for v in verdicts):
        return "contradicted" if all(v == "contradicted" for v in verdicts) else "partly contradicted"
    return "partly supported" if any(v == "supported" for v in verdicts) else "inconclusive"


def verdict_rule(n_seeds: int, an: Analysis) -> str:
    """The interval and test a verdict over ``n_seeds`` (paired) seeds rests on, in words."""
    rule = ("Verdict rule: supported when the {level} 95% CI of Δ lies above 0, contradicted when it lies "
            "below, inconclusive when it contains 0.")
    if n_seeds >= 2:
        method = seedstats.method_text(an.seed_method, an.n_boot, an.boot_seed)
        same = " (p < 0.05 exactly when the interval leaves 0 out)" if an.seed_method == "crossed" else ""
        return (f"{n_seeds} training seeds. {rule.format(level='seed-level')} The interval: {method}. p: the "
                f"seed-level t test of Δ = 0 in the crossed seeds x episodes model{same}. The seeds' own signs "
                f"are given as \"k of S positive\". {sentence(trust_text(n_seeds))}.")
    return (f"1 training seed. {rule.format(level='episode-level')} The interval: t over episodes; p: the "
            f"Wilcoxon signed-rank test over episodes. Both leave seed-to-seed noise out, so a 'supported' "
            f"verdict here is weaker than it looks; rerun with {seeds_flag()}.")


def _row(what: str, dataset: str, head: str, shots: int, r) -> dict:
    """One compared cell from a summary row or :func:`~fewshot_clce.stats.summary.paired_row`."""
    return dict(what=what, dataset=dataset, head=head, shots=int(shots), delta=r["delta"], low=r["delta_ci_low"],
                high=r["delta_ci_high"], kind=r["delta_ci_kind"], p_value=r["p_value"], p_kind=r["p_kind"],
                n_seeds=int(r["paired_seeds"]), positive=int(r["seeds_positive"]), negative=int(r["seeds_negative"]),
                verdict=verdict_of(r["delta_ci_low"], r["delta_ci_high"]),
                measured=measured(r["delta_ci_low"], r["delta_ci_high"]))


def _delta_rows(cells: pd.DataFrame, what: str) -> List[dict]:
    return [_row(what, r["dataset"], r["head"], r["shots"], r) for _, r in cells.iterrows()]


def _signs(r: dict) -> str:
    if r["n_seeds"] < 2:
        return "–"
    return f"{r['positive']} of {r['n_seeds']} positive" + (f", {r['negative']} negative" if r["positive"] and
                                                             r["negative"] else "")


def _rows_table(rows: List[dict]) -> str:
    kinds = {r["p_kind"] for r in rows}
    level = kinds.pop() if len(kinds) == 1 else "mixed"
    body = [[r["what"], r["dataset"], r["head"], r["shots"],
             fmt_interval(r["delta"], r["low"], r["high"], r["kind"], signed=True),
             fmt_p(r["p_value"]) + (CELL_LEVEL.get(r["p_kind"], "") if level == "mixed" else ""),
             r["n_seeds"], _signs(r), r["measured"]] for r in rows]
    return markdown(body, ["comparison", "dataset", "head", "shots", "Δ accuracy, points (95% CI)",
                           P_HEADER[level], "seeds", "seeds' own Δ", "95% CI of Δ"])


def clce_beats_ce(an: Analysis) -> Finding:
    """CLCE beats CE in 5-way 1-shot and 5-shot (chosen configurations, novel classes)."""
    claim = "CLCE beats CE in 1-shot and 5-shot"
    m = an.main
    cells = m[(m["loss"] == "clce") & m["delta"].notna()] if "delta" in m else m.iloc[:0]
    if cells.empty:
        return Finding(claim, NOT_MEASURED, "Needs both `ce` and `clce` in `--losses`.")
    rows = _delta_rows(cells, "clce − ce")
    parts = []
    for k in (1, 5):
        vs = [r["verdict"] for r in rows if r["shots"] == k]
        parts.append(f"{k}-shot: {overall(vs)}" if vs else f"{k}-shot: {NOT_MEASURED}")
    text = "; ".join(parts) + ". " + verdict_rule(min(r["n_seeds"] for r in rows), an)
    return Finding(claim, overall([r["verdict"] for r in rows]), text, _rows_table(rows), rows)


def _profile_matrix(an: Analysis, config: str, dataset: str, head: str, shots: int) -> pd.DataFrame:
    df = an.per_episode
    cell = df[(df["split"] == "novel") & (df["config"] == config) & (df["dataset"] == dataset)
              & (df["head"] == head) & (df["shots"] == shots)]
    return seedstats.seed_matrix(cell)


def _compare(an: Analysis, a: str, b: str, what: str) -> List[dict]:
    """Paired ``a - b`` for every (dataset, head, shots) both configurations were evaluated on."""
    df = an.per_episode
    out = []
    units = df[(df["split"] == "novel") & (df["config"] == a)][["dataset", "head", "shots"]].drop_duplicates()
    for d, h, k in units.itertuples(index=False):
        try:
            pr = paired_row(_profile_matrix(an, a, d, h, k), _profile_matrix(an, b, d, h, k), n_boot=an.n_boot,
                            boot_seed=an.boot_seed, ci_method=an.ci_method, seed_method=an.seed_method)
        except ValueError:
            continue
        out.append(_row(what, d, h, k, pr))
    return out


def _profile_configs(an: Analysis, hp: str, loss: str) -> pd.DataFrame:
    chosen = selection.select(an.per_episode, by=(hp,))
    return chosen[chosen["loss"] == loss].sort_values(hp)


def hard_negatives_help(an: Analysis) -> Finding:
    """Hard negative mining (β > 0) adds to the SupCon+CE hybrid (CLCE with β = 0)."""
    claim = "hard negative mining adds to the SupCon+CE hybrid (CLCE with β > 0 vs β = 0)"
    df = an.per_episode
    clce = df[df["loss"] == "clce"]
    if "beta" not in df.columns or not (clce["beta"] == 0).any() or not (clce["beta"] > 0).any():
        return Finding(claim, NOT_MEASURED, "Needs CLCE trained with β = 0 and with β > 0 "
                       "(e.g. `--preset ablation-lambda`, or `--losses ce clce --beta 0 1 2`).")
    prof = _profile_configs(an, "beta", "clce")
    base = prof[prof["beta"] == 0]["config"].iloc[0]
    rows = []
    for _, r in prof[prof["beta"] > 0].iterrows():
        rows += _compare(an, r["config"], base, f"β={r['beta']:g} − β=0")
    text = (f"Each β is compared with β = 0 on the same episodes and seeds; the other hyper-parameters "
            f"are chosen on val at each β ({base} is the hybrid). " + verdict_rule(min(r["n_seeds"] for r in rows), an))
    return Finding(claim, overall([r["verdict"] for r in rows]), text, _rows_table(rows), rows)


def small_batch(an: Analysis) -> Finding:
    """CLCE holds at small batch sizes where SupCon degrades."""
    claim = "CLCE holds up at small batch sizes where SupCon degrades"
    df = an.per_episode
    if "batch_size" not in df.columns:
        return Finding(claim, NOT_MEASURED, "Needs `--batch-size` with two or more values (e.g. "
                       "`--preset ablation-batch`) for both `supcon` and `clce`.")
    sizes = {loss: sorted(int(b) for b in df.loc[df["loss"] == loss, "batch_size"].dropna().unique())
             for loss in ("clce", "supcon")}
    if any(len(v) < 2 for v in sizes.values()):
        return Finding(claim, NOT_MEASURED, "Needs `supcon` and `clce` each trained at two or more batch "
                       f"sizes; this run has {sizes}. Try `--preset ablation-batch`.")
    common = sorted(set(sizes["clce"]) & set(sizes["supcon"]))
    small, large = common[0], common[-1]
    cfg = {loss: _profile_configs(an, "batch_size", loss).set_index("batch_size")["config"] for loss in ("clce", "supcon")}
    rows = []
    for loss in ("supcon", "clce"):
        rows += _compare(an, cfg[loss][small], cfg[loss][large], f"{loss}: bs {small:g} − bs {large:g}")
    rows += _compare(an, cfg["clce"][small], cfg["supcon"][small], f"clce − supcon at bs {small:g}")
    sup = [r for r in rows if r["what"].startswith("supcon:")]
    cl = [r for r in rows if r["what"].startswith("clce:")]
    vs = [r["verdict"] for r in rows if r["what"].startswith("clce −")]
    degrades = bool(sup) and all(r["high"] < 0 for r in sup)  # every cell: a measured drop
    clce_drops = any(r["high"] < 0 for r in cl)
    # CLCE dropping measurably contradicts "holds"; without a SupCon drop the premise is not seen.
    verdict = "contradicted" if clce_drops else "supported" if degrades else "inconclusive"
    text = (f"Smallest batch size {small:g} against the largest {large:g} (same episodes and seeds; other "
            f"hyper-parameters chosen on val at each batch size). SupCon degrades in every cell: "
            f"{'yes' if degrades else 'no'}; CLCE drops measurably in some cell: {'yes' if clce_drops else 'no'}; "
            f"CLCE vs SupCon at batch size {small:g}: {overall(vs)}. " + verdict_rule(min(r["n_seeds"] for r in rows), an))
    return Finding(claim, verdict, text, _rows_table(rows), rows)


def check_all(an: Analysis) -> List[Finding]:
    """Every claim, in the paper's order."""
    return [clce_beats_ce(an), hard_negatives_help(an), small_batch(an)]


def findings_frame(findings: List[Finding]) -> Optional[pd.DataFrame]:
    rows = [dict(claim=f.claim, **r) for f in findings for r in f.rows]
    return pd.DataFrame(rows) if rows else None
