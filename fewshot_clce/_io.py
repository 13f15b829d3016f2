"""File helpers: atomic writes, the user cache folder, refusing silent overwrites."""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

CACHE_ENV = "FEWSHOT_CLCE_CACHE"


def cache_dir(sub: str = "") -> Path:
    """The toolkit's cache folder (``$FEWSHOT_CLCE_CACHE``, else ``$XDG_CACHE_HOME/fewshot-clce``,
    else ``~/.cache/fewshot-clce``), created if needed.

    Raises:
        PermissionError: if the folder cannot be created or written, naming it and the variable.
    """
    base = os.environ.get(CACHE_ENV)
    if base:
        root = Path(base).expanduser()
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        root = (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "fewshot-clce"
    path = root / sub if sub else root
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".probe-"):
            pass
    except OSError as e:
        raise PermissionError(
            f"cache folder {str(path)!r} is not writable ({e.strerror or e}); "
            f"set {CACHE_ENV} to a writable folder"
        ) from None
    return path


def check_png(path: str | os.PathLike) -> Path:
    """``path`` as a Path if it names a ``.png`` file (image grids are always written as PNG).

    Raises:
        ValueError: naming the path, so that ``grid.jpg`` does not silently hold PNG bytes.
    """
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"--out {str(path)!r}: image grids are written as PNG; give a file name ending "
                         "in .png")
    return path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path``.

    Nothing is left half-written: on error the temporary file is removed and ``path``
    keeps its previous content.

    Raises:
        FileExistsError: if ``path`` exists and ``overwrite`` is False.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{str(path)!r} exists; pass --force (overwrite=True) to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp_path = Path(tmp)
    # mkstemp creates 0600; give the result the permissions a plain open() would
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_path, 0o666 & ~umask)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text_atomic(path: str | os.PathLike, text: str, overwrite: bool = True) -> Path:
    with atomic_path(path, overwrite=overwrite) as tmp:
        tmp.write_text(text)
    return Path(path)


def write_json_atomic(path: str | os.PathLike, obj: Any, overwrite: bool = True) -> Path:
    return write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n", overwrite)
