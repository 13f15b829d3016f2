"""The hyper-parameters a comparison of losses varies, declared once.

Training configs, the benchmark's sweeps and its command line, result columns and every table
label take their names, flags, checks and label keys from here:

=================  =====  ==================  ===========================================
name               label  flag                meaning
=================  =====  ==================  ===========================================
``lam``            lam    ``--lambda``        CLCE's weight of the contrastive term
``temperature``    t      ``--temperature``   temperature of the contrastive terms
``beta``           beta   ``--beta``          hard-negative concentration of LACLN / CLCE
``label_smoothing``  ls   ``--label-smoothing``  label smoothing of the CE term
``batch_size``     bs     ``--batch-size``    training batch size (a training setting)
=================  =====  ==================  ===========================================

A configuration is a loss with its values: ``clce(lam=0.1,t=0.1,beta=1,bs=64)``
(:func:`config_label`); a value the loss does not take is left out, and so is a label smoothing
of 0.
"""
from __future__ import annotations

import inspect
import math
import numbers
from dataclasses import dataclass
from typing import Callable, Dict, List, Mapping, Optional, Tuple

from ._contrastive import check_beta, check_lam, check_smoothing, check_temperature


def _check_batch_size(value) -> None:
    if not (isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 1):
        raise ValueError(f"batch_size must be an integer of at least 1; got {value!r}")


@dataclass(frozen=True)
class HParam:
    """One hyper-parameter of the vocabulary.

    Attributes:
        name: field of the training and benchmark configs, and column of result tables.
        short: key in configuration labels and run names.
        flag: command-line flag.
        help: one line for help texts.
        check: raises ValueError for a value that cannot work.
        scale: axis scale in sensitivity plots ("log" or "linear").
        loss: a keyword of the losses (else a training setting).
        bounds: values a grid cannot go beyond (``None``: unbounded); a grid whose chosen value
            sits at such a bound is not "at the edge".
    """

    name: str
    short: str
    flag: str
    help: str
    check: Callable[[object], None]
    scale: str = "log"
    loss: bool = True
    bounds: Tuple[Optional[float], Optional[float]] = (None, None)


HPARAMS: Dict[str, HParam] = {h.name: h for h in (
    HParam("lam", "lam", "--lambda", "CLCE: weight λ of the contrastive term (0 = CE, 1 = LACLN)", check_lam,
           "log", bounds=(0.0, 1.0)),
    HParam("temperature", "t", "--temperature", "temperature τ of the contrastive terms", check_temperature, "log"),
    HParam("beta", "beta", "--beta", "hard-negative concentration β of LACLN/CLCE (0 = SupCon's denominator)",
           check_beta, "linear", bounds=(0.0, None)),
    HParam("label_smoothing", "ls", "--label-smoothing", "label smoothing of the CE term", check_smoothing,
           "linear", bounds=(0.0, 1.0)),
    HParam("batch_size", "bs", "--batch-size", "training batch size (images per step and process)",
           _check_batch_size, "log", loss=False, bounds=(1.0, None)),
)}
LOSS_HPARAMS: Tuple[str, ...] = tuple(n for n, h in HPARAMS.items() if h.loss)
# Columns of result tables that define a configuration, in label order.
CONFIG_COLUMNS: Tuple[str, ...] = tuple(HPARAMS)


def flag(name: str) -> str:
    """The command-line flag of a setting: ``lam`` -> ``--lambda``, ``val_episodes`` -> ``--val-episodes``."""
    return HPARAMS[name].flag if name in HPARAMS else "--" + name.replace("_", "-")


def check_value(name: str, value) -> float:
    """``value`` if it is a valid ``name``; else a :class:`~fewshot_clce.utils.checks.SettingError`."""
    from ..utils.checks import SettingError

    try:
        HPARAMS[name].check(value)
    except ValueError as e:
        raise SettingError(name, "{setting} " + f"{value!r}: {e}") from None
    return value


def _fmt(v) -> str:
    return f"{v:g}" if isinstance(v, (float, int)) and not isinstance(v, bool) else str(v)


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def config_label(loss: str, values: Mapping[str, object]) -> str:
    """``"clce(lam=0.5,t=0.1,beta=1,bs=64)"``: a loss with the hyper-parameters it was trained with.

    Missing values (NaN/None: the loss does not take them) and a label smoothing of 0 are left out.
    """
    parts = [f"{HPARAMS[k].short if k in HPARAMS else k}={_fmt(v)}" for k, v in values.items()
             if not _missing(v) and not (k == "label_smoothing" and v == 0)]
    return f"{loss}({','.join(parts)})" if parts else loss


def run_name_parts(values: Mapping[str, object]) -> List[str]:
    """``["lam0.5", "t0.1"]``: the values in run-folder names (a stable format: finished runs are
    found again by it)."""
    return [f"{HPARAMS[k].short}{_fmt(v)}" for k, v in values.items() if not _missing(v)]


def _registry():
    from .registry import LOSSES

    return LOSSES


def loss_takes(loss: str) -> Tuple[str, ...]:
    """The hyper-parameters of the vocabulary that ``loss`` takes, in label order.

    Raises:
        UnknownNameError: for an unregistered loss, listing the valid ones.
    """
    options = _registry().options(loss)
    return tuple(n for n in LOSS_HPARAMS if n in options)


def loss_defaults(loss: str) -> Dict[str, float]:
    """The default value of each hyper-parameter ``loss`` takes."""
    options = _registry().options(loss)
    return {n: options[n] for n in loss_takes(loss) if options[n] is not inspect.Parameter.empty}


def default_grid(loss: str) -> Dict[str, List[float]]:
    """The values the benchmark tries for ``loss`` when the user gives none (from the registry)."""
    return {k: list(v) for k, v in _registry().meta(loss).get("grid", {}).items()}


def edge_of(name: str, value: float, values) -> Optional[str]:
    """``"lowest"`` / ``"highest"`` when ``value`` is at that end of the tried ``values`` (two or more)
    and the range could go further there; None otherwise."""
    vals = sorted({float(v) for v in values if not _missing(v)})
    if len(vals) < 2 or _missing(value):
        return None
    low, high = HPARAMS[name].bounds if name in HPARAMS else (None, None)
    if float(value) == vals[0] and not (low is not None and vals[0] <= low):
        return "lowest"
    if float(value) == vals[-1] and not (high is not None and vals[-1] >= high):
        return "highest"
    return None
