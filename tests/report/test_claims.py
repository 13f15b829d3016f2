import json

import pandas as pd
import pytest
from _cli import argv
from synthetic_results import make_results

from fewshot_clce.cli import main
from fewshot_clce.report.analysis import analyse
from fewshot_clce.report.claims import NOT_MEASURED, check_all
from fewshot_clce.report.writer import write_report, write_results


def _folder(tmp_path, df, command="fewshot-clce benchmark --test"):
    an = analyse(df, n_boot=200)
    write_results(tmp_path, an, {"command": command, "n_boot": 200}, {"total_s": 42.0})
    return an


@pytest.mark.slow
def test_report_states_each_claim_with_numbers(tmp_path):
    def effect(loss, hp, split):  # hard negatives help; supcon loses 15 points at batch 32
        e = 0.04 if loss == "clce" and hp.get("beta") == 1 else 0.0
        return e - (0.15 if loss == "supcon" and hp["batch_size"] == 32 else 0.0)

    df = make_results(
        {"ce": 0.0, "supcon": 0.0, "clce": 0.05},
        seeds=[0, 1, 2],
        episodes=150,
        grid={"beta": [0, 1], "batch_size": [32, 256]},
        hp_effect=effect,
        dataset="glyphs",
        seed_sd=0.005,
    )
    _folder(tmp_path, df)
    paths, findings = write_report(tmp_path)
    text = (tmp_path / "REPORT.md").read_text()
    assert "fewshot-clce benchmark --test" in text and "Training seeds: [0, 1, 2] (3)" in text
    claims = {f.claim: f for f in findings}
    assert text.startswith(
        "# Loss comparison: supcon, clce against ce, with the claims of the CLCE paper"
    )
    assert claims["clce beats ce"].verdict == "supported"  # +5 points with 3 seeds x 150 episodes
    assert claims["CLCE beats CE in 1-shot and 5-shot"].verdict == "supported"
    assert claims[
        "hard negative mining adds to the SupCon+CE hybrid (CLCE with β > 0 vs β = 0)"
    ].verdict in ("supported", "partly supported")
    assert claims["CLCE holds up at small batch sizes where SupCon degrades"].verdict == "supported"
    assert [f.source for f in findings] == ["losses", "losses", "paper", "paper", "paper"]
    assert "seed-level" in text and "random-effects" in text
    assert (
        "supported when the adjusted p is below 0.05 and Δ > 0" in text
        and "Holm-adjusted over the 2 cells" in text
    )
    assert "p (seed-level)" in text and "p (Wilcoxon" not in text.split("## glyphs: all losses")[0]
    for f in findings:
        assert f"**This run: {f.verdict}.**" in text
    for plot in ("accuracy_glyphs", "differences_glyphs", "batch_size_glyphs"):
        assert (tmp_path / "plots" / f"{plot}.png").stat().st_size > 10_000
        assert f"plots/{plot}.png" in text
    nb = json.loads((tmp_path / "report.ipynb").read_text())
    assert nb["nbformat"] == 4 and any("Claim 1" in c["source"] for c in nb["cells"])
    claims = pd.read_csv(tmp_path / "claims.csv")
    assert {"delta", "low", "high", "n_seeds", "p_value", "p_holm", "verdict", "level"} <= set(
        claims.columns
    )


def test_report_says_what_was_not_measured_and_contradictions(tmp_path):
    # three seeds, CLCE worse than CE: contradicted; no beta or batch sweep: not measured
    df = make_results(
        {"ce": 0.05, "clce": -0.05}, seeds=[0, 1, 2], episodes=100, dataset="glyphs", seed_sd=0.005
    )
    an = _folder(tmp_path, df)
    findings = check_all(an)
    assert [f.claim for f in findings] == ["clce beats ce", "CLCE beats CE in 1-shot and 5-shot"]
    assert findings[0].verdict == "contradicted" and findings[1].verdict == "contradicted"
    write_report(tmp_path)
    text = (tmp_path / "REPORT.md").read_text()
    assert text.count(NOT_MEASURED) == 2 and "contradicted" in text
    assert (
        "hard negative mining adds to the SupCon+CE hybrid (CLCE with β > 0 vs β = 0) (needs CLCE trained"
        in text
    )


