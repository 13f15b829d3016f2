"""A training run's folder, its format in one place: config.yaml, metrics.csv, checkpoint_last.pt,
checkpoint_best.pt; writing them (the trainer) and reading them back (:func:`load_run`, for
evaluation, which never imports the trainer).

The saved configuration records the folder's :data:`FORMAT_VERSION`; whatever reads one goes
through :func:`migrate_config`, which brings any version it knows to today's.

Every file is written atomically (temporary file + rename), so an interrupted or failed write
(out of disk space included) leaves the previous version intact.
"""

from __future__ import annotations

import csv
import errno
import io
from pathlib import Path
from typing import Any, Optional

import torch
import yaml

from ..backbones.external import LoadedRun
from ..backbones.weights import backbone_weights, file_id, load_checkpoint
from ..utils.checks import SettingError
from ..utils.files import atomic_path, write_text_atomic

CONFIG = "config.yaml"
METRICS = "metrics.csv"
LAST = "checkpoint_last.pt"
BEST = "checkpoint_best.pt"
RUN_FILES = (CONFIG, METRICS, LAST, BEST)
# The format of what a run folder records (config.yaml and the checkpoints' "config"); a saved
# configuration without ``format_version`` is version 1.
FORMAT_VERSION = 1


class CheckpointWriteError(OSError):
    """A checkpoint could not be written; the previous one is intact."""


def checkpoint_path(run_dir: Path, which: str) -> Path:
    if which not in ("best", "last"):
        raise ValueError(f"which checkpoint: 'best' or 'last', got {which!r}")
    return Path(run_dir) / (BEST if which == "best" else LAST)


def prepare(run_dir: Path, resume: bool, force: bool) -> Optional[dict[str, Any]]:
    """Make ``run_dir`` ready: the last checkpoint to resume from, or None to start afresh.

    Raises:
        FileExistsError: when the folder holds a run and neither ``resume`` nor ``force`` is set.
        ValueError: when both are set.
    """
    if resume and force:
        raise SettingError(
            "resume", "{setting} continues a run and {setting:force} starts it over; pass only one"
        )
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise SettingError(
            "out", "{setting} " + f"{str(run_dir)!r} is a file; pass a folder for the run"
        )
    present = [f for f in RUN_FILES if (run_dir / f).exists()]
    if present and not (resume or force):
        raise FileExistsError(
            f"run folder {str(run_dir)!r} already holds a run ({', '.join(present)}); "
            f"pass --resume to continue it or --force to start it over"
        )
    if force:
        for f in present:
            (run_dir / f).unlink()
    run_dir.mkdir(parents=True, exist_ok=True)
    if resume and (run_dir / LAST).exists():
        return read_checkpoint(run_dir / LAST)
    return None


def read_checkpoint(path: Path) -> dict[str, Any]:
    """A checkpoint written by :func:`save_checkpoint`, loaded without running code from it, its
    ``config`` in today's format (:func:`migrate_config`)."""
    state = load_checkpoint(path)
    if isinstance(state, dict) and isinstance(state.get("config"), dict):
        state["config"] = migrate_config(state["config"], path)
    return state


