"""Exactly once: each batch's outputs, dead letters and input offsets in one transaction.

Why the offsets go through the transaction: a read_committed reader sees the outputs
exactly when the group's committed position moves past their inputs, so a crash at any
point either shows both (the batch is done) or neither (the next owner reprocesses it
and the aborted attempt stays invisible). The offsets carry the consumer's group
metadata (KIP-447): a zombie that lost its partitions in a rebalance cannot commit them,
whatever its transactional.id.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Final, NoReturn

from confluent_kafka import KafkaException

from cashback.runtime.batch import ProduceRequest
from cashback.runtime.clients import FatalKafkaError, is_fenced
from cashback.runtime.delivery import RetryBatch, produce_all
from cashback.runtime.logs import fields
from cashback.runtime.metrics import ABORTED, COMMITTED, Metrics

ATTEMPTS: Final = 5
BACKOFF_SECONDS: Final = 0.2


class TransactionalDelivery:
    def __init__(
        self,
        producer: Any,
        consumer: Any,
        metrics: Metrics,
        log: logging.Logger,
        *,
        transactional_id: str,
        timeout: float = 30.0,
    ) -> None:
        self._producer = producer
        self._consumer = consumer
        self._metrics = metrics
        self._log = log
        self._transactional_id = transactional_id
        self._timeout = timeout
        self._open = False

    def start(self, stop: threading.Event) -> None:
        """Register the transactional.id; this also aborts what a crashed predecessor with
        the same id left open, so its partitions' readers are not blocked until timeout."""
        while True:
            try:
                self._producer.init_transactions(self._timeout)
                return
            except KafkaException as exc:
                error = exc.args[0]
                if not error.retriable() or error.fatal():
                    raise FatalKafkaError(self._explain(error)) from exc
                if stop.is_set():
                    return  # asked to stop while waiting: the loop will not start
                self._log.warning("init_transactions retrying", extra=fields(error=str(error)))

    def write(self, requests: Sequence[ProduceRequest]) -> None:
        try:
            self._producer.begin_transaction()
            self._open = True
        except KafkaException as exc:
            self._fail(exc.args[0], exc)
        try:
            produce_all(self._producer, requests)
        except KafkaException as exc:
            # Refused before it left (an unknown topic, a record too large): the record,
            # not the transaction, is at fault. Drop the attempt and try the batch again.
            error = exc.args[0]
            if error.fatal() or is_fenced(error):
                raise FatalKafkaError(self._explain(error)) from exc
            self._abort()
            raise RetryBatch(error.name()) from exc
        try:
            # The position is the next offset to read: everything handed to us is in here.
            positions = self._consumer.position(self._consumer.assignment())
            group = self._consumer.consumer_group_metadata()
            self._retrying(
                lambda: self._producer.send_offsets_to_transaction(positions, group, self._timeout)
            )
            self._retrying(lambda: self._producer.commit_transaction(self._timeout))
            self._open = False
        except KafkaException as exc:
            self._fail(exc.args[0], exc)
        self._metrics.count_transaction(COMMITTED)
        self._metrics.show_committed(positions)

    def _fail(self, error: Any, exc: KafkaException) -> NoReturn:
        """A transaction call failed: abort and retry the batch if the client says the
        transaction can be abandoned or the call retried; otherwise this producer is done."""
        if error.fatal() or is_fenced(error):
            raise FatalKafkaError(self._explain(error)) from exc
        if not (error.txn_requires_abort() or error.retriable()):
            raise FatalKafkaError(self._explain(error)) from exc
        if self._open:
            self._abort()
        raise RetryBatch(error.name()) from exc

    def abandon(self) -> None:
        # The loop never polls inside a transaction, so this is only a safety net. It runs
        # inside librdkafka's rebalance callback: report, do not raise through it.
        if self._open:
            try:
                self._abort()
            except FatalKafkaError as exc:
                self._log.error("abort on revoke failed", extra=fields(error=str(exc)))

    def close(self) -> None:
        self.abandon()
        self._producer.flush(self._timeout)

    def _retrying(self, operation: Callable[[], None]) -> None:
        """Repeat an operation the client says may be retried as is (timeouts, mostly)."""
        for attempt in range(ATTEMPTS):
            try:
                operation()
                return
            except KafkaException as exc:
                error = exc.args[0]
                last = attempt == ATTEMPTS - 1
                if last or not error.retriable() or error.txn_requires_abort():
                    raise
                time.sleep(BACKOFF_SECONDS * 2**attempt)

    def _abort(self) -> None:
        self._open = False  # whatever happens next, this transaction is over for us
        for attempt in range(ATTEMPTS):
            try:
                self._producer.abort_transaction(self._timeout)
                break
            except KafkaException as exc:
                error = exc.args[0]
                if not error.retriable() or attempt == ATTEMPTS - 1:
                    raise FatalKafkaError(self._explain(error)) from exc
                time.sleep(BACKOFF_SECONDS * 2**attempt)
        self._metrics.count_transaction(ABORTED)

    def _explain(self, error: Any) -> str:
        if is_fenced(error):
            return (
                f"producer fenced ({error.name()}): another instance started with "
                f"transactional.id {self._transactional_id!r}; every instance needs its own"
            )
        return f"transactional producer failed: {error}"