def test_one_seed_gives_no_verdict_and_shows_the_episode_level_numbers(tmp_path, capsys):
    """One seed, CLCE 10 points below CE on 200 episodes: the episode-level numbers are clear, yet
    a verdict needs the seed-level test with the trusted number of seeds."""
    from fewshot_clce.stats.seeds import TRUSTED_SEEDS

    df = make_results({"ce": 0.05, "clce": -0.05}, seeds=[0], episodes=200, dataset="glyphs")
    _folder(tmp_path, df)
    assert main(["report", str(tmp_path)]) == 0
    assert "- clce beats ce: one seed: no verdict" in capsys.readouterr().out
    text = (tmp_path / "REPORT.md").read_text()
    assert (
        "**This run: one seed: no verdict.**" in text
        and "contradicted" not in text.split("## glyphs")[0]
    )
    assert f"at least {TRUSTED_SEEDS} seeds" in text and "--seeds 0 1 2" in text
    assert "p (episode-level)" in text and "| below 0 | no verdict |" in text
    claims = pd.read_csv(tmp_path / "claims.csv")
    assert (
        set(claims["level"]) == {"episode"}
        and (claims["high"] < 0).all()
        and (claims["p_holm"] < 0.05).all()
    )
    # interval and p of a cell from one method: the episode-level t (p < 0.05 as the CI leaves 0 out)
    assert ((claims["p_value"] < 0.05) == ((claims["low"] > 0) | (claims["high"] < 0))).all()


