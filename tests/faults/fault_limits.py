"""Known limits of the broker under the faults, told apart from the worker's own failures.

One so far (docs/reliability.md, "A hanging transaction"): Kafka 4.4.0 restarted while a
transaction is in PrepareCommit can complete it without writing its commit markers. Its
controller fences the broker's previous incarnation first, every partition whose only
replica is on that broker has leader -1 for about a second, and the transaction
coordinator skips the markers of partitions without a leader as "likely deleted". The
transaction then stays open on those partitions for good, and no client can end it.

A cell counts as stalled by that limit, not failed, only when both sides say so: the
broker logged the skipped markers during the cell, and a worker logged that its
partitions wait on offsets held by an open transaction (runtime/held_offsets.py).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from fault_harness import EXACTLY_ONCE, Rig, Verdict, run_cell
from fault_report import record_stall

BROKER_LINE = "likely deleted already and hence can be skipped"
WORKER_LINE = "held by an open transaction"
HANGING = (
    "known broker limit (issue 12, docs/reliability.md 'A hanging transaction'): Kafka 4.4.0 "
    "restarted with a transaction in PrepareCommit skipped its commit markers for partitions "
    "that had no leader while the broker re-registered (KAFKA-20734), so the transaction "
    "hangs and the group's offsets cannot be read; the worker reported it"
)


def _first(lines: list[str], needle: str) -> str | None:
    return next((line[:300] for line in lines if needle in line), None)


def _worker_lines(log_dir: Path) -> list[str]:
    lines: list[str] = []
    for log in sorted(log_dir.glob("worker-*.log")):
        lines.extend(log.read_text(errors="replace").splitlines())
    return lines


def run_cell_unless_hanging(
    log_dir: Path, name: str, rig: Rig, *args: Any, **kwargs: Any
) -> Verdict:
    """run_cell; a cell that fails because of the limit above is an expected failure with
    what the broker and the worker said, and the report gets a row saying so."""
    broker_log = rig.broker.log_path
    seen = broker_log.stat().st_size if broker_log.exists() else 0
    started = time.monotonic()
    try:
        return run_cell(name, rig, *args, **kwargs)
    except AssertionError as exc:
        with broker_log.open("rb") as log:
            log.seek(seen)
            broker_said = _first(log.read().decode(errors="replace").splitlines(), BROKER_LINE)
        worker_said = _first(_worker_lines(log_dir), WORKER_LINE)
        if broker_said is None or worker_said is None:
            raise
        record_stall(
            name,
            kwargs.get("guarantee", EXACTLY_ONCE),
            kwargs["events"],
            "a hanging transaction left by the broker (its markers skipped), reported by "
            f"the worker; the cell then failed: {exc}",
            time.monotonic() - started,
        )
        pytest.xfail(f"{HANGING}; {exc}; broker: {broker_said}; worker: {worker_said}")
