"""Where a partition starts when librdkafka would fall back to `auto.offset.reset`.

The worker's consumer runs with `auto.offset.reset=error`: librdkafka then reports a
partition it has no start offset for (`_AUTO_OFFSET_RESET`) instead of jumping to the
earliest or latest offset on its own. A jump is what an exactly-once worker must never do
by accident: librdkafka (2.16, `rd_kafka_assignment_apply_offsets`) starts a partition
with no offset when a committed-offset request that waited on another producer's open
transaction (UNSTABLE_OFFSET_COMMIT) is answered after the assignment changed, and the
earliest offset then meant pricing a partition's whole history again (seen in the
every-fault sequence: 10,072 accruals written twice; docs/reliability.md).

Here the worker decides instead, from its own read of the group's committed offsets
(stable: the read waits out pending transactions): the committed offset if there is one;
only a partition the group never committed starts at the operator's policy. A committed
offset the broker cannot serve (deleted by retention, or a topic created again) is
reported, then the policy applies.

Restarting a stopped partition needs `assign()` (seek refuses it, and the group uses the
eager protocol); the records of this poll are given back rather than processed, and every
assigned partition is restarted where the loop stands, so nothing is skipped or repeated.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any, Final

from confluent_kafka import (
    OFFSET_BEGINNING,
    OFFSET_END,
    OFFSET_STORED,
    KafkaError,
    KafkaException,
    TopicPartition,
)

from cashback.runtime.clients import FatalKafkaError
from cashback.runtime.logs import fields

COMMITTED_TIMEOUT_SECONDS: Final = 5.0
RETRY_SECONDS: Final = 0.5

# librdkafka's names for the two directions (it accepts all of them).
_EARLIEST: Final = frozenset({"earliest", "smallest", "beginning"})
_LATEST: Final = frozenset({"latest", "largest", "end"})

Partition = tuple[str, int]


def policy_offset(policy: str) -> int | None:
    """The logical offset for `auto.offset.reset=policy`; None for `error`."""
    name = policy.strip().lower()
    if name in _EARLIEST:
        return int(OFFSET_BEGINNING)
    if name in _LATEST:
        return int(OFFSET_END)
    if name == "error":
        return None
    raise ValueError(f"auto.offset.reset={policy!r} is not earliest, latest or error")


def is_reset(error: Any) -> bool:
    return bool(error.code() == KafkaError._AUTO_OFFSET_RESET)


class StartOffsets:
    """Resolves the partitions librdkafka reported without a start offset."""

    def __init__(self, consumer: Any, policy: str, log: logging.Logger) -> None:
        self._consumer = consumer
        self._policy = policy
        self._fallback = policy_offset(policy)
        self._log = log

    def restart(
        self,
        reset: Sequence[Partition],
        in_hand: dict[Partition, int],
        stop: threading.Event,
    ) -> bool:
        """Restart every assigned partition: the reset ones where `_start` says, those with
        records in hand at their first offset (those records are read again), the others
        where the loop stands. False (nothing done) when none of `reset` is assigned any
        more: a rebalance took them, and their next owner starts them."""
        assignment: list[TopicPartition] = self._consumer.assignment()
        assigned = {(tp.topic, tp.partition) for tp in assignment}
        wanted = [partition for partition in dict.fromkeys(reset) if partition in assigned]
        if not wanted:
            return False
        starts = {partition: self._start(partition, stop) for partition in wanted}
        positions = {
            (tp.topic, tp.partition): tp.offset for tp in self._consumer.position(assignment)
        }
        plan = []
        for tp in assignment:
            key = (tp.topic, tp.partition)
            if key in starts:
                offset = starts[key]
            elif key in in_hand:
                offset = in_hand[key]
            else:
                at = positions.get(key, -1)
                offset = at if at >= 0 else int(OFFSET_STORED)  # not read yet: committed
            plan.append(TopicPartition(tp.topic, tp.partition, offset))
        self._consumer.assign(plan)
        return True

    def _start(self, partition: Partition, stop: threading.Event) -> int:
        committed = self._committed(partition, stop)
        topic, number = partition
        if committed is not None:
            low, high = self._watermarks(partition)
            if low < 0 or low <= committed <= high:  # unknown bounds: trust the commit
                self._log.warning(
                    "partition restarted at its committed offset (the client had none)",
                    extra=fields(topic=topic, partition=number, offset=committed),
                )
                return committed
        if self._fallback is None:
            raise FatalKafkaError(
                f"{topic}[{number}] has no usable committed offset and auto.offset.reset is "
                "error: set it to earliest or latest, or commit a start offset for the group"
            )
        if committed is None:
            self._log.info(
                "partition never committed by the group; starting at auto.offset.reset",
                extra=fields(topic=topic, partition=number, policy=self._policy),
            )
        else:
            self._log.error(
                "committed offset not on the broker (deleted by retention, or the topic was "
                "created again); starting at auto.offset.reset",
                extra=fields(
                    topic=topic,
                    partition=number,
                    committed=committed,
                    log_start=low,
                    log_end=high,
                    policy=self._policy,
                ),
            )
        return self._fallback

    def _committed(self, partition: Partition, stop: threading.Event) -> int | None:
        """The group's committed offset (None: never committed), asked until the broker
        answers: while another producer's transaction holds the offsets, it waits."""
        wanted = [TopicPartition(*partition)]
        while True:
            try:
                (found,) = self._consumer.committed(wanted, timeout=COMMITTED_TIMEOUT_SECONDS)
                if found.error is None:
                    return int(found.offset) if found.offset >= 0 else None
                error = str(found.error)
            except KafkaException as exc:
                error = str(exc.args[0])
            if stop.is_set():
                raise FatalKafkaError(
                    "stopping while the committed offsets were unavailable; the next owner "
                    "starts from them"
                )
            self._log.warning(
                "committed offset unavailable; asking again",
                extra=fields(topic=partition[0], partition=partition[1], error=error),
            )
            stop.wait(RETRY_SECONDS)

    def _watermarks(self, partition: Partition) -> tuple[int, int]:
        try:
            low, high = self._consumer.get_watermark_offsets(
                TopicPartition(*partition), timeout=COMMITTED_TIMEOUT_SECONDS
            )
            return int(low), int(high)
        except KafkaException:
            return -1, -1
