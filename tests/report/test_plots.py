import pandas as pd
from synthetic_results import make_results

from fewshot_clce.report.analysis import analyse
from fewshot_clce.report.plots import accuracy_vs_batch_size


def test_the_batch_size_plot_leaves_out_rows_without_a_batch_size(tmp_path):
    """A batch-size profile holds the untrained backbone's row, which has no batch size (it was
    never trained); the plot draws the trained losses and does not fail on that row."""
    df = make_results(
        {"ce": 0.0, "clce": 0.02}, seeds=[0, 1], episodes=20, grid={"batch_size": [32, 256]}
    )
    prof = analyse(df, n_boot=100).profiles["batch_size"]
    untrained = prof[prof["loss"] == "ce"].assign(loss="untrained", batch_size=float("nan"))
    path = accuracy_vs_batch_size(pd.concat([prof, untrained]), tmp_path / "bs.png")
    assert path.stat().st_size > 10_000


def test_with_many_losses_the_panels_wrap_so_the_figures_stay_readable(tmp_path):
    """Three losses: the shot settings side by side; seven: one panel above the other, and the
    four (head, shots) panels of the differences in two rows (a single row was 5,400 px wide)."""
    from matplotlib.image import imread

    from fewshot_clce.report.plots import accuracy_bars, paired_differences

    def shapes(losses):
        df = make_results(
            {loss: 0.01 * i for i, loss in enumerate(losses)},
            seeds=[0],
            episodes=10,
            heads=("centroid", "logistic"),
        )
        an = analyse(df, n_boot=50)
        bars = accuracy_bars(an.main, tmp_path / f"bars{len(losses)}.png")
        configs = list(an.chosen["config"])
        diffs = paired_differences(an.per_episode, configs, tmp_path / f"d{len(losses)}.png", "ce")
        return [imread(p).shape[:2] for p in (bars, diffs)]  # (height, width) in pixels

    (bars_h, bars_w), (diffs_h, diffs_w) = shapes(["ce", "supcon", "clce"])
    assert bars_w > 2 * bars_h and diffs_w > 3 * diffs_h  # one row
    many = ["ce", "baselinepp", "negmargin", "proto", "supcon", "clce", "lsce"]
    (bars7_h, bars7_w), (diffs7_h, diffs7_w) = shapes(many)
    assert bars7_h > 1.8 * bars_h and bars7_w < 2 * bars7_h  # two rows
    assert diffs7_h > 1.8 * diffs_h and diffs7_w < 4 * diffs7_h
