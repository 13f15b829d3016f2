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
