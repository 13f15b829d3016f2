import numpy as np
import pytest
import torch

from fewshot_clce import create_dataset
from fewshot_clce.data import ArraySplit, FewShotDataset
from fewshot_clce.utils.registry import UnknownNameError


def _split(name="base", seed=0, n_classes=3, per_class=4):
    rng = np.random.default_rng(seed)
    imgs = rng.integers(0, 256, size=(n_classes * per_class, 5, 6), dtype=np.uint8)
    labels = np.repeat(np.arange(n_classes), per_class)
    return ArraySplit("toy", name, imgs, labels, [f"{name}{c}" for c in range(n_classes)])


def test_array_split_items_and_fingerprint():
    s = _split()
    img, label = s[5]
    assert img.shape == (1, 5, 6) and img.dtype == torch.float32
    assert 0.0 <= float(img.min()) and float(img.max()) <= 1.0
    assert label == 1 and s.labels.dtype == np.int64
    assert torch.equal(s.get_images([5])[0], img)
    assert s.fingerprint == _split().fingerprint
    assert s.fingerprint != _split(seed=1).fingerprint
    assert list(s.class_counts) == [4, 4, 4]
    with pytest.raises(IndexError):
        s[12]


def test_rgb_array_is_channels_first():
    imgs = np.zeros((2, 4, 5, 3), dtype=np.uint8)
    imgs[..., 2] = 255
    s = ArraySplit("toy", "base", imgs, [0, 1], ["a", "b"])
    img, _ = s[0]
    assert img.shape == (3, 4, 5) and float(img[2].mean()) == 1.0 and float(img[0].mean()) == 0.0


def test_transform_applied():
    s = _split()
    s.transform = lambda x: x * 0
    assert float(s[0][0].abs().sum()) == 0.0


def test_dataset_refuses_shared_classes():
    a, b = _split("base"), _split("val")
    b.class_names[0] = "base0"
    with pytest.raises(ValueError, match="class 'base0' is in both"):
        FewShotDataset("toy", {"base": a, "val": b})


def test_unknown_split_and_dataset_errors():
    ds = FewShotDataset("toy", {"base": _split()})
    with pytest.raises(ValueError, match="has no split 'novel'; its splits are: base"):
        ds.split("novel")
    with pytest.raises(UnknownNameError, match="unknown dataset 'nope'; valid names: .*digits"):
        create_dataset("nope")


def test_digits_are_read_as_scikit_learn_loads_them(monkeypatch):
    """The bundled file is read without importing scikit-learn; the same arrays as load_digits, and
    load_digits itself where the file is not found."""
    import importlib.util

    from sklearn.datasets import load_digits

    from fewshot_clce.data import digits

    raw = load_digits()
    images, target = digits.bundled_digits()
    assert images.dtype == raw.images.dtype and np.array_equal(images, raw.images)
    assert np.array_equal(target, raw.target)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    fallback = digits.bundled_digits()
    assert np.array_equal(fallback[0], raw.images) and np.array_equal(fallback[1], raw.target)


def test_digits_split_counts_and_disjoint():
    ds = create_dataset("digits")
    counts = {k: v.num_classes for k, v in ds.splits.items()}
    assert counts == {"base": 8, "val": 6, "novel": 6}
    assert sum(len(s) for s in ds.splits.values()) == 1797 * 2
    names = [set(s.class_names) for s in ds.splits.values()]
    assert not (names[0] & names[1]) and not (names[0] & names[2]) and not (names[1] & names[2])
    novel = ds.split("novel")
    img, label = novel[0]
    assert img.shape == (1, 8, 8) and novel.class_names[label].startswith("7@")
    # a rotated class really holds the rotated images
    r0, r90 = (
        novel.indices_of(novel.class_names.index("7@0")),
        novel.indices_of(novel.class_names.index("7@90")),
    )
    assert torch.equal(torch.rot90(novel[r0[0]][0], 1, dims=(1, 2)), novel[r90[0]][0])
    assert novel.fingerprint == create_dataset("digits").split("novel").fingerprint