def test_a_run_of_other_losses_is_reported_about_them_without_clce_claims(tmp_path, capsys):
    """Losses the toolkit does not know (with a hyper-parameter column of their own) are named in the
    title and claims; no CLCE claim appears, and --baseline-free reports compare with ce."""
    df = make_results(
        {"ce": 0.0, "arcface": 0.12, "my_loss": 0.0},
        seeds=[0, 1, 2],
        episodes=80,
        heads=("centroid", "logistic"),
        seed_sd=0.005,
    )
    df["margin"] = df["loss"].map({"arcface": 0.2}).astype(float)
    df["config"] = [f"{loss}(m=0.2)" if loss == "arcface" else loss for loss in df["loss"]]
    _folder(tmp_path, df)
    assert main(["report", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert (
        "- arcface beats ce: supported" in printed and "- my_loss beats ce: inconclusive" in printed
    )
    text = (tmp_path / "REPORT.md").read_text()
    assert text.startswith("# Loss comparison: arcface, my_loss against ce\n")
    body = text.replace("fewshot-clce benchmark --test", "")  # the command names the toolkit
    assert "CLCE" not in body and "clce" not in body and "paper" not in body
    assert "### Claim 1: arcface beats ce" in text and "### Claim 2: my_loss beats ce" in text
    assert "Holm-adjusted over the 4 cells" in text and "arcface(m=0.2)" in text
    assert "None epochs" not in text


def test_report_says_when_seeds_disagree_next_to_the_verdict(tmp_path, capsys):
    """Two seeds of three favour CLCE and one CE: the verdict is inconclusive and says why in words."""
    from fewshot_clce.stats.seeds import TRUSTED_SEEDS

    df = make_results(
        {"ce": 0.0, "clce": 0.0},
        seeds=[0, 1, 2],
        episodes=100,
        dataset="glyphs",
        shots=(5,),
        seed_sd=0.0,
        splits=("novel",),
    )
    shift = {0: 0.06, 1: 0.05, 2: -0.04}
    clce = df["loss"] == "clce"
    df.loc[clce, "accuracy"] = (df.loc[clce, "accuracy"] + df.loc[clce, "seed"].map(shift)).clip(
        0, 1
    )
    _folder(tmp_path, df)
    assert main(["report", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert (
        "CLCE beats CE in 1-shot and 5-shot: inconclusive (seeds disagree in sign in 1 of 1 cells"
        in printed
    )
    text = (tmp_path / "REPORT.md").read_text()
    assert (
        "**This run: inconclusive.** Seeds disagree in sign in 1 of 1 cells: clce − ce, centroid 5-shot: "
        "2 of 3 positive." in text
    )
    assert (
        "| 2 of 3 positive, 1 negative |" in text and f"trusted from {TRUSTED_SEEDS} seeds" in text
    )
    assert "W/T/L (seeds)" in text and "| 2/0/1 |" in text


def test_report_command(tmp_path, capsys):
    _folder(tmp_path, make_results({"ce": 0.0, "clce": 0.1}, seeds=[0, 1], episodes=40))
    assert main(["report", str(tmp_path), "--n-boot", "100"]) == 0
    out = capsys.readouterr().out
    assert "CLCE beats CE" in out and "REPORT.md" in out
    assert "random-effects" in (tmp_path / "REPORT.md").read_text()
    assert main(argv("report {tmp_path} --seed-ci bootstrap --n-boot 100", tmp_path=tmp_path)) == 0
    assert (
        "hierarchical bootstrap" in (tmp_path / "REPORT.md").read_text()
        and "100 resamples" in (tmp_path / "REPORT.md").read_text()
    )
    assert main(["report", str(tmp_path / "nothing")]) == 2
    assert "per_episode.csv" in capsys.readouterr().err


def test_report_reads_a_compressed_per_episode_table(tmp_path, capsys):
    """A folder committed with per_episode.csv.gz (as results/glyphs-ablation) reports as the plain one."""
    import gzip
    import shutil

    plain, packed = tmp_path / "plain", tmp_path / "packed"
    for folder in (plain, packed):
        folder.mkdir()
        _folder(folder, make_results({"ce": 0.0, "clce": 0.1}, seeds=[0, 1], episodes=40))
    with (
        open(packed / "per_episode.csv", "rb") as src,
        gzip.open(packed / "per_episode.csv.gz", "wb") as dst,
    ):
        shutil.copyfileobj(src, dst)
    (packed / "per_episode.csv").unlink()
    assert main(["report", str(plain)]) == 0 and main(["report", str(packed)]) == 0
    assert (packed / "claims.csv").read_text() == (plain / "claims.csv").read_text()
    assert not (packed / "per_episode.csv").exists()


def test_written_summaries_match_the_analysis(tmp_path):
    df = make_results(
        {"ce": 0.0, "supcon": 0.01, "clce": 0.02},
        seeds=[0],
        episodes=50,
        heads=("centroid", "logistic"),
    )
    an = _folder(tmp_path, df)
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert len(summary) == 3 * 2 * 2
    pd.testing.assert_series_equal(summary["mean"], an.main["mean"], check_names=False)
    blob = json.loads((tmp_path / "results.json").read_text())
    assert blob["timing"]["total_s"] == 42.0 and len(blob["summary"]) == 12
    md = (tmp_path / "summary.md").read_text()
    assert "| clce | logistic | 5 |" in md and "Δ vs ce" in md
    assert len(pd.read_csv(tmp_path / "per_episode.csv")) == len(df)


def test_result_csvs_hold_no_formula_and_read_back_the_same_run_names(tmp_path):
    """A run folder named like a spreadsheet formula is written as text everywhere, and the report,
    which recomputes from per_episode.csv, gets the very names back; numbers (negative deltas too)
    stay numbers."""
    import csv

    df = make_results({"ce": 0.0, "clce": -0.05}, seeds=[0, 1], episodes=30)
    evil = {
        "ce--s0": '=HYPERLINK("http://evil.example","ce")',
        "ce--s1": "+ce-s1",
        "clce--s0": "@clce",
        "clce--s1": "-clce",
    }
    df["run"] = df["run"].map(lambda r: evil.get(r, r))
    an = _folder(tmp_path, df)
    write_report(tmp_path, n_boot=100)
    for name in ("per_episode.csv", "summary.csv", "summary_all.csv", "claims.csv"):
        with open(tmp_path / name, newline="") as f:
            for row in csv.reader(f):
                for cell in row:
                    try:
                        float(cell)
                    except ValueError:
                        assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), (name, cell)
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert summary["delta"].dtype == float and (summary["delta"] < 0).any()
    from fewshot_clce.report.writer import load_benchmark

    back, _, _ = load_benchmark(tmp_path)
    assert sorted(back["run"].unique()) == sorted(evil.values())
    pd.testing.assert_frame_equal(back, an.per_episode.reset_index(drop=True), check_dtype=False)


@pytest.mark.slow
def test_importing_and_drawing_the_report_plots_leaves_the_callers_backend_alone(tmp_path):
    """A notebook's inline backend or a GUI session's must survive the report: no pyplot, no
    matplotlib.use() (checked in a fresh interpreter, where nothing else has set the backend yet)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    code = f"""
import sys
import matplotlib
matplotlib.use("svg")
from fewshot_clce.report import plots
assert matplotlib.get_backend() == "svg", matplotlib.get_backend()
sys.path.insert(0, {str(Path(__file__).resolve().parents[1])!r})
from synthetic_results import make_results
from fewshot_clce.report.analysis import analyse
an = analyse(make_results({{"ce": 0.0, "clce": 0.02}}, seeds=[0, 1], episodes=20, splits=("novel",)))
path = plots.accuracy_bars(an.main, {str(tmp_path / "acc.png")!r})
assert path.stat().st_size > 5000
assert matplotlib.get_backend() == "svg", matplotlib.get_backend()
assert "matplotlib.pyplot" not in sys.modules
"""
    root = Path(__file__).resolve().parents[2]
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])
    )
    env.pop("MPLBACKEND", None)
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr


def test_holm_adjustment_over_the_cells_turns_a_lucky_cell_into_no_support(tmp_path):
    """A small effect over 4 cells (2 heads x 2 shots), 3 seeds: one cell's unadjusted seed-level p is
    below 0.05 (its CI leaves 0 out), which alone would read "partly supported"; adjusted for the 4
    cells it is not, and the verdict is inconclusive."""
    import numpy as np

    from fewshot_clce.report.claims import overall
    from fewshot_clce.stats.multiplicity import holm

    df = make_results(
        {"ce": 0.0, "arcface": 0.012},
        seeds=[0, 1, 2],
        episodes=60,
        heads=("centroid", "logistic"),
        splits=("novel",),
        seed_sd=0.004,
        rng_seed=8,
    )
    _folder(tmp_path, df)
    _, findings = write_report(tmp_path)
    f = findings[0]
    raw = np.array([r["p_value"] for r in f.rows])
    assert len(raw) == 4 and (raw < 0.05).sum() == 1
    lucky = f.rows[int(raw.argmin())]
    assert lucky["low"] > 0 and lucky["measured"] == "above 0"  # unadjusted: interval above 0
    assert overall(["supported" if p < 0.05 else "inconclusive" for p in raw]) == "partly supported"
    np.testing.assert_allclose([r["p_holm"] for r in f.rows], holm(raw))
    assert lucky["p_holm"] >= 0.05 and f.verdict == "inconclusive"
    text = (tmp_path / "REPORT.md").read_text()
    assert (
        "**This run: inconclusive.**" in text
        and "Holm-adjusted over the 4 cells of this claim" in text
    )


def test_holm_matches_a_naive_step_down_loop():
    import numpy as np

    from fewshot_clce.stats.multiplicity import holm

    def naive(p):
        m = len(p)
        order = sorted(range(m), key=lambda i: p[i])
        out, best = [0.0] * m, 0.0
        for rank, i in enumerate(order):
            best = max(best, min(1.0, (m - rank) * p[i]))
            out[i] = best
        return out

    rng = np.random.default_rng(0)
    for _ in range(20):
        p = rng.uniform(0, 0.2, rng.integers(1, 8)).tolist()
        np.testing.assert_allclose(holm(p), naive(p))
    assert np.isnan(holm([0.01, float("nan")])[1]) and holm([0.01, float("nan")])[0] == 0.01


def test_bootstrap_report_takes_interval_and_p_from_the_bootstrap(tmp_path):
    """`report --seed-ci bootstrap` changes the p-value with the interval: both from the bootstrap."""
    df = make_results(
        {"ce": 0.0, "clce": 0.015},
        seeds=[0, 1, 2],
        episodes=60,
        heads=("centroid", "logistic"),
        splits=("novel",),
        seed_sd=0.01,
        rng_seed=3,
    )
    _folder(tmp_path, df)
    assert main(["report", str(tmp_path)]) == 0
    crossed = pd.read_csv(tmp_path / "claims.csv")
    assert main(argv("report {tmp_path} --seed-ci bootstrap --n-boot 400", tmp_path=tmp_path)) == 0
    boot = pd.read_csv(tmp_path / "claims.csv")
    text = (tmp_path / "REPORT.md").read_text()
    assert "p: the same bootstrap, its percentile interval inverted" in text
    assert (
        "p (seed-level) is the hierarchical bootstrap's test of Δ = 0" in text
    )  # the tables' legend too
    assert "its p-value is the seed-level bootstrap's" in text
    assert not (boot["p_value"].to_numpy() == crossed["p_value"].to_numpy()).any()
    for table in (
        crossed,
        boot,
    ):  # the unadjusted p is below 0.05 exactly when the 95% CI leaves 0 out
        assert ((table["p_value"] < 0.05) == ((table["low"] > 0) | (table["high"] < 0))).all()


def test_the_small_batch_claim_says_whether_batch_sizes_had_equal_steps_or_equal_epochs():
    """At equal epochs batch 32 takes 8x the steps of batch 256 (the claim's confound, stated);
    a run with --steps-as-batch says the steps were equal and the images were not; the shared
    settings name the option."""
    from fewshot_clce.report.tuning import common_settings

    df = make_results(
        {"ce": 0.0, "supcon": -0.05, "clce": 0.02},
        seeds=[0, 1, 2],
        episodes=30,
        grid={"batch_size": [32, 256]},
        dataset="glyphs",
    )
    an = analyse(df, n_boot=100)
    claim = "CLCE holds up at small batch sizes where SupCon degrades"
    epochs = {f.claim: f for f in check_all(an)}[claim].text
    assert "Equal epochs: batch 32 took 8 times the optimizer steps of batch 256" in epochs
    config = {"epochs": 12, "train_options": {"steps_as_batch": 256}}
    steps = {f.claim: f for f in check_all(an, config)}[claim].text
    assert "Equal optimizer steps: every batch size took the steps of batch 256" in steps
    assert "batch 32 saw 8 times fewer images than batch 256" in steps
    assert "Equal epochs" not in steps
    assert "per epoch the optimizer steps of one pass at batch 256 (--steps-as-batch 256)" in (
        common_settings(config)
    )
    assert "steps-as-batch" not in common_settings({"epochs": 3, "train_options": {}})
