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

import numpy as np

from .base import ArraySplit, FewShotDataset
from .registry import register_dataset

DIGIT_SPLITS = {"base": (0, 1, 2, 3), "val": (4, 5, 6), "novel": (7, 8, 9)}
ROTATIONS = (0, 90)


@register_dataset("digits", description="scikit-learn's handwritten digits, upright and quarter-turned (8x8 px)",
                  embedded=True, classes={"base": 8, "val": 6, "novel": 6},
                  available=lambda root: True, layout="bundled with scikit-learn")
def digits_dataset() -> FewShotDataset:
    from sklearn.datasets import load_digits

    raw = load_digits()
    # sklearn stores values 0..16; scale to the full uint8 range.
    images = np.round(raw.images * (255.0 / 16.0)).astype(np.uint8)  # [1797, 8, 8]
    target = raw.target.astype(np.int64)
    splits = {}
    for sname, digits in DIGIT_SPLITS.items():
        imgs, labels, names = [], [], []
        for d in digits:
            base = images[target == d]
            for r in ROTATIONS:
                imgs.append(np.rot90(base, k=r // 90, axes=(1, 2)))
                labels.append(np.full(len(base), len(names), dtype=np.int64))
                names.append(f"{d}@{r}")
        splits[sname] = ArraySplit("digits", sname, np.concatenate(imgs), np.concatenate(labels), names)
    return FewShotDataset("digits", splits, description="scikit-learn digits, upright and quarter-turned")
