"""The summary tables name each row's embedding size, as the per-episode rows record it."""

import pandas as pd
from synthetic_results import make_results

from fewshot_clce.report.tables import summary_markdown, transfer_markdown
from fewshot_clce.stats.summary import summarize


def _rows(dataset: str, dim) -> pd.DataFrame:
    df = make_results({"ce": 0.0, "clce": 0.02}, seeds=[0], episodes=10, dataset=dataset)
    df["train_dataset"] = "toy"
    df["embedding_dim"] = dim
    return df


def test_the_dim_column_comes_from_the_rows_and_is_absent_without_them():
    main = summarize(_rows("toy", 1600), n_boot=20)
    assert set(main["embedding_dim"]) == {1600}
    table = summary_markdown(main)
    assert "| loss | head | shots | dim |" in table and "| clce | centroid | 5 | 1600 |" in table
    bare = summarize(_rows("toy", 1600).drop(columns="embedding_dim"), n_boot=20)
    assert "embedding_dim" not in bare and "dim" not in summary_markdown(bare)


def test_the_cross_domain_table_names_each_rows_widths():
    main = summarize(_rows("toy", 64), n_boot=20)
    cross = summarize(
        _rows("digits", 1600), n_boot=20
    )  # a flattened map: its width follows the images
    lines = transfer_markdown(main, cross, "toy").splitlines()
    assert lines[0] == "| loss | head | shots | toy (trained on) | digits | dim |"
    assert lines[2].startswith("| ce | centroid | 1 |") and lines[2].endswith("| 64/1600 |")
    same = transfer_markdown(main, summarize(_rows("digits", 64), n_boot=20), "toy")
    assert same.splitlines()[2].endswith("| 64 |")
