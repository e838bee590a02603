"""Process bookkeeping by pid: alive, still our broker, stop, signal."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path
from typing import Final

DEFAULT_STOP_TIMEOUT: Final = 30.0


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    with contextlib.suppress(OSError):
        # "pid (comm) STATE ..." -- a zombie has exited even though kill(0) succeeds.
        if stat.read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return False
    return True


def pid_runs_broker(pid: int, workdir: Path) -> bool:
    """Whether ``pid`` is still our broker (guards against a recycled pid)."""
    cmdline = Path(f"/proc/{pid}/cmdline")
    if not cmdline.parent.exists():
        return pid_alive(pid)  # no /proc: trust the pid file
    try:
        args = cmdline.read_bytes().split(b"\0")
    except OSError:
        return False
    return b"kafka.Kafka" in args and any(str(workdir).encode() in arg for arg in args)


def stop_pid(pid: int, timeout: float = DEFAULT_STOP_TIMEOUT) -> None:
    """SIGTERM ``pid``, wait up to ``timeout`` seconds for it to exit, then SIGKILL it."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() >= deadline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            kill_deadline = time.monotonic() + 10
            while pid_alive(pid) and time.monotonic() < kill_deadline:
                time.sleep(0.05)
            return
        time.sleep(0.05)


def kill_pid(pid: int, timeout: float = 10.0) -> None:
    """SIGKILL ``pid`` and wait until it is gone (a stopped process dies too)."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)


def signal_pid(pid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)
