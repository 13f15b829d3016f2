"""``digits``: scikit-learn's bundled 8x8 handwritten digits, as a few-shot dataset.

The 10 digits alone cannot give three class-disjoint splits that each allow 5-way tasks, so
every digit upright and turned a quarter turn is a class of its own (``"7@90"``), the way
rotated Omniglot characters are used as extra classes. Only 0 and 90 degrees are used: a half
turn makes 6 into 9 (and 0, 1, 8 into themselves), which would put near-identical classes side
by side. The split is by digit, so no digit seen in training appears, in either orientation,
among validation or novel classes:

- base: digits 0, 1, 2, 3 (8 classes)
- val: digits 4, 5, 6 (6 classes)
- novel: digits 7, 8, 9 (6 classes)

Each class has about 180 images of 8x8 pixels, grayscale, scaled to uint8.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from .base import ArraySplit, FewShotDataset
from .registry import register_dataset


def bundled_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits: images ``[1797, 8, 8]`` float (0..16) and labels ``[1797]``, as
    ``sklearn.datasets.load_digits`` gives them.

    The bundled file is read as load_digits reads it, without importing scikit-learn (about
    1.5 s, in every process that trains or evaluates on digits); load_digits itself serves when
    the file is not where scikit-learn keeps it.
    """
    spec = importlib.util.find_spec("sklearn")  # finds the package without running it
    for folder in (spec.submodule_search_locations or []) if spec is not None else []:
        path = Path(folder) / "datasets" / "data" / "digits.csv.gz"
        if path.is_file():
            data = np.loadtxt(path, delimiter=",")  # [1797, 65]: 64 pixels, then the digit
            return data[:, :-1].reshape(-1, 8, 8), data[:, -1].astype(int)
    from sklearn.datasets import load_digits

    raw = load_digits()
    return raw.images, raw.target


DIGIT_SPLITS = {"base": (0, 1, 2, 3), "val": (4, 5, 6), "novel": (7, 8, 9)}
ROTATIONS = (0, 90)


@register_dataset(
    "digits",
    description="scikit-learn's handwritten digits, upright and quarter-turned (8x8 px)",
    embedded=True,
    classes={"base": 8, "val": 6, "novel": 6},
    available=lambda root: True,
    layout="bundled with scikit-learn",
)
def digits_dataset() -> FewShotDataset:
    raw_images, raw_target = bundled_digits()
    # sklearn stores values 0..16; scale to the full uint8 range.
    images = np.round(raw_images * (255.0 / 16.0)).astype(np.uint8)  # [1797, 8, 8]
    target = raw_target.astype(np.int64)
    splits = {}
    for sname, digits in DIGIT_SPLITS.items():
        imgs: list[np.ndarray] = []
        labels: list[np.ndarray] = []
        names: list[str] = []
        for d in digits:
            base = images[target == d]
            for r in ROTATIONS:
                imgs.append(np.rot90(base, k=r // 90, axes=(1, 2)))
                labels.append(np.full(len(base), len(names), dtype=np.int64))
                names.append(f"{d}@{r}")
        splits[sname] = ArraySplit(
            "digits", sname, np.concatenate(imgs), np.concatenate(labels), names
        )
    return FewShotDataset(
        "digits", splits, description="scikit-learn digits, upright and quarter-turned"
    )
