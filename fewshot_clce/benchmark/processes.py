"""The child processes of a benchmark's driver: they die with it, stop with it on Ctrl-C when they
are its own trainings, and keep running through it when they are jobs it hands to submitit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Optional


def die_with_parent() -> Optional[Callable[[], None]]:
    """A ``preexec_fn`` that makes a child process die with this one (Linux ``PR_SET_PDEATHSIG``):
    a killed driver leaves no training running beside the one its re-run starts. None elsewhere
    (there the run folder's lock refuses a second training of one folder)."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None
    parent = os.getpid()

    def arm() -> None:
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # 1: PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the driver died before the signal was armed
            os._exit(1)

    return arm


def reap(processes: list[subprocess.Popen], grace_s: float = 10.0) -> None:
    """Wait for interrupted processes to exit; terminate those still running after ``grace_s``."""
    deadline = time.monotonic() + grace_s
    for p in processes:
        try:
            p.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.terminate()
            p.wait()


@contextmanager
def ignoring_ctrl_c() -> Iterator[None]:
    """Processes started inside ignore SIGINT, so that Ctrl-C in this terminal leaves them running.

    A child inherits an ignored SIGINT, and a Python child keeps it ignored (it installs its
    KeyboardInterrupt handler only over the default). They still stop on SIGTERM (``kill PID``).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)
