"""SimpleShot's feature transforms of heads/base.py."""

import pytest
import torch

from fewshot_clce.heads.base import transform


def test_cl2n_centres_then_normalises_and_needs_the_base_mean():
    x = torch.tensor([[3.0, 4.0], [1.0, 1.0]])
    out = transform(x, "cl2n", torch.tensor([1.0, 1.0]))
    torch.testing.assert_close(out[0], torch.tensor([2.0, 3.0]) / 13**0.5)
    with pytest.raises(ValueError, match="needs base_mean"):
        transform(x, "cl2n", None)
