import json
import zipfile

import numpy as np
import pytest
from _episode_fixtures import make_split
from hypothesis import given, settings
from hypothesis import strategies as st

from fewshot_clce.episodes import EpisodeSet, sample_distinct, sample_episodes
from fewshot_clce.episodes.batch_sampler import EpisodeBatchSampler


def check_invariants(eps, labels, ways, shots, queries, count):
    assert eps.classes.shape == (count, ways)
    assert eps.support.shape == (count, ways, shots)
    assert eps.query.shape == (count, ways, queries)
    # classes distinct within an episode
    srt = np.sort(eps.classes, axis=1)
    assert (np.diff(srt, axis=1) > 0).all()
    # every sample carries its episode class's label
    assert (labels[eps.support] == eps.classes[:, :, None]).all()
    assert (labels[eps.query] == eps.classes[:, :, None]).all()
    # support and query disjoint, no sample twice in an episode
    both = np.concatenate([eps.support, eps.query], axis=2).reshape(count, -1)
    srt = np.sort(both, axis=1)
    assert (np.diff(srt, axis=1) > 0).all()


@settings(max_examples=60, deadline=None)
@given(
    counts=st.lists(st.integers(0, 30), min_size=1, max_size=12),
    ways=st.integers(1, 6),
    shots=st.integers(1, 4),
    queries=st.integers(1, 5),
    count=st.integers(1, 40),
    seed=st.integers(0, 2**32),
)
def test_sampler_invariants(counts, ways, shots, queries, count, seed):
    labels = np.repeat(np.arange(len(counts)), counts)
    usable = sum(c >= shots + queries for c in counts)
    if ways < 2:  # every query of a 1-way episode is trivially right
        with pytest.raises(ValueError, match="at least 2 classes"):
            sample_episodes(labels, ways, shots, queries, count, seed, skip_small_classes=True)
        return
    if ways > usable:
        with pytest.raises(ValueError, match=f"{ways}-way episodes need {ways} classes"):
            sample_episodes(labels, ways, shots, queries, count, seed, skip_small_classes=True)
        return
    eps = sample_episodes(labels, ways, shots, queries, count, seed, skip_small_classes=True)
    check_invariants(eps, labels, ways, shots, queries, count)
    again = sample_episodes(labels, ways, shots, queries, count, seed, skip_small_classes=True)
    assert eps == again


@settings(max_examples=40, deadline=None)
@given(
    counts=st.lists(st.integers(0, 30), min_size=2, max_size=10),
    shots=st.integers(1, 3),
    queries=st.integers(1, 4),
    count=st.integers(1, 30),
    seed=st.integers(0, 2**32),
)
def test_sampled_episodes_pass_the_integrity_check_with_shuffled_labels(
    counts, shots, queries, count, seed
):
    """sample_episodes builds its EpisodeSet without validating it again: the one integrity check
    (with the labels) must find nothing, for samples grouped by class or not."""
    from fewshot_clce.episodes import validate_episodes

    grouped = np.repeat(np.arange(len(counts)), counts)
    shuffled = grouped[np.random.default_rng(seed).permutation(len(grouped))]
    if sum(c >= shots + queries for c in counts) < 2:
        return
    for labels in (grouped, shuffled):
        eps = sample_episodes(labels, 2, shots, queries, count, seed, skip_small_classes=True)
        validate_episodes(
            eps.classes, eps.support, eps.query, labels=labels, num_classes=len(counts)
        )
        check_invariants(eps, labels, 2, shots, queries, count)


@settings(max_examples=60, deadline=None)
@given(n=st.lists(st.integers(1, 50), min_size=1, max_size=20), data=st.data())
def test_sample_distinct_in_range_and_distinct(n, data):
    size = data.draw(st.integers(1, min(n)))
    out = sample_distinct(np.random.default_rng(data.draw(st.integers(0, 1000))), np.array(n), size)
    assert out.shape == (len(n), size)
    assert (out >= 0).all() and (out < np.array(n)[:, None]).all()
    assert all(len(set(row)) == size for row in out.tolist())


