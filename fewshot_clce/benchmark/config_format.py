"""The format of the files that record a benchmark's configuration (a benchmark folder's
config.json, a budget study's budget.json): the version written now, and a recorded
configuration read in any version up to it."""

from __future__ import annotations

from typing import Any

# Format 1 (files without a format_version) left these settings out while at their default.
FORMAT_VERSION = 2
_DEFAULTS_LEFT_OUT_BY_1 = {
    "init": None,
    "baseline_backbone": False,
    "eval_datasets": None,
    "hp": None,
}


def migrate_identity(recorded: dict[str, Any], version: Any, where: str) -> dict[str, Any]:
    """A configuration recorded in format ``version`` (None: 1), as :data:`FORMAT_VERSION` records it.

    Raises:
        ValueError: naming ``where`` for a format this version cannot read (a newer one).
    """
    version = 1 if version is None else version
    if (
        not isinstance(version, int)
        or isinstance(version, bool)
        or not 1 <= version <= FORMAT_VERSION
    ):
        raise ValueError(
            f"{where} has format_version {version!r}; this fewshot-clce reads formats 1 to "
            f"{FORMAT_VERSION}: upgrade it, or use another folder"
        )
    recorded = dict(recorded)
    if version == 1:
        for name, default in _DEFAULTS_LEFT_OUT_BY_1.items():
            recorded.setdefault(name, default)
    recorded.pop("format_version", None)
    return recorded
