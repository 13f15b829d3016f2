"""Evaluation speed: batched heads against per-episode peers, in the same run.

(a) Logistic head on 640-d class-structured synthetic features (20 classes x 600 samples),
    2,000 5-way 5-shot 15-query episodes, against a per-episode scikit-learn loop with the
    RFS settings (``LogisticRegression(C=1.0, max_iter=1000)`` on L2-normalised features):
    episodes/s of each, agreement of the predictions, ratio.
(b) Nearest-centroid head, 10,000 episodes on the same features: episodes/s.
(c) End to end with a conv4 backbone on a 12,000-image split (20 classes x 600 synthetic
    28x28 grayscale images), 1,000 episodes: this toolkit (features once per image, then the
    batched centroid head) against easyfsl's ``evaluate`` with ``PrototypicalNetworks`` on the
    same backbone and the same episodes, fed easyfsl-style task batches built from our
    ``EpisodeSet`` (easyfsl's ``TaskSampler`` is not needed, so its construction failure
    under current torch does not matter here). Both accuracies are printed.

The machine may be shared: (a) alternates blocks of episodes between the two solvers, and
(c) measures ours before and after easyfsl (A-B-A) and averages, so load hits both alike.

    python benchmarks/bench_heads.py [--logistic-episodes 2000] [--centroid-episodes 10000]
                                     [--e2e-episodes 1000] [--blocks 4]
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere in a checkout

from fewshot_clce.backbones import create_backbone  # noqa: E402
from fewshot_clce.data import ArraySplit  # noqa: E402
from fewshot_clce.episodes.manifest import sample_episodes  # noqa: E402
from fewshot_clce.heads import episode_accuracies  # noqa: E402
from fewshot_clce.features import FeatureTable, extract_features  # noqa: E402
from fewshot_clce.heads import create_head  # noqa: E402

WAYS, SHOTS, QUERIES, CLASSES, PER_CLASS, DIM = 5, 5, 15, 20, 600, 640


def synthetic_features(seed: int = 0):
    """Labels ``[12000]`` and non-negative 640-d features whose classes overlap (~70% 5-shot)."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(CLASSES), PER_CLASS)
    means = rng.normal(size=(CLASSES, DIM)) * 0.2
    x = np.maximum(0.5 + means[labels] + rng.normal(size=(len(labels), DIM)), 0)  # ReLU-like features
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


def ours_predict(features: FeatureTable, episodes) -> np.ndarray:
    head = create_head("logistic")
    sup = features.lookup(episodes.flat_support())  # [E, N*K, D]
    qry = features.lookup(episodes.flat_query())  # [E, N*Q, D]
    labels = torch.from_numpy(episodes.support_labels()).expand(len(episodes), -1)
    return head.predict(sup, labels, qry, WAYS).numpy()


def part_a(features, labels, n_episodes: int, blocks: int):
    episodes = sample_episodes(labels, WAYS, SHOTS, QUERIES, n_episodes, seed=1)
    ours_predict(features, episodes[:8])  # warm-up of both paths (thread pools, lazy imports)
    sklearn_predict(features, episodes[:2])
    t_ours = t_sk = 0.0
    p_ours, p_sk = [], []
    edges = np.linspace(0, n_episodes, blocks + 1).astype(int)
    for i, (lo, hi) in enumerate(zip(edges[:-1], edges[1:])):
        block = episodes[lo:hi]
        order = (ours_predict, sklearn_predict) if i % 2 == 0 else (sklearn_predict, ours_predict)
        for fn in order:
            t0 = time.perf_counter()
            pred = fn(features, block)
            dt = time.perf_counter() - t0
            if fn is ours_predict:
                t_ours += dt
                p_ours.append(pred)
            else:
                t_sk += dt
                p_sk.append(pred)
    p_ours, p_sk = np.concatenate(p_ours), np.concatenate(p_sk)
    truth = episodes.query_labels()
    agree = float((p_ours == p_sk).mean())
    print(f"(a) logistic, {n_episodes} episodes of {WAYS}-way {SHOTS}-shot {QUERIES}-query, {DIM}-d:")
    print(f"    fewshot-clce batched Newton: {n_episodes / t_ours:9.1f} episodes/s ({t_ours:.1f} s), "
          f"accuracy {100 * (p_ours == truth).mean():.2f}%")
    print(f"    scikit-learn loop (lbfgs):   {n_episodes / t_sk:9.1f} episodes/s ({t_sk:.1f} s), "
          f"accuracy {100 * (p_sk == truth).mean():.2f}%")
    print(f"    agreement {100 * agree:.2f}% of {p_ours.size} queries; speedup {t_sk / t_ours:.1f}x")
    return t_sk / t_ours, agree


