import numpy as np
import pytest
import torch
from _episode_fixtures import make_split
from torch.utils.data import DataLoader

from fewshot_clce.episodes import sample_episodes
from fewshot_clce.episodes.batch_sampler import EpisodeBatchSampler, EpisodeStream


def test_batches_are_episodes_support_then_query():
    split = make_split([30] * 6)
    sampler = EpisodeBatchSampler(split, 3, 2, 4, episodes=10, seed=5)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 10
    for batch in batches:
        assert len(batch) == 3 * (2 + 4) and len(set(batch)) == len(batch)
        labels = split.labels[batch]
        support, query = labels[:6].reshape(3, 2), labels[6:].reshape(3, 4)  # [N, K], [N, Q]
        assert (support == support[:, :1]).all() and (query == support[:, :1]).all()
        assert len(set(support[:, 0])) == 3
    assert batches == list(sampler)  # same epoch, same episodes
    eps = sampler.episodes_for_epoch(0)
    assert batches == np.concatenate([eps.flat_support(), eps.flat_query()], axis=1).tolist()
    assert all(
        type(i) is int for batch in batches for i in batch
    )  # Python ints, as DataLoader expects
    sampler.set_epoch(1)
    assert batches != list(sampler)
    sampler.set_epoch(0)
    assert batches == list(sampler)


def test_dataloader_with_workers_sees_each_episode_once():
    split = make_split([30] * 6)
    sampler = EpisodeBatchSampler(split, 3, 1, 2, episodes=12, seed=0)
    loader = DataLoader(split, batch_sampler=sampler, num_workers=2)
    got = [labels.tolist() for _, labels in loader]
    expected = [split.labels[b].tolist() for b in sampler]
    assert got == expected and len(got) == 12
    images, labels = next(iter(loader))
    support, s_labels, query, q_labels = sampler.split_batch(images)
    assert support.shape == (3, 1, 2, 2) and query.shape == (6, 1, 2, 2)
    assert s_labels.tolist() == [0, 1, 2] and q_labels.tolist() == [0, 0, 1, 1, 2, 2]


def test_stream_in_workers_shares_episodes_out():
    split = make_split([30] * 6)
    sampler = EpisodeBatchSampler(split, 3, 1, 2, episodes=10, seed=2)
    loader = DataLoader(EpisodeStream(split, sampler), batch_size=None, num_workers=2)
    seen = [tuple(q.flatten().tolist()) for _, _, q, _ in loader]
    assert len(seen) == 10 and len(set(seen)) == 10
    direct = {tuple(split.get_images(b[3:]).flatten().tolist()) for b in sampler}
    assert set(seen) == direct
    sampler.set_epoch(1)  # the workers of the next iteration copy the sampler with its new epoch
    again = {tuple(q.flatten().tolist()) for _, _, q, _ in loader}
    assert again == {tuple(split.get_images(b[3:]).flatten().tolist()) for b in sampler} != direct


@pytest.mark.parametrize("drop_last, lengths", [(True, [3, 3, 3]), (False, [4, 3, 3])])
def test_ranks_partition_the_epoch(drop_last, lengths):
    labels = np.repeat(np.arange(8), 10)
    shards = [
        list(
            EpisodeBatchSampler(
                labels, 4, 1, 1, episodes=10, seed=1, rank=r, world_size=3, drop_last=drop_last
            )
        )
        for r in range(3)
    ]
    assert [len(s) for s in shards] == lengths
    everything = list(EpisodeBatchSampler(labels, 4, 1, 1, episodes=10, seed=1))
    merged = [b for i in range(4) for s in shards if i < len(s) for b in [s[i]]]
    assert merged == everything[: len(merged)]
    with pytest.raises(ValueError, match="rank must lie in"):
        EpisodeBatchSampler(labels, 4, 1, 1, episodes=10, rank=3, world_size=3)


def test_fixed_manifest_and_early_errors():
    split = make_split([30] * 6)
    eps = sample_episodes(split, 3, 2, 2, 5, seed=0)
    sampler = EpisodeBatchSampler.from_episodes(eps)
    sampler.set_epoch(3)
    assert list(sampler) == np.concatenate([eps.flat_support(), eps.flat_query()], 1).tolist()
    with pytest.raises(ValueError, match="7-way episodes need 7 classes"):
        EpisodeBatchSampler(split, 7, 1, 1, episodes=5)
    assert torch.equal(sampler.labels()[0], torch.tensor([0, 0, 1, 1, 2, 2]))
