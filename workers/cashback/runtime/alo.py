"""At least once: write the batch, wait until every record is acknowledged, then commit.

A crash between the acknowledgements and the offset commit makes the next owner write
some outputs again; they are byte-for-byte the same records with the same
deterministic ids, so consumers de-duplicate by `accrual_id` / `notification_id`.
A record that cannot be delivered (a dead letter included) fails the whole batch, which
is read again: nothing is skipped.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

from confluent_kafka import KafkaError, KafkaException

from cashback.runtime.batch import Request
from cashback.runtime.clients import FatalKafkaError
from cashback.runtime.delivery import RetryBatch, produce_all
from cashback.runtime.logs import fields
from cashback.runtime.metrics import Metrics


class AtLeastOnceDelivery:
    def __init__(
        self,
        producer: Any,
        consumer: Any,
        metrics: Metrics,
        log: logging.Logger,
        *,
        timeout: float = 30.0,
    ) -> None:
        self._producer = producer
        self._consumer = consumer
        self._metrics = metrics
        self._log = log
        self._timeout = timeout

    def start(self, stop: threading.Event) -> None:
        """Nothing to prepare: the idempotent producer gets its id on first use."""

    def write(self, requests: Sequence[Request]) -> Sequence[Any]:
        failed: list[Any] = []

        def on_delivery(error: Any, _message: Any) -> None:
            if error is not None:
                failed.append(error)

        try:
            produce_all(self._producer, requests, on_delivery)
        except KafkaException as exc:
            # Refused before it left (an unknown topic, a record too large): read the batch
            # again; what was already queued may be written twice, with the same bytes.
            error = exc.args[0]
            if error.fatal():
                raise FatalKafkaError(f"idempotent producer failed: {error}") from exc
            self._producer.flush(self._timeout)
            raise RetryBatch(error.name()) from exc
        in_flight = self._producer.flush(self._timeout)
        if any(error.fatal() for error in failed):
            fatal = next(error for error in failed if error.fatal())
            raise FatalKafkaError(f"idempotent producer failed: {fatal}")
        if failed or in_flight:
            raise RetryBatch(failed[0].name() if failed else "_TIMED_OUT")
        return self._commit()

    def _commit(self) -> list[Any]:
        positions = [
            tp for tp in self._consumer.position(self._consumer.assignment()) if tp.offset >= 0
        ]
        if not positions:
            return []
        try:
            self._consumer.commit(offsets=positions, asynchronous=False)
            self._metrics.show_committed(positions)
            return positions
        except KafkaException as exc:
            # The outputs are written; the next commit covers these offsets, and if the
            # partitions moved, their new owner repeats some identical outputs.
            error = exc.args[0]
            if error.code() != KafkaError._NO_OFFSET:
                self._metrics.count_kafka_error(error.name())
                self._log.warning("offset commit failed", extra=fields(error=str(error)))
            return []

    def abandon(self) -> None:
        """Nothing is pending between batches: each batch commits before the next poll."""

    def close(self) -> None:
        self._producer.flush(self._timeout)
