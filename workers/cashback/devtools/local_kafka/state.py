"""What ``up`` records in ``<repo>/.kafka/``: the bootstrap, the pid, the data directory.

The seam for client settings: :func:`write_state` writes ``bootstrap``; a broker mode
that needs client properties (credentials, a CA) writes its files next to it.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from cashback.devtools.local_kafka.broker import LocalBroker
from cashback.devtools.local_kafka.locations import state_dir
from cashback.devtools.local_kafka.pids import pid_alive, pid_runs_broker

_NAMES = ("bootstrap", "pid", "workdir")


@dataclass(frozen=True)
class BrokerState:
    """What ``up`` recorded in ``.kafka/``."""

    bootstrap: str
    pid: int
    workdir: Path

    def is_running(self) -> bool:
        return pid_alive(self.pid) and pid_runs_broker(self.pid, self.workdir)


def read_state(directory: Path | None = None) -> BrokerState | None:
    """The broker recorded by ``up``, or None when there is no (readable) record."""
    directory = directory or state_dir()
    try:
        bootstrap = (directory / "bootstrap").read_text().strip()
        pid = int((directory / "pid").read_text().strip())
        workdir = Path((directory / "workdir").read_text().strip())
    except (OSError, ValueError):
        return None
    return BrokerState(bootstrap=bootstrap, pid=pid, workdir=workdir)


def running_bootstrap() -> str | None:
    """Bootstrap address of the broker started by ``up`` if it is still running."""
    state = read_state()
    return state.bootstrap if state is not None and state.is_running() else None


def write_state(directory: Path, broker: LocalBroker) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, value in (
        ("workdir", str(broker.workdir)),
        ("pid", str(broker.pid)),
        ("bootstrap", broker.bootstrap),
    ):
        tmp = directory / f".{name}.tmp"
        tmp.write_text(value + "\n")
        tmp.replace(directory / name)


def clear_state(directory: Path, state: BrokerState | None) -> None:
    for name in _NAMES:
        (directory / name).unlink(missing_ok=True)
    if state is not None and state.workdir.parent == directory:
        shutil.rmtree(state.workdir, ignore_errors=True)
