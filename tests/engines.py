"""Both engines on one input: the Python reference answers, the native one must agree.

`CheckedEngine` is what the pricing tests price with. It runs the Python `Engine` and, when
the native accelerator is built, the native engine on the same bytes; whenever the native
engine accepts an event, every field of its answer must equal the reference's, byte for
byte. So every table case and every Hypothesis example is also a native-vs-Python case.

The same holds for whole batches: each input also goes, as a one-record batch with a
`traceparent` header, through the native `price_batch` and the reference
`domain.batch.price_records`, which must give the same produce requests (topic, key, value,
headers, in order) and the same counts; `CheckedEngine.price_batch` checks any batch a test
prices the same way.

`make test` sets CASHBACK_REQUIRE_NATIVE=1: there a missing native build fails the run
instead of quietly testing Python alone (see conftest.py).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Final

from cashback.domain.batch import PricedBatch, ProduceRequest, Record, Routes, price_records
from cashback.domain.catalog import Catalog
from cashback.domain.engine import Engine, Handled, Output, Tally
from cashback.domain.events import MAX_EVENT_BYTES
from cashback.domain.native_engine import NATIVE_OUTCOMES, NativeEngine, native_module
from cashback.domain.native_spec import export_catalog

NATIVE: Final[ModuleType | None] = native_module()
NATIVE_REQUIRED: Final = os.environ.get("CASHBACK_REQUIRE_NATIVE") == "1"


def native_raw(catalog: Catalog, max_event_bytes: int = MAX_EVENT_BYTES) -> Any:
    """The bare native engine (None where it is not built): `handle` may return None."""
    if NATIVE is None:
        return None
    return NATIVE.Engine(export_catalog(catalog, max_event_bytes), Output, Tally)


def assert_same(reference: Handled, native: tuple[Any, ...], raw: bytes | None) -> None:
    """The native answer `native` (a tuple from the bare engine) equals `reference`."""
    outcome, outputs, tallies, event_id, currency, purchase_minor, event_us = native
    where = f"input {raw[:300]!r}" if raw else "empty input"
    assert reference.rejection is None, f"native accepted what Python refuses: {where}"
    assert NATIVE_OUTCOMES[outcome] == reference.outcome, where
    assert [tuple(o) for o in outputs] == [tuple(o) for o in reference.outputs], where
    assert all(type(o) is Output for o in outputs), where
    assert [tuple(t) for t in tallies] == [tuple(t) for t in reference.tallies], where
    assert all(type(t) is Tally for t in tallies), where
    assert (event_id, currency, purchase_minor, event_us) == (
        reference.event_id,
        reference.currency,
        reference.purchase_minor,
        reference.event_time_us,
    ), where


CHECK_ROUTES: Final = Routes("check.accruals", "check.notifications", "check.dlq")
CHECK_TRACEPARENT: Final = b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@dataclass(frozen=True)
class OneRecord:
    """One input as a consumed record (what the batch step reads)."""

    raw: bytes | None

    def topic(self) -> str:
        return "check.input"

    def partition(self) -> int:
        return 3

    def offset(self) -> int:
        return 77

    def key(self) -> bytes:
        return b"check-key"

    def value(self) -> bytes | None:
        return self.raw

    def headers(self) -> list[tuple[str, bytes]]:
        return [("origin", b"check"), ("TraceParent", CHECK_TRACEPARENT)]


def assert_same_batch(reference: PricedBatch, native: PricedBatch, where: str) -> None:
    """The native batch call's requests and counts are the reference's, byte for byte."""
    assert [tuple(r) for r in native.requests] == [tuple(r) for r in reference.requests], where
    assert all(type(r) in (tuple, ProduceRequest) for r in native.requests), where
    assert native.stats == reference.stats, where


class CheckedEngine:
    """The Python engine, cross-checked against the native one on every input."""

    def __init__(self, catalog: Catalog, max_event_bytes: int = MAX_EVENT_BYTES) -> None:
        self.catalog = catalog
        self._python = Engine(catalog, max_event_bytes)
        self._native = native_raw(catalog, max_event_bytes)
        self._batch = (
            None if NATIVE is None else NativeEngine(catalog, max_event_bytes, module=NATIVE)
        )
        self.native_handled = 0
        self.native_declined = 0

    def handle(self, raw: bytes | None) -> Handled:
        reference = self._python.handle(raw)
        if self._native is not None and raw:
            native = self._native.handle(raw)
            if native is None:
                self.native_declined += 1
            else:
                self.native_handled += 1
                assert_same(reference, native, raw)
        if self._batch is not None:
            where = f"batch of {raw[:300]!r}" if raw else "batch of an empty input"
            record = [OneRecord(raw)]
            assert_same_batch(
                price_records(self._python.handle, record, CHECK_ROUTES),
                self._batch.price_batch(record, CHECK_ROUTES),
                where,
            )
        return reference

    def price_batch(self, records: Sequence[Record], routes: Routes) -> PricedBatch:
        """The reference batch (each input checked by `handle`), and the native batch call
        on the same records must agree with it."""
        reference = price_records(self.handle, records, routes)
        if self._batch is not None:
            assert_same_batch(reference, self._batch.price_batch(records, routes), "a batch")
        return reference
