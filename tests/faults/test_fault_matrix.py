"""The fault matrix of issue 12: every fault under a 4-partition stream, both guarantees.

`make test` runs the reduced matrix: one exactly-once stream that takes every fault once,
in sequence. `make faults` (env
CASHBACK_FAULTS=full) runs every fault as its own cell on >= 100,000 events, for both
guarantees, and writes the table to docs/reliability.md from the verdicts.

Exactly once must show 0 lost, 0 duplicated, the exact payout and each key's order in
every cell; at least once must show 0 lost, every duplicate de-duplicable by its id.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from fault_catalog import (
    broker_clean_restart,
    broker_hard_kill,
    broker_pause,
    dlq_deleted,
    proxy_blackhole,
    proxy_latency,
    proxy_resets,
    worker_kill_in_rebalance,
    worker_zombie,
)
from fault_harness import AT_LEAST_ONCE, EXACTLY_ONCE, Cell, Rig, Verdict
from fault_limits import run_cell_unless_hanging
from fault_report import record
from test_worker_harness import WorkerProcess

from kafka_support import TopicFactory

pytestmark = [pytest.mark.kafka, pytest.mark.faults]

FULL = os.environ.get("CASHBACK_FAULTS", "") == "full"
FULL_EVENTS = 100_000
# A zombie must outlive max.poll.interval.ms; librdkafka wants it >= session.timeout.ms.
ZOMBIE_ARGS = ("--kafka", "max.poll.interval.ms=7000")

Fault = Callable[[Cell], None]
# How far past a step's start the input is let out: enough to be mid-stream when it
# hits, little enough that the stream cannot run past the next step.
SEQUENCE_AHEAD = 0.15

# name -> (fault, extra worker args, instances, dead letters every N events)
CELLS: dict[str, tuple[Fault, tuple[str, ...], int, int]] = {
    # Cheapest first (a broker restart is the slow part), so a run cut short has most rows.
    "proxy +200ms latency": (proxy_latency(0.2, 20), (), 1, 0),
    "proxy connection resets x5": (proxy_resets(5), (), 1, 0),
    "worker SIGKILL during a join": (worker_kill_in_rebalance, (), 1, 0),
    "worker paused past max.poll.interval (zombie)": (worker_zombie(20), ZOMBIE_ARGS, 1, 0),
    "dead-letter topic deleted mid-run": (dlq_deleted(10), (), 1, 50),
    "proxy blackhole 30s": (proxy_blackhole(30), (), 1, 0),
    "broker paused 30s": (broker_pause(30), (), 1, 0),
    "broker clean restart": (broker_clean_restart, (), 1, 0),
    "broker SIGKILL + restart x3": (broker_hard_kill(3), (), 1, 0),
}


def every_fault_once(cell: Cell) -> None:
    """The reduced matrix: each fault once, one after the other, each after progress."""
    steps: list[Fault] = [
        broker_hard_kill(1),
        broker_clean_restart,
        broker_pause(10),
        proxy_latency(0.2, 5),
        proxy_resets(3, 1.0),
        proxy_blackhole(10),
        worker_kill_in_rebalance,
        worker_zombie(10),
        dlq_deleted(5),
    ]
    for number, step in enumerate(steps):
        # A step waits for "20 % progress": here, a little past where the last one ended.
        cell.floor = (number + 1) / (len(steps) + 2)
        cell.scale = 0.05
        cell.release[0] = min(cell.floor + SEQUENCE_AHEAD, 1.0)
        step(cell)
    cell.floor, cell.scale = 0.0, 1.0


def _check(verdict: Verdict) -> None:
    print(verdict.as_dict())
    record(verdict)
    assert verdict.lost == 0, verdict
    if verdict.guarantee == EXACTLY_ONCE:
        assert verdict.duplicated == 0, verdict
        assert verdict.seen_twice_live == 0, verdict
        assert verdict.payout_exact and verdict.order_kept, verdict
    else:
        assert verdict.payout_exact, "de-duplicated by id, the payout must be exact"


# Not strict: exact with every fault mid-stream in 4 of 5 runs on the final code; in the
# fifth (a fresh clone's make test, 2026-12-01 22:30) the stream stalled after a broker
# restart: the worker could not read the committed offsets for 60 s, exited as designed,
# and the group committed nothing more for 180 s (2,601 of 20,400). Issue 12, unexplained
# like the soak's 7-minute stall (docs/reliability.md).
@pytest.mark.skipif(FULL, reason="make faults runs the full matrix instead")
def test_every_fault_once_exactly_once(
    rig: Rig, workers: Callable[..., WorkerProcess], tmp_path: Path
) -> None:
    verdict = run_cell_unless_hanging(
        tmp_path,
        "every fault once, in sequence",
        rig,
        TopicFactory(rig.direct),
        workers,
        every_fault_once,
        events=20_000,
        extra=ZOMBIE_ARGS,
        bad_every=50,
        finish_timeout=180,
        # The input is let out a step ahead of the faults: each one lands mid-stream.
        gated=True,
    )
    _check(verdict)
    late = [i for i, seconds in enumerate(verdict.recovery_seconds) if seconds < 0]
    assert not late, f"faults {late} came after the last accrual: they tested nothing"


@pytest.mark.skipif(not FULL, reason="the full matrix runs with `make faults`")
@pytest.mark.parametrize(
    ("name", "guarantee"),
    # Every exactly-once cell first: they are the contract; at least once is the control.
    [(name, g) for g in (EXACTLY_ONCE, AT_LEAST_ONCE) for name in CELLS],
)
def test_full_matrix(
    rig: Rig, workers: Callable[..., WorkerProcess], tmp_path: Path, name: str, guarantee: str
) -> None:
    fault, extra, instances, bad_every = CELLS[name]
    verdict = run_cell_unless_hanging(
        tmp_path,
        name,
        rig,
        TopicFactory(rig.direct),
        workers,
        fault,
        events=FULL_EVENTS,
        guarantee=guarantee,
        instances=instances,
        extra=extra,
        batch_size=500,
        bad_every=bad_every,
        finish_timeout=300,
    )
    _check(verdict)
