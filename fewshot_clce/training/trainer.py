"""Base-class fine-tuning: ``train(config) -> run_dir``.

A run trains ``backbone -> pooled feature`` with a linear classifier and/or a projection head on
the base split of a dataset, with a registered loss, on two augmented views per image. After
every epoch it scores the backbone on fixed few-shot episodes of the val split, through the very
feature extraction and head code evaluation uses (:data:`~fewshot_clce.training.build.VAL_HEAD`, in
float32 on every device),
and writes, atomically, ``checkpoint_last.pt`` (everything needed to resume) and,
when the score improved, ``checkpoint_best.pt``. ``metrics.csv`` has one row per epoch, epoch 0
being the untrained backbone. ``config.yaml`` is the resolved configuration.

Reproducibility: the data order, the augmentations and the model's own randomness (dropout,
DropBlock) use streams re-derived from ``(seed, epoch, rank)`` at the start of every epoch, so
a run resumed at an epoch boundary continues exactly as an uninterrupted one (on CPU).
The caller's global RNG state is left untouched.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Any, Optional

import torch
from torch import nn

from ..backbones.factory import check_backbone_name, create_backbone
from ..losses.hparams import LOSS_HPARAMS, loss_takes
from ..utils import checks as _checks
from ..utils.distributed import (
    DistContext,
    init_distributed,
    maybe_seeded_devices,
    run_on_main,
    shutdown_distributed,
)
from ..utils.files import StartGuard
from ..utils.text import epochs_text
from . import run_folder as _rundir
from .build import TrainingLoss, TrainingRun, build_run
from .config import TrainConfig
from .loop import (
    AUGMENT,
    MODEL_RNG,
    EpochSetup,
    NonFiniteLossError,
    derive_seed,
    epoch_batches,
    generator,
    train_epoch,
)
from .resume import prepare_run_dir


def _check(cfg: TrainConfig) -> None:
    """Fail fast, before loading data or writing anything, on values that cannot work, naming the setting."""
    from ..episodes import check_episode_count

    _checks.check_fields(cfg)  # what each field declares: required, sizes, seeds, ranges, choices
    check_backbone_name(cfg.backbone)
    if cfg.steps_as_batch is not None and cfg.steps_as_batch < cfg.batch_size:
        raise _checks.SettingError(
            "steps_as_batch",
            "{setting} " + f"{cfg.steps_as_batch} is below --batch-size "
            f"{cfg.batch_size}: a batch cannot take more steps than one pass over the base "
            "split; give the largest batch size compared",
        )
    for where in ("checkpoint_prefix", "checkpoint_key"):
        if getattr(cfg, where) and not cfg.checkpoint:
            raise _checks.SettingError(
                where,
                "{setting} says where the backbone sits in the --checkpoint file, but no "
                "--checkpoint is given",
            )
    if cfg.checkpoint and not Path(cfg.checkpoint).expanduser().is_file():
        what = (
            "is a folder, not a weights file"
            if Path(cfg.checkpoint).expanduser().is_dir()
            else "does not exist"
        )
        raise _checks.SettingError("checkpoint", "{setting} " + f"{cfg.checkpoint!r} {what}")
    _checks.in_range(
        "warmup_epochs", cfg.warmup_epochs, 0, cfg.epochs, hint=f" (--epochs is {cfg.epochs})"
    )
    _create_loss(cfg)  # the loss, its hyper-parameters and their values, before any data is read
    if cfg.drop_block_rate:
        # the backbone is built here, before any data is read, to refuse an option it does not take
        create_backbone(cfg.backbone, drop_block_rate=cfg.drop_block_rate)
    check_episode_count(
        cfg.val_episodes, cfg.val_ways, cfg.val_shots, cfg.val_queries, "val_episodes"
    )


def check_config(config: TrainConfig) -> None:
    """Every check :func:`train` makes before it loads data (values, names, the loss's options).

    Raises:
        ValueError, UnknownNameError: naming the option and the value.
    """
    _check(config)


def _create_loss(cfg: TrainConfig) -> TrainingLoss:
    """The loss module and its resolved hyper-parameters (given values over the loss's defaults).

    Raises:
        ValueError: for an unknown loss, a hyper-parameter it does not declare or a value out of its
            range, naming the loss, the parameter and what it accepts.
    """
    from ..losses.plugins import build_loss, split_reference

    ref, bracket = split_reference(cfg.loss)
    takes = loss_takes(ref)
    given = {k: getattr(cfg, k) for k in LOSS_HPARAMS if getattr(cfg, k) is not None}
    for k in given:
        if k not in takes:
            raise _checks.SettingError(
                k,
                f"loss {ref!r} does not take "
                + "{setting}"
                + f"; its hyper-parameters are: {', '.join(takes) or 'none'}",
            )
    module, values, ref, cls = build_loss(cfg.loss, {**given, **dict(cfg.loss_options or {})})
    return TrainingLoss(module, values, ref, cls)


def _log(ctx: DistContext, message: str) -> None:
    if ctx.is_main:
        print(message, file=sys.stderr, flush=True)


def train(config: TrainConfig) -> Path:
    """Train a backbone on the base classes; returns the run folder.

    Under ``torchrun`` every process calls this; rank 0 alone writes files.

    Raises:
        ValueError: on unusable settings (unknown names, a split smaller than a batch, ...).
        FileExistsError: when ``config.out`` holds a run and neither ``resume`` nor ``force`` is set.
        NonFiniteLossError: when the loss turns NaN/inf (the last good checkpoint is kept).
        CheckpointWriteError: when a checkpoint cannot be written (the previous one is intact).
    """
    _check(config)
    loss = _create_loss(config)
    ctx = init_distributed(config.device)
    # The thread count is process-wide state: set for this training, then given back to the caller.
    threads_before = torch.get_num_threads()
    try:
        if config.threads is not None:
            torch.set_num_threads(config.threads)
        seeded = maybe_seeded_devices(ctx.device)
        with torch.random.fork_rng(devices=seeded), _hold_run_folder(config, ctx):
            return _train(config, ctx, loss)
    finally:
        torch.set_num_threads(threads_before)
        shutdown_distributed(ctx)


def _hold_run_folder(cfg: TrainConfig, ctx: DistContext):
    """Rank 0 locks the run folder while it trains, so that a second training of it is refused."""
    from ..utils.folder_lock import folder_lock

    if not ctx.is_main:
        return contextlib.nullcontext()
    return folder_lock(cfg.out, "run folder", "train into another --out")


def _train(cfg: TrainConfig, ctx: DistContext, loss: TrainingLoss) -> Path:
    """Build the training, start or resume its run folder, train the remaining epochs."""
    run = build_run(cfg, ctx, loss)
    started = _start(run, cfg, ctx, loss)
    if started is not None:
        _train_epochs(run, cfg, ctx, *started)
    return run.run_dir


def _start(
    run: TrainingRun, cfg: TrainConfig, ctx: DistContext, loss: TrainingLoss
) -> Optional[tuple[list, float, int]]:
    """Start the run folder (epoch 0) or resume it: ``(metrics rows, best val score, first epoch
    to train)``, None when it already finished.

    A start that fails before training (epoch 0 included) takes back what it wrote into a folder
    that held no run, so the corrected command needs no --force.
    """
    run_dir = run.run_dir
    start_guard = StartGuard(run_dir, _rundir.RUN_FILES, leave_held=True) if ctx.is_main else None
    try:
        state = run_on_main(ctx, prepare_run_dir, run_dir, cfg, run.config_dict, loss.cls)
        if state is not None and state["epoch"] >= cfg.epochs:
            if not (run_dir / _rundir.BEST).is_file():
                raise FileNotFoundError(
                    f"run folder {str(run_dir)!r} finished its {cfg.epochs} epochs but has no "
                    f"{_rundir.BEST} (removed after training?), which evaluation reads; its best "
                    "epoch cannot be recovered: delete the run folder (or train with --force) to "
                    "train it again"
                )
            _log(
                ctx, f"run {run_dir} already finished its {epochs_text(cfg.epochs)}; nothing to do"
            )
            return None
        remaining = cfg.epochs - (state["epoch"] if state is not None else 0)
        _decode_once(run.base, remaining * run.steps * cfg.batch_size, cfg.num_workers, ctx)
        if ctx.is_main:  # rank 0 alone validates: at every epoch end, and before the first one
            _decode_once(
                run.val, (remaining + (state is None)) * len(run.val_index), cfg.num_workers, ctx
            )
        if cfg.val_ways > run.val.num_classes:
            _log(
                ctx,
                f"note: the val split of {cfg.dataset!r} has {run.val.num_classes} classes, fewer than "
                f"the {cfg.val_ways} val ways asked for; validating {run.val.num_classes}-way",
            )
        if state is not None:
            run.model.load_state_dict(state["model"])
            run.optimizer.load_state_dict(state["optimizer"])
            run.scheduler.load_state_dict(state["scheduler"])
            _log(ctx, f"resuming {run_dir} at epoch {int(state['epoch']) + 1} of {cfg.epochs}")
            return list(state["metrics"]), float(state["best_val"]), int(state["epoch"]) + 1
        rows: list = []
        if ctx.is_main:
            acc0 = run.validate(ctx)
            rows.append({"epoch": 0, "val_acc": acc0})
            _rundir.write_metrics(run_dir, rows)
            _log(
                ctx,
                f"epoch 0 (untrained): val {run.val_episodes.ways}-way {run.val_episodes.shots}-shot "
                f"accuracy {acc0:.4f}",
            )
        return rows, -1.0, 1
    except Exception:
        if start_guard is not None:
            start_guard.undo()
        raise


def _train_epochs(
    run: TrainingRun, cfg: TrainConfig, ctx: DistContext, rows: list, best: float, start: int
) -> None:
    """Train epochs ``start`` to ``cfg.epochs``, validating and saving after each."""
    train_model = run.model
    if ctx.distributed:
        train_model = nn.parallel.DistributedDataParallel(
            run.model, device_ids=[ctx.device.index] if ctx.device.type == "cuda" else None
        )
    # Decoded images are sliced from memory faster than worker processes could hand them over.
    workers = 0 if getattr(run.base, "preloaded", False) else cfg.num_workers
    setup = EpochSetup(
        train_model,
        run.loss_fn,
        run.base,
        run.augment,
        cfg.views,
        run.optimizer,
        run.scheduler,
        cfg.grad_clip,
        ctx,
        loader_workers=workers,
        progress=cfg.progress,
        precision=run.precision,
    )
    for epoch in range(start, cfg.epochs + 1):
        torch.manual_seed(derive_seed(cfg.seed, MODEL_RNG, epoch, ctx.rank))
        batches = epoch_batches(len(run.base), cfg.batch_size, cfg.seed, epoch, ctx)[: run.steps]
        try:
            row = train_epoch(
                setup, batches, generator(cfg.seed, AUGMENT, epoch, ctx.rank), epoch=epoch
            )
        except NonFiniteLossError as e:
            kept = (
                f"the last good checkpoint is {run.run_dir / _rundir.LAST} (epoch {epoch - 1})"
                if epoch > 1
                else "no checkpoint was written"
            )
            raise NonFiniteLossError(f"{e}; {kept}") from None
        row = {"epoch": epoch, "lr": run.scheduler.get_last_lr()[0], **row}
        best = run_on_main(ctx, _end_epoch, run, row, rows, best, ctx)


def _decode_once(split, reads: int, workers: int, ctx: DistContext) -> None:
    """Decode the images of a split that decodes files on access once, in a pass with ``workers``
    processes, when the training will read more images from it than it holds (see
    :mod:`fewshot_clce.data.decoded`); otherwise each image is decoded when it is read."""
    if not hasattr(split, "preload") or split.preloaded or reads <= len(split):
        return
    _log(ctx, f"decoding the {len(split):,} images of {split.dataset}/{split.name} once")
    where = split.preload(workers)
    _log(
        ctx,
        "  kept in memory"
        if where == "memory"
        else f"  kept in {where}"
        if where
        else "  not kept (no room in memory or the cache); decoding each image when it is read",
    )


def _end_epoch(
    run: TrainingRun, row: dict[str, Any], rows: list, best: float, ctx: DistContext
) -> float:
    """Rank 0: validate, save the best and last checkpoints, append the metrics row; the best score."""
    acc = run.validate(ctx)
    improved = acc > best
    row.update(val_acc=acc, best=improved)
    rows.append(row)
    epoch, model, config_dict = row["epoch"], run.model, run.config_dict
    if improved:
        best = acc
        _rundir.save_checkpoint(
            run.run_dir / _rundir.BEST,
            {"epoch": epoch, "val_acc": acc, "model": model.state_dict(), "config": config_dict},
        )
    _rundir.save_checkpoint(
        run.run_dir / _rundir.LAST,
        {
            "epoch": epoch,
            "model": model.state_dict(),
            "optimizer": run.optimizer.state_dict(),
            "scheduler": run.scheduler.state_dict(),
            "best_val": best,
            "metrics": rows,
            "config": config_dict,
        },
    )
    _rundir.write_metrics(run.run_dir, rows)
    parts = " ".join(f"{k[5:]}={v:.4f}" for k, v in row.items() if k.startswith("loss_"))
    _log(
        ctx,
        f"epoch {epoch}/{config_dict['epochs']}: loss {row['loss']:.4f} {parts} | "
        f"{row['images_per_s']:.0f} img/s | val acc {acc:.4f}{' (best)' if improved else ''}",
    )
    return best
