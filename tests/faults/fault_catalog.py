"""The faults of the matrix, each a function of a running :class:`fault_harness.Cell`.

Every one waits for real progress first (the group's committed offsets, not a timer),
so a fault always lands mid-stream, inside or between transactions.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from fault_harness import BROKER_TIMEOUT, Cell

from cashback.runtime.topics import TopicError, TopicSpec, create_topics

BROKER_DOWN_SECONDS = 3.0
PAUSE_SECONDS = 30.0
BLACKHOLE_SECONDS = 30.0
LATENCY_SECONDS = 0.2


def broker_hard_kill(rounds: int = 3, down: float = BROKER_DOWN_SECONDS) -> Callable[[Cell], None]:
    """SIGKILL the broker and start it again on the same data, `rounds` times, each after
    a further >= 20 % of the stream was committed."""

    def fault(cell: Cell) -> None:
        for round_ in range(rounds):
            cell.wait_progress(0.2 * (round_ + 1))
            with cell.fault(f"broker SIGKILL {round_ + 1}"):
                cell.rig.broker.kill()
                time.sleep(down)
                cell.rig.broker.restart(BROKER_TIMEOUT)

    return fault


def broker_clean_restart(cell: Cell) -> None:
    cell.wait_progress(0.2)
    with cell.fault("broker SIGTERM + start"):
        cell.rig.broker.stop()
        cell.rig.broker.restart(BROKER_TIMEOUT)


def broker_pause(seconds: float = PAUSE_SECONDS) -> Callable[[Cell], None]:
    def fault(cell: Cell) -> None:
        cell.wait_progress(0.2)
        with cell.fault(f"broker SIGSTOP {seconds:.0f}s"):
            cell.rig.broker.pause()
            time.sleep(seconds)
            cell.rig.broker.resume()

    return fault


def proxy_latency(seconds: float = LATENCY_SECONDS, hold: float = 15.0) -> Callable[[Cell], None]:
    def fault(cell: Cell) -> None:
        cell.wait_progress(0.2)
        with cell.fault(f"+{seconds * 1000:.0f} ms latency"):
            cell.rig.proxy.latency(seconds)
            time.sleep(hold)
            cell.rig.proxy.latency(0)

    return fault


def proxy_resets(times: int = 5, every: float = 1.5) -> Callable[[Cell], None]:
    """RST every worker connection `times` times while transactions are in flight."""

    def fault(cell: Cell) -> None:
        cell.wait_progress(0.2)
        with cell.fault(f"connections reset x{times}"):
            for _ in range(times):
                cell.rig.proxy.reset()
                time.sleep(every)

    return fault


def proxy_blackhole(seconds: float = BLACKHOLE_SECONDS) -> Callable[[Cell], None]:
    def fault(cell: Cell) -> None:
        cell.wait_progress(0.2)
        with cell.fault(f"blackhole {seconds:.0f}s"):
            cell.rig.proxy.blackhole(True)
            time.sleep(seconds)
            cell.rig.proxy.blackhole(False)

    return fault


def worker_kill_in_rebalance(cell: Cell) -> None:
    """A second instance joins; while the group rebalances, SIGKILL the first one."""
    cell.wait_progress(0.2)
    first = cell.supervisor.running[0]
    with cell.fault("SIGKILL during a join"):
        cell.supervisor.add()
        time.sleep(1.0)  # the join is under way: the group is rebalancing
        cell.supervisor.forget(first)
        first.kill()


def worker_zombie(pause: float = 20.0) -> Callable[[Cell], None]:
    """SIGSTOP the worker past max.poll.interval.ms (set short by the cell), let a second
    instance take its partitions, then SIGCONT it: it must be fenced, not write twice."""

    def fault(cell: Cell) -> None:
        cell.wait_progress(0.2)
        first = cell.supervisor.running[0]
        assert first.proc is not None
        with cell.fault(f"worker SIGSTOP {pause:.0f}s"):
            cell.supervisor.add()
            first.proc.send_signal(signal.SIGSTOP)
            time.sleep(pause)
            first.proc.send_signal(signal.SIGCONT)

    return fault


def dlq_deleted(hold: float = 10.0) -> Callable[[Cell], None]:
    """Delete the dead-letter topic mid-run and create it again `hold` seconds later."""

    def fault(cell: Cell) -> None:
        cell.wait_progress(0.2)
        admin = AdminClient({"bootstrap.servers": cell.rig.direct})
        with cell.fault(f"dead-letter topic deleted {hold:.0f}s"):
            admin.delete_topics([cell.topics.dlq])[cell.topics.dlq].result(30)
            # What was committed by now wrote its dead letters to the deleted topic.
            time.sleep(2)
            cell.dlq_floor = cell.committed_by_partition()
            time.sleep(max(hold - 2, 0))
            spec = TopicSpec(cell.topics.dlq, 4)
            deadline = time.monotonic() + 60
            while True:  # the delete finishes in the background; create when it has
                try:
                    create_topics({"bootstrap.servers": cell.rig.direct}, [spec])
                    break
                except (KafkaException, TopicError):
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(1)

    return fault
