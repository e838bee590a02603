"""What a delivery strategy does with a priced batch, and the outcomes it can report.

Two strategies implement `Delivery`: `eos.TransactionalDelivery` (outputs and input
offsets in one transaction) and `alo.AtLeastOnceDelivery` (outputs acknowledged, then
offsets committed). Either way a batch ends in one of three states: written and
committed (returns), not written so it must be read again (`RetryBatch`), or the client
is unusable (`clients.FatalKafkaError`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from cashback.runtime.batch import Request

BUFFER_WAIT_SECONDS = 0.1


class RetryBatch(Exception):  # noqa: N818 - an instruction to the loop, not a failure
    """Nothing of the batch counts; rewind to the committed offsets and process it again.

    ``settled`` is False when the attempt's outcome was unknown to this client (a commit
    cut off mid-way, settled since by a new producer): the rewind must then go to the
    group's committed offsets and may not fall back to the batch's first offsets."""

    def __init__(self, error: str, *, settled: bool = True) -> None:
        super().__init__(error)
        self.error = error
        self.settled = settled


class Delivery(Protocol):
    def start(self, stop: threading.Event) -> None:
        """Get ready to write (e.g. init transactions); may block until the broker answers."""

    def write(self, requests: Sequence[Request]) -> Sequence[Any]:
        """Write the batch and commit the consumer's positions with (or after) it; returns
        the positions committed (TopicPartitions; none if the offset commit failed)."""

    def abandon(self) -> None:
        """Partitions are being revoked or were lost: drop anything not yet committed."""

    def close(self) -> None:
        """Deliver or drop what is in flight and release the producer."""


def produce_all(
    producer: Any,
    requests: Sequence[Request],
    on_delivery: Callable[[Any, Any], None] | None = None,
) -> None:
    """Queue every request; when the local queue is full, serve deliveries and try again.

    The one Python step left per output: one `produce` call, nothing else (a full queue
    is the rare case, handled out of line)."""
    produce = producer.produce
    if on_delivery is None:
        for topic, key, value, headers in requests:
            try:
                produce(topic, value, key, headers=headers)
            except BufferError:
                _when_room(producer, (topic, key, value, headers), None)
        return
    for topic, key, value, headers in requests:
        try:
            produce(topic, value, key, headers=headers, on_delivery=on_delivery)
        except BufferError:
            _when_room(producer, (topic, key, value, headers), on_delivery)


def _when_room(
    producer: Any, request: Request, on_delivery: Callable[[Any, Any], None] | None
) -> None:
    """Serve deliveries until the local queue takes the record."""
    topic, key, value, headers = request
    while True:
        producer.poll(BUFFER_WAIT_SECONDS)
        try:
            producer.produce(topic, value, key, headers=headers, on_delivery=on_delivery)
            return
        except BufferError:
            continue
