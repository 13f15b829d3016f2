"""A benchmark's output folder as a start finds it: ``config.json`` written, or checked against
the configuration the folder already holds, and a folder of other files refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

from ..utils.checks import SettingError
from ..utils.files import loads_json, write_json_atomic
from .config import BenchmarkConfig
from .config_format import FORMAT_VERSION, migrate_identity


def prepare_output(
    out: Path, cfg: BenchmarkConfig, force: bool, extra: Optional[dict] = None
) -> None:
    """Write ``config.json`` (with ``extra``: what is derived, e.g. the starting weights' digest), or
    check that the folder's existing one has the same identity.

    Raises:
        FileExistsError: the folder holds a benchmark of another configuration (names the
            differing settings) and ``force`` is False.
        ValueError: its config.json is unreadable and ``force`` is False.
    """
    if out.exists() and not out.is_dir():
        raise SettingError(
            "out", "{setting} " + f"{str(out)!r} is a file; pass a folder for the benchmark"
        )
    path = out / "config.json"
    old = read_config_json(path, force) if path.is_file() else None
    if old is not None:
        old = migrate_identity(old, old.get("format_version"), str(path))
        new = json.loads(json.dumps(cfg.identity()))
        differ = sorted(k for k in set(old) | set(new) if k in new and old.get(k) != new.get(k))
        if differ and not force:
            what = "; ".join(f"{k}: {old.get(k)!r} there, {new.get(k)!r} now" for k in differ)
            raise FileExistsError(
                f"{str(out)!r} holds a benchmark of another configuration ({what}); use "
                "another --out, the same settings to resume, or --force to replace it"
            )
    elif not path.is_file() and out.is_dir() and not holds_only_runs(out) and not force:
        raise FileExistsError(
            f"{str(out)!r} is not empty and holds no benchmark (no config.json); pass an "
            "empty or new --out, or --force"
        )
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(
        path,
        {
            "format_version": FORMAT_VERSION,
            **cfg.identity(),
            **{k: getattr(cfg, k) for k in ("preset", "command")},
            **(extra or {}),
        },
    )


def holds_only_runs(out: Path) -> bool:
    """Whether ``out`` holds nothing but run folders (``runs/``, trained from the commands
    ``--plan`` prints) and this process's lock file: a folder a benchmark may start in."""
    from ..utils.folder_lock import is_lock_file

    return all(p.name == "runs" and p.is_dir() or is_lock_file(p) for p in out.iterdir())


def read_config_json(path: Path, force: bool = False):
    """The dict in a benchmark's ``config.json``; None for an unreadable one when ``force`` (it is replaced).

    Raises:
        ValueError: naming the file when it is not a JSON object (truncated, damaged), saying how to go on.
    """
    try:
        config = loads_json(Path(path).read_text(), str(path))
        if not isinstance(config, dict):
            raise ValueError(f"it holds a {type(config).__name__}, not an object")
    except (ValueError, UnicodeDecodeError) as e:  # JSONDecodeError is a ValueError
        if force:
            return None
        detail = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ValueError(
            f"{str(path)!r} is not a readable benchmark configuration ({detail}); it may have been "
            "cut short: pass --force to start this folder over (finished runs with matching settings "
            "are still reused), or another --out"
        ) from None
    return config
