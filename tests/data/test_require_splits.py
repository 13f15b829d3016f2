"""require_splits: the one check of the splits that training and the benchmark need."""

import pytest

from fewshot_clce.data import create_dataset
from fewshot_clce.data.registry import require_splits


def test_require_splits_names_the_missing_split_and_the_ones_there():
    digits = create_dataset("digits")
    require_splits(
        digits, ("base", "val", "novel"), "training", "why", "how"
    )  # all there: no error
    fake = type("Fake", (), {"splits": {"base": None, "novel": None}, "name": "toy"})()
    with pytest.raises(
        ValueError,
        match=r"^the benchmark needs a 'val' split of every dataset \(to pick\); "
        r"dataset 'mine' has base, novel\. give it one$",
    ):
        require_splits(
            fake,
            ("base", "val"),
            "the benchmark",
            "to pick",
            "give it one",
            name="mine",
            scope=" of every dataset",
        )
    with pytest.raises(ValueError, match=r"^training needs a 'val' split \(u\); dataset 'toy' has"):
        require_splits(fake, ("val",), "training", "u", "f")
