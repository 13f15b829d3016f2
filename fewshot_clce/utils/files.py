"""File helpers: atomic writes, the user cache folder, refusing silent overwrites, spreadsheet-safe CSV."""
from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

if TYPE_CHECKING:
    import pandas as pd

CACHE_ENV = "FEWSHOT_CLCE_CACHE"


def cache_dir(sub: str = "", create: bool = True) -> Path:
    """The toolkit's cache folder (``$FEWSHOT_CLCE_CACHE``, else ``$XDG_CACHE_HOME/fewshot-clce``,
    else ``~/.cache/fewshot-clce``), created if needed (``create=False``: only its path).

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
    if not create:
        return path
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


def _nearest_existing(path: Path) -> Path:
    for p in (path, *path.parents):
        if p.exists():
            return p
    return Path(".")


def check_output_file(path: str | os.PathLike, flag: str = "--out") -> Path:
    """``path`` as a Path if a file can be written there; nothing is created.

    Meant to be called before any work, so that an evaluation is not thrown away at the end.
    The nearest existing folder is probed with a temporary file (removed at once): permission
    bits do not stop root, and a read-only mount shows only when writing.

    Raises:
        IsADirectoryError: ``path`` is a folder.
        NotADirectoryError: a component of ``path`` is a regular file.
        PermissionError, OSError: the folder cannot be written (naming it and why).
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{flag} {str(path)!r} is a folder; give a file name (e.g. {str(path / 'results.csv')!r})")
    folder = _nearest_existing(path.parent)
    if not folder.is_dir():
        raise NotADirectoryError(f"{flag} {str(path)!r}: {str(folder)!r} is a file, not a folder")
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".probe-")
    except OSError as e:
        raise OSError(e.errno, f"{flag} {str(path)!r} cannot be written: folder {str(folder)!r} refuses new files "
                               f"({e.strerror or e}); pass another {flag}") from None
    os.close(fd)
    os.unlink(probe)
    return path


def _write_error(e: OSError, path: Path, what: str, then: str) -> OSError:
    """``e`` (same errno, hence the same OSError subclass) with a message naming ``path``, not a temporary file."""
    kept = f"; the previous {what} is intact" if path.exists() else ""
    space = " free some space and" if e.errno == errno.ENOSPC else ""
    return OSError(e.errno, f"could not write {str(path)!r} ({e.strerror or e}){kept};{space} {then}")


@contextlib.contextmanager
def file_lock(path: str | os.PathLike) -> Iterator[None]:
    """Hold an exclusive lock tied to ``path`` (on ``PATH.lock``, left in place) while the block runs:
    other processes, and other threads that take it, wait. Where the OS has no ``fcntl``
    (Windows), nothing is locked."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    with open(f"{os.fspath(path)}.lock", "a") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, overwrite: bool = True, what: str = "file",
                then: str = "run the command again") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path``.

    Nothing is left half-written: on error the temporary file is removed and ``path``
    keeps its previous content.

    Args:
        what, then: words of the error message ("the previous {what} is intact; {then}").

    Raises:
        FileExistsError: if ``path`` exists and ``overwrite`` is False.
        OSError: when the folder cannot be made or written, the disk is full, ...: the message
            names ``path`` (never the temporary file) and says that the previous file is intact.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{str(path)!r} exists; pass --force (overwrite=True) to replace it")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise _write_error(e, path, what, then) from None
    os.close(fd)
    tmp_path = Path(tmp)
    # mkstemp creates 0600; give the result the permissions a plain open() would
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.chmod(tmp_path, 0o666 & ~umask)
        yield tmp_path
        os.replace(tmp_path, path)
    except OSError as e:
        raise _write_error(e, path, what, then) from None
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text_atomic(path: str | os.PathLike, text: str, overwrite: bool = True) -> Path:
    with atomic_path(path, overwrite=overwrite) as tmp:
        tmp.write_text(text)
    return Path(path)


def write_json_atomic(path: str | os.PathLike, obj: Any, overwrite: bool = True) -> Path:
    return write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n", overwrite)


# A spreadsheet opening a CSV runs a text cell that starts with one of these as a formula
# (``=HYPERLINK(...)`` in a run folder's name). Such cells get a leading ``'``, the usual mark of
# text; cells already starting with quotes before such a character get one more, so that reading
# back (removing one quote) gives every text exactly. Plain numbers ("-0.5") are left alone.
_FORMULA = re.compile(r"'*[=+\-@\t\r]")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def csv_escape(value: Any) -> Any:
    """``value`` as it is written to a CSV cell: text that a spreadsheet would run is quoted."""
    if isinstance(value, str) and _FORMULA.match(value) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def csv_unescape(value: Any) -> Any:
    """The inverse of :func:`csv_escape` (for cells read back from a CSV this toolkit wrote)."""
    if isinstance(value, str) and value.startswith("'") and _FORMULA.match(value[1:]):
        return value[1:]
    return value


def _text_columns(df: "pd.DataFrame") -> list:
    return list(df.select_dtypes(include=["object", "string"]).columns)


def write_csv(df: "pd.DataFrame", path: str | os.PathLike, overwrite: bool = True) -> Path:
    """Write ``df`` (no index) atomically, with text cells escaped by :func:`csv_escape`."""
    out = df.copy()
    for c in _text_columns(out):
        out[c] = out[c].map(csv_escape)
    with atomic_path(path, overwrite=overwrite) as tmp:
        out.to_csv(tmp, index=False)
    return Path(path)


def read_csv(path: str | os.PathLike, **kwargs: Any) -> "pd.DataFrame":
    """A CSV written by :func:`write_csv`, its text cells as they were (``kwargs`` go to ``pandas.read_csv``)."""
    import pandas as pd

    df = pd.read_csv(path, **kwargs)
    for c in _text_columns(df):
        df[c] = df[c].map(csv_unescape)
    return df
