"""Saying why a partition does not start: its committed offset is held by a transaction.

The worker reads committed (isolation.level=read_committed), so librdkafka asks for the
group's committed offsets as *stable* (KIP-447): while a transaction that carries offsets
for the group is open, the broker answers UNSTABLE_OFFSET_COMMIT and librdkafka asks again,
silently, until the answer changes. That normally lasts until the transaction ends, at
most `transaction.timeout.ms` (a crashed instance's). A broker that lost a transaction's
markers in a crash leaves it open for good (a hanging transaction, seen with Kafka 4.4.0:
docs/reliability.md, "A hanging transaction"), and the partitions it holds never start:
the worker polled on, and nothing said why.

This watch runs on its own thread so the loop never waits for it. The loop hands it, now
and then, the assigned partitions that have no position yet (or that a rewind wants the
committed offsets of). When some stay so for `patience` seconds, the watch asks for their
committed offsets twice: stable, as the consumer does, and not stable. The second answers
while the first does not: the offsets are held by an open transaction. It says so (a
warning, then an error once the hold outlasts any transaction timeout, with what an
operator does about it) and counts UNSTABLE_OFFSET_COMMIT in cashback_kafka_errors_total,
once per check, so the Kafka-errors alert and panel show it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Final

from confluent_kafka import KafkaException, TopicPartition

from cashback.runtime.logs import fields
from cashback.runtime.metrics import Metrics

CHECK_SECONDS: Final = 10.0
PATIENCE_SECONDS: Final = 20.0
ASK_TIMEOUT_SECONDS: Final = 5.0
# librdkafka's default transaction.timeout.ms is 60 s; the broker aborts a transaction
# that outlives it within transaction.abort.timed.out.transaction.cleanup.interval.ms
# (10 s by default). A partition that has waited longer than this for its committed
# offset is not waiting on any transaction's timeout.
HANGING_SECONDS: Final = 90.0
HELD: Final = "UNSTABLE_OFFSET_COMMIT"
RUNBOOK: Final = "docs/runbook.md#a-hanging-transaction"

Partition = tuple[str, int]


def can_read_committed(client: Any, partitions: Sequence[Partition], timeout: float) -> bool:
    """Whether `client` can read the committed offsets of `partitions` within `timeout`."""
    try:
        client.committed([TopicPartition(t, p) for t, p in partitions], timeout=timeout)
    except KafkaException:
        return False
    return True


class HeldOffsets:
    """See the module docstring. `make_probe(stable)` builds a consumer of the worker's
    group that never joins it (isolation.level read_committed when `stable`)."""

    def __init__(
        self,
        make_probe: Callable[[bool], Any],
        metrics: Metrics,
        log: logging.Logger,
        *,
        check_seconds: float = CHECK_SECONDS,
        patience_seconds: float = PATIENCE_SECONDS,
        ask_timeout: float = ASK_TIMEOUT_SECONDS,
        hanging_seconds: float = HANGING_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._make_probe = make_probe
        self._metrics = metrics
        self._log = log
        self._check = check_seconds
        self._patience = patience_seconds
        self._ask_timeout = ask_timeout
        self._hanging = hanging_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._waiting: dict[Partition, float] = {}  # partition -> since when, loop's view
        self._probes: dict[bool, Any] = {}
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.diagnosis: str | None = None  # the last finding, for an exit message

    # ------------------------------------------------------------- the loop's side

    def waiting(self, partitions: Sequence[Partition]) -> None:
        """The partitions that have no start yet, as the loop sees them now (cheap: no
        client call; an empty list clears)."""
        now = self._clock()
        with self._lock:
            self._waiting = {key: self._waiting.get(key, now) for key in partitions}
        if partitions and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="held-offsets", daemon=True)
            self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self._ask_timeout * 2 + 1)
        for probe in self._probes.values():
            with contextlib.suppress(KafkaException, RuntimeError):
                probe.close()
        self._probes.clear()

    # ------------------------------------------------------------ the watch's side

    def _run(self) -> None:
        while not self._stop.wait(self._check):
            self.check_once()

    def check_once(self) -> bool | None:
        """One look: True if offsets are held by a transaction, False if they could be
        read, None when nothing has waited long enough to ask."""
        now = self._clock()
        with self._lock:
            since = {k: t for k, t in self._waiting.items() if now - t >= self._patience}
        if not since:
            return None
        overdue = sorted(since)
        if can_read_committed(self._probe(True), overdue, self._ask_timeout):
            return False  # readable: an idle partition, or librdkafka about to start it
        if not can_read_committed(self._probe(False), overdue, self._ask_timeout):
            return None  # the group coordinator itself does not answer: client errors say why
        held_for = now - min(since.values())
        self._metrics.count_kafka_error(HELD)
        names = [f"{topic}[{partition}]" for topic, partition in overdue]
        if held_for < self._hanging:
            self.diagnosis = (
                "the group's committed offsets are held by an open transaction "
                f"({HELD}) for {held_for:.0f}s"
            )
            self._log.warning(
                "partitions wait for their committed offsets: held by an open transaction",
                extra=fields(partitions=names, seconds=round(held_for)),
            )
        else:
            self.diagnosis = (
                f"the group's committed offsets have been held by an open transaction for "
                f"{held_for:.0f}s, longer than any transaction timeout: a hanging transaction "
                f"on the broker; an operator must abort it ({RUNBOOK})"
            )
            self._log.error(
                "partitions cannot start: their committed offsets are held by a hanging "
                f"transaction on the broker; abort it (see {RUNBOOK})",
                extra=fields(partitions=names, seconds=round(held_for)),
            )
        return True

    def _probe(self, stable: bool) -> Any:
        if stable not in self._probes:
            self._probes[stable] = self._make_probe(stable)
        return self._probes[stable]
