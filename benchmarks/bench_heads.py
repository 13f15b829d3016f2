"""Evaluation speed: batched heads against per-episode peers, in alternating rounds.

(a) Logistic head on 640-d class-structured synthetic features (20 classes x 600 samples),
    2,000 5-way 5-shot 15-query episodes, against a per-episode scikit-learn loop with the
    RFS settings (``LogisticRegression(C=1.0, max_iter=1000)`` on L2-normalised features).
    The episodes are cut into one block per round; in each round both solve that round's
    block (in alternating order), and the round's ratio compares their episodes/s. Ours is
    the toolkit's evaluation path: ``episode_predictions`` (features gathered per chunk, then
    the head; chunks on one thread per core, as evaluation runs by default), and again on one
    thread (``workers=1``), whose ratio is printed too. Agreement of the predictions over all
    episodes.
(b) Nearest-centroid head, 10,000 episodes on the same features: episodes/s per round.
(c) End to end with a conv4 backbone on a 12,000-image split (20 classes x 600 synthetic
    28x28 grayscale images), 1,000 episodes: this toolkit (``extract_features`` once per image,
    then the batched centroid head) against easyfsl's ``evaluate`` with ``PrototypicalNetworks``
    on the same backbone module and the same episodes, fed easyfsl-style task batches built from
    our ``EpisodeSet`` (easyfsl's ``TaskSampler`` is not needed, so its construction failure
    under current torch does not matter here). Both run every round, in alternating order.

Each part prints its per-round figures and the median ratio with its range; the load average
is printed before and after (a busy machine slows the contenders unequally: a ratio measured
under load says as much about the load as about the code). The last line holds the ratios.

    python benchmarks/bench_heads.py [--rounds 3] [--parts a b c] [--logistic-episodes 2000]
                                     [--centroid-episodes 10000] [--e2e-episodes 1000]
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere in a checkout
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import alternate_rounds, load_line, ratio_text, ratios, summary  # noqa: E402

from fewshot_clce.backbones import create_backbone  # noqa: E402
from fewshot_clce.data import ArraySplit  # noqa: E402
from fewshot_clce.episodes import sample_episodes  # noqa: E402
from fewshot_clce.evaluation import episode_accuracies, episode_predictions  # noqa: E402
from fewshot_clce.features import FeatureTable, extract_features  # noqa: E402
from fewshot_clce.heads import create_head  # noqa: E402

WAYS, SHOTS, QUERIES, CLASSES, PER_CLASS, DIM = 5, 5, 15, 20, 600, 640


def synthetic_features(seed: int = 0):
    """Labels ``[12000]`` and non-negative 640-d features whose classes overlap (~70% 5-shot)."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(CLASSES), PER_CLASS)
    means = rng.normal(size=(CLASSES, DIM)) * 0.2
    x = np.maximum(
        0.5 + means[labels] + rng.normal(size=(len(labels), DIM)), 0
    )  # ReLU-like features
    return labels, FeatureTable(np.arange(len(labels)), torch.tensor(x, dtype=torch.float32))


def sklearn_predict(features: FeatureTable, episodes) -> np.ndarray:
    """RFS protocol, one scikit-learn model per episode: predictions ``[E, N*Q]``."""
    from sklearn.linear_model import LogisticRegression

    s_lab = episodes.support_labels()
    out = np.empty((len(episodes), WAYS * QUERIES), dtype=np.int64)
    for e in range(len(episodes)):
        xs = features.lookup(episodes.flat_support()[e]).numpy()
        xq = features.lookup(episodes.flat_query()[e]).numpy()
        xs = xs / np.linalg.norm(xs, axis=1, keepdims=True)
        xq = xq / np.linalg.norm(xq, axis=1, keepdims=True)
        out[e] = LogisticRegression(C=1.0, max_iter=1000).fit(xs, s_lab).predict(xq)
    return out


def ours_predict(features: FeatureTable, episodes, workers=None) -> np.ndarray:
    """The toolkit's evaluation path: features gathered per chunk, the batched logistic head (chunks
    on one thread per core by default; ``workers=1``: one thread in all)."""
    return episode_predictions(features, episodes, create_head("logistic"), workers=workers).numpy()


def ours_one_thread(features: FeatureTable, episodes) -> np.ndarray:
    return ours_predict(features, episodes, workers=1)


def _rounds_table(names, times, count, unit="episodes/s"):
    for r in range(len(times[names[0]])):
        rates = ", ".join(f"{n} {count[r] / times[n][r]:9,.1f} {unit}" for n in names)
        print(f"    round {r + 1}: {rates}; ratio {times[names[1]][r] / times[names[0]][r]:.1f}x")