def migrate_config(config: dict[str, Any], source: Path | str = "run settings") -> dict[str, Any]:
    """A run's saved configuration in today's format (:data:`FORMAT_VERSION`).

    Version 1 (a configuration without ``format_version``) may lack the dataset's reload spec and
    identity: they are derived from the ``dataset`` typed (a relative folder path then has to be
    valid from here).

    Raises:
        ValueError: for a version this fewshot-clce does not know, naming ``source``.
    """
    version = config.get("format_version", 1)
    if version not in range(1, FORMAT_VERSION + 1):
        raise ValueError(
            f"cannot read {str(source)!r}: it has format_version {version!r}, and this "
            f"fewshot-clce reads versions up to {FORMAT_VERSION}; upgrade fewshot-clce, or "
            "retrain the run"
        )
    derived = config.get("derived")
    if (
        isinstance(derived, dict)
        and config.get("dataset")
        and not (derived.get("dataset_spec") and derived.get("dataset_id"))
    ):
        from ..data.registry import dataset_id

        spec = derived.get("dataset_spec") or config["dataset"]
        derived = dict(
            derived, dataset_spec=spec, dataset_id=derived.get("dataset_id") or dataset_id(spec)
        )
        config = dict(config, derived=derived)
    return dict(config, format_version=FORMAT_VERSION)


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` atomically; the previous file stays intact if anything fails.

    Raises:
        CheckpointWriteError: naming the file and the cause (e.g. no space left on device).
    """
    try:
        with atomic_path(path, what="checkpoint", then="continue with --resume") as tmp:
            try:
                torch.save(state, tmp)
            except RuntimeError as e:
                # torch's zip writer reports a failed write (a full disk, most often) as RuntimeError
                text = str(e).strip()
                reason = text.splitlines()[0] if text else "the write failed"
                full = "No space left" in text or "write failed" in text or "unexpected pos" in text
                raise OSError(errno.ENOSPC if full else errno.EIO, reason) from None
    except OSError as e:
        raise CheckpointWriteError(e.errno or errno.EIO, e.strerror or str(e)) from None


def write_config(run_dir: Path, config: dict[str, Any]) -> None:
    write_text_atomic(Path(run_dir) / CONFIG, yaml.safe_dump(config, sort_keys=False))


def read_config(run_dir: Path) -> dict[str, Any]:
    """The settings a run folder's ``config.yaml`` records, read as plain YAML data.

    Raises:
        FileNotFoundError: when the folder has no ``config.yaml``.
        ValueError: naming the file when it is not UTF-8, not valid YAML, holds a YAML tag
            (``!!python/...``: never written by ``fewshot-clce train``, and never constructed
            here) or is not a mapping.
    """
    path = Path(run_dir) / CONFIG
    fix = "it was not written by `fewshot-clce train`; move the run folder away or retrain it"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        raise ValueError(
            f"cannot read run settings {str(path)!r}: it is not UTF-8 text (byte {e.start}); {fix}"
        ) from None
    except yaml.constructor.ConstructorError as e:
        raise ValueError(
            f"refusing run settings {str(path)!r}: it holds a YAML tag "
            f"({(e.problem or '').strip()}), which plain settings never use; {fix}"
        ) from None
    except yaml.YAMLError as e:
        where = getattr(e, "problem_mark", None)
        at = f" at line {where.line + 1}" if where is not None else ""
        raise ValueError(
            f"cannot read run settings {str(path)!r}: it is not valid YAML{at} "
            f"({getattr(e, 'problem', None) or type(e).__name__}); {fix}"
        ) from None
    if data is None:  # an empty file records no settings
        return {}
    if not isinstance(data, dict):
        raise ValueError(
            f"cannot read run settings {str(path)!r}: it is not a mapping of settings "
            f"(found {type(data).__name__}); {fix}"
        )
    return migrate_config(data, path)


def write_metrics(run_dir: Path, rows: list[dict[str, Any]]) -> None:
    """Rewrite metrics.csv with one row per epoch (columns: the rows' keys, validation ones last)."""
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    columns.sort(
        key=lambda k: k in ("val_acc", "best")
    )  # stable: keeps the order within each group
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(Path(run_dir) / METRICS, buf.getvalue())


def is_finished(run_dir: Path, epochs: int) -> bool:
    """Whether the folder holds a run that trained ``epochs`` epochs and kept a best checkpoint."""
    run_dir = Path(run_dir)
    metrics = run_dir / METRICS
    if not (metrics.is_file() and (run_dir / BEST).is_file()):
        return False
    with open(metrics, newline="") as f:
        done = [
            int(float(r["epoch"])) for r in csv.DictReader(f) if r.get("epoch") not in (None, "")
        ]
    return bool(done) and max(done) >= epochs


def checkpoint_id(run_dir: Path, which: str = "best") -> str:
    """First 16 hex digits of the sha256 of a run's checkpoint file (what its evaluation depends on)."""
    return file_id(checkpoint_path(run_dir, which))


def load_run(run_dir: str | Path, which: str = "best") -> LoadedRun:
    """The backbone of a finished (or interrupted) run, in eval mode on the CPU.

    Reads the run folder only (the trainer is not imported): evaluation's way into a run.

    Args:
        run_dir: a folder written by ``fewshot-clce train``.
        which: ``"best"`` (highest validation score) or ``"last"``.

    Raises:
        FileNotFoundError: naming the run folder when it has no such checkpoint.
    """
    from ..backbones.factory import create_backbone
    from ..backbones.weights import load_weights
    from ..data.transforms import Preprocess

    run_dir = Path(run_dir).expanduser()
    if not run_dir.is_dir():
        what = "is a file, not a run folder" if run_dir.exists() else "does not exist"
        raise FileNotFoundError(
            f"run folder {str(run_dir)!r} {what}; pass the --out folder of `fewshot-clce train`"
        )
    path = checkpoint_path(run_dir, which)
    if not path.is_file():
        found = [f for f in (BEST, LAST) if (run_dir / f).is_file()]
        raise FileNotFoundError(
            f"run folder {str(run_dir)!r} has no {path.name}"
            f"{' (it has ' + ', '.join(found) + ')' if found else ''}; train it with "
            f"`fewshot-clce train --out {run_dir} ...` (or finish it with --resume)"
        )
    state = read_checkpoint(path)
    config = state["config"]
    derived = config["derived"]
    backbone = create_backbone(
        config["backbone"], in_chans=derived["in_chans"], **derived["backbone_kwargs"]
    )
    load_weights(backbone, backbone_weights(state), config["backbone"])
    backbone.eval()
    preprocess = Preprocess(derived["image_size"], derived["mean"], derived["std"])
    return LoadedRun(
        backbone,
        config,
        path,
        file_id(path),
        derived["dataset_spec"],
        preprocess,
        derived["dataset_id"],
    )
