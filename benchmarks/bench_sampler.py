"""Episode sampling speed: fewshot-clce against easyfsl's TaskSampler and learn2learn's TaskDataset.

Draws 5-way 5-shot 15-query episodes (sample indices only, no images) over 20 classes x 600
samples with each sampler, in ``--rounds`` alternating rounds (the order reversed every other
round, so a load on the machine hits all alike), and prints episodes per second per round, the
median ratio of each comparison with its range, and the load average before and after. The
last line holds the ratios: ``EpisodeBatchSampler`` against ``TaskSampler`` (both yield index
lists), and ``sample_episodes`` (arrays) against each peer.

    python benchmarks/bench_sampler.py [--episodes 10000] [--l2l-episodes 150] [--rounds 5]

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
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere in a checkout
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import alternate, alternate_rounds, load_line, ratio_text, ratios, summary  # noqa: E402

from fewshot_clce.episodes import EpisodeSet, sample_episodes  # noqa: E402
from fewshot_clce.episodes.batch_sampler import EpisodeBatchSampler  # noqa: E402

WAYS, SHOTS, QUERIES, CLASSES, PER_CLASS = 5, 5, 15, 20, 600


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


def easyfsl_sampler(labels: np.ndarray, episodes: int):
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
        print(
            "easyfsl: TaskSampler fails to construct with this torch (data_source= passed to "
            "Sampler.__init__); worked around for this benchmark only"
        )
    random.seed(0)  # easyfsl samples with the global random module
    return sampler


def learn2learn_tasks(labels: np.ndarray):
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
    random.seed(0)  # learn2learn samples with the global random module
    return l2l.data.TaskDataset(
        meta,
        task_transforms=[
            l2l.data.transforms.NWays(meta, WAYS),
            l2l.data.transforms.KShots(meta, SHOTS + QUERIES),
        ],
        num_tasks=-1,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--episodes",
        type=int,
        default=10_000,
        help="episodes per sampler and round (default 10000)",
    )
    parser.add_argument(
        "--l2l-episodes",
        type=int,
        default=150,
        help="episodes per learn2learn round, rate extrapolated (default 150)",
    )
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds (default 5)")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error(f"--rounds must be at least 1, got {args.rounds}")
    labels = np.repeat(np.arange(CLASSES, dtype=np.int64), PER_CLASS)
    print(
        f"{args.episodes} episodes, {WAYS}-way {SHOTS}-shot {QUERIES}-query, {CLASSES} classes x "
        f"{PER_CLASS} samples, indices only; {args.rounds} alternating rounds"
    )
    print(load_line("before"), flush=True)

    batch_sampler = EpisodeBatchSampler(labels, WAYS, SHOTS, QUERIES, args.episodes, seed=0)
    easy = easyfsl_sampler(labels, args.episodes)
    tasks = learn2learn_tasks(labels)
    counts = {
        "sample_episodes": args.episodes,
        "EpisodeBatchSampler": args.episodes,
        "TaskSampler": args.episodes,
    }
    contenders = {
        "sample_episodes": lambda r: sample_episodes(
            labels, WAYS, SHOTS, QUERIES, args.episodes, r
        ),
        "EpisodeBatchSampler": lambda r: (batch_sampler.set_epoch(r), list(batch_sampler)),
        "TaskSampler": lambda r: list(easy),
    }
    if tasks is not None:
        counts["TaskDataset"] = args.l2l_episodes
        contenders["TaskDataset"] = lambda r: [tasks.sample() for _ in range(args.l2l_episodes)]
    for fn in contenders.values():  # warm-up: lazy imports, allocator
        fn(0)
    times = alternate_rounds(contenders, args.rounds)
    rates = {name: [counts[name] / t for t in times[name]] for name in times}
    names = {
        "sample_episodes": "fewshot-clce sample_episodes (arrays)",
        "EpisodeBatchSampler": "fewshot-clce EpisodeBatchSampler (index lists)",
        "TaskSampler": "easyfsl 1.5.0 TaskSampler (index lists)",
        "TaskDataset": f"learn2learn TaskDataset (index tensors; {args.l2l_episodes} per round)",
    }
    print(f"{'sampler':<64} episodes/s per round")
    for name, r in rates.items():
        print(f"{names[name]:<64} " + "  ".join(f"{x:>9,.0f}" for x in r))
    with tempfile.TemporaryDirectory() as tmp:
        path = sample_episodes(labels, WAYS, SHOTS, QUERIES, args.episodes, 0).save(
            Path(tmp) / "e.npz"
        )
        load = [
            t * 1000
            for t in alternate({"load": lambda: EpisodeSet.load(path)}, args.rounds)["load"]
        ]
        print(
            f"EpisodeSet.load of {args.episodes} episodes ({path.stat().st_size / 1e6:.1f} MB .npz): "
            f"median {summary(load)[0]:.1f} ms"
        )
    lists = ratios(times["TaskSampler"], times["EpisodeBatchSampler"])
    arrays = ratios(times["TaskSampler"], times["sample_episodes"])
    print(f"EpisodeBatchSampler vs TaskSampler (index lists both): {ratio_text(lists)}")
    print(f"sample_episodes vs TaskSampler: {ratio_text(arrays)}")
    last = f"speedup: EpisodeBatchSampler {ratio_text(lists)} vs easyfsl TaskSampler; sample_episodes {ratio_text(arrays)} vs easyfsl"
    if tasks is not None:
        l2l = [a / b for a, b in zip(rates["sample_episodes"], rates["TaskDataset"])]
        print(
            f"sample_episodes vs learn2learn TaskDataset (rate ratio, extrapolated): {ratio_text(l2l)}"
        )
        last += f", {ratio_text(l2l)} vs learn2learn (extrapolated)"
    else:
        last += ", learn2learn not measured"
    print(load_line("after"))
    print(last)


if __name__ == "__main__":
    main()
