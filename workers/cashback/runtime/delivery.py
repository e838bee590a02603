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

from cashback.runtime.batch import ProduceRequest

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

    def write(self, requests: Sequence[ProduceRequest]) -> None:
        """Write the batch and commit the consumer's positions with (or after) it."""

    def abandon(self) -> None:
        """Partitions are being revoked or were lost: drop anything not yet committed."""

    def close(self) -> None:
        """Deliver or drop what is in flight and release the producer."""


def produce_all(
    producer: Any,
    requests: Sequence[ProduceRequest],
    on_delivery: Callable[[Any, Any], None] | None = None,
) -> None:
    """Queue every request; when the local queue is full, serve deliveries and try again."""
    for request in requests:
        while True:
            try:
                producer.produce(
                    request.topic,
                    value=request.value,
                    key=request.key,
                    headers=request.headers,
                    on_delivery=on_delivery,
                )
                break
            except BufferError:
                producer.poll(BUFFER_WAIT_SECONDS)
