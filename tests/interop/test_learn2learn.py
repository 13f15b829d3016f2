"""learn2learn interop. `make test-slow` builds and installs learn2learn first, so these run
rather than skip; `make test` leaves them out (they are marked slow) and needs no learn2learn."""

import numpy as np
import pytest
import torch
from _dataset_fixtures import rand_images, write_mini_learn2learn

from fewshot_clce.data import ArraySplit, create_dataset
from fewshot_clce.episodes import sample_episodes
from fewshot_clce.interop.learn2learn import (
    EpisodeTasks,
    import_learn2learn,
    split_from_learn2learn,
    to_learn2learn_taskset,
)

# learn2learn is imported by the tests that use it, not at collection: `make test` collects this
# module without learn2learn installed.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def l2l():
    return import_learn2learn()


def _toy_split(n_classes=6, per_class=7, size=5):
    images = rand_images(n_classes * per_class, size, seed=1)
    labels = np.repeat(np.arange(n_classes), per_class)
    return ArraySplit("toy", "novel", images, labels, [f"c{i}" for i in range(n_classes)])


class _ListDataset(torch.utils.data.Dataset):
    """What learn2learn datasets look like: float images in 0..255, arbitrary labels."""

    def __init__(self, images, labels):
        self.images, self.labels = images, labels

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return torch.from_numpy(self.images[i]).permute(2, 0, 1).float(), self.labels[i]


def test_learn2learn_version(l2l):
    assert l2l.__version__ == "0.2.0"


def test_wrap_plain_dataset_and_metadataset(l2l):
    images = rand_images(9, 4, seed=2)
    labels = [7, 3, 7, 11, 3, 3, 11, 7, 7]
    for source in (
        _ListDataset(images, labels),
        l2l.data.MetaDataset(_ListDataset(images, labels)),
    ):
        s = split_from_learn2learn(
            source, dataset="toy", split="val", class_names={3: "cat", 7: "dog", 11: "emu"}
        )
        assert s.class_names == ["cat", "dog", "emu"] and s.original_labels == [3, 7, 11]
        assert s.labels.tolist() == [1, 0, 1, 2, 0, 0, 2, 1, 1]
        x, y = s[3]
        assert y == 2 and x.shape == (3, 4, 4)
        torch.testing.assert_close(x, torch.from_numpy(images[3]).permute(2, 0, 1).float() / 255)
        assert len(s.fingerprint) == 16
    again = split_from_learn2learn(
        _ListDataset(images, labels),
        dataset="toy",
        split="val",
        class_names={3: "cat", 7: "dog", 11: "emu"},
    )
    assert again.fingerprint == s.fingerprint


def test_wrap_learn2learn_mini_imagenet_matches_native_loader(tmp_path, l2l):
    """learn2learn's own MiniImagenet class over the same cache pickle gives the same images and classes."""
    write_mini_learn2learn(tmp_path)
    native = create_dataset("mini-imagenet", root=tmp_path).split("val")
    l2l_ds = l2l.vision.datasets.MiniImagenet(root=str(tmp_path), mode="validation")
    names = {v: k for k, v in l2l_ds.class_idx.items()}
    wrapped = split_from_learn2learn(
        l2l_ds, dataset="mini-imagenet", split="val", class_names=names
    )
    assert sorted(wrapped.class_names) == sorted(native.class_names)
    for i in range(len(native)):
        assert wrapped.class_names[wrapped.labels[i]] == native.class_names[native.labels[i]]
    torch.testing.assert_close(
        wrapped.get_images(range(len(native))), native.get_images(range(len(native)))
    )


def test_episode_tasks_layout_and_partition(l2l):
    split = _toy_split()
    eps = sample_episodes(split, ways=3, shots=2, queries=4, episodes=5, seed=0)
    tasks = EpisodeTasks(eps, split)
    assert len(tasks) == 5
    data, labels = tasks[2]
    assert data.shape == (3 * 6, 3, 5, 5) and labels.tolist() == [0] * 6 + [1] * 6 + [2] * 6
    # position n*(K+Q) + j is support j (j < K) or query j-K of class n
    torch.testing.assert_close(data[1 * 6 + 1], split.get_images([eps.support[2, 1, 1]])[0])
    torch.testing.assert_close(data[2 * 6 + 3], split.get_images([eps.query[2, 2, 1]])[0])
    (xs, ys), (xq, yq) = tasks.partition(data, labels)
    (ls, lys), (lq, lyq) = l2l.data.partition_task(data, labels, shots=2)
    for a, b in ((xs, ls), (ys, lys), (xq, lq), (yq, lyq)):
        torch.testing.assert_close(a, b)
    assert xs.shape == (6, 3, 5, 5) and xq.shape == (12, 3, 5, 5)


def test_taskset_is_a_learn2learn_taskset(l2l):
    split = _toy_split()
    eps = sample_episodes(split, ways=2, shots=1, queries=3, episodes=4, seed=1)
    taskset = to_learn2learn_taskset(eps, split)
    assert isinstance(taskset, l2l.data.Taskset) and len(taskset) == 4
    tasks = EpisodeTasks(eps, split)
    seen = list(taskset)
    assert len(seen) == 4
    for e, (x, y) in enumerate(seen):
        ex, ey = tasks[e]
        torch.testing.assert_close(x, ex)
        assert y.tolist() == ey.tolist()


def test_tasks_refuse_other_split():
    split = _toy_split()
    eps = sample_episodes(split, ways=2, shots=1, queries=1, episodes=2, seed=0)
    other = ArraySplit("toy", "novel", rand_images(42, 5, seed=9), split.labels, split.class_names)
    with pytest.raises(ValueError, match="fingerprint"):
        EpisodeTasks(eps, other)
