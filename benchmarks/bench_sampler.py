"""Episode sampling speed: fewshot-clce against easyfsl's TaskSampler and learn2learn's TaskDataset.

Draws 5-way 5-shot 15-query episodes (sample indices only, no images) over 20 classes x 600
samples with each sampler in the same run, and prints episodes per second; the last line is the
speedup of ``sample_episodes`` over each peer.

    python benchmarks/bench_sampler.py [--episodes 10000] [--l2l-episodes 300] [--repeats 3]

Notes on the peers:
- easyfsl 1.5.0's ``TaskSampler.__init__`` calls ``Sampler.__init__(data_source=None)``, which
  current torch rejects (``Sampler`` no longer takes arguments). The benchmark works around it by
  constructing the sampler while ``Sampler.__init__`` accepts and ignores that argument; the
  sampling code itself is easyfsl's, unchanged. easyfsl draws with the global ``random`` module.
- learn2learn's ``TaskDataset`` with ``NWays`` + ``KShots`` transforms (no ``LoadData``, so a
  task holds indices) is slow, so each of its runs draws ``--l2l-episodes`` episodes and its
  rate is extrapolated to the full count.
"""
from __future__ import annotations

import argparse
import contextlib
import random
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere in a checkout

from fewshot_clce.episodes.sampler import EpisodeBatchSampler  # noqa: E402
from fewshot_clce.episodes.manifest import EpisodeSet, sample_episodes  # noqa: E402

WAYS, SHOTS, QUERIES, CLASSES, PER_CLASS = 5, 5, 15, 20, 600


def best_rate(fn, episodes: int, repeats: int) -> float:
    """Episodes per second of the fastest of ``repeats`` calls of ``fn()`` (each draws ``episodes``)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return episodes / best


@contextlib.contextmanager
def _sampler_init_accepting_data_source():
    """Let ``torch.utils.data.Sampler.__init__`` take (and ignore) easyfsl's ``data_source=`` argument."""
    sampler_cls = torch.utils.data.Sampler
    original = sampler_cls.__init__

    def tolerant_init(self, *args, **kwargs):
        kwargs.pop("data_source", None)
        original(self, *args, **kwargs)

    sampler_cls.__init__ = tolerant_init
    try:
        yield
    finally:
        sampler_cls.__init__ = original


def easyfsl_rate(labels: np.ndarray, episodes: int, repeats: int) -> float:
    from easyfsl.samplers import TaskSampler

    class Labels:  # all TaskSampler reads from a dataset
        def get_labels(self):
            return labels.tolist()

    try:
        sampler = TaskSampler(Labels(), WAYS, SHOTS, QUERIES, episodes)
        print("easyfsl: TaskSampler constructed as is")
    except TypeError:
        with _sampler_init_accepting_data_source():
            sampler = TaskSampler(Labels(), WAYS, SHOTS, QUERIES, episodes)
        print("easyfsl: TaskSampler fails to construct with this torch (data_source= passed to "
              "Sampler.__init__); worked around for this benchmark only")
    random.seed(0)  # easyfsl samples with the global random module
    return best_rate(lambda: list(sampler), episodes, repeats)


def learn2learn_rate(labels: np.ndarray, episodes: int, repeats: int):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import learn2learn as l2l
    except ImportError as e:
        print(f"learn2learn: not importable ({e}); install it with `make learn2learn`")
        return None
    data = torch.utils.data.TensorDataset(torch.arange(len(labels)), torch.from_numpy(labels))
    by_class = {int(c): np.flatnonzero(labels == c).tolist() for c in np.unique(labels)}
    meta = l2l.data.MetaDataset(data, labels_to_indices=by_class)
    tasks = l2l.data.TaskDataset(meta, task_transforms=[l2l.data.transforms.NWays(meta, WAYS),
                                                        l2l.data.transforms.KShots(meta, SHOTS + QUERIES)],
                                 num_tasks=-1)
    random.seed(0)  # learn2learn samples with the global random module
    return best_rate(lambda: [tasks.sample() for _ in range(episodes)], episodes, repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=10_000, help="episodes per sampler (default 10000)")
    parser.add_argument("--l2l-episodes", type=int, default=150,
                        help="episodes per learn2learn run, rate extrapolated (default 150)")
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs (default 3)")
    args = parser.parse_args()
    labels = np.repeat(np.arange(CLASSES, dtype=np.int64), PER_CLASS)
    print(f"{args.episodes} episodes, {WAYS}-way {SHOTS}-shot {QUERIES}-query, {CLASSES} classes x "
          f"{PER_CLASS} samples, indices only; best of {args.repeats} runs")

    ours = best_rate(lambda: sample_episodes(labels, WAYS, SHOTS, QUERIES, args.episodes, 0),
                     args.episodes, args.repeats)
    batch_sampler = EpisodeBatchSampler(labels, WAYS, SHOTS, QUERIES, args.episodes, seed=0)
    ours_lists = best_rate(lambda: list(batch_sampler), args.episodes, args.repeats)
    with tempfile.TemporaryDirectory() as tmp:
        path = sample_episodes(labels, WAYS, SHOTS, QUERIES, args.episodes, 0).save(Path(tmp) / "e.npz")
        load_rate = best_rate(lambda: EpisodeSet.load(path), args.episodes, args.repeats)
        print(f"EpisodeSet.load of {args.episodes} episodes ({path.stat().st_size / 1e6:.1f} MB .npz): "
              f"{args.episodes / load_rate * 1000:.1f} ms")
    easy = easyfsl_rate(labels, args.episodes, args.repeats)
    l2l = learn2learn_rate(labels, args.l2l_episodes, args.repeats)

    print(f"{'sampler':<52} {'episodes/s':>12}")
    print(f"{'fewshot-clce sample_episodes (arrays)':<52} {ours:>12,.0f}")
    print(f"{'fewshot-clce EpisodeBatchSampler (index lists)':<52} {ours_lists:>12,.0f}")
    print(f"{'easyfsl 1.5.0 TaskSampler (index lists)':<52} {easy:>12,.0f}")
    if l2l is not None:
        print(f"{'learn2learn TaskDataset (index tensors)':<52} {l2l:>12,.0f}   "
              f"(runs of {args.l2l_episodes} episodes; {args.episodes} would take ~{args.episodes / l2l:.0f} s)")
    print(f"EpisodeBatchSampler (index lists, like TaskSampler): {ours_lists / easy:.1f}x vs easyfsl")
    l2l_part = f"{ours / l2l:.0f}x vs learn2learn (extrapolated)" if l2l is not None else "learn2learn not measured"
    print(f"speedup: {ours / easy:.1f}x vs easyfsl, {l2l_part}")


if __name__ == "__main__":
    main()
