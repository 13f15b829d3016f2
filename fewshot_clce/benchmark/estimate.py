"""A time estimate printed before a benchmark starts, from a quick timing of training steps.

One step = augmenting a batch into two views, a forward and backward pass of the backbone on
``batch_size * views`` images and an SGD update, timed on random images of the dataset's shape
(after one warm-up step). A training is ``epochs * (base images // batch_size)`` steps plus one
forward pass over the validation images per epoch; an evaluation is one forward pass over the
images its episodes use. Data loading and the heads are not timed, so real runs take somewhat
longer; the benchmark prints the measured time of its first training next to the estimate.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from .config import BenchmarkConfig
    from .plan import RunSpec

_EVAL_TO_TRAIN = 1 / 3  # a forward pass costs about a third of forward + backward


def time_train_step(
    backbone_name: str,
    image_shape: tuple[int, int, int],
    batch_size: int,
    views: int = 2,
    repeats: int = 2,
    seed: int = 0,
    precision: str = "auto",
) -> float:
    """Seconds for one CPU training step of ``backbone_name`` on ``[batch_size * views, *image_shape]`` inputs,
    in the trainer's memory layout and ``precision``."""
    from ..backbones.factory import create_backbone
    from ..data.transforms import Augment, choose_preset
    from ..training.loop import _autocast, resolve_precision

    c, h, w = image_shape
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = create_backbone(backbone_name, in_chans=c).to(
            memory_format=torch.channels_last
        )  # as the trainer
    augment = Augment(choose_preset(image_shape), (h, w), c)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    images = torch.rand(batch_size, c, h, w, generator=gen)  # [B, C, H, W]
    times = []
    for _ in range(repeats + 1):  # the first step warms up allocators and kernels
        start = time.perf_counter()
        x = (
            augment(images, views, gen).flatten(0, 1).contiguous(memory_format=torch.channels_last)
        )  # [B * V, C, h, w]
        with _autocast(torch.device("cpu"), resolve_precision(precision, torch.device("cpu"))):
            out = model(x)
        loss = out.float().pow(2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - start)
    return min(times[1:])


@dataclass
class Estimate:
    """Seconds expected for the trainings and evaluations still to do."""

    train_s: float
    eval_s: float
    trainings: int
    evaluations: int
    step_s: dict[int, float]
    at_once: int = 1  # trainings run side by side (local --jobs); evaluations run one at a time

    @property
    def total_s(self) -> float:
        """Machine time: every training and evaluation one after the other."""
        return self.train_s + self.eval_s

    @property
    def wall_s(self) -> float:
        """Wall time with ``at_once`` trainings side by side (in rounds of ``at_once``), each at
        the timed step's speed."""
        if self.trainings == 0:
            return self.eval_s
        rounds = math.ceil(self.trainings / max(1, self.at_once))
        return self.train_s * rounds / self.trainings + self.eval_s

    def text(self) -> str:
        steps = ", ".join(
            f"{s * 1000:.0f} ms/step at batch {b}" for b, s in sorted(self.step_s.items())
        )
        wall = (
            f"; about {self.wall_s / 60:.1f} min of wall time with {self.at_once} trainings at a time"
            if self.at_once > 1 and self.trainings > 1
            else ""
        )
        return (
            f"time estimate: {self.total_s / 60:.1f} min for {self.trainings} training(s) and "
            f"{self.evaluations} evaluation(s) still to do{wall} ({steps}; from a timed training "
            "step, data loading not included)"
        )


def estimate(
    trainings: dict[int, int],
    epochs: int,
    base_images: int,
    val_images: int,
    eval_images: int,
    evaluations: int,
    step_s: dict[int, float],
    at_once: int = 1,
) -> Estimate:
    """Expected seconds for ``trainings`` (batch size -> count) and ``evaluations`` runs to evaluate.

    Args:
        base_images, val_images: images per training epoch and per validation pass.
        eval_images: images a run's evaluation embeds (the union of its episodes' samples).
        step_s: batch size -> seconds per training step (:func:`time_train_step`).
        at_once: trainings run side by side (the local executor's ``--jobs``).
    """
    train_s = 0.0
    for bs, n in trainings.items():
        per_image = step_s[bs] / bs
        train_s += (
            n
            * epochs
            * ((base_images // bs) * step_s[bs] + val_images * per_image * _EVAL_TO_TRAIN)
        )
    per_image = min(s / b for b, s in step_s.items()) if step_s else 0.0
    eval_s = evaluations * eval_images * per_image * _EVAL_TO_TRAIN
    return Estimate(
        train_s, eval_s, sum(trainings.values()), evaluations, dict(step_s), max(1, at_once)
    )


def print_estimate(
    cfg: BenchmarkConfig,
    specs: list[RunSpec],
    todo: list[RunSpec],
    datasets: dict,
    manifests: dict,
    out: Path,
    log: Callable[[str], None],
) -> None:
    """Log the time estimate of the trainings still ``todo`` (and all evaluations); warn over the budget."""
    if not todo:
        log(f"all {len(specs)} trainings are finished in {out}; reusing them")
        return
    total = 0.0
    for d, ds in datasets.items():
        mine = [s for s in todo if s.dataset_id == d]
        if not mine:
            continue
        base, val = ds.split("base"), ds.split("val")
        sizes = sorted({s.batch_size for s in mine})
        step = {
            b: time_train_step(
                cfg.backbone,
                base.image_shape,
                b,
                precision=cfg.precision or cfg.train_options.get("precision", "auto"),
            )
            for b in sizes
        }
        per_bs = {b: sum(1 for s in mine if s.batch_size == b) for b in sizes}
        val_imgs = min(len(val), cfg.train_options.get("val_episodes", 200) * cfg.ways * 20)
        eval_imgs = len(
            set().union(*[set(e.used_indices().tolist()) for e, _ in manifests[d].values()])
        )
        est = estimate(
            per_bs,
            cfg.epochs,
            len(base),
            val_imgs,
            eval_imgs,
            len([s for s in specs if s.dataset_id == d]),
            step,
            at_once=_at_once(cfg),
        )
        log(f"{d}: {est.text()}")
        total += est.wall_s
    log(f"estimated total: {total / 60:.1f} min of wall time")
    if cfg.time_budget is not None and total > 60 * cfg.time_budget:
        log(
            f"WARNING: the estimate ({total / 60:.1f} min) exceeds --time-budget {cfg.time_budget:g} min; "
            f"{len(todo)} trainings of {cfg.epochs} epochs are planned: drop sweep values, seeds or epochs "
            "to fit (continuing)"
        )


def _at_once(cfg: BenchmarkConfig) -> int:
    """Trainings the local executor runs side by side (1 for submitit: its jobs are scheduled
    elsewhere, so no wall time is claimed for them)."""
    from .executors import local_jobs

    return local_jobs(cfg) if cfg.executor == "local" else 1