def part_a(features, labels, n_episodes: int, rounds: int) -> str:
    episodes = sample_episodes(labels, WAYS, SHOTS, QUERIES, n_episodes, seed=1)
    ours_predict(features, episodes[:8])  # warm-up of both paths (thread pools, lazy imports)
    sklearn_predict(features, episodes[:2])
    edges = np.linspace(0, n_episodes, rounds + 1).astype(int)
    blocks = [episodes[lo:hi] for lo, hi in zip(edges[:-1], edges[1:])]
    preds = {"ours": [None] * rounds, "ours_1": [None] * rounds, "sklearn": [None] * rounds}

    def run(name, fn):
        def one(r):
            preds[name][r] = fn(features, blocks[r])

        return one

    times = alternate_rounds(
        {
            "ours": run("ours", ours_predict),
            "ours_1": run("ours_1", ours_one_thread),
            "sklearn": run("sklearn", sklearn_predict),
        },
        rounds,
    )
    p_ours, p_sk = np.concatenate(preds["ours"]), np.concatenate(preds["sklearn"])
    truth = episodes.query_labels()
    agree = float((p_ours == p_sk).mean())
    same = bool((np.concatenate(preds["ours_1"]) == p_ours).all())
    r = ratios(times["sklearn"], times["ours"])
    r1 = ratios(times["sklearn"], times["ours_1"])
    workers = torch.get_num_threads()
    print(
        f"(a) logistic, {n_episodes} episodes of {WAYS}-way {SHOTS}-shot {QUERIES}-query, {DIM}-d, "
        f"{rounds} rounds of {len(blocks[0])}-{len(blocks[-1])} episodes:"
    )
    _rounds_table(["ours", "sklearn"], times, [len(b) for b in blocks])
    print(
        f"    fewshot-clce (episode_predictions, logistic head, {workers} worker threads): "
        f"{n_episodes / sum(times['ours']):9.1f} episodes/s overall, accuracy {100 * (p_ours == truth).mean():.2f}%"
    )
    print(
        f"    fewshot-clce on one thread (workers=1):           {n_episodes / sum(times['ours_1']):9.1f} episodes/s "
        f"overall, the same predictions: {same}; ratio {ratio_text(r1)}"
    )
    print(
        f"    scikit-learn loop (lbfgs):                         {n_episodes / sum(times['sklearn']):9.1f} episodes/s "
        f"overall, accuracy {100 * (p_sk == truth).mean():.2f}%"
    )
    print(f"    agreement {100 * agree:.2f}% of {p_ours.size} queries; ratio {ratio_text(r)}")
    return (
        f"logistic {ratio_text(r)} vs scikit-learn (agreement {100 * agree:.2f}%; one thread: "
        f"{ratio_text(r1).split(' (')[0]})"
    )


def part_b(features, labels, n_episodes: int, rounds: int) -> str:
    episodes = sample_episodes(labels, WAYS, SHOTS, QUERIES, n_episodes, seed=2)
    head = create_head("centroid")
    episode_accuracies(features, episodes[:100], head)
    acc = {}
    times = alternate_rounds(
        {"ours": lambda r: acc.setdefault("acc", episode_accuracies(features, episodes, head))},
        rounds,
    )["ours"]
    rates = [n_episodes / t for t in times]
    med, low, high = summary(rates)
    print(
        f"(b) centroid, {n_episodes} episodes (feature gathering included), accuracy "
        f"{100 * acc['acc'].mean():.2f}%: " + ", ".join(f"{x:,.0f}" for x in rates) + " episodes/s"
    )
    print(f"    median {med:,.0f} episodes/s ({low:,.0f}-{high:,.0f})")
    return f"centroid {med:,.0f} episodes/s"


