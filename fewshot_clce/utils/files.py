"""File helpers: atomic writes, the user cache folder, refusing silent overwrites, spreadsheet-safe CSV."""

from __future__ import annotations

import contextlib
import errno
import glob
import json
import os
import re
import socket
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

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
        raise ValueError(
            f"--out {str(path)!r}: image grids are written as PNG; give a file name ending in .png"
        )
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
        raise IsADirectoryError(
            f"{flag} {str(path)!r} is a folder; give a file name (e.g. {str(path / 'results.csv')!r})"
        )
    folder = _nearest_existing(path.parent)
    if not folder.is_dir():
        raise NotADirectoryError(f"{flag} {str(path)!r}: {str(folder)!r} is a file, not a folder")
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".probe-")
    except OSError as e:
        raise OSError(
            e.errno,
            f"{flag} {str(path)!r} cannot be written: folder {str(folder)!r} refuses new files "
            f"({e.strerror or e}); pass another {flag}",
        ) from None
    os.close(fd)
    os.unlink(probe)
    return path


def _write_error(e: OSError, path: Path, what: str, then: str) -> OSError:
    """``e`` (same errno, hence the same OSError subclass) with a message naming ``path``, not a temporary file."""
    kept = f"; the previous {what} is intact" if path.exists() else ""
    space = " free some space and" if e.errno == errno.ENOSPC else ""
    return OSError(
        e.errno, f"could not write {str(path)!r} ({e.strerror or e}){kept};{space} {then}"
    )


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


def _writer_tag() -> str:
    """What a temporary file's name says about its writer: ``pid<PID>@<host>``."""
    return f"pid{os.getpid()}@{socket.gethostname().replace('.', '_')}"


_TEMPORARY = re.compile(r"\.pid(\d+)@([^.]+)\.[^.]+\.tmp$")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Remove the temporary files that :func:`atomic_path` left beside ``path`` in a process that
    was killed (SIGKILL, a power cut) before it could clean up; the removed paths.

    A temporary file's name records its writer's PID and host; one is stale when its writer ran on
    this host and no process of that PID is alive any more. Temporaries of live writers, of other
    hosts (a shared folder) and of other files are left alone.
    """
    path = Path(path)
    host = socket.gethostname().replace(".", "_")
    removed: list[Path] = []
    try:
        candidates = list(path.parent.glob(f".{glob.escape(path.name)}.pid*.tmp"))
    except OSError:
        return removed
    for tmp in candidates:
        match = _TEMPORARY.fullmatch(tmp.name[len(path.name) + 1 :])
        if match is None or match.group(2) != host or _pid_alive(int(match.group(1))):
            continue
        with contextlib.suppress(OSError):
            tmp.unlink()
            removed.append(tmp)
    return removed


@contextlib.contextmanager
def atomic_path(
    path: str | os.PathLike,
    overwrite: bool = True,
    what: str = "file",
    then: str = "run the command again",
) -> Iterator[Path]:
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
        remove_stale_temporaries(path)
        fd, tmp = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.name}.{_writer_tag()}.", suffix=".tmp"
        )
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


MAX_JSON_DEPTH = 64
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


def json_depth(text: str) -> int:
    """How deep the arrays and objects of a JSON text nest (brackets in strings do not count)."""
    depth = deepest = 0
    for char in _JSON_STRING.sub("", text):
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def loads_json(text: str, where: str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``json.loads(text)``, refusing nesting deeper than ``max_depth`` (no file this toolkit writes
    nests more than a few levels; a deeper one would exhaust the parser's recursion).

    Raises:
        ValueError: naming ``where`` (e.g. "episode file 'x.npz'") and the depth; or the parser's
            error for text that is not JSON.
    """
    depth = json_depth(text)
    if depth > max_depth:
        raise ValueError(
            f"{where}: its JSON nests {depth} levels deep, more than the {max_depth} "
            "this toolkit reads (a damaged or hostile file); remake it"
        )
    return json.loads(text)


def write_text_atomic(path: str | os.PathLike, text: str, overwrite: bool = True) -> Path:
    with atomic_path(path, overwrite=overwrite) as tmp:
        tmp.write_text(text)
    return Path(path)


def write_json_atomic(path: str | os.PathLike, obj: Any, overwrite: bool = True) -> Path:
    return write_text_atomic(
        path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n", overwrite
    )


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


def _text_columns(df: pd.DataFrame) -> list:
    return list(df.select_dtypes(include=["object", "string"]).columns)


def write_csv(df: pd.DataFrame, path: str | os.PathLike, overwrite: bool = True) -> Path:
    """Write ``df`` (no index) atomically, with text cells escaped by :func:`csv_escape`."""
    out = df.copy()
    for c in _text_columns(out):
        out[c] = out[c].map(csv_escape)
    with atomic_path(path, overwrite=overwrite) as tmp:
        out.to_csv(tmp, index=False)
    return Path(path)


def read_csv(path: str | os.PathLike, **kwargs: Any) -> pd.DataFrame:
    """A CSV written by :func:`write_csv`, its text cells as they were (``kwargs`` go to ``pandas.read_csv``)."""
    import pandas as pd

    df = pd.read_csv(path, **kwargs)
    for c in _text_columns(df):
        df[c] = df[c].map(csv_unescape)
    return df


class StartGuard:
    """What a folder held before a command started writing into it, to take back what a failed
    start wrote, so that the corrected command needs no ``--force``.

    :meth:`undo` puts each of ``files`` back as it was (removed when it did not exist), removes the
    entries a start added to the sub-folders ``added_to`` (and such a sub-folder when the start
    created it), then the folders the start created (``folder`` and missing parents) when they
    are left empty: a folder shared with other processes keeps what they wrote.

    Args:
        folder: the folder a command writes into.
        files: names of the files in ``folder`` the start may write.
        added_to: names of sub-folders of ``folder`` the start may add files to.
        leave_held: when ``folder`` already holds one of ``files``, :meth:`undo` touches nothing
            (a run folder that holds a run is never changed by a failed start).
    """

    def __init__(
        self,
        folder: str | os.PathLike,
        files: Iterable[str],
        added_to: Iterable[str] = (),
        leave_held: bool = False,
    ):
        self.folder = Path(folder)
        self.created: Optional[Path] = None  # the highest folder the start will create
        for p in (self.folder, *self.folder.parents):
            if p.exists():
                break
            self.created = p
        paths = [self.folder / name for name in files]
        self.untouched = leave_held and any(p.exists() for p in paths)
        self.files = (
            {} if self.untouched else {p: p.read_bytes() if p.is_file() else None for p in paths}
        )
        self.entries = {
            d: set(d.iterdir()) if d.is_dir() else None
            for d in (self.folder / name for name in added_to)
        }

    def undo(self) -> None:
        """Take back what was written since the guard was made (see the class docstring)."""
        if self.untouched or not self.folder.is_dir():  # a file given as the folder: none of ours
            return
        for path, before in self.files.items():
            if before is None:
                path.unlink(missing_ok=True)
            elif not path.is_file() or path.read_bytes() != before:
                with atomic_path(path) as tmp:
                    tmp.write_bytes(before)
        for sub, before in self.entries.items():
            if sub.is_dir():
                for p in set(sub.iterdir()) - (before or set()):
                    p.unlink()
                if before is None and not any(sub.iterdir()):
                    sub.rmdir()
        if self.created is not None:
            for p in (self.folder, *self.folder.parents):
                try:
                    p.rmdir()  # only an empty folder goes
                except OSError:
                    return
                if p == self.created:
                    return
