"""The lock of a folder that processes share (a run folder, a benchmark folder): a second writer
is refused with the name of the first, and a lock left by a killed process locks nothing."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Optional

LOCK_NAME = ".fewshot-clce.lock"


class FolderInUseError(OSError):
    """A folder is locked by a live process (the message names it); an OSError, so that the CLI
    prints it as one line."""


def _lock_holder(lock_path: Path) -> str:
    try:
        info = json.loads(lock_path.read_text())
        return (
            f"PID {info['pid']} on host {info['host']}, started {info['started']}"
            f"{', command: ' + info['command'] if info.get('command') else ''}"
        )
    except (OSError, ValueError, KeyError, TypeError):
        return "a process that has not yet written its name"


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike, what: str, fix: str) -> Iterator[Optional[Path]]:
    """Hold ``folder`` for this process while the block runs (an OS lock: ``flock`` on the file
    ``LOCK_NAME`` in it, which names the holder's PID, host and start time).

    The OS releases the lock when its process ends, however it ends: a lock file left by a killed
    process locks nothing. The folder (and its missing parents) is created if needed; on release
    the lock file is removed, and so are the folders created here if nothing else was put in them.
    Where the OS has no ``fcntl`` (Windows), or ``folder`` is a file (the caller reports that),
    nothing is locked.

    Args:
        what: the folder's kind in messages ("benchmark folder").
        fix: what the refused command can do instead ("use another --out").

    Raises:
        FolderInUseError: another live process holds the folder; the message names its PID, host
            and start time.
    """
    try:
        import fcntl
    except ImportError:
        yield None
        return
    folder = Path(folder).expanduser()
    if folder.exists() and not folder.is_dir():
        yield None
        return
    created = [p for p in (folder, *folder.parents) if not p.exists()]
    lock_path = folder / LOCK_NAME
    try:
        folder.mkdir(parents=True, exist_ok=True)
        os.close(os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666))
    except OSError:  # a folder that cannot be written: the command's own write reports it
        yield None
        return
    while True:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            holder = _lock_holder(lock_path)
            raise FolderInUseError(
                f"{what} {str(folder)!r} is in use by {holder}; wait for that "
                f"process to end (or stop it), or {fix}"
            ) from None
        # the holder before us may have removed the file after we opened it: lock the current one
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(lock_path))
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "command": " ".join(sys.argv)[:300],
        }
        os.ftruncate(fd, 0)
        os.write(fd, (json.dumps(info) + "\n").encode())
        yield lock_path
    finally:
        with contextlib.suppress(OSError):
            lock_path.unlink()
        os.close(fd)
        for p in created:
            with contextlib.suppress(OSError):
                p.rmdir()  # only an empty folder goes


def is_lock_file(path: Path) -> bool:
    """Whether ``path`` is a :func:`folder_lock` file (not content of the folder)."""
    return Path(path).name == LOCK_NAME
