"""Simulated write faults: a full disk and a folder this process may not write to."""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path


def disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def make_unwritable(folder: Path, monkeypatch) -> str:
    """Make ``folder`` refuse new files; returns how (``"chmod"`` or ``"simulated"``).

    chmod 0o555 stops a normal user. It does not stop root (tests run as root here), so when a
    probe still gets through, ``tempfile.mkstemp`` (how every file is written, via a temporary one)
    is made to refuse that folder with EACCES, as the kernel refuses a normal user.
    """
    folder = Path(folder)
    folder.chmod(0o555)
    try:
        fd, probe = tempfile.mkstemp(dir=folder)
    except PermissionError:
        return "chmod"
    os.close(fd)
    os.unlink(probe)
    real = tempfile.mkstemp
    target = folder.resolve()

    def refuse(*args, dir=None, **kwargs):
        if dir is not None and Path(dir).resolve() == target:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(dir))
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    fd_check = None
    try:
        fd_check, probe = tempfile.mkstemp(dir=folder)
    except PermissionError:
        return "simulated"
    finally:
        if fd_check is not None:
            os.close(fd_check)
    raise AssertionError(f"could not make {folder} unwritable")
