import json

import pandas as pd

from fewshot_clce.report.analysis import analyse
from fewshot_clce.report.claims import NOT_MEASURED, check_all
from fewshot_clce.cli import main
from fewshot_clce.report.writer import write_report, write_results

from synthetic_results import make_results


def _folder(tmp_path, df, command="fewshot-clce benchmark --test"):
    an = analyse(df, n_boot=200)
    write_results(tmp_path, an, {"command": command, "n_boot": 200}, {"total_s": 42.0})
    return an


def test_report_states_each_claim_with_numbers(tmp_path):
    def effect(loss, hp, split):  # hard negatives help; supcon loses 8 points at batch 32
        e = 0.04 if loss == "clce" and hp.get("beta") == 1 else 0.0
        return e - (0.08 if loss == "supcon" and hp["batch_size"] == 32 else 0.0)

    df = make_results({"ce": 0.0, "supcon": 0.0, "clce": 0.05}, seeds=[0, 1, 2], episodes=150,
                      grid={"beta": [0, 1], "batch_size": [32, 256]}, hp_effect=effect, dataset="glyphs",
                      seed_sd=0.005)
    _folder(tmp_path, df)
    paths, findings = write_report(tmp_path)
    text = (tmp_path / "REPORT.md").read_text()
    assert "fewshot-clce benchmark --test" in text and "Training seeds: [0, 1, 2] (3)" in text
    assert [f.verdict for f in findings][0] == "supported"  # +5 points with 3 seeds x 150 episodes
    assert findings[1].verdict in ("supported", "partly supported")
    assert findings[2].verdict == "supported"
    assert "seed-level" in text and "random-effects" in text
    assert "Verdict rule: supported when the seed-level 95% CI of Δ lies above 0" in text
    assert "p (seed-level)" in text and "p (Wilcoxon" not in text
    for f in findings:
        assert f"**This run: {f.verdict}.**" in text
    for plot in ("accuracy_glyphs", "differences_glyphs", "batch_size_glyphs"):
        assert (tmp_path / "plots" / f"{plot}.png").stat().st_size > 10_000
        assert f"plots/{plot}.png" in text
    nb = json.loads((tmp_path / "report.ipynb").read_text())
    assert nb["nbformat"] == 4 and any("Claim 1" in c["source"] for c in nb["cells"])
    claims = pd.read_csv(tmp_path / "claims.csv")
    assert {"delta", "low", "high", "n_seeds"} <= set(claims.columns)


def test_report_says_what_was_not_measured_and_contradictions(tmp_path):
    # one seed, CLCE worse than CE: contradicted; no beta or batch sweep: not measured
    df = make_results({"ce": 0.05, "clce": -0.05}, seeds=[0], episodes=200, dataset="glyphs")
    an = _folder(tmp_path, df)
    findings = check_all(an)
    assert findings[0].verdict == "contradicted"
    assert "episode-level" in findings[0].text and "--seeds" in findings[0].text
    assert "Verdict rule: supported when the episode-level 95% CI of Δ lies above 0" in findings[0].text
    assert "p: the Wilcoxon signed-rank test over episodes" in findings[0].text
    assert findings[1].verdict == NOT_MEASURED and findings[2].verdict == NOT_MEASURED
    write_report(tmp_path)
    text = (tmp_path / "REPORT.md").read_text()
    assert text.count(NOT_MEASURED) >= 2 and "contradicted" in text


def test_report_says_when_seeds_disagree_next_to_the_verdict(tmp_path, capsys):
    """Two seeds of three favour CLCE and one CE: the verdict is inconclusive and says why in words."""
    from fewshot_clce.stats.seeds import TRUSTED_SEEDS

    df = make_results({"ce": 0.0, "clce": 0.0}, seeds=[0, 1, 2], episodes=100, dataset="glyphs", shots=(5,),
                      seed_sd=0.0, splits=("novel",))
    shift = {0: 0.06, 1: 0.05, 2: -0.04}
    clce = df["loss"] == "clce"
    df.loc[clce, "accuracy"] = (df.loc[clce, "accuracy"] + df.loc[clce, "seed"].map(shift)).clip(0, 1)
    _folder(tmp_path, df)
    assert main(["report", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "CLCE beats CE in 1-shot and 5-shot: inconclusive (seeds disagree in sign in 1 of 1 cells" in printed
    text = (tmp_path / "REPORT.md").read_text()
    assert "**This run: inconclusive.** Seeds disagree in sign in 1 of 1 cells: clce − ce, centroid 5-shot: " \
           "2 of 3 positive." in text
    assert "| 2 of 3 positive, 1 negative |" in text and f"trusted from {TRUSTED_SEEDS} seeds" in text
    assert "W/T/L (seeds)" in text and "| 2/0/1 |" in text


def test_report_command(tmp_path, capsys):
    _folder(tmp_path, make_results({"ce": 0.0, "clce": 0.1}, seeds=[0, 1], episodes=40))
    assert main(["report", str(tmp_path), "--n-boot", "100"]) == 0
    out = capsys.readouterr().out
    assert "CLCE beats CE" in out and "REPORT.md" in out
    assert "random-effects" in (tmp_path / "REPORT.md").read_text()
    assert main(["report", str(tmp_path), "--seed-ci", "bootstrap", "--n-boot", "100"]) == 0
    assert "hierarchical bootstrap" in (tmp_path / "REPORT.md").read_text() and "100 resamples" in \
        (tmp_path / "REPORT.md").read_text()
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
    with open(packed / "per_episode.csv", "rb") as src, gzip.open(packed / "per_episode.csv.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    (packed / "per_episode.csv").unlink()
    assert main(["report", str(plain)]) == 0 and main(["report", str(packed)]) == 0
    assert (packed / "claims.csv").read_text() == (plain / "claims.csv").read_text()
    assert not (packed / "per_episode.csv").exists()


def test_written_summaries_match_the_analysis(tmp_path):
    df = make_results({"ce": 0.0, "supcon": 0.01, "clce": 0.02}, seeds=[0], episodes=50, heads=("centroid", "logistic"))
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
    evil = {"ce--s0": '=HYPERLINK("http://evil.example","ce")', "ce--s1": "+ce-s1",
            "clce--s0": "@clce", "clce--s1": "-clce"}
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
    pd.testing.assert_frame_equal(back, an.per_episode.reset_index(drop=True),
                                  check_dtype=False)


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
sys.path.insert(0, {str(Path(__file__).parent)!r})
from synthetic_results import make_results
from fewshot_clce.report.analysis import analyse
an = analyse(make_results({{"ce": 0.0, "clce": 0.02}}, seeds=[0, 1], episodes=20, splits=("novel",)))
path = plots.accuracy_bars(an.main, {str(tmp_path / "acc.png")!r})
assert path.stat().st_size > 5000
assert matplotlib.get_backend() == "svg", matplotlib.get_backend()
assert "matplotlib.pyplot" not in sys.modules
"""
    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]))
    env.pop("MPLBACKEND", None)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