def part_b(features, labels, n_episodes: int, repeats: int = 3):
    episodes = sample_episodes(labels, WAYS, SHOTS, QUERIES, n_episodes, seed=2)
    head = create_head("centroid")
    episode_accuracies(features, episodes[:100], head)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        acc = episode_accuracies(features, episodes, head)
        times.append(time.perf_counter() - t0)
    print(f"(b) centroid, {n_episodes} episodes: {n_episodes / min(times):,.0f} episodes/s "
          f"(best of {repeats}: {min(times):.2f} s, feature gathering included), accuracy {100 * acc.mean():.2f}%")


def synthetic_image_split(seed: int = 0) -> ArraySplit:
    """12,000 28x28 grayscale images: a smooth random template per class plus noise."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(CLASSES), PER_CLASS)
    coarse = rng.uniform(0, 1, size=(CLASSES, 1, 7, 7)).astype(np.float32)
    templates = torch.nn.functional.interpolate(torch.from_numpy(coarse), size=(28, 28), mode="bilinear")
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
            yield (self.split.get_images(self.episodes.flat_support()[e]), s_lab,
                   self.split.get_images(self.episodes.flat_query()[e]), q_lab,
                   self.episodes.classes[e].tolist())


def easyfsl_end_to_end(backbone, split, episodes) -> float:
    from easyfsl.methods import PrototypicalNetworks
    from easyfsl.utils import evaluate

    return float(evaluate(PrototypicalNetworks(backbone), EasyfslTasks(split, episodes), device="cpu",
                          use_tqdm=False))


def part_c(n_episodes: int):
    split = synthetic_image_split()
    episodes = sample_episodes(split, WAYS, SHOTS, QUERIES, n_episodes, seed=3)
    torch.manual_seed(0)  # the benchmark's own untrained conv4; only its speed and agreement matter
    backbone = create_backbone("conv4", in_chans=1).eval()
    ours_end_to_end(backbone, split, episodes[:5])  # warm-up
    easyfsl_end_to_end(backbone, split, episodes[:5])
    t0 = time.perf_counter()
    acc_ours = ours_end_to_end(backbone, split, episodes)
    t1 = time.perf_counter()
    acc_easy = easyfsl_end_to_end(backbone, split, episodes)
    t2 = time.perf_counter()
    acc_ours2 = ours_end_to_end(backbone, split, episodes)
    t3 = time.perf_counter()
    t_ours, t_easy = ((t1 - t0) + (t3 - t2)) / 2, t2 - t1
    queries = n_episodes * WAYS * QUERIES
    print(f"(c) end to end, conv4 on {len(split)} 28x28 images, {n_episodes} episodes "
          f"({len(episodes.used_indices())} distinct images used):")
    print(f"    fewshot-clce (features once + centroid): {t_ours:7.1f} s (mean of 2 runs: "
          f"{t1 - t0:.1f}, {t3 - t2:.1f}), accuracy {100 * acc_ours:.4f}%")
    print(f"    easyfsl evaluate + PrototypicalNetworks: {t_easy:7.1f} s, accuracy {100 * acc_easy:.4f}%")
    print(f"    accuracy difference {abs(acc_ours - acc_easy) * queries:.0f} of {queries} queries "
          f"(repeat run identical: {acc_ours == acc_ours2}); speedup {t_easy / t_ours:.1f}x")
    return t_easy / t_ours


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--logistic-episodes", type=int, default=2000)
    parser.add_argument("--centroid-episodes", type=int, default=10000)
    parser.add_argument("--e2e-episodes", type=int, default=1000)
    parser.add_argument("--blocks", type=int, default=4, help="alternating blocks in (a)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=FutureWarning)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    labels, features = synthetic_features()
    speed_lr, agree = part_a(features, labels, args.logistic_episodes, args.blocks)
    part_b(features, labels, args.centroid_episodes)
    speed_e2e = part_c(args.e2e_episodes)
    print(f"speedup: logistic {speed_lr:.0f}x vs sklearn (agreement {100 * agree:.1f}%), "
          f"end-to-end {speed_e2e:.1f}x vs easyfsl")


if __name__ == "__main__":
    main()