@pytest.mark.parametrize(
    "n, size, tuples",
    [
        (4, 3, 24),  # all distinct with probability 3/8: redraw-on-repeat path
        (5, 4, 120),  # probability 24/125: argsort-of-keys path
    ],
)
def test_sample_distinct_is_uniform_over_ordered_tuples(n, size, tuples):
    # each ordered tuple expected 30000 / tuples times; a biased method (e.g. Floyd's without a
    # final shuffle, or drawing a sorted subset) is far outside 5 standard deviations
    out = sample_distinct(np.random.default_rng(1), np.full(30000, n), size)
    _, freq = np.unique(out, axis=0, return_counts=True)
    assert len(freq) == tuples
    expected = 30000 / tuples
    assert np.abs(freq - expected).max() < 5 * np.sqrt(expected)


def test_sample_distinct_mixes_both_paths_row_by_row():
    n = np.array([5, 600] * 5000)
    out = sample_distinct(np.random.default_rng(2), n, 4)
    assert (out < n[:, None]).all() and (np.diff(np.sort(out, axis=1), axis=1) > 0).all()
    # in the 5-population rows every value is equally likely at every position
    for pos in range(4):
        freq = np.bincount(out[::2, pos], minlength=5)
        assert np.abs(freq - 1000).max() < 5 * np.sqrt(1000)
    with pytest.raises(ValueError, match="cannot draw 4 distinct values from a population of 3"):
        sample_distinct(np.random.default_rng(0), np.array([3, 9]), 4)


def test_draws_are_uniform_over_classes_positions_and_samples():
    labels = np.repeat(np.arange(10), 30)
    eps = sample_episodes(labels, 4, 2, 3, 6000, seed=3)
    # each class is at each episode position with probability 1/10
    for pos in range(4):
        freq = np.bincount(eps.classes[:, pos], minlength=10)
        assert np.abs(freq - 600).max() < 5 * np.sqrt(600)
    # within class 0, each of its 30 samples is in the support with probability 2/30
    in_class0 = eps.support[eps.classes == 0]  # [n_episodes_with_0, 2]
    freq = np.bincount(in_class0.ravel(), minlength=30)[:30]
    expected = in_class0.size / 30
    assert np.abs(freq - expected).max() < 5 * np.sqrt(expected)


def test_seeded_and_independent_of_global_state():
    split = make_split([25] * 8)
    np.random.seed(1)
    a = sample_episodes(split, 5, 1, 15, 50, seed=7)
    np.random.seed(2)
    b = sample_episodes(split, 5, 1, 15, 50, seed=7)
    c = sample_episodes(split, 5, 1, 15, 50, seed=8)
    assert a == b and a != c
    check_invariants(a, split.labels, 5, 1, 15, 50)
    assert (a.dataset, a.split, a.fingerprint, a.seed) == ("toy", "novel", split.fingerprint, 7)
    assert a.meta["class_names"] == split.class_names and a.meta["split_size"] == len(split)


def test_generator_and_fresh_seed():
    labels = np.repeat(np.arange(6), 10)
    eps = sample_episodes(labels, 3, 1, 2, 5, np.random.default_rng(0))
    assert eps.seed is None
    fresh = sample_episodes(labels, 3, 1, 2, 5, None)
    assert isinstance(fresh.seed, int)
    assert sample_episodes(labels, 3, 1, 2, 5, fresh.seed) == fresh


@pytest.mark.parametrize(
    "kw, msg",
    [
        (dict(ways=0), "ways must be at least 1, got 0"),
        (dict(shots=-1), "shots must be at least 1, got -1"),
        (dict(queries=0), "queries must be at least 1"),
        (dict(episodes=0), "episodes must be at least 1"),
        (dict(ways=2.5), "ways must be a positive integer, got 2.5"),
        (dict(seed=-3), "seed must be a non-negative integer"),
        (
            dict(ways=9),
            "9-way episodes need 9 classes but toy/novel has 8 classes; lower --ways to at most 8",
        ),
    ],
)
def test_bad_sizes(kw, msg):
    args = dict(ways=5, shots=1, queries=15, episodes=10, seed=0) | kw
    with pytest.raises(ValueError, match=msg.replace("(", r"\(")):
        sample_episodes(make_split([25] * 8), **args)


