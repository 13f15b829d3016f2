"""An image grid of one episode: a row per class, its support images then its query images."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ._io import atomic_path


def plot_episode(split, episodes, index: int, path: str | os.PathLike, overwrite: bool = True) -> Path:
    """Draw episode ``index`` of ``episodes`` (drawn from ``split``) into a PNG, atomically.

    Args:
        split: the split the episodes index (checked first).
        episodes: an :class:`~fewshot_clce.episodes.EpisodeSet`.
        index: which episode, ``0 <= index < len(episodes)``.
        path: the PNG to write.

    Raises:
        ValueError: if ``index`` is out of range or the episodes do not belong to ``split``.
        FileExistsError: if ``path`` exists and ``overwrite`` is False.
    """
    # A bare Figure renders with Agg and leaves pyplot's global backend and figures alone.
    from matplotlib.figure import Figure

    if not 0 <= index < len(episodes):
        raise ValueError(f"episode {index} does not exist; the file holds episodes 0 to {len(episodes) - 1}")
    episodes.check(split)
    ep = episodes[index]
    n, k, q = episodes.ways, episodes.shots, episodes.queries
    idx = np.concatenate([ep.support, ep.query], axis=1)  # [N, K+Q]
    images = split.get_images(idx.ravel()).numpy()  # [N*(K+Q), C, H, W]
    images = images.reshape(n, k + q, *images.shape[1:])  # [N, K+Q, C, H, W]
    cols = k + q
    fig = Figure(figsize=(0.9 * cols + 1.2, 0.9 * n + 0.6))
    axes = fig.subplots(n, cols, squeeze=False)
    for r in range(n):
        name = split.class_names[int(ep.classes[r])]
        for c in range(cols):
            ax = axes[r, c]
            img = images[r, c]
            if img.shape[0] == 1:
                ax.imshow(img[0], cmap="gray", vmin=0, vmax=1)
            else:
                ax.imshow(np.clip(img.transpose(1, 2, 0), 0, 1))  # [C, H, W] -> [H, W, C]
            ax.set_xticks([])
            ax.set_yticks([])
            # a coloured frame tells support (blue) from query (orange) at a glance
            for spine in ax.spines.values():
                spine.set_edgecolor("tab:blue" if c < k else "tab:orange")
                spine.set_linewidth(2)
            if r == 0:
                ax.set_title(f"S{c}" if c < k else f"Q{c - k}", fontsize=7)
        axes[r, 0].set_ylabel(f"{r}: {name}", fontsize=8, rotation=0, ha="right", va="center")
    fig.suptitle(f"{episodes.dataset}/{episodes.split} episode {index}: {n}-way {k}-shot {q}-query "
                 f"(blue: support, orange: query)", fontsize=9)
    fig.tight_layout()
    with atomic_path(path, overwrite=overwrite) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    return Path(path)
