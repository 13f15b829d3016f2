"""Novel-class embeddings of trained runs: a 2-D t-SNE view and a class-separation number.

The separation number is the silhouette score of the features themselves (cosine distance, i.e.
on L2-normalised features, the geometry the centroid head uses), not of the 2-D t-SNE picture,
which distorts distances.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np


def sample_indices(labels: np.ndarray, n_classes: int, per_class: int, seed: int) -> np.ndarray:
    """Indices of ``per_class`` samples from each of ``n_classes`` classes, drawn with ``seed``.

    Args:
        labels: ``[N]`` class index of every sample of the split.

    Returns:
        ``[n_classes * per_class]`` (fewer when a class is smaller) sorted sample indices.
    """
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    if n_classes > len(classes):
        raise ValueError(
            f"asked for {n_classes} classes but the split has {len(classes)}; "
            f"use at most {len(classes)}"
        )
    chosen = rng.choice(classes, size=n_classes, replace=False)
    out = []
    for c in np.sort(chosen):
        idx = np.flatnonzero(labels == c)
        out.append(rng.choice(idx, size=min(per_class, len(idx)), replace=False))
    return np.sort(np.concatenate(out))


def separation(features: np.ndarray, labels: np.ndarray) -> float:
    """Silhouette score of ``features`` ``[n, D]`` under cosine distance (in [-1, 1]; higher separates better)."""
    from sklearn.metrics import silhouette_score

    if len(np.unique(labels)) < 2:
        raise ValueError("the silhouette score needs at least 2 classes")
    return float(silhouette_score(np.asarray(features, dtype=np.float64), labels, metric="cosine"))


def tsne_2d(features: np.ndarray, seed: int = 0) -> np.ndarray:
    """2-D t-SNE of L2-normalised ``features`` ``[n, D]`` -> ``[n, 2]``, seeded."""
    from sklearn.manifold import TSNE

    x = np.asarray(features, dtype=np.float64)
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    perplexity = float(min(30.0, max(2.0, (len(x) - 1) / 3)))
    return TSNE(n_components=2, init="pca", perplexity=perplexity, random_state=seed).fit_transform(
        x
    )


def run_features(
    run_dir: str | Path, split, indices: np.ndarray, device: str = "cpu"
) -> np.ndarray:
    """Backbone features ``[len(indices), D]`` of ``split[indices]`` from a trained run (in that order)."""
    from ..features import extract_features
    from ..training.run_folder import load_run
    from ..utils.distributed import resolve_device

    device = resolve_device(str(device))
    run = load_run(run_dir)
    # the same cache key as evaluate_run: features the evaluation extracted are reused
    table = extract_features(
        run.backbone.to(device),
        split,
        indices,
        run.preprocess,
        checkpoint_id=run.checkpoint_id,
        preprocess_id=repr(run.preprocess),
        device=device,
    )
    return table.lookup(indices).numpy()


def embed_runs(
    runs: Mapping[str, str | Path],
    split,
    n_classes: int = 10,
    per_class: int = 30,
    seed: int = 0,
    device: str = "cpu",
) -> dict[str, tuple[np.ndarray, np.ndarray, float]]:
    """t-SNE points, labels and silhouette of the same novel-class samples for every run.

    Args:
        runs: display name -> run directory.
        split: the split to draw from (the novel split).
        device: where the backbones run (``auto``, ``cpu``, ``cuda[:N]``).

    Returns:
        name -> (points ``[n, 2]``, labels ``[n]``, silhouette of the features).
    """
    idx = sample_indices(split.labels, min(n_classes, split.num_classes), per_class, seed)
    labels = split.labels[idx]
    out = {}
    for name, run_dir in runs.items():
        feats = run_features(run_dir, split, idx, device)
        out[name] = (tsne_2d(feats, seed), labels, separation(feats, labels))
    return out
