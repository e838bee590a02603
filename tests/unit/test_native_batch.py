"""The native batch call (`NativeEngine.price_batch`, workers/native/src/batch.rs) against
the reference batch (`domain.batch.price_records` over the Python engine): the same
produce requests (topic, key, value, headers), in the same order, and the same counts.

Every pricing table case and Hypothesis example already goes through both as a one-record
batch (tests/engines.py); these are the batch-level cases: many records, dead letters
among them, headers of every shape, order, the fallback's failures."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from cashback.devtools.sample_stream import generate
from cashback.domain.batch import PricedBatch, ProduceRequest, Record, Routes, price_records
from cashback.domain.catalog import Catalog
from cashback.domain.engine import Engine, Handled
from cashback.domain.native_engine import NativeEngine
from cashback.domain.rules import parse_ruleset
from cashback.rulefiles import load_catalog
from engines import NATIVE, assert_same_batch
from events_factory import START, TRACEPARENT, bad_events, purchase, ruleset_document, stream

pytestmark = pytest.mark.skipif(NATIVE is None, reason="the native engine is not built")

RULES = Path(__file__).resolve().parents[2] / "deploy" / "examples" / "rules"
ROUTES = Routes(accruals="out.accruals", notifications="out.notes", dlq="out.dlq")


@dataclass(frozen=True)
class Consumed:
    """Quacks like confluent_kafka.Message."""

    value_: bytes | None
    key_: bytes | None = b"C-1"
    headers_: Any = None
    topic_: str | None = "in"
    partition_: int | None = 0
    offset_: int | None = 0

    def topic(self) -> str | None:
        return self.topic_

    def partition(self) -> int | None:
        return self.partition_

    def offset(self) -> int | None:
        return self.offset_

    def key(self) -> bytes | None:
        return self.key_

    def value(self) -> bytes | None:
        return self.value_

    def headers(self) -> Any:
        return self.headers_


def both(catalog: Catalog, records: Sequence[Record], max_event_bytes: int = 2048) -> PricedBatch:
    """The native batch, after checking it against the reference; returns the native one."""
    native = NativeEngine(catalog, max_event_bytes).price_batch(records, ROUTES)
    reference = price_records(Engine(catalog, max_event_bytes).handle, records, ROUTES)
    assert_same_batch(reference, native, "batch")
    return native


def small() -> Catalog:
    return Catalog.of([parse_ruleset(ruleset_document())])


def test_the_sample_stream_with_bad_inputs_prices_the_same_in_one_call() -> None:
    catalog = load_catalog([RULES])
    samples = list(generate(3000, seed=5, bad_every=40))
    headers = [None, [("TraceParent", TRACEPARENT)], [("origin", b"pos"), ("traceparent", b"t")]]
    records = [
        Consumed(s.value, s.key, headers[i % 3], ("a", "b")[i % 2], i % 4, i)
        for i, s in enumerate(samples)
    ]
    engine = NativeEngine(catalog, 64 * 1024)
    native = engine.price_batch(records, ROUTES)
    reference = price_records(Engine(catalog, 64 * 1024).handle, records, ROUTES)
    assert_same_batch(reference, native, "sample stream")
    assert reference.stats.dead_letters, "the stream has bad inputs"
    assert reference.stats.outcomes["reversed"], "and refunds"
    # The native engine priced the valid ones itself: only the bad ones went to Python.
    assert 0 < engine.declined <= sum(reference.stats.dead_letters.values()) + 5
    # Its requests are plain (topic, key, value, headers) tuples, headers (str, bytes) pairs.
    first = next(r for r in native.requests if r[0] == "out.accruals")
    assert type(first) is tuple
    assert all(type(k) is str and type(v) is bytes for k, v in first[3])


def test_dead_letters_keep_their_place_among_the_outputs() -> None:
    bad = bad_events(max_event_bytes=2048)
    good = [e.value for e in stream(6, seed=2)]
    records: list[Consumed] = []
    for i, value in enumerate(good):
        records.append(Consumed(value, offset_=2 * i))
        letter = bad[i % len(bad)]
        records.append(Consumed(letter.value, letter.key, list(letter.headers), offset_=2 * i + 1))
    priced = both(small(), records)
    dlq = [r for r in priced.requests if r[0] == "out.dlq"]
    assert len(dlq) == len(good)
    # Each dead letter follows the outputs of the record before it, in input order.
    offsets = [dict(r[3])["source.offset"] for r in dlq]
    assert offsets == [str(2 * i + 1).encode() for i in range(len(good))]


def test_traceparent_is_found_in_any_case_and_written_lowercase() -> None:
    raw = orjson.dumps(
        purchase(1, customer="C-1", occurred_at=START, lines=[("groceries", 10_000)])
    )
    shapes: list[Any] = [
        None,
        [],
        [("TRACEPARENT", TRACEPARENT)],
        [("x", b"1"), ("traceParent", TRACEPARENT), ("traceparent", b"second")],
        [("traceparent", None)],  # a header without a value: none is copied
        [("Trac\u0435parent", TRACEPARENT)],  # a Cyrillic e: not the header
        [["traceparent", TRACEPARENT]],  # not a tuple: left to the reference, same answer
        (("traceparent", TRACEPARENT),),  # not a list: the same
    ]
    for headers in shapes:
        priced = both(small(), [Consumed(raw, headers_=headers)])
        assert [r[0] for r in priced.requests] == ["out.accruals", "out.notes"], headers


def test_headers_of_an_output() -> None:
    raw = orjson.dumps(
        purchase(1, customer="C-1", occurred_at=START, lines=[("groceries", 10_000)])
    )
    priced = both(small(), [Consumed(raw, headers_=[("TraceParent", TRACEPARENT)])])
    accrual, note = priced.requests
    assert accrual[3] == [
        ("content-type", b"application/json"),
        ("schema", b"accrual/v1"),
        ("event_id", b"evt-0000001"),
        ("traceparent", TRACEPARENT),
    ]
    assert note[3][1] == ("schema", b"notification/v1")
    assert accrual[1] == note[1] == b"C-1"


def test_records_without_a_topic_or_value_and_empty_batches() -> None:
    raw = orjson.dumps(purchase(1, customer="C-1", occurred_at=START, lines=[("books", 10_000)]))
    records = [Consumed(raw, topic_=None), Consumed(None), Consumed(b""), Consumed(raw)]
    priced = both(small(), records)
    assert priced.stats.consumed == {"": 1, "in": 3}
    empty = both(small(), [])
    assert empty.requests == [] and empty.stats.events == 0


def test_a_failing_reference_dead_letters_only_that_record() -> None:
    """A declined record whose Python pricing raises is an internal_error dead letter,
    in its place; the records the native engine priced are untouched."""
    catalog = small()
    engine = NativeEngine(catalog, 2048)

    class Broken(Engine):
        def handle(self, raw: bytes | None) -> Handled:
            raise ZeroDivisionError("a bug")

    engine._python = Broken(catalog, 2048)
    raw = orjson.dumps(purchase(1, customer="C-1", occurred_at=START, lines=[("books", 10_000)]))
    priced = engine.price_batch([Consumed(raw), Consumed(b"{", offset_=9), Consumed(raw)], ROUTES)
    topics = [r[0] for r in priced.requests]
    assert topics == ["out.accruals", "out.notes", "out.dlq", "out.accruals", "out.notes"]
    assert dict(priced.requests[2][3])["error.code"] == b"internal_error"
    assert priced.stats.dead_letters == {"internal_error": 1}
    assert priced.stats.outcomes == {"accrued": 2, "dead_letter": 1}


def test_an_exception_from_a_record_propagates() -> None:
    """A record that cannot even be read fails the batch, as in the reference."""

    class Unreadable(Consumed):
        def value(self) -> bytes | None:
            raise RuntimeError("gone")

    engine = NativeEngine(small(), 2048)
    with pytest.raises(RuntimeError, match="gone"):
        engine.price_batch([Consumed(b"{}"), Unreadable(b"{}")], ROUTES)


def test_a_catalog_the_native_engine_refused_is_priced_by_the_reference(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine = NativeEngine(small(), 2048)
    monkeypatch.setattr(engine, "_native", None)
    raw = orjson.dumps(purchase(1, customer="C-1", occurred_at=START, lines=[("books", 10_000)]))
    priced = engine.price_batch([Consumed(raw)], ROUTES)
    assert type(priced.requests[0]) is ProduceRequest
    assert engine.declined == 1


def test_counts_of_many_rule_sets_and_currencies_fold_like_the_reference() -> None:
    catalog = load_catalog([RULES])
    records = [Consumed(s.value, s.key, offset_=i) for i, s in enumerate(generate(800, seed=9))]
    priced = both(catalog, records, 64 * 1024)
    assert len(priced.stats.accruals) > 2
    assert priced.stats.earning_minor and priced.stats.purchase_minor
    assert priced.stats.written["out.accruals"] == sum(priced.stats.accruals.values())


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_one_or_more_pricing_threads_give_the_same_batch(threads: int) -> None:
    """Pricing runs with the GIL released, split over threads from 256 records on: the
    halves come back in input order, dead letters among them."""
    catalog = load_catalog([RULES])
    samples = list(generate(700, seed=4, bad_every=25))
    records = [
        Consumed(s.value, s.key, [("traceparent", b"t")], offset_=i) for i, s in enumerate(samples)
    ]
    engine = NativeEngine(catalog, 64 * 1024, pricing_threads=threads)
    reference = price_records(Engine(catalog, 64 * 1024).handle, records, ROUTES)
    assert_same_batch(reference, engine.price_batch(records, ROUTES), f"{threads} threads")
