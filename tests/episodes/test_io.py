"""Episode files through the functions of episodes/io.py, and the digest of a set."""

import numpy as np
import pytest

from fewshot_clce.episodes import manifest_digest, read_episodes, sample_episodes, write_episodes


@pytest.fixture()
def episodes():
    labels = np.repeat(np.arange(6), 8)  # 6 classes of 8 samples
    return sample_episodes(labels, 3, 2, 3, 10, seed=4, dataset="toy", split_name="novel")


@pytest.mark.parametrize("suffix", [".npz", ".csv"])
def test_written_episodes_read_back_equal(tmp_path, episodes, suffix):
    path = write_episodes(episodes, tmp_path / f"eps{suffix}")
    back = read_episodes(path)
    assert np.array_equal(back.support, episodes.support) and np.array_equal(
        back.query, episodes.query
    )
    assert (back.dataset, back.split) == ("toy", "novel")
    with pytest.raises(FileExistsError):
        write_episodes(episodes, path, overwrite=False)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="absent.npz.*episodes make"):
        read_episodes(tmp_path / "absent.npz")


def test_the_digest_follows_every_index(episodes):
    same = sample_episodes(
        np.repeat(np.arange(6), 8), 3, 2, 3, 10, seed=4, dataset="toy", split_name="novel"
    )
    assert manifest_digest(same) == manifest_digest(episodes)
    same.query[0, 0, 0], same.query[0, 0, 1] = same.query[0, 0, 1], same.query[0, 0, 0]
    assert manifest_digest(same) != manifest_digest(episodes)
