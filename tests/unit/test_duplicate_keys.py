"""A contract field given twice in one object is refused as `duplicate_key` (two parsers
could read two amounts); repeated unknown keys are ignored like any unknown key. Every
case runs through both engines (the native one must decline what Python refuses)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from cashback.devtools.sample_stream import generate
from cashback.domain import events
from cashback.domain.duplicates import certain_keys, repeats_anything
from cashback.domain.events import Purchase, _decoder, _purchase_keys
from pricing_support import handle, line, purchase, refund, rule, ruleset

RS = ruleset([rule()])
PURCHASE = orjson.dumps(purchase([line(1000), line(2000, sku="SKU-2")], merchant={"id": "M-1"}))
REFUND = orjson.dumps(refund(orjson.loads(PURCHASE), [(0, 500)]))


def twice(raw: bytes, anchor: bytes, extra: bytes, nth: int = 0) -> bytes:
    """`raw` with `extra` inserted right before the nth occurrence of `anchor`."""
    at = -1
    for _ in range(nth + 1):
        at = raw.index(anchor, at + 1)
    return raw[:at] + extra + raw[at:]


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        (twice(PURCHASE, b'"total_minor"', b'"total_minor":1,'), "$.total_minor"),
        (twice(PURCHASE, b'"event_id"', b'"event_id":"other",'), "$.event_id"),
        (twice(PURCHASE, b'"event_id"', b'"type":"purchase",'), "$.type"),
        (twice(PURCHASE, b'"id":"C-42"', b'"id":"C-1",'), "$.customer.id"),
        (twice(PURCHASE, b'"id":"M-1"', b'"id":"M-2",'), "$.merchant.id"),
        (
            twice(PURCHASE, b'"amount_minor"', b'"amount_minor":5,', nth=1),
            "$.lines[1].amount_minor",
        ),
        # Written with a blank before the colon, or an escape: the slow path still sees it.
        (twice(PURCHASE, b'"total_minor"', b'"total_minor" : 1,'), "$.total_minor"),
        (twice(PURCHASE, b'"total_minor"', b'"total\\u005fminor":1,'), "$.total_minor"),
        (
            twice(REFUND, b'"refunded_lines"', b'"refunded_lines":[{"line":1,"amount_minor":1}],'),
            "$.refunded_lines",
        ),
        (
            twice(REFUND, b'"amount_minor"', b'"amount_minor":1,', nth=0),
            "$.original.lines[0].amount_minor",
        ),
    ],
)
def test_a_contract_field_twice_is_refused_with_its_path(raw: bytes, path: str) -> None:
    handled = handle(RS, raw)
    assert handled.rejection is not None
    assert handled.rejection.code == events.DUPLICATE_KEY
    assert f"`{path}`" in handled.rejection.message
    assert b"other" not in handled.rejection.message.encode()  # a path, never a value


@pytest.mark.parametrize(
    "raw",
    [
        PURCHASE,
        twice(PURCHASE, b'"event_id"', b'"note":1,"note":2,'),
        twice(PURCHASE, b'"event_id"', b'"extra":{"a":1,"a":2},'),
        # Another event type's field is not read for a purchase.
        twice(PURCHASE, b'"event_id"', b'"original":1,"original":2,'),
        # Strings that look like keys are not keys.
        twice(PURCHASE, b'"event_id"', b'"note":":total_minor\\":","x":":",'),
        REFUND,
    ],
)
def test_no_contract_field_twice_is_priced(raw: bytes) -> None:
    assert handle(RS, raw).rejection is None


def test_the_fast_check_is_exact_on_the_common_forms() -> None:
    assert not repeats_anything(PURCHASE)
    assert not repeats_anything(orjson.dumps(orjson.loads(PURCHASE), option=orjson.OPT_INDENT_2))
    assert repeats_anything(b'{"a":1,"b":{"c":":","c":2}}')
    assert repeats_anything(b'{"a":":x","a":":x"}')
    assert not repeats_anything(b'{"a":":x","b":":x"}')


def test_the_written_out_purchase_count_equals_the_walk() -> None:
    examples = sorted((Path(__file__).parents[2] / "schemas/examples/purchase.v1/valid").glob("*"))
    raws = [p.read_bytes() for p in examples]
    raws += [r.value for r in generate(3000, seed=9) if r.value and r.kind == "purchase"]
    checked = 0
    for raw in raws:
        event = _decoder.decode(raw)
        if isinstance(event, Purchase):
            assert _purchase_keys(event) == certain_keys(event), raw[:200]
            checked += 1
    assert checked > 2000
