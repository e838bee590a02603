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

    def __init__(
        self,
        consumer: Any,
        policy: str,
        log: logging.Logger,
        floor: dict[Partition, int] | None = None,
    ) -> None:
        self._consumer = consumer
        self._floor = floor if floor is not None else {}
        self._policy = policy
        self._fallback = policy_offset(policy)
        self._log = log

    def restart(
        self,
        reset: Sequence[Partition],
        in_hand: dict[Partition, int],
        stop: threading.Event,
    ) -> bool:
        """Restart every assigned partition: those with records in hand at their first
        offset (the records are read again), those read before where the loop stands, and
        the rest (the reset ones, and any not read yet) where `_start` says from one stable
        read of the committed offsets, so librdkafka has nothing left to look up (and
        nothing to report again). False (nothing done) when none of `reset` is assigned any
        more: a rebalance took them, and their next owner starts them."""
        assignment: list[TopicPartition] = self._consumer.assignment()
        keys = [(tp.topic, tp.partition) for tp in assignment]
        reported = set(reset)
        if reported.isdisjoint(keys):
            return False
        positions = {
            (tp.topic, tp.partition): tp.offset for tp in self._consumer.position(assignment)
        }
        offsets: dict[Partition, int] = {}
        unresolved: list[Partition] = []
        for key in keys:
            if key in in_hand:
                offsets[key] = in_hand[key]
            elif key not in reported and positions.get(key, -1) >= 0:
                offsets[key] = positions[key]
            else:
                unresolved.append(key)
        committed = self._committed(unresolved, stop)
        for key in unresolved:
            # Never below what this process committed (a broker back from a crash has
            # answered with older offsets).
            known = committed[key]
            floor = self._floor.get(key)
            if floor is not None and (known is None or known < floor):
                known = floor
            offsets[key] = self._start(key, known, reported=key in reported)
        self._consumer.assign([TopicPartition(t, p, offsets[(t, p)]) for t, p in keys])
        return True

    def _start(self, partition: Partition, committed: int | None, *, reported: bool) -> int:
        topic, number = partition
        if committed is not None:
            low, high = self._watermarks(partition)
            if low < 0 or low <= committed <= high:  # unknown bounds: trust the commit
                if reported:
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

    def _committed(
        self, partitions: list[Partition], stop: threading.Event
    ) -> dict[Partition, int | None]:
        """The group's committed offsets (None: never committed), asked until the broker
        answers for each: while another producer's transaction holds them, it waits."""
        found: dict[Partition, int | None] = {}
        wanted = list(partitions)
        while wanted:
            error = ""
            try:
                answers = self._consumer.committed(
                    [TopicPartition(*p) for p in wanted], timeout=COMMITTED_TIMEOUT_SECONDS
                )
                for tp in answers:
                    if tp.error is None:
                        found[(tp.topic, tp.partition)] = tp.offset if tp.offset >= 0 else None
                    else:
                        error = str(tp.error)
                wanted = [p for p in wanted if p not in found]
            except KafkaException as exc:
                error = str(exc.args[0])
            if not wanted:
                break
            if stop.is_set():
                raise FatalKafkaError(
                    "stopping while the committed offsets were unavailable; the next owner "
                    "starts from them"
                )
            self._log.warning(
                "committed offsets unavailable; asking again",
                extra=fields(partitions=len(wanted), error=error),
            )
            stop.wait(RETRY_SECONDS)
        return found

    def _watermarks(self, partition: Partition) -> tuple[int, int]:
        try:
            low, high = self._consumer.get_watermark_offsets(
                TopicPartition(*partition), timeout=COMMITTED_TIMEOUT_SECONDS
            )
            return int(low), int(high)
        except KafkaException:
            return -1, -1
