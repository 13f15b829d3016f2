"""The configurations each loss of a benchmark is trained at: its grid.

A loss's configurations are the product of each grid block's values over the hyper-parameters
the loss declares (CE is not trained once per λ), the others at the loss's defaults (see
:class:`~fewshot_clce.benchmark.config.BenchmarkConfig` for where the blocks come from);
``--hp LOSS.NAME=V1,V2`` replaces a name's values for one loss, and values in brackets
(``clce[detach_weights=false]``) fix them. The grid options' text (``--sweep`` blocks, ``--hp``
items) is parsed here too.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import BenchmarkConfig


def parse_sweep(text: str) -> dict[str, list[float]]:
    """``"lam=0.05,0.1 beta=0,1"`` -> ``{"lam": [0.05, 0.1], "beta": [0.0, 1.0]}`` (one grid block).

    Raises:
        ValueError: for a malformed block (argparse shows it as the option's error).
    """
    block: dict[str, list[float]] = {}
    for part in text.replace(";", " ").split():
        name, eq, values = part.partition("=")
        name = {"lambda": "lam", "t": "temperature", "bs": "batch_size"}.get(name, name)
        if not eq or not values:
            raise ValueError(
                f"sweep block {text!r}: write name=v1,v2 for each hyper-parameter, e.g. "
                "'lam=0.05,0.1 beta=0,1'"
            )
        try:
            block[name] = [
                int(v) if name == "batch_size" else float(v) for v in values.split(",") if v
            ]
        except ValueError:
            raise ValueError(f"sweep block {text!r}: {values!r} are not numbers") from None
    if not block:
        raise ValueError("an empty sweep block; write e.g. 'lam=0.05,0.1 beta=0,1'")
    return block


def checked_hp_item(text: str) -> str:
    """An ``--hp`` item, checked for form (the loss and values are checked with the losses)."""
    from ..losses.plugins import parse_hp

    parse_hp(text)
    return text.strip()


def loss_hparams(loss: str) -> tuple[str, ...]:
    """The hyper-parameters the loss ``loss`` (a reference) declares.

    Raises:
        LossError: for an unknown loss, listing the valid ones.
    """
    from ..losses.hparams import loss_takes

    return loss_takes(loss)


@dataclass(frozen=True)
class LossEntry:
    """One loss of a benchmark: its short ``name``, the ``reference`` it is imported by (options
    stripped) and the values fixed in brackets."""

    name: str
    reference: str
    fixed: tuple[tuple[str, Any], ...]

    @property
    def cls(self):
        from ..losses.plugins import load_loss_class

        return load_loss_class(self.reference)


def benchmark_losses(losses: list[str]) -> dict[str, LossEntry]:
    """The losses a benchmark compares, by name, in order.

    Raises:
        LossError: a reference that cannot be used, a bracket value the loss does not declare or
            out of its range, or two losses under one name.
    """
    from ..losses.plugins import LossError, loss_name, resolve, split_reference

    out: dict[str, LossEntry] = {}
    given: dict[str, str] = {}
    for text in losses:
        cls, ref, _ = resolve(text)  # checks the bracket values against the declaration
        name = loss_name(cls)
        if name in out:
            raise LossError(
                f"two losses under one name {name!r}: {given[name]!r} and {text!r}; "
                f"compare one (sweep its hyper-parameters with --hp "
                f"{name}.NAME=V1,V2), or rename one class"
            )
        out[name] = LossEntry(name, ref, tuple(split_reference(text)[1].items()))
        given[name] = text
    return out


def loss_grid(cfg: BenchmarkConfig, loss: str) -> list[tuple[dict[str, Any], tuple[int, ...]]]:
    """The configurations of ``loss`` (a name or reference among ``cfg.losses``) that ``cfg``
    trains: ``(hyper-parameters, batch sizes)`` pairs.

    Every hyper-parameter the loss declares has a value; the order is stable (blocks in order, then
    their products), and a configuration two blocks share is listed once.
    """
    from ..losses.declare import declared

    entries = benchmark_losses(cfg.losses)
    entry = entries.get(loss) or next(e for e in entries.values() if loss in (e.reference, e.name))
    decl = declared(entry.cls)
    blocks = cfg.given_grid()
    if blocks is None:
        default = {k: list(h.grid) for k, h in decl.items() if h.grid}
        blocks = [default] if cfg.default_grids else [{}]
    own = dict(cfg.loss_hp(entry.name, entry.reference, list(decl)))
    own.update({k: [v] for k, v in entry.fixed})
    out: dict[tuple, tuple[dict[str, Any], tuple[int, ...]]] = {}
    for block in blocks:
        block = {**block, **own}
        names = [h for h in decl if h in block]
        sizes = tuple(int(b) for b in block.get("batch_size", cfg.batch_size))
        for values in itertools.product(*(block[h] for h in names)):
            config = {h: decl[h].coerce(decl[h].default) for h in decl}
            config.update({h: decl[h].coerce(v) for h, v in zip(names, values)})
            key = tuple(config.items())
            have = out.get(key, (config, ()))[1]
            out[key] = (config, have + tuple(b for b in sizes if b not in have))
    return list(out.values())
