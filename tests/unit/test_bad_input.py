"""SPEC "Bad input": every rejection has a stable code and names the field, never the value."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from cashback.domain import events
from cashback.domain.engine import Outcome
from cashback.domain.events import decode_event
from pricing_support import handle, line, purchase, refund, rule, ruleset

RS = ruleset([rule()])


def mutate(path: list[str | int], value: Any) -> bytes:
    event: Any = purchase([line(1000)], merchant={"id": "M-1", "mcc": "5411"})
    target = event
    for step in path[:-1]:
        target = target[step]
    if value is DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return orjson.dumps(event)


DELETE = object()


@pytest.mark.parametrize(
    ("raw", "code", "field"),
    [
        (None, events.EMPTY, ""),
        (b"", events.EMPTY, ""),
        (b"not json", events.INVALID_JSON, ""),
        (b'{"type": "purchase",', events.INVALID_JSON, ""),
        (b"\xff\xfe", events.INVALID_JSON, ""),
        (b"[]", events.SCHEMA_VIOLATION, "object"),
        (mutate(["type"], "gift"), events.SCHEMA_VIOLATION, "$.type"),
        (mutate(["event_id"], DELETE), events.SCHEMA_VIOLATION, "event_id"),
        (mutate(["event_id"], ""), events.SCHEMA_VIOLATION, "$.event_id"),
        (mutate(["event_id"], "x" * 129), events.SCHEMA_VIOLATION, "$.event_id"),
        (
            mutate(["lines", 0, "amount_minor"], 10.5),
            events.SCHEMA_VIOLATION,
            "$.lines[0].amount_minor",
        ),
        (
            mutate(["lines", 0, "amount_minor"], -1),
            events.SCHEMA_VIOLATION,
            "$.lines[0].amount_minor",
        ),
        (
            mutate(["lines", 0, "amount_minor"], "100"),
            events.SCHEMA_VIOLATION,
            "$.lines[0].amount_minor",
        ),
        (
            mutate(["lines", 0, "amount_minor"], 2**53),
            events.SCHEMA_VIOLATION,
            "$.lines[0].amount_minor",
        ),
        (mutate(["lines", 0, "quantity"], 0), events.SCHEMA_VIOLATION, "$.lines[0].quantity"),
        (mutate(["total_minor"], 1e3), events.SCHEMA_VIOLATION, "$.total_minor"),
        (mutate(["lines"], []), events.SCHEMA_VIOLATION, "$.lines"),
        (mutate(["lines"], [line(1)] * 1001), events.SCHEMA_VIOLATION, "$.lines"),
        (mutate(["currency"], "rub"), events.SCHEMA_VIOLATION, "$.currency"),
        (mutate(["merchant", "mcc"], "541"), events.SCHEMA_VIOLATION, "$.merchant.mcc"),
        (mutate(["customer"], DELETE), events.SCHEMA_VIOLATION, "customer"),
        (mutate(["customer", "id"], 42), events.SCHEMA_VIOLATION, "$.customer.id"),
        (mutate(["occurred_at"], "2026-12-05 14:00"), events.SCHEMA_VIOLATION, "$.occurred_at"),
        (mutate(["occurred_at"], "2026-12-05T14:00:00"), events.SCHEMA_VIOLATION, "$.occurred_at"),
    ],
)
def test_rejections_have_a_code_and_a_place(raw: bytes | None, code: str, field: str) -> None:
    handled = handle(RS, raw) if raw is not None else None
    rejection = decode_event(raw)
    assert isinstance(rejection, events.Rejection)
    assert rejection.code == code
    assert field in rejection.message
    if handled is not None:
        assert handled.outcome is Outcome.DEAD_LETTER
        assert handled.outputs == []


def test_nesting_past_the_decoders_limit_is_invalid_json() -> None:
    deep = b'{"type": "purchase", "extra": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    handled = handle(RS, deep)
    assert handled.rejection is not None
    assert handled.rejection.code == events.INVALID_JSON


def test_a_purchase_whose_accrual_dates_pass_year_9999_is_refused() -> None:
    rs = ruleset([rule()], hold_days=3650, expires_days=36500)
    handled = handle(rs, purchase([line(1000)], occurred_at="9950-01-01T00:00:00Z"))
    assert handled.rejection is not None
    assert handled.rejection.code == events.SCHEMA_VIOLATION
    assert "$.occurred_at" in handled.rejection.message
    assert handle(rs, purchase([line(1000)], occurred_at="9880-01-01T00:00:00Z")).accruals


@pytest.mark.parametrize(
    ("where", "written"),
    [
        ("$.occurred_at", "2026-12-05 14:00:00+03:00"),
        ("$.occurred_at", "2026-12-05T14:00:00+0300"),
        ("$.original.occurred_at", "2026-12-05 14:00:00Z"),
    ],
)
def test_near_rfc3339_timestamps_are_refused(where: str, written: str) -> None:
    bought = purchase([line(1000)])
    event = refund(bought, [(0, 100)]) if "original" in where else bought
    (event["original"] if "original" in where else event)["occurred_at"] = written
    rejection = decode_event(orjson.dumps(event))
    assert isinstance(rejection, events.Rejection)
    assert rejection.code == events.SCHEMA_VIOLATION
    assert rejection.message.endswith(f"at `{where}`")
    assert "RFC 3339" in rejection.message


def test_a_purchase_may_carry_an_unknown_field_named_original() -> None:
    raw = orjson.dumps(purchase([line(1000)], original=5))
    assert not isinstance(decode_event(raw), events.Rejection)


def test_too_large() -> None:
    raw = mutate(["lines"], [line(1)] * 900)
    rejection = decode_event(raw, max_bytes=1024)
    assert isinstance(rejection, events.Rejection)
    assert rejection.code == events.TOO_LARGE
    assert str(len(raw)) in rejection.message


def test_messages_never_echo_values() -> None:
    secret = "Ivan Ivanov, +7 999 123-45-67"
    raw = mutate(["customer", "id"], secret + "x" * 200)
    rejection = decode_event(raw)
    assert isinstance(rejection, events.Rejection)
    assert "Ivan" not in rejection.message


def test_unknown_fields_are_ignored() -> None:
    event = purchase([line(1000)], loyalty_card="L-1", future={"nested": [1, 2]})
    event["lines"][0]["colour"] = "red"
    assert not isinstance(decode_event(orjson.dumps(event)), events.Rejection)


def test_optional_fields_may_be_absent_or_null() -> None:
    event = purchase([line(1000)], merchant=None, channel=None, payment_method=None)
    assert not isinstance(decode_event(orjson.dumps(event)), events.Rejection)


def test_lines_adding_up_past_2_53_are_refused() -> None:
    half = 2**52
    raw = orjson.dumps(purchase([line(half), line(half)], total_minor=1))
    rejection = decode_event(raw)
    assert isinstance(rejection, events.Rejection)
    assert rejection.code == events.SCHEMA_VIOLATION
    assert "$.lines" in rejection.message


def test_a_trailing_newline_does_not_pass_a_pattern() -> None:
    rejection = decode_event(mutate(["currency"], "RUB\n"))
    assert isinstance(rejection, events.Rejection)
    assert "$.currency" in rejection.message


@pytest.mark.parametrize(
    "raw",
    [
        b'{"type":"purchase","event_id":"e\xff1"}',
        b'{"type":"purchase","event_id":"e1","customer":{"id":"\xc3"}}',
        b'{"\xff":1}',
        b'{"type":"purchase","\xff":1}',
    ],
)
def test_bad_utf8_inside_a_string_is_invalid_json(raw: bytes) -> None:
    rejection = decode_event(raw)
    assert isinstance(rejection, events.Rejection)
    assert rejection.code == events.INVALID_JSON
