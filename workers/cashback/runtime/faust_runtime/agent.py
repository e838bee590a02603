"""`PricingAgent`: the one faust agent. It only converts data: faust events in as
`batch.Record`s, `price_batch`, the produce requests out through faust's producer.

Delivery rides on faust's own guarantee. A batch's events are acked (so their offsets
may be committed) only after every output of the batch is acknowledged by the broker.
Under exactly once, faust keeps one transaction per input partition and commits each
with its partition's offsets; the agent prices each partition's records apart and
writes their outputs to the same partition number, so every output travels in the
transaction of the input it came from (copartition.py checks the counts at start).

Mount it in an existing faust app:

    agent = PricingAgent(engine=make_engine(catalog), routes=Routes(...), metrics=metrics)
    agent.mount(app, app.topic("purchases", key_serializer="raw", value_serializer="raw"))
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, Final

import faust
from faust.sensors import Sensor

from cashback.domain.native_engine import Pricer
from cashback.runtime.batch import PricedBatch, Routes, price_batch
from cashback.runtime.between_batches import report_batch
from cashback.runtime.faust_runtime.options import AGENT_NAME
from cashback.runtime.logs import fields
from cashback.runtime.metrics import COMMITTED, Metrics

# A batch whose outputs cannot be written is never acked: faust would commit past it.
SEND_ATTEMPTS: Final = 3


class FaustRecord:
    """A faust message seen as `batch.Record` (the raw bytes, before any codec)."""

    __slots__ = ("_message",)

    def __init__(self, message: Any) -> None:
        self._message = message

    def topic(self) -> str | None:
        return self._message.topic  # type: ignore[no-any-return]

    def partition(self) -> int | None:
        return self._message.partition  # type: ignore[no-any-return]

    def offset(self) -> int | None:
        return self._message.offset  # type: ignore[no-any-return]

    def key(self) -> bytes | None:
        return self._message.key  # type: ignore[no-any-return]

    def value(self) -> bytes | None:
        return self._message.value  # type: ignore[no-any-return]

    def headers(self) -> list[tuple[str, bytes]] | None:
        headers = self._message.headers
        if not headers:
            return None
        if isinstance(headers, dict):
            return list(headers.items())
        return list(headers)


class DeliveryFailedError(RuntimeError):
    """A batch's outputs could not be written: nothing of it may be acked."""


class CommitCounter(Sensor):
    """faust's offset commits (each one the partitions' transactions, in exactly once)."""

    def __init__(self, metrics: Metrics) -> None:
        super().__init__()
        self._metrics = metrics

    def on_commit_completed(self, consumer: Any, state: Any) -> None:
        self._metrics.count_transaction(COMMITTED)


class PricingAgent:
    def __init__(
        self,
        *,
        engine: Pricer,
        routes: Routes,
        metrics: Metrics,
        log: logging.Logger | None = None,
        batch_size: int = 2000,
        within_seconds: float = 0.1,
        exactly_once: bool = True,
        on_failure: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self._routes = routes
        self._metrics = metrics
        self._log = log or logging.getLogger("cashback.worker")
        self._batch_size = batch_size
        self.within_seconds = within_seconds
        self._exactly_once = exactly_once
        self._on_failure = on_failure
        self._clock = clock
        self._app: Any = None
        self.busy = False
        self.last_activity = clock()
        self.failure: str | None = None
        self.topics: list[str] = []

    def mount(self, app: faust.App, topic: Any, *, name: str = AGENT_NAME) -> Any:
        """Register the agent on `app` for `topic` (raw key and value codecs)."""
        self._app = app
        self.topics = sorted(topic.topics)
        app.sensors.add(CommitCounter(self._metrics))
        return app.agent(topic, name=name)(self._consume)

    async def _consume(self, stream: Any) -> None:
        async for events in stream.take_events(self._batch_size, within=self.within_seconds):
            self.busy = True
            try:
                await self.process([event.message for event in events])
            except DeliveryFailedError as exc:
                self._fail(str(exc))
                # Never return to faust with this batch: leaving the loop acks it.
                await asyncio.Event().wait()
            finally:
                self.busy = False
                self.last_activity = self._clock()

    async def process(self, messages: Sequence[Any]) -> None:
        """Price and write one batch; returns once every output is acknowledged."""
        started = self._clock()
        if self._exactly_once:
            # One group per input partition: its outputs go to its own transaction.
            by_partition: dict[tuple[str, int], list[FaustRecord]] = {}
            for message in messages:
                key = (message.topic, message.partition)
                by_partition.setdefault(key, []).append(FaustRecord(message))
            priced: list[tuple[int | None, PricedBatch]] = [
                (partition, price_batch(self.engine, records, self._routes))
                for (_, partition), records in by_partition.items()
            ]
        else:
            records = [FaustRecord(message) for message in messages]
            priced = [(None, price_batch(self.engine, records, self._routes))]
        await self._write(priced)
        seconds = self._clock() - started
        for _, batch in priced:
            report_batch(self._metrics, self._log, batch.stats, seconds)

    async def _write(self, priced: list[tuple[int | None, PricedBatch]]) -> None:
        attempts = 1 if self._exactly_once else SEND_ATTEMPTS
        for attempt in range(1, attempts + 1):
            try:
                producer = await self._app.maybe_start_producer()
                pending = []
                send = producer.send
                for partition, batch in priced:
                    for topic, key, value, headers in batch.requests:
                        pending.append(await send(topic, key, value, partition, None, headers))
                await asyncio.gather(*pending)
                return
            except Exception as exc:  # any client error: the batch is not written
                error = f"{type(exc).__name__}: {exc}"
                self._metrics.count_kafka_error(type(exc).__name__)
                self._log.warning("batch not written", extra=fields(error=error, attempt=attempt))
                if attempt == attempts:
                    raise DeliveryFailedError(error) from exc
                await asyncio.sleep(0.1 * 2**attempt)

    def _fail(self, error: str) -> None:
        self.failure = error
        self._log.error("stopping: outputs could not be written", extra=fields(error=error))
        if self._on_failure is not None:
            self._on_failure(error)