def test_small_class_named_with_both_counts():
    split = make_split([25, 25, 12, 25, 25, 25])
    with pytest.raises(
        ValueError, match="class 'c2' has 12 samples; 5-shot 15-query episodes need 20"
    ):
        sample_episodes(split, 5, 5, 15, 10, 0)
    eps = sample_episodes(split, 5, 5, 15, 10, 0, skip_small_classes=True)
    assert 2 not in eps.classes
    with pytest.raises(ValueError, match="has 5 classes with at least 20 samples"):
        sample_episodes(split, 6, 5, 15, 10, 0, skip_small_classes=True)


def test_accessors():
    eps = sample_episodes(np.repeat(np.arange(6), 10), 3, 2, 4, 7, 0)
    assert (len(eps), eps.ways, eps.shots, eps.queries) == (7, 3, 2, 4)
    ep = eps[2]
    assert ep.support.shape == (3, 2) and np.array_equal(ep.classes, eps.classes[2])
    sub = eps[1:4]
    assert (
        isinstance(sub, EpisodeSet) and len(sub) == 3 and np.array_equal(sub.query, eps.query[1:4])
    )
    assert eps.flat_support().shape == (7, 6) and list(eps.support_labels()) == [0, 0, 1, 1, 2, 2]
    assert np.array_equal(eps.flat_query()[:, 4:8], eps.query[:, 1])
    assert list(eps.query_labels()) == [0] * 4 + [1] * 4 + [2] * 4
    used = eps.used_indices()
    assert np.array_equal(used, np.unique(np.concatenate([eps.support.ravel(), eps.query.ravel()])))


def test_save_load_roundtrip_and_plain_numpy(tmp_path):
    split = make_split([25] * 8)
    eps = sample_episodes(split, 5, 5, 15, 300, seed=0)
    path = eps.save(tmp_path / "e.npz")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.npz"]  # no temporary file left
    back = EpisodeSet.load(path, split=split)
    assert back == eps and back.meta["class_names"] == split.class_names
    with np.load(path, allow_pickle=False) as z:  # readable without this package
        meta = json.loads(str(z["meta"]))
        assert np.array_equal(z["support"], eps.support)
        assert z["support"].dtype == np.uint8
    assert (
        meta["format_version"] == 1
        and meta["count"] == 300
        and meta["fingerprint"] == split.fingerprint
    )
    with pytest.raises(FileExistsError):
        eps.save(path, overwrite=False)


def test_load_checks_split(tmp_path):
    split = make_split([25] * 8)
    path = sample_episodes(split, 5, 1, 15, 20, seed=0).save(tmp_path / "e.npz")
    other = make_split([25] * 8, seed=1)  # same classes and sizes, samples in another order
    with pytest.raises(
        ValueError,
        match=f"fingerprint {split.fingerprint}, but this split's fingerprint "
        f"is {other.fingerprint}",
    ):
        EpisodeSet.load(path, split=other)
    with pytest.raises(ValueError, match="drawn from dataset 'toy', not 'other'"):
        EpisodeSet.load(path, split=make_split([25] * 8, dataset="other"))
    with pytest.raises(ValueError, match="drawn from split 'novel', not 'val'"):
        EpisodeSet.load(path, split=make_split([25] * 8, name="val"))


def test_check_catches_wrong_labels_without_fingerprint():
    split = make_split([25] * 8)
    eps = sample_episodes(split.labels, 5, 1, 3, 4, 0)
    eps.check(split)
    eps.support[1, 2, 0] = int(np.flatnonzero(split.labels != eps.classes[1, 2])[0])
    with pytest.raises(ValueError, match="episode 1 lists sample .* as a support sample of class"):
        eps.check(split)
    eps.query[0, 0, 0] = len(split)
    with pytest.raises(ValueError, match=f"query index {len(split)} is out of range"):
        eps.check(split)


