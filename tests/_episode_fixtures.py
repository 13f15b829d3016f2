"""Shared by the episode tests: a tiny in-memory split with chosen class sizes."""

import numpy as np

from fewshot_clce.data import ArraySplit


def make_split(counts, dataset="toy", name="novel", seed=0):
    """A tiny in-memory split with ``counts[c]`` 2x2 images of class ``c``, samples shuffled."""
    labels = np.repeat(np.arange(len(counts)), counts)
    labels = labels[np.random.default_rng(seed).permutation(len(labels))]
    images = (np.arange(len(labels) * 4) % 251).astype(np.uint8).reshape(-1, 2, 2)
    return ArraySplit(dataset, name, images, labels, [f"c{i}" for i in range(len(counts))])