def synthetic_image_split(seed: int = 0) -> ArraySplit:
    """12,000 28x28 grayscale images: a smooth random template per class plus noise."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(CLASSES), PER_CLASS)
    coarse = rng.uniform(0, 1, size=(CLASSES, 1, 7, 7)).astype(np.float32)
    templates = torch.nn.functional.interpolate(
        torch.from_numpy(coarse), size=(28, 28), mode="bilinear"
    )
    templates = templates[:, 0].numpy()  # [20, 28, 28]
    images = templates[labels] + rng.normal(0, 0.35, size=(len(labels), 28, 28))
    images = (np.clip(images, 0, 1) * 255).astype(np.uint8)
    return ArraySplit("synthetic", "novel", images, labels, [f"class{c}" for c in range(CLASSES)])


def ours_end_to_end(backbone, split, episodes) -> float:
    feats = extract_features(backbone, split, episodes.used_indices(), batch_size=256, cache=False)
    return float(episode_accuracies(feats, episodes, create_head("centroid")).mean())


class EasyfslTasks:
    """easyfsl's task batches ``(support_images, support_labels, query_images, query_labels,
    class_ids)`` for our episodes, images loaded with the split's batched path."""

    def __init__(self, split, episodes):
        self.split, self.episodes = split, episodes

    def __len__(self) -> int:
        return len(self.episodes)

    def __iter__(self):
        s_lab = torch.from_numpy(self.episodes.support_labels())
        q_lab = torch.from_numpy(self.episodes.query_labels())
        for e in range(len(self.episodes)):
            yield (
                self.split.get_images(self.episodes.flat_support()[e]),
                s_lab,
                self.split.get_images(self.episodes.flat_query()[e]),
                q_lab,
                self.episodes.classes[e].tolist(),
            )


def easyfsl_end_to_end(backbone, split, episodes) -> float:
    from easyfsl.methods import PrototypicalNetworks
    from easyfsl.utils import evaluate

    return float(
        evaluate(
            PrototypicalNetworks(backbone),
            EasyfslTasks(split, episodes),
            device="cpu",
            use_tqdm=False,
        )
    )


def part_c(n_episodes: int, rounds: int) -> str:
    split = synthetic_image_split()
    episodes = sample_episodes(split, WAYS, SHOTS, QUERIES, n_episodes, seed=3)
    torch.manual_seed(0)  # the benchmark's own untrained conv4; only its speed and agreement matter
    backbone = create_backbone("conv4", in_chans=1).eval()
    ours_end_to_end(backbone, split, episodes[:5])  # warm-up
    easyfsl_end_to_end(backbone, split, episodes[:5])
    acc = {"ours": [], "easyfsl": []}
    times = alternate_rounds(
        {
            "ours": lambda r: acc["ours"].append(ours_end_to_end(backbone, split, episodes)),
            "easyfsl": lambda r: acc["easyfsl"].append(
                easyfsl_end_to_end(backbone, split, episodes)
            ),
        },
        rounds,
    )
    r = ratios(times["easyfsl"], times["ours"])
    queries = n_episodes * WAYS * QUERIES
    used = len(episodes.used_indices())
    print(
        f"(c) end to end, conv4 on {len(split)} 28x28 images, {n_episodes} episodes ({used} distinct images "
        f"used; easyfsl forwards {n_episodes * WAYS * (SHOTS + QUERIES)}):"
    )
    for i in range(rounds):
        print(
            f"    round {i + 1}: fewshot-clce {times['ours'][i]:6.1f} s ({used / times['ours'][i]:,.0f} images/s "
            f"through the backbone), easyfsl {times['easyfsl'][i]:6.1f} s; ratio {r[i]:.1f}x"
        )
    a_ours, a_easy = acc["ours"][0], acc["easyfsl"][0]
    print(
        f"    accuracy: fewshot-clce {100 * a_ours:.4f}% (same in every round: {len(set(acc['ours'])) == 1}), "
        f"easyfsl {100 * a_easy:.4f}%; {abs(a_ours - a_easy) * queries:.0f} of {queries} queries differ"
    )
    print(f"    ratio {ratio_text(r)}")
    return f"end-to-end {ratio_text(r)} vs easyfsl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rounds", type=int, default=3, help="alternating rounds per part (default 3)"
    )
    parser.add_argument("--parts", nargs="+", choices=["a", "b", "c"], default=["a", "b", "c"])
    parser.add_argument("--logistic-episodes", type=int, default=2000)
    parser.add_argument("--centroid-episodes", type=int, default=10000)
    parser.add_argument("--e2e-episodes", type=int, default=1000)
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error(f"--rounds must be at least 1, got {args.rounds}")
    warnings.filterwarnings("ignore", category=FutureWarning)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.rounds} alternating rounds"
    )
    print(load_line("before"), flush=True)
    results = []
    if "a" in args.parts or "b" in args.parts:
        labels, features = synthetic_features()
        if "a" in args.parts:
            results.append(part_a(features, labels, args.logistic_episodes, args.rounds))
        if "b" in args.parts:
            results.append(part_b(features, labels, args.centroid_episodes, args.rounds))
    if "c" in args.parts:
        results.append(part_c(args.e2e_episodes, args.rounds))
    print(load_line("after"))
    print("speedup: " + "; ".join(results))


if __name__ == "__main__":
    main()
