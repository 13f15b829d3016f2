"""An image grid of one episode: a row per class, its support images then its query images."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..utils.files import atomic_path, check_png

_BLUE = (0.12, 0.47, 0.71)
_ORANGE = (1.0, 0.5, 0.05)


def plot_episode(
    split, episodes, index: int, path: str | os.PathLike, overwrite: bool = True
) -> Path:
    """Draw episode ``index`` of ``episodes`` (drawn from ``split``) into a PNG, atomically.

    Args:
        split: the split the episodes index (checked first).
        episodes: an :class:`~fewshot_clce.episodes.episode_set.EpisodeSet`.
        index: which episode, ``0 <= index < len(episodes)``.
        path: the PNG to write.

    Raises:
        ValueError: if ``path`` is not a ``.png``, ``index`` is out of range or the episodes do not
            belong to ``split``.
        FileExistsError: if ``path`` exists and ``overwrite`` is False.
    """
    check_png(path)
    if not 0 <= index < len(episodes):
        raise ValueError(
            f"episode {index} does not exist; the file holds episodes 0 to {len(episodes) - 1}"
        )
    episodes.check(split)
    ep = episodes[index]
    n, k, q = episodes.ways, episodes.shots, episodes.queries
    idx = np.concatenate([ep.support, ep.query], axis=1)  # [N, K+Q]
    images = split.get_images(idx.ravel()).numpy()  # [N*(K+Q), C, H, W]
    if images.shape[1] == 1:
        images = images.repeat(3, axis=1)  # grayscale -> [N*(K+Q), 3, H, W]
    images = images[:, :3].transpose(0, 2, 3, 1).clip(0, 1)  # [N*(K+Q), H, W, 3]
    h, w = images.shape[1:3]
    b = max(1, min(h, w) // 16)  # frame width: visible on 8x8 and 84x84 images alike
    rows, cols = h + 3 * b, w + 3 * b  # a tile: frame around the image, white gaps right and below
    tiles = np.ones((n, k + q, rows, cols, 3), dtype=np.float32)
    tiles[:, :k, : h + 2 * b, : w + 2 * b] = _BLUE
    tiles[:, k:, : h + 2 * b, : w + 2 * b] = _ORANGE
    tiles[:, :, b : b + h, b : b + w] = images.reshape(n, k + q, h, w, 3)
    # [N, K+Q, rows, cols, 3] -> [N*rows, (K+Q)*cols, 3]: one mosaic, one imshow (fast for 100 tiles)
    mosaic = tiles.transpose(0, 2, 1, 3, 4).reshape(n * rows, (k + q) * cols, 3)
    # A bare Figure renders with Agg and leaves pyplot's global backend and figures alone.
    from matplotlib.figure import Figure

    tile_in = max(
        0.45, cols / 100
    )  # inches per tile: small images enlarged, large ones kept at 1:1
    fig = Figure(figsize=(tile_in * (k + q) + 1.5, tile_in * rows / cols * n + 0.7))
    ax = fig.add_subplot()
    ax.imshow(mosaic, interpolation="nearest")
    # imshow puts pixel centres at integers: the middle of tile (r, c)'s image is at these positions
    ax.set_xticks(
        [c * cols + (w + 2 * b) / 2 - 0.5 for c in range(k + q)],
        [f"S{c}" if c < k else f"Q{c - k}" for c in range(k + q)],
        fontsize=6,
    )
    ax.set_yticks(
        [r * rows + (h + 2 * b) / 2 - 0.5 for r in range(n)],
        [f"{r}: {split.class_names[int(c)]}" for r, c in enumerate(ep.classes)],
        fontsize=7,
    )
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_title(
        f"{episodes.dataset}/{episodes.split} episode {index}: {n}-way {k}-shot {q}-query "
        f"(blue: support, orange: query)",
        fontsize=8,
    )
    fig.tight_layout()
    with atomic_path(path, overwrite=overwrite) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    return Path(path)
