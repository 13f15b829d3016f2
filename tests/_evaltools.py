"""Shared by the evaluation tests: a tiny counting backbone and a toy split."""

import numpy as np
import torch

from fewshot_clce.data import ArraySplit


class CountingNet(torch.nn.Module):
    """A tiny backbone [B, 1, 8, 8] -> [B, 6] that counts forward calls and images."""

    def __init__(self, seed=0, nan_rows=()):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.lin = torch.nn.Linear(64, 6)
        with torch.no_grad():
            self.lin.weight.copy_(torch.randn(6, 64, generator=g))
        self.calls, self.images, self.nan_rows = 0, 0, set(nan_rows)

    def forward(self, x):
        self.calls += 1
        self.images += len(x)
        out = self.lin(x.flatten(1))
        for r in range(len(x)):  # rows whose first pixel marks them as poisoned
            if round(float(x[r, 0, 0, 0]) * 255) in self.nan_rows:
                out[r] = float("nan")
        return out


def make_split(n=40, seed=0, name="novel"):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 8, 8), dtype=np.uint8)
    images[:, 0, 0] = np.arange(n) % 256  # a per-sample marker pixel
    return ArraySplit("toy", name, images, np.arange(n) % 4, [f"c{i}" for i in range(4)])