def test_corrupt_truncated_and_foreign_files(tmp_path):
    path = sample_episodes(np.repeat(np.arange(6), 30), 5, 5, 15, 200, 0).save(tmp_path / "e.npz")
    data = path.read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="cut.npz' is corrupt or truncated"):
        EpisodeSet.load(tmp_path / "cut.npz")
    flipped = bytearray(data)
    flipped[len(data) // 3] ^= 0xFF
    (tmp_path / "flip.npz").write_bytes(bytes(flipped))
    with pytest.raises(ValueError, match="flip.npz' is corrupt or truncated"):
        EpisodeSet.load(tmp_path / "flip.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(
        ValueError, match="text.npz' is corrupt or truncated: it is not an .npz"
    ) as err:
        EpisodeSet.load(tmp_path / "text.npz")
    assert "pickle" not in str(err.value)
    (tmp_path / "empty.npz").write_bytes(b"")
    with pytest.raises(ValueError, match="empty.npz' is corrupt or truncated: it is not an .npz"):
        EpisodeSet.load(tmp_path / "empty.npz")
    np.savez(tmp_path / "foreign.npz", x=np.arange(3))
    with pytest.raises(ValueError, match="lacks meta, classes, support, query"):
        EpisodeSet.load(tmp_path / "foreign.npz")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        EpisodeSet.load(tmp_path / "missing.npz")


def rewrite(path, out, meta_change=None, **arrays):
    with np.load(path) as z:
        content = {k: z[k] for k in z.files}
    meta = json.loads(str(content["meta"]))
    meta.update(meta_change or {})
    content.update(arrays, meta=np.array(json.dumps(meta)))
    np.savez(out, **content)
    return out


def test_inconsistent_or_newer_files(tmp_path):
    path = sample_episodes(np.repeat(np.arange(6), 30), 5, 5, 15, 20, 0).save(tmp_path / "e.npz")
    with pytest.raises(ValueError, match="format version 2; .* reads versions up to 1"):
        EpisodeSet.load(rewrite(path, tmp_path / "v2.npz", {"format_version": 2}))
    with pytest.raises(ValueError, match="metadata says .* = \\(21, 5, 5, 15\\)"):
        EpisodeSet.load(rewrite(path, tmp_path / "count.npz", {"count": 21}))
    with pytest.raises(ValueError, match="is not a fewshot-clce-episodes file"):
        EpisodeSet.load(rewrite(path, tmp_path / "fmt.npz", {"format": "other"}))
    with pytest.raises(ValueError, match="disagree on the number of episodes"):
        EpisodeSet.load(
            rewrite(path, tmp_path / "shape.npz", query=np.zeros((19, 5, 15), np.int64))
        )
    with pytest.raises(
        ValueError, match="query index 999 is out of range for a split of 180 samples"
    ):
        EpisodeSet.load(
            rewrite(path, tmp_path / "big.npz", query=np.full((20, 5, 15), 999, np.int64))
        )
    assert zipfile.is_zipfile(path)


@settings(max_examples=25, deadline=None)
@given(
    e=st.integers(1, 6),
    n=st.integers(1, 4),
    k=st.integers(1, 3),
    q=st.integers(1, 3),
    top=st.sampled_from([200, 70_000, 5_000_000]),
    seed=st.integers(0, 2**20),
    suffix=st.sampled_from([".npz", ".csv"]),
)
def test_save_load_roundtrip_property(tmp_path_factory, e, n, k, q, top, seed, suffix):
    # random (not sampled) episodes: any index values and dtype widths survive both formats
    rng = np.random.default_rng(seed)
    classes = np.stack([rng.permutation(10)[:n] for _ in range(e)])
    idx = rng.permutation(top)[: e * n * (k + q)].reshape(e, n, k + q)
    eps = EpisodeSet(classes, idx[:, :, :k], idx[:, :, k:], "toy", "val", "ab" * 8, seed)
    path = eps.save(tmp_path_factory.mktemp("rt") / f"e{suffix}")
    assert EpisodeSet.load(path) == eps


def test_bad_seed_in_file(tmp_path):
    path = sample_episodes(np.repeat(np.arange(6), 30), 5, 5, 15, 20, 0).save(tmp_path / "e.npz")
    with pytest.raises(ValueError, match="its seed 'x' is not an integer"):
        EpisodeSet.load(rewrite(path, tmp_path / "seed.npz", {"seed": "x"}))


def _bad_manifests(tmp_path):
    """The three damaged manifests of issue 13, each with the split's valid fingerprint."""
    split = make_split([60] * 8)
    eps = sample_episodes(split, 5, 5, 15, 6, seed=0)
    path = eps.save(tmp_path / "good.npz")
    query = eps.query.copy()
    query[3, :, :5] = eps.support[3]  # the queries repeat the supports
    twin = eps.classes.copy()
    twin[3, 1] = twin[3, 0]  # way 1 repeats way 0's class, with other samples of that class
    unused = np.setdiff1d(
        np.flatnonzero(split.labels == twin[3, 0]),
        np.concatenate([eps.support[3, 0], eps.query[3, 0]]),
    )
    support2, query2 = eps.support.copy(), eps.query.copy()
    support2[3, 1], query2[3, 1] = unused[:5], unused[5:20]
    shots = eps.support.copy()
    shots[3, 2, :] = shots[3, 2, 0]  # one sample as all five shots
    return (
        split,
        eps,
        {
            "query_is_support": (
                rewrite(path, tmp_path / "qs.npz", query=query),
                f"sample {eps.support[3, 0, 0]} appears twice in episode 3",
            ),
            "repeated_class": (
                rewrite(path, tmp_path / "cls.npz", classes=twin, support=support2, query=query2),
                f"episode 3 lists class {twin[3, 0]} twice",
            ),
            "one_sample_as_all_shots": (
                rewrite(path, tmp_path / "shots.npz", support=shots),
                f"sample {shots[3, 2, 0]} appears 5 times in episode 3",
            ),
        },
    )


@pytest.mark.parametrize("case", ["query_is_support", "repeated_class", "one_sample_as_all_shots"])
def test_npz_manifest_gets_the_integrity_checks(tmp_path, case):
    split, _, bad = _bad_manifests(tmp_path)
    path, msg = bad[case]
    for kw in ({}, {"split": split}):
        with pytest.raises(ValueError, match=msg) as err:
            EpisodeSet.load(path, **kw)
        assert path.name in str(err.value)
    # the same arrays refused however they come in: constructed, or as a CSV table
    with np.load(path) as z:
        arrays = {k: z[k] for k in ("classes", "support", "query")}
    with pytest.raises(ValueError, match=msg):
        EpisodeSet(
            arrays["classes"], arrays["support"], arrays["query"], "toy", "novel", split.fingerprint
        )


def test_check_revalidates_arrays_changed_after_construction():
    split = make_split([60] * 8)
    eps = sample_episodes(split, 5, 2, 3, 4, seed=0)
    eps.query[1, 0, 0] = eps.support[1, 0, 1]
    with pytest.raises(
        ValueError, match=f"sample {eps.support[1, 0, 1]} appears twice in episode 1"
    ):
        eps.check(split)


def test_absurd_episode_counts_are_refused_before_any_allocation():
    labels = np.repeat(np.arange(6), 30)
    with pytest.raises(ValueError, match="episodes 10000000000: .* GiB of sample indices"):
        sample_episodes(labels, 5, 1, 15, 10**10, 0)
    with pytest.raises(ValueError, match="episodes 10000000000"):
        EpisodeBatchSampler(labels, 5, 1, 15, 10**10, seed=0)
    assert len(sample_episodes(labels, 5, 1, 15, 2000, 0)) == 2000
