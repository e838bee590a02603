"""The batch step without Kafka: routing, headers, dead letters and per-batch counts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson
import pytest

from cashback.domain.catalog import Catalog
from cashback.domain.engine import ACCRUALS, Engine, Handled, Outcome, Output, Tally
from cashback.domain.rules import parse_ruleset
from cashback.runtime.batch import Routes, find_header, price_batch, price_batch_per_event
from engines import CheckedEngine
from events_factory import START, TRACEPARENT, bad_events, purchase, refund, ruleset_document

ROUTES = Routes(accruals="out.accruals", notifications="out.notes", dlq="out.dlq")


@dataclass
class FakeRecord:
    """Quacks like confluent_kafka.Message for the batch step."""

    value_: bytes | None
    key_: bytes | None = b"C-1"
    headers_: list[tuple[str, bytes]] | None = None
    topic_: str = "in"
    partition_: int = 2
    offset_: int = 40
    calls: list[str] = field(default_factory=list)

    def topic(self) -> str:
        return self.topic_

    def partition(self) -> int:
        return self.partition_

    def offset(self) -> int:
        return self.offset_

    def key(self) -> bytes | None:
        return self.key_

    def value(self) -> bytes | None:
        return self.value_

    def headers(self) -> list[tuple[str, bytes]] | None:
        return self.headers_

    def error(self) -> None:
        return None


@pytest.fixture
def engine() -> CheckedEngine:
    return CheckedEngine(Catalog.of([parse_ruleset(ruleset_document())]), max_event_bytes=2048)


def groceries(number: int, amount: int = 100_000) -> dict[str, object]:
    return purchase(number, customer="C-1", occurred_at=START, lines=[("groceries", amount)])


def test_outputs_go_to_their_topics_with_headers(engine: CheckedEngine) -> None:
    record = FakeRecord(orjson.dumps(groceries(1)), headers_=[("TraceParent", TRACEPARENT)])
    priced = price_batch(engine, [record], ROUTES)
    assert [r.topic for r in priced.requests] == ["out.accruals", "out.notes"]
    accrual = priced.requests[0]
    assert accrual.key == b"C-1"
    assert orjson.loads(accrual.value or b"")["amount_minor"] == 5000
    assert dict(accrual.headers) == {
        "content-type": b"application/json",
        "schema": b"accrual/v1",
        "event_id": b"evt-0000001",
        "traceparent": TRACEPARENT,
    }
    assert dict(priced.requests[1].headers)["schema"] == b"notification/v1"


def test_bad_inputs_become_untouched_dead_letters(engine: CheckedEngine) -> None:
    for bad in bad_events(max_event_bytes=2048):
        record = FakeRecord(bad.value, key_=bad.key, headers_=list(bad.headers))
        [letter] = price_batch(engine, [record], ROUTES).requests
        assert (letter.topic, letter.key, letter.value) == ("out.dlq", bad.key, bad.value)
        headers = dict(letter.headers)
        assert headers["origin"] == b"pos-17"
        assert headers["error.code"] == bad.code.encode()
        assert (headers["source.topic"], headers["source.partition"]) == (b"in", b"2")
        assert headers["source.offset"] == b"40"


def test_counts_are_summed_per_label_set(engine: CheckedEngine) -> None:
    first = groceries(1, 100_000)
    records = [
        FakeRecord(orjson.dumps(first)),
        FakeRecord(orjson.dumps(groceries(2, 40_000))),
        FakeRecord(orjson.dumps(refund(3, first))),
        FakeRecord(orjson.dumps(groceries(4, 0))),
        FakeRecord(b"nope", topic_="other"),
    ]
    stats = price_batch(engine, records, ROUTES).stats
    assert stats.events == 5
    assert stats.consumed == {"in": 4, "other": 1}
    assert stats.outcomes == {"accrued": 2, "reversed": 1, "not_eligible": 1, "dead_letter": 1}
    assert stats.dead_letters == {"invalid_json": 1}
    assert stats.accruals == {
        ("RUB", "retail", 1, "accrual"): 2,
        ("RUB", "retail", 1, "reversal"): 1,
    }
    assert stats.payout_minor == {("RUB", "retail", 1, "accrual"): 5000 + 2000}
    assert stats.reversed_minor == {("RUB", "retail", 1, "reversal"): 5000}
    assert stats.purchase_minor == {"RUB": 140_000}
    assert stats.written == {"out.accruals": 3, "out.notes": 3, "out.dlq": 1}
    # 2026-12-01T10:00:00+03:00 is 07:00 UTC
    assert stats.latest_event_us == int(datetime(2026, 12, 1, 7, tzinfo=UTC).timestamp()) * 10**6


def test_requests_keep_the_input_order(engine: CheckedEngine) -> None:
    records = [
        FakeRecord(
            orjson.dumps(
                purchase(n, customer=f"C-{n}", occurred_at=START, lines=[("books", 90_000)])
            )
        )
        for n in range(4)
    ]
    records.insert(2, FakeRecord(None, key_=b"empty"))
    requests = price_batch(engine, records, ROUTES).requests
    keys = [r.key for r in requests if r.topic != "out.notes"]
    assert keys == [b"C-0", b"C-1", b"empty", b"C-2", b"C-3"]


def test_find_header_ignores_case_and_missing_headers() -> None:
    assert find_header(None, "traceparent") is None
    assert find_header([("a", b"1"), ("TRACEPARENT", b"t")], "traceparent") == b"t"


def test_a_record_the_engine_fails_on_is_dead_lettered_not_fatal(engine: CheckedEngine) -> None:
    class Broken(Engine):
        def handle(self, raw: bytes | None) -> Handled:
            raise ZeroDivisionError("a bug")

    record = FakeRecord(orjson.dumps(groceries(1)))
    priced = price_batch(Broken(engine.catalog), [record], ROUTES)
    [letter] = priced.requests
    assert letter.topic == "out.dlq" and letter.value == record.value_
    headers = dict(letter.headers)
    assert headers["error.code"] == b"internal_error"
    assert b"ZeroDivisionError" in headers["error.message"]
    assert priced.stats.dead_letters == {"internal_error": 1}


def test_each_earning_rule_set_gets_the_order_total_as_its_base() -> None:

    class Priced:
        def handle(self, _raw: bytes | None) -> Handled:
            tallies = [
                Tally("RUB", "retail", 2, "accrual", 500),
                Tally("RUB", "black-friday", 1, "accrual", 900),
            ]
            outputs = [Output(ACCRUALS, b"k", b"{}", "accrual.v1")] * 2
            return Handled(
                Outcome.ACCRUED,
                outputs=outputs,
                tallies=tallies,
                event_id="e",
                currency="RUB",
                purchase_minor=10_000,
            )

    class One:
        def topic(self) -> str: return "purchases"  # fmt: skip

        def partition(self) -> int: return 0  # fmt: skip

        def offset(self) -> int: return 0  # fmt: skip

        def key(self) -> bytes: return b"k"  # fmt: skip

        def value(self) -> bytes: return b"{}"  # fmt: skip

        def headers(self) -> None: return None  # fmt: skip

    stats = price_batch_per_event(Priced(), [One(), One()], Routes("a", "n", "d")).stats  # type: ignore[arg-type]
    assert stats.earning_minor == {("RUB", "retail", 2): 20_000, ("RUB", "black-friday", 1): 20_000}
    assert stats.purchase_minor == {"RUB": 20_000}
