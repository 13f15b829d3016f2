"""Classify new images from a few labelled ones: a support folder of class folders, query images.

The images are read as a ``folder:`` dataset's are (Pillow; ``L`` when the first support image is
grayscale, else ``RGB``; their common size, else 84x84) and go through the backbone's evaluation
preprocessing, as :func:`fewshot_clce.evaluation.evaluate_run` gives them; a head is fitted on
the support features and gives each query a probability per class.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd

from .data.base import FileSplit
from .data.folder import GRAY_MODES, IMAGE_EXTENSIONS, RESIZE_WHEN_MIXED, scan_classes
from .data.image_files import open_image


def _support(folder: str | Path) -> tuple[list[Path], list[int], list[str]]:
    """Image paths, labels and class names of a folder of class folders."""
    root = Path(folder).expanduser()
    if not root.is_dir():
        what = "is a file, not a folder of class folders" if root.exists() else "does not exist"
        raise FileNotFoundError(f"support folder {str(root)!r} {what}")
    if not any(p.is_dir() for p in root.iterdir()):
        raise ValueError(
            f"support folder {str(root)!r} holds no class folders; put each class's images in a "
            "folder of its own (SUPPORT/cat/1.jpg, SUPPORT/dog/1.jpg)"
        )
    try:
        classes = scan_classes(root)
    except ValueError as e:
        if "class folder(s)" in str(e):  # scan_classes' "fewer than two classes"
            raise ValueError(
                f"support folder {str(root)!r} has {sum(p.is_dir() for p in root.iterdir())} "
                "class folder; a prediction needs at least two classes to choose from"
            ) from None
        raise
    names = sorted(classes)
    paths = [root / p for c in names for p in classes[c]]
    labels = [k for k, c in enumerate(names) for _ in classes[c]]
    return paths, labels, names


def _image_file(path: Path) -> Path:
    if Path(path.name).suffix.lower() not in IMAGE_EXTENSIONS:
        raise ValueError(
            f"query {str(path)!r} is not an image (extensions read: "
            f"{', '.join(sorted(IMAGE_EXTENSIONS))})"
        )
    return path


def _query(
    items: Sequence[str | Path], class_names: list[str]
) -> tuple[list[Path], list[Optional[str]]]:
    """Query image paths and their true class (a class folder's name) or None."""
    paths: list[Path] = []
    truth: list[Optional[str]] = []
    for item in items:
        path = Path(item).expanduser()
        if not path.exists():
            raise FileNotFoundError(f"query {str(path)!r} does not exist")
        if path.is_file():
            paths.append(_image_file(path))
            truth.append(None)
            continue
        entries = sorted(p for p in path.iterdir() if not p.name.startswith("."))
        folders = [p for p in entries if p.is_dir()]
        if not entries:
            raise ValueError(
                f"query folder {str(path)!r} holds no images; add some, or pass image files"
            )
        if folders:  # class folders: the truth is known, accuracy too
            for folder in folders:
                if folder.name not in class_names:
                    raise ValueError(
                        f"query class folder {str(folder)!r} is not a class of the support folder "
                        f"({', '.join(class_names)}); rename it or move it out"
                    )
                images = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
                if not images:
                    raise ValueError(f"query class folder {str(folder)!r} holds no images")
                paths += [_image_file(p) for p in images]
                truth += [folder.name] * len(images)
        else:
            paths += [_image_file(p) for p in entries]
            truth += [None] * len(entries)
    if not paths:
        raise ValueError("no query images given; pass image files or a folder of them")
    return paths, truth


def _read_headers(paths: Sequence[Path]) -> tuple[str, Optional[tuple[int, int]]]:
    """The mode of the first image and the size all share (or None); unreadable files named."""
    first_mode, sizes = None, Counter()
    for path in paths:
        with open_image(path) as im:
            first_mode = first_mode or im.mode
            sizes[im.size[::-1]] += 1  # (height, width)
    return first_mode, (next(iter(sizes)) if len(sizes) == 1 else None)


@dataclass
class _Images:
    """The images of a prediction, read as a ``folder:`` dataset's are.

    Attributes:
        support_paths, support_labels: the labelled images and their class numbers.
        class_names: the support's classes, sorted (class number ``k`` is ``class_names[k]``).
        query_paths, truth: the images to classify and their class folder's name (or None).
        mode: ``L`` for grayscale support images, else ``RGB``.
        size: ``(height, width)`` the images are read at.
    """

    support_paths: list[Path]
    support_labels: list[int]
    class_names: list[str]
    query_paths: list[Path]
    truth: list[Optional[str]]
    mode: str
    size: tuple[int, int]

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(channels, height, width)`` of the images as read."""
        return (1 if self.mode == "L" else 3, *self.size)

    def split(self, name: str) -> FileSplit:
        """The support or query images as a split (query labels are placeholders)."""
        paths = self.support_paths if name == "support" else self.query_paths
        labels = self.support_labels if name == "support" else [0] * len(paths)
        return FileSplit(
            "predict",
            name,
            Path("/"),
            [p.resolve() for p in paths],
            labels,
            self.class_names,
            mode=self.mode,
            size=tuple(self.size),
        )


def _read_images(support: str | Path, query: str | Path | Sequence[str | Path]) -> _Images:
    """The support and query images, every file's header read (unreadable files named)."""
    support_paths, support_labels, names = _support(support)
    query_paths, truth = _query([query] if isinstance(query, (str, Path)) else list(query), names)
    mode, common = _read_headers(support_paths)
    _read_headers(query_paths)
    return _Images(
        support_paths,
        support_labels,
        names,
        query_paths,
        truth,
        "L" if mode in GRAY_MODES else "RGB",
        common or RESIZE_WHEN_MIXED,
    )


def _load(run_dir, which: str, backbone: Optional[str], image_shape, **load_options):
    """The backbone with its preprocessing: a run's, or ``backbone`` loaded by
    :func:`~fewshot_clce.backbones.external.load_backbone` with ``load_options``; and its name."""
    if run_dir is not None:
        from .training.run_folder import load_run

        loaded = load_run(run_dir, which=which)
        return loaded, str(loaded.config.get("backbone", ""))
    from .backbones.external import load_backbone

    return load_backbone(backbone, image_shape=image_shape, **load_options), backbone


def _scoring_head(head: str):
    """The head, refused when it needs base classes (a prediction has none).

    Raises:
        ValueError: naming the head and those that fit.
    """
    from .heads import create_head, head_needs_base_mean

    fitted_head = create_head(head)
    if head_needs_base_mean(fitted_head):
        raise ValueError(
            f"head {head!r} centres features on base classes that a prediction does not have; "
            "use logistic, centroid or centroid_cosine"
        )
    return fitted_head


def _image_features(loaded, backbone_name: str, split: FileSplit, batch_size: int, device):
    """``[n, D]`` float features of a split's images through the backbone's preprocessing."""
    from .features import extract_features

    pre = loaded.preprocess.adapted_to(
        split.image_shape, f"the {split.name} images", f"backbone {backbone_name!r}"
    )
    table = extract_features(
        loaded.backbone.to(device),
        split,
        None,
        preprocess=pre,
        batch_size=batch_size,
        cache=False,
        device=device,
    )
    return table.features.float()


def _classify(
    fitted_head, loaded, backbone_name: str, images: _Images, batch_size: int, device
) -> pd.DataFrame:
    """The head fitted on the support features and applied to the query's: the predictions table
    with its ``attrs``."""
    import torch

    support_feats, query_feats = (
        _image_features(loaded, backbone_name, images.split(name), batch_size, device)
        for name in ("support", "query")
    )
    probs = fitted_head.probabilities(
        support_feats[None],
        torch.as_tensor(images.support_labels)[None],
        query_feats[None],
        len(images.class_names),
    )[0].numpy()  # [M, N]
    out = _prediction_table(probs, images)
    out.attrs.update(
        embedding_dim=int(support_feats.shape[1]),
        head=fitted_head.label,
        backbone=backbone_name,
        checkpoint_layout=loaded.config.get("checkpoint_layout", ""),
    )
    return out


def _prediction_table(probs: np.ndarray, images: _Images) -> pd.DataFrame:
    """One row per query image from its ``[N]`` class probabilities (``probs``: ``[M, N]``); the
    truth and ``attrs["accuracy"]`` where class folders gave it (else None)."""
    names, truth = images.class_names, images.truth
    predicted = probs.argmax(1)
    out = pd.DataFrame(
        {
            "image": [str(p) for p in images.query_paths],
            "predicted": [names[k] for k in predicted],
            "probability": probs[np.arange(len(predicted)), predicted],
        }
    )
    for k, c in enumerate(names):
        out[f"p({c})"] = probs[:, k]
    known = [t is not None for t in truth]
    accuracy = None
    if any(known):
        out["true"] = [t if t is not None else "" for t in truth]
        out["correct"] = [
            bool(t == p) if t is not None else None for t, p in zip(truth, out["predicted"])
        ]
        accuracy = float(
            np.mean([t == p for t, p in zip(truth, out["predicted"]) if t is not None])
        )
    out.attrs.update(accuracy=accuracy)
    return out


def predict(
    support: str | Path,
    query: str | Path | Sequence[str | Path],
    run_dir: Optional[str | Path] = None,
    backbone: Optional[str] = None,
    checkpoint: Optional[str | Path] = None,
    pretrained: bool = False,
    head: str = "logistic",
    which: str = "best",
    image_size: Optional[int] = None,
    mean: Optional[Sequence[float]] = None,
    std: Optional[Sequence[float]] = None,
    checkpoint_prefix: str = "",
    checkpoint_key: Optional[str] = None,
    batch_size: int = 64,
    device: str = "cpu",
    **backbone_kwargs,
) -> pd.DataFrame:
    """Classify query images with a head fitted on a folder of labelled support images.

    Args:
        support: a folder holding one folder of images per class (at least two classes).
        query: an image file, a folder of images, a folder of class folders (named as the support's:
            the truth is then known), or a list of those.
        run_dir: a folder written by ``fewshot-clce train``; or else ``backbone`` with
            ``checkpoint`` or ``pretrained`` (:func:`fewshot_clce.backbones.external.load_backbone`).
        head: a head that gives scores: ``logistic`` (default), ``centroid``, ``centroid_cosine``,
            with options as ``logistic[C=0.1]``.
        which: the run's checkpoint, ``best`` or ``last``.
        image_size, mean, std, checkpoint_prefix, checkpoint_key, **backbone_kwargs: for
            ``backbone`` (as :func:`~fewshot_clce.backbones.external.load_backbone` takes them).
        batch_size: images per forward pass.
        device: where the backbone runs: cpu, cuda, cuda:N or auto (a GPU when visible).

    Returns:
        One row per query image: ``image``, ``predicted``, ``probability`` (of the predicted
        class), one ``p(<class>)`` column per support class, and ``true`` / ``correct`` when the
        query came in class folders. ``attrs``: ``accuracy`` (or None), ``embedding_dim``,
        ``head``, ``backbone``, ``checkpoint_layout``.

    Raises:
        FileNotFoundError, ValueError: naming the path for a missing folder, an empty class
            folder, a single class, a file that is not an image or cannot be read, or no query
            images.
    """
    from .utils.distributed import resolve_device

    device = resolve_device(str(device))  # an absent device is named before any work

    if (run_dir is None) == (backbone is None):
        raise ValueError(
            "pass a run folder (RUN_DIR) or --backbone NAME with --checkpoint FILE or "
            "--pretrained, "
            "one of them"
        )
    images = _read_images(support, query)
    loaded, name = _load(
        run_dir,
        which,
        backbone,
        images.shape,
        checkpoint=checkpoint,
        pretrained=pretrained,
        image_size=image_size,
        mean=mean,
        std=std,
        checkpoint_prefix=checkpoint_prefix,
        checkpoint_key=checkpoint_key,
        **backbone_kwargs,
    )
    return _classify(_scoring_head(head), loaded, name, images, batch_size, device)
