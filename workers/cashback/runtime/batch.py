"""The batch step: consumed records in, records to write and aggregated counts out.

The one place every runtime (this worker's exactly-once and at-least-once loops, the
faust agent, a test) turns a batch into produce requests: `price_batch` asks the engine
for the whole batch at once (the native engine: one call into Rust per batch; the Python
engine: `domain.batch.price_records`, the reference). No Kafka client and no clock.
"""

from __future__ import annotations

from collections.abc import Sequence

from cashback.domain.batch import (
    INTERNAL_ERROR,
    TRACEPARENT,
    AccrualKey,
    BatchStats,
    PricedBatch,
    ProduceRequest,
    Record,
    Request,
    Routes,
    find_header,
    price_records,
)
from cashback.domain.native_engine import Pricer

__all__ = [
    "INTERNAL_ERROR",
    "TRACEPARENT",
    "AccrualKey",
    "BatchStats",
    "PricedBatch",
    "ProduceRequest",
    "Record",
    "Request",
    "Routes",
    "find_header",
    "price_batch",
    "price_batch_per_event",
]


def price_batch(engine: Pricer, records: Sequence[Record], routes: Routes) -> PricedBatch:
    """Price every record in order; the requests keep the input order within the batch."""
    return engine.price_batch(records, routes)


def price_batch_per_event(engine: Pricer, records: Sequence[Record], routes: Routes) -> PricedBatch:
    """The same batch through `engine.handle` one record at a time (the path before the
    native batch call); same bytes, kept for benchmarks/stages.py to compare."""
    return price_records(engine.handle, records, routes)
