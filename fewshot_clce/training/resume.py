"""Starting a run folder or resuming it: what a training must match to continue the run there.

A resumed training continues the run only when it trains the same thing: the same resolved
settings (:func:`~fewshot_clce.training.config.resolved_settings`, the comparison the benchmark
makes too) and the same derived facts (data fingerprints, input size, normalisation, widths), from
the same starting weights and, for a loss of one's own, the same source file.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Optional

import torch

from . import run_folder as _rundir
from .config import resolved_settings

# Derived facts that may differ on resume: versions, and what is compared on its own (the
# starting weights' digest and the loss's source, to name both digests), or pinned otherwise (the
# dataset's identity and spec: the split fingerprints pin the data).
_NOT_COMPARED = ("version", "torch", "dataset_id", "dataset_spec", "init_digest", "loss_source")


def prepare_run_dir(
    run_dir: Path, cfg, config_dict: dict[str, Any], loss_cls: Optional[type] = None
) -> Optional[dict[str, Any]]:
    """Rank 0: check or clear the folder, write config.yaml; the checkpoint to resume from, if any.

    Raises:
        FileExistsError: when the folder holds a run and neither ``resume`` nor ``force`` is set.
        ValueError: when the run cannot be continued with ``config_dict``, naming what differs.
    """
    state = _rundir.prepare(run_dir, cfg.resume, cfg.force)
    if state is not None and not all(
        torch.isfinite(t).all()
        for t in state["model"].values()
        if torch.is_tensor(t) and t.is_floating_point()
    ):
        raise ValueError(
            f"cannot resume {str(run_dir)!r}: its {_rundir.LAST} (epoch "
            f"{state['epoch']}) holds NaN or infinite weights, so there is no good "
            "checkpoint to continue from; pass --force to start over (lower --lr or "
            "set --grad-clip if the loss diverged)"
        )
    if state is not None:
        if loss_cls is not None:
            check_loss_source(run_dir, state["config"], config_dict, loss_cls)
        _check_init(run_dir, cfg, state["config"], config_dict)
        saved, new = _comparable(state["config"]), _comparable(config_dict)
        differ = sorted(k for k in set(saved) | set(new) if saved.get(k) != new.get(k))
        if differ:
            what = "; ".join(
                f"{k}: {saved.get(k)!r} in the run, {new.get(k)!r} now" for k in differ
            )
            raise ValueError(
                f"cannot resume {str(run_dir)!r} with other settings ({what}); use the "
                f"original ones, or --force to start over"
            )
    elif cfg.resume:
        print(f"no checkpoint in {run_dir} yet; starting from epoch 1", file=sys.stderr)
    _rundir.write_config(run_dir, config_dict)
    return state


def _check_init(run_dir: Path, cfg, saved: dict[str, Any], new: dict[str, Any]) -> None:
    """Refuse to continue a run from other starting weights than it started from (a saved
    configuration that does not record them cannot be checked)."""
    if "init_digest" not in saved["derived"]:
        return
    was, now = saved["derived"]["init_digest"], new["derived"]["init_digest"]
    if was == now:
        return
    before = (
        f"weights with digest {was} ({_init_name(saved)})" if was else "a random initialisation"
    )
    after = f"{_init_name(cfg)} has digest {now}" if now else "no starting weights are given"
    raise ValueError(
        f"cannot resume {str(run_dir)!r}: it was started from {before}, but {after}; resume "
        f"with the weights it started from, or --force to start over"
    )


def _init_name(cfg: Any) -> str:
    get = cfg.get if isinstance(cfg, dict) else lambda k: getattr(cfg, k)
    return (
        f"--checkpoint {get('checkpoint')}"
        if get("checkpoint")
        else f"timm's pretrained {get('backbone')}"
    )


def check_loss_source(run_dir: Path, saved: dict[str, Any], new: dict[str, Any], loss_cls) -> None:
    """Refuse to continue a run of a loss of one's own whose source file changed since (the
    built-in losses are versioned with the package; a source not recorded cannot be checked).

    Raises:
        ValueError: naming both digests.
    """
    from ..losses.plugins import is_builtin

    was = (saved.get("derived") or {}).get("loss_source") or {}
    now = new["derived"]["loss_source"]
    if is_builtin(loss_cls) or not was.get("sha256") or was.get("sha256") == now.get("sha256"):
        return
    raise ValueError(
        f"cannot resume {str(run_dir)!r}: its loss {now['import_path']} was trained "
        f"from a source file with sha256 {was['sha256'][:12]}…, which now has "
        f"{str(now['sha256'])[:12]}…; train the changed loss into another folder, or "
        "--force to start over"
    )


def _comparable(config: dict[str, Any]) -> dict[str, Any]:
    """What must match to resume: the resolved settings (:func:`resolved_settings`: runtime fields
    left out, the loss's declared defaults filled in) and ``derived`` flattened, but for
    :data:`_NOT_COMPARED`."""
    out = resolved_settings(config)
    out.update({f"derived.{k}": v for k, v in config["derived"].items() if k not in _NOT_COMPARED})
    return out
