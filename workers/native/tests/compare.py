"""Differential check of the native engine against the Python reference, and its speed.

    .venv/bin/python workers/native/tests/compare.py [--quick] [--no-bench]

Every input goes through both `cashback.domain.engine.Engine` (the reference) and
`cashback_native.Engine`. Wherever the native engine answers (not None), every field of its
answer must equal the reference's: outcome, each output's destination, key, value bytes and
schema, the tallies, event id, currency, purchase total and event time. Where Python
dead-letters an event (or raises), the native engine must decline. Every valid event of the
sample stream on the sample rules must be answered natively.

Inputs: the sample stream (several seeds), deploy/examples/events/sample.jsonl, hand-made
edge cases, a CEL battery (one rule set per expression), a catalog exercising every pricing
feature and zone with DST, random events and refunds against it, and byte/structure
mutations of valid events. Exits 1 on the first class of mismatch, printing the input.
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "workers"))

import cashback_native  # noqa: E402

from cashback import rulefiles  # noqa: E402
from cashback.devtools.sample_stream import generate  # noqa: E402
from cashback.domain import cel as domain_cel  # noqa: E402
from cashback.domain.catalog import Catalog  # noqa: E402
from cashback.domain.engine import Engine, Handled, Output, Tally  # noqa: E402
from cashback.domain.events import MAX_EVENT_BYTES  # noqa: E402
from cashback.domain.native_spec import export_catalog  # noqa: E402
from cashback.domain.rules import RuleSet, parse_ruleset  # noqa: E402
from cashback.domain.ruleset_doc import RuleSetError  # noqa: E402

RULES = ROOT / "deploy" / "examples" / "rules"
SAMPLE = ROOT / "deploy" / "examples" / "events" / "sample.jsonl"


# ---------------------------------------------------------------------------- the check


class MismatchError(AssertionError):
    pass


def expected(handled: Handled) -> tuple[Any, ...] | None:
    """The reference answer in the native engine's shape (None: Python dead-letters it)."""
    if handled.rejection is not None:
        return None
    return (
        int(handled.outcome),
        [tuple(o) for o in handled.outputs],
        [tuple(t) for t in handled.tallies],
        handled.event_id,
        handled.currency,
        handled.purchase_minor,
        handled.event_time_us,
    )


def got(native: tuple[Any, ...]) -> tuple[Any, ...]:
    outcome, outputs, tallies, event_id, currency, purchase_minor, event_us = native
    for o in outputs:
        if type(o) is not Output:
            raise MismatchError(f"output of type {type(o)}")
    for t in tallies:
        if type(t) is not Tally:
            raise MismatchError(f"tally of type {type(t)}")
    return (
        outcome,
        [tuple(o) for o in outputs],
        [tuple(t) for t in tallies],
        event_id,
        currency,
        purchase_minor,
        event_us,
    )


class Pair:
    """Both engines on one catalog, with counts of what the native engine did."""

    def __init__(self, catalog: Catalog, max_event_bytes: int = MAX_EVENT_BYTES) -> None:
        self.python = Engine(catalog, max_event_bytes)
        self.native = cashback_native.Engine(
            export_catalog(catalog, max_event_bytes), Output, Tally
        )
        self.handled = 0
        self.declined_valid = 0
        self.declined_invalid = 0
        self.accrued = 0

    def check(self, raw: bytes, must_handle: bool = False, label: str = "") -> bool:
        """True when the native engine answered (and agreed)."""
        try:
            reference: tuple[Any, ...] | str | None = expected(self.python.handle(raw))
        except Exception as exc:  # e.g. OverflowError near year 9999, RecursionError
            reference = f"raised {type(exc).__name__}"
        native = self.native.handle(raw)
        where = f"{label}: input {raw[:400]!r}"
        if native is None:
            if isinstance(reference, tuple):
                self.declined_valid += 1
                if must_handle:
                    raise MismatchError(f"a valid event was declined: {where}")
            else:
                self.declined_invalid += 1
            return False
        if not isinstance(reference, tuple):
            raise MismatchError(f"native answered where Python gives {reference!r}: {where}")
        answer = got(native)
        if answer != reference:
            for name, a, b in zip(
                ("outcome", "outputs", "tallies", "event_id", "currency", "purchase", "time"),
                answer,
                reference,
                strict=True,
            ):
                if a != b:
                    print(f"  {name}:\n    native {a!r}\n    python {b!r}")
            raise MismatchError(f"answers differ: {where}")
        self.handled += 1
        self.accrued += answer[0] in (0, 1)
        return True

    def summary(self, name: str) -> str:
        return (
            f"{name}: {self.handled} answered natively and equal ({self.accrued} with accruals),"
            f" {self.declined_valid} valid declined, {self.declined_invalid} invalid declined"
        )


def sample_catalog() -> Catalog:
    return rulefiles.load_catalog([RULES])


def doc_ruleset(doc: dict[str, Any]) -> RuleSet:
    return parse_ruleset(orjson.dumps(doc))


# ---------------------------------------------------------------------------- sample stream


def check_sample(quick: bool) -> None:
    pair = Pair(sample_catalog())
    seeds = [(7, 20_000), (1, 5000), (42, 5000), (2026, 5000)]
    if quick:
        seeds = [(7, 20_000)]
    for seed, count in seeds:
        for record in generate(count, seed=seed, bad_every=300):
            if record.value is None:
                continue
            valid = record.kind in ("purchase", "refund")
            pair.check(record.value, must_handle=valid, label=f"seed {seed} {record.kind}")
    for number, text in enumerate(SAMPLE.read_bytes().splitlines(), start=1):
        if text.strip():
            pair.check(text, must_handle=True, label=f"{SAMPLE.name}:{number}")
    print(pair.summary("sample stream + sample.jsonl on the sample rules"))
    if pair.declined_valid:
        raise MismatchError("valid sample events were declined")


# ---------------------------------------------------------------------------- edge cases

MSK_SATURDAY = "2026-12-05T14:00:00+03:00"


def purchase(**fields: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "purchase",
        "event_id": "evt-1",
        "purchase_id": "P-1",
        "occurred_at": "2026-11-25T14:00:00+03:00",
        "customer": {"id": "C-1", "tier": "gold", "segments": ["student"], "locale": "ru-RU"},
        "merchant": {"id": "M-GROC-001", "mcc": "5411", "region": "RU-MOW"},
        "channel": "pos",
        "payment_method": "card",
        "currency": "RUB",
        "lines": [
            {"sku": "GRO-1", "category": "groceries", "quantity": 2, "amount_minor": 120_000},
            {"sku": "ELE-1", "category": "electronics", "quantity": 1, "amount_minor": 990_000},
            {"sku": "AUTO-WASH-1", "category": "auto", "quantity": 1, "amount_minor": 50_000},
        ],
    }
    event.update(fields)
    if "total_minor" not in fields:
        event["total_minor"] = sum(line["amount_minor"] for line in event["lines"])
    return event


def refund_of(
    original: dict[str, Any],
    refunded: list[tuple[int, int]],
    previously: list[tuple[int, int]] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "refund",
        "event_id": "ref-1",
        "purchase_id": original["purchase_id"],
        "occurred_at": "2026-12-20T12:00:00+03:00",
        "customer": original["customer"],
        "currency": original["currency"],
        "original": {
            k: original[k]
            for k in (
                "occurred_at",
                "total_minor",
                "lines",
                "merchant",
                "channel",
                "payment_method",
            )
            if k in original
        },
        "refunded_lines": [{"line": i, "amount_minor": a} for i, a in refunded],
    }
    if previously is not None:
        event["previously_refunded_lines"] = [{"line": i, "amount_minor": a} for i, a in previously]
    event.update(fields)
    return event


def edge_events() -> Iterator[tuple[str, bytes, bool]]:
    """(label, raw, must be answered natively)."""

    def j(event: Any) -> bytes:
        return orjson.dumps(event)

    base = purchase()
    weird = 'e"\\\n\t\r\b\f\u0000\u0001\u001f\u007f/é\u2028\u2029😀'
    yield "escapes in ids", j(purchase(event_id=weird, purchase_id=weird)), True
    yield (
        "escapes in customer id and locale-less customer",
        j(purchase(customer={"id": weird, "tier": "gold"})),
        True,
    )
    yield (
        "escaped keys and \\/ and \\u escapes",
        j(base)
        .replace(b'"event_id":"evt-1"', b'"event\\u005fid":"e\\/v\\u00e9\\ud83d\\ude00\\u001F"')
        .replace(b'"total_minor"', b'"total_\\u006dinor"'),
        True,
    )
    yield "+00:00", j(purchase(occurred_at="2026-11-25T11:00:00+00:00")), True
    yield "Z", j(purchase(occurred_at="2026-11-25T11:00:00Z")), True
    yield "-05:30", j(purchase(occurred_at="2026-11-25T05:30:00-05:30")), True
    yield "+14:00", j(purchase(occurred_at="2026-11-26T01:00:00+14:00")), True
    yield "fraction .5", j(purchase(occurred_at="2026-11-25T14:00:00.5+03:00")), True
    yield "fraction .123456", j(purchase(occurred_at="2026-11-25T14:00:00.123456+03:00")), True
    yield "fraction .000000", j(purchase(occurred_at="2026-11-25T14:00:00.000000+03:00")), True
    yield "fraction .000001Z", j(purchase(occurred_at="2026-11-25T14:00:00.000001Z")), True
    yield "leap day", j(purchase(occurred_at="2028-02-29T23:59:59+03:00")), True
    yield "year end hold", j(purchase(occurred_at="2026-12-31T23:59:59-11:00")), True
    yield "notifications false", j(purchase(customer={"id": "C", "notifications": False})), True
    yield "notifications true", j(purchase(customer={"id": "C", "notifications": True})), True
    yield "locale null", j(purchase(customer={"id": "C", "locale": None})), True
    yield (
        "tier null, segments []",
        j(purchase(customer={"id": "C", "tier": None, "segments": []})),
        True,
    )
    yield "merchant null", j(purchase(merchant=None)), True
    yield (
        "merchant fields null",
        j(purchase(merchant={"id": None, "mcc": None, "region": None})),
        True,
    )
    yield "merchant empty", j(purchase(merchant={})), True
    no_optional = purchase()
    for key in ("merchant", "channel", "payment_method"):
        del no_optional[key]
    yield "no optional fields", j(no_optional), True
    yield "channel/payment null", j(purchase(channel=None, payment_method=None)), True
    yield "before any rule set", j(purchase(occurred_at="2025-06-01T00:00:00+03:00")), True
    yield "other currency", j(purchase(currency="USD")), True
    yield "KZT", j(purchase(currency="KZT", occurred_at="2026-11-25T16:30:00+05:00")), True
    yield (
        "EUR travel",
        j(
            purchase(
                currency="EUR",
                merchant={"id": "M-AIRL-001", "mcc": "4511", "region": "RU-MOW"},
                channel="app",
                lines=[
                    {"sku": "TRV-1", "category": "travel", "quantity": 1, "amount_minor": 45_000}
                ],
                customer={"id": "C", "tier": "gold", "segments": ["frequent-flyer"]},
                occurred_at="2026-11-25T02:00:00+03:00",
            )
        ),
        True,
    )
    yield (
        "zero lines",
        j(
            purchase(
                lines=[{"sku": "GRO-1", "category": "groceries", "quantity": 1, "amount_minor": 0}]
            )
        ),
        True,
    )
    yield (
        "max amounts",
        j(
            purchase(
                lines=[
                    {
                        "sku": "E",
                        "category": "electronics",
                        "quantity": 2**53 - 1,
                        "amount_minor": 2**53 - 1,
                    }
                ],
                total_minor=2**53 - 1,
            )
        ),
        True,
    )
    yield "total unrelated to lines", j(purchase(total_minor=1)), True
    yield "black friday", j(purchase(occurred_at="2026-11-28T12:00:00+03:00")), True
    yield "cyber monday", j(purchase(occurred_at="2026-11-30T12:00:00+03:00", channel="app")), True
    yield (
        "unknown keys everywhere",
        j(
            {
                **purchase(),
                "x": {"a": [1, 2.5e-3, -0, True, None, "s"]},
                "customer": {"id": "C", "zz": [{}], "locale": "en-US"},
                "merchant": {"id": "M", "q": 1e400},
            }
        ),
        True,
    )
    yield (
        "tag last",
        j({k: v for k, v in purchase().items() if k != "type"} | {"type": "purchase"}),
        True,
    )
    yield "whitespace", json.dumps(purchase(), indent=2).encode(), True
    yield (
        "1000 lines",
        j(
            purchase(
                lines=[
                    {
                        "sku": f"S{i}",
                        "category": ("groceries", "fuel", "toys")[i % 3],
                        "quantity": 1,
                        "amount_minor": i * 7,
                    }
                    for i in range(1000)
                ],
                merchant={"id": "M-FUEL-001", "mcc": "5541", "region": "RU-MOW"},
            )
        ),
        True,
    )

    # refunds
    bought = purchase()
    yield "refund whole", j(refund_of(bought, [(0, 120_000), (1, 990_000), (2, 50_000)])), True
    yield "refund partial", j(refund_of(bought, [(1, 123_457)])), True
    yield "refund after earlier", j(refund_of(bought, [(1, 1)], [(1, 989_000), (0, 5)])), True
    yield "refund previously empty list", j(refund_of(bought, [(0, 10)], [])), True
    yield "refund nothing changes", j(refund_of(bought, [(2, 1)])), True
    yield "refund zero amount", j(refund_of(bought, [(0, 0)])), True
    yield "refund same line twice", j(refund_of(bought, [(0, 60_000), (0, 60_000)])), True
    yield (
        "refund other customer, no original customer",
        j(
            refund_of(
                bought, [(0, 1000)], customer={"id": "C-2", "tier": "platinum", "locale": None}
            )
        ),
        True,
    )
    with_orig_customer = refund_of(
        bought, [(0, 1000)], customer={"id": "C-2", "notifications": False}
    )
    with_orig_customer["original"]["customer"] = {
        "id": "C-1",
        "tier": "silver",
        "segments": ["student"],
    }
    yield "refund original customer", j(with_orig_customer), True
    nulled = refund_of(bought, [(0, 1000)])
    nulled["original"]["customer"] = {"id": None, "tier": None}
    yield "refund original customer nulls", j(nulled), True
    nulled = refund_of(bought, [(0, 1000)])
    nulled["original"]["customer"] = None
    yield "refund original customer null", j(nulled), True
    yield (
        "refund of kz",
        j(
            refund_of(
                purchase(
                    currency="KZT",
                    occurred_at="2026-11-25T16:30:00+05:00",
                    lines=[
                        {
                            "sku": "R",
                            "category": "restaurants",
                            "quantity": 1,
                            "amount_minor": 500_000,
                        }
                    ],
                ),
                [(0, 250_000)],
            )
        ),
        True,
    )
    yield (
        "refund before rules",
        j(refund_of(purchase(occurred_at="2025-01-01T00:00:00Z"), [(0, 1)])),
        True,
    )

    # Python refuses these, or they are forms the native engine leaves to Python: it declines.
    raw = j(base)
    bad = {
        "dup key": raw.replace(b'"event_id":"evt-1"', b'"event_id":"a","event_id":"b"'),
        "dup nested key": raw.replace(b'"id":"C-1"', b'"id":"C-1","id":"C-2"'),
        "float amount": raw.replace(b'"amount_minor":120000', b'"amount_minor":120000.0'),
        "exp amount": raw.replace(b'"amount_minor":120000', b'"amount_minor":12e4'),
        "negative": raw.replace(b'"amount_minor":120000', b'"amount_minor":-1'),
        "bool amount": raw.replace(b'"amount_minor":120000', b'"amount_minor":true'),
        "segments null": j(purchase(customer={"id": "C", "segments": None})),
        "notifications null": j(purchase(customer={"id": "C", "notifications": None})),
        "previously null": j({**refund_of(bought, [(0, 1)]), "previously_refunded_lines": None}),
        "naive": j(purchase(occurred_at="2026-11-25T14:00:00")),
        "lowercase t": j(purchase(occurred_at="2026-11-25t14:00:00Z")),
        "space": j(purchase(occurred_at="2026-11-25 14:00:00Z")),
        "+0300": j(purchase(occurred_at="2026-11-25T14:00:00+0300")),
        "-00:00": j(purchase(occurred_at="2026-11-25T14:00:00-00:00")),
        "7 digits": j(purchase(occurred_at="2026-11-25T14:00:00.1234567Z")),
        "feb 29": j(purchase(occurred_at="2026-02-29T14:00:00Z")),
        "bad currency": j(purchase(currency="rub")),
        "bad mcc": j(purchase(merchant={"mcc": "541"})),
        "bad locale": j(purchase(customer={"id": "C", "locale": "r"})),
        "long id": j(purchase(event_id="x" * 129)),
        "empty id": j(purchase(event_id="")),
        "no lines": j(purchase(lines=[])),
        "sum over 2^53": j(
            purchase(
                lines=[{"sku": "a", "category": "c", "quantity": 1, "amount_minor": 2**53 - 1}] * 2
            )
        ),
        "refund overdraw": j(refund_of(bought, [(0, 120_001)])),
        "refund missing line": j(refund_of(bought, [(3, 1)])),
        "refund over total": j(refund_of({**bought, "total_minor": 5}, [(0, 6)])),
        "refund no lines": j(refund_of(bought, [])),
        "unknown type": j(purchase(type="Purchase")),
        "no type": j({k: v for k, v in base.items() if k != "type"}),
        "trailing comma": raw[:-1] + b",}",
        "truncated": raw[:-1],
        "trailing garbage": raw + b"x",
        "raw control char": raw.replace(b'"evt-1"', b'"evt\x01-1"'),
        "lone surrogate": raw.replace(b'"evt-1"', b'"evt\\ud800"'),
        "invalid utf-8": raw.replace(b'"evt-1"', b'"evt\xff"'),
        "bom": b"\xef\xbb\xbf" + raw,
        "deep nesting": raw[:-1] + b',"x":' + b"[" * 5000 + b"]" * 5000 + b"}",
        "year 9999": j(purchase(occurred_at="9999-12-30T00:00:00Z")),
        "not an object": b"[1]",
        "empty": b"   ",
    }
    for label, value in bad.items():
        yield f"declined: {label}", value, False


def check_edges() -> None:
    pair = Pair(sample_catalog())
    for label, raw, must in edge_events():
        answered = pair.check(raw, must_handle=must, label=label)
        if label.startswith("declined:") and answered:
            raise MismatchError(f"{label} was answered natively")
    small = Pair(sample_catalog(), max_event_bytes=300)
    small.check(orjson.dumps(purchase()), label="over max_event_bytes")
    if small.handled:
        raise MismatchError("an event over max_event_bytes was answered")
    print(pair.summary("edge cases on the sample rules"))

    # No rule set in force at all: an empty catalog, and a catalog starting later.
    empty = Pair(Catalog())
    later = Pair(
        Catalog.of(
            [
                doc_ruleset(
                    {
                        "ruleset": "later",
                        "version": 1,
                        "effective_from": "2030-01-01T00:00:00Z",
                        "currencies": ["RUB"],
                        "rules": [{"id": "a", "description": "a", "pay": {"percent": "1"}}],
                    }
                )
            ]
        )
    )
    for pair in (empty, later):
        for label, raw, must in edge_events():
            pair.check(raw, must_handle=must, label=label)
        if pair.accrued:
            raise MismatchError("accruals with no rule set in force")
    print(empty.summary("edge cases, empty catalog"))
    print(later.summary("edge cases, catalog not yet in force"))


# ---------------------------------------------------------------------------- CEL battery

EXPRESSIONS = [
    'purchase.payment_method == "card" && size(purchase.lines) >= 3',
    "has(purchase.channel)",
    "has(purchase.merchant) && purchase.merchant.mcc == '5411'",
    "purchase.merchant.mcc == null",
    "purchase.customer.locale == null",
    "purchase.customer.notifications",
    "!purchase.customer.notifications",
    "purchase.customer.notifications == true",
    '"student" in purchase.customer.segments',
    "purchase.customer.segments.size() == 0",
    'purchase.lines.exists(l, l.category == "groceries" && l.amount_minor > 100000)',
    "purchase.lines.all(l, l.quantity >= 1)",
    "purchase.lines.filter(l, l.amount_minor > 50000).size() > 1",
    "purchase.lines.map(l, l.amount_minor).size() == size(purchase.lines)",
    'purchase.lines.exists_one(l, l.category == "fuel")',
    'purchase.lines.map(l, l.category).exists(c, c == "electronics")',
    "purchase.total_minor > 1000000",
    "purchase.total_minor / 2 > 300000",
    "purchase.total_minor % 7 == 3",
    "purchase.total_minor * 10000000000 > 0",
    "double(purchase.total_minor) > 1000.5",
    "purchase.total_minor == 150000.0",
    "purchase.total_minor > 5u",
    "uint(purchase.total_minor) > 5u",
    'string(purchase.total_minor).startsWith("1")',
    "dyn(purchase.total_minor) == purchase.total_minor",
    "type(purchase.total_minor) == int",
    "type(purchase.customer) == map",
    'purchase.occurred_at.startsWith("2026-11-2")',
    'purchase.occurred_at.endsWith("Z")',
    "purchase.occurred_at.size() == 25",
    'timestamp(purchase.occurred_at) > timestamp("2026-11-25T00:00:00Z")',
    "timestamp(purchase.occurred_at).getDayOfWeek() == 3",
    'timestamp(purchase.occurred_at).getHours("Europe/Moscow") >= 12',
    'duration("1h") > duration("30m")',
    'purchase.type == "purchase"',
    'purchase.event_id.contains("-")',
    'purchase.event_id.matches("^evt-[0-9]+-0+[1-9]")',
    'purchase.purchase_id.startsWith("ORD") || purchase.purchase_id.startsWith("P")',
    "size(purchase) > 9",
    'purchase["channel"] == "app"',
    '"channel" in purchase',
    '"merchant" in purchase && purchase.merchant.region.startsWith("RU")',
    "purchase.nope == 1",
    "purchase.total_minor",
    "purchase.channel",
    'purchase.customer.tier in ["gold", "platinum"]',
    'purchase.customer.tier == "gold" || purchase.customer.tier == null',
    "has(purchase.customer.tier)",
    "purchase.lines.all(l, has(l.sku))",
    "purchase.lines[0].amount_minor + 1 > 100",
    'purchase.lines[10].sku == "x"',
    'purchase.currency != "RUB" || true',
    "size(purchase.customer.id) > 7",
    'purchase.customer.locale.startsWith("ru")',
    "purchase.lines.size() > 2 ? purchase.total_minor > 10 : false",
    "[1, 2, 3].exists(x, x == size(purchase.lines))",
    '{"a": 1}.a == 1 && purchase.currency == "RUB"',
    'purchase.lines.map(l, l.sku).join(",").size() > 3',
    '"x".lowerAscii() == "x"',
    "math.greatest(1, 2) == 2",
    "int(purchase.lines[0].quantity) * purchase.lines[0].amount_minor > 0",
    "purchase.customer.segments == []",
    'purchase.customer == {"id": "x"}',
    "purchase.lines.all(l, l.amount_minor <= purchase.total_minor)",
    "purchase.total_minor - 9223372036854775807 < 0",
    "-purchase.total_minor < 0",
    '"😀" + purchase.currency == "😀RUB"',
    "bytes(purchase.currency) == b'RUB'",
    "purchase.?channel.orValue('none') == 'app'",
    "optional.of(1).hasValue()",
    # only the count of lines is built for these (cel.demand); the rest read more
    "size(purchase.lines) >= 3",
    "purchase.lines.size() < 2 && purchase.total_minor > 100000",
    "size(purchase.lines) == purchase.lines.size() && size(purchase.customer.segments) >= 0",
    "size(purchase.lines) > 1 // and a comment: size(purchase)",
    "r'purchase.lines[0]' != '' && size(purchase.lines) % 2 == 0",
    "size(purchase.lines) > 2 && purchase.lines[1].quantity > 1",
]


def cel_catalog() -> tuple[Catalog, list[str]]:
    rulesets, used = [], []
    for i, source in enumerate(EXPRESSIONS):
        program = domain_cel.compile_expression(source)
        if isinstance(program, str):
            continue  # Python refuses it at compile time: no rule set can carry it
        doc = {
            "ruleset": f"x{i:03d}",
            "version": 1,
            "effective_from": "2026-01-01T00:00:00Z",
            "currencies": ["RUB", "KZT", "EUR"],
            "notify": {"accrual": "a", "reversal": "r"},
            "rules": [
                {
                    "id": "e",
                    "description": source,
                    "when": {"expr": source},
                    "pay": {"fixed_minor": i + 1},
                }
            ],
        }
        try:
            rulesets.append(doc_ruleset(doc))
            used.append(source)
        except RuleSetError:
            continue
    return Catalog.of(rulesets), used


def check_cel(quick: bool) -> None:
    catalog, used = cel_catalog()
    pair = Pair(catalog)
    hits = {name: 0 for name in catalog.names}
    count = 1500 if quick else 4000
    events = [r.value for r in generate(count, seed=99, bad_every=None) if r.value]
    events += [raw for _, raw, must in edge_events() if must]
    for raw in events:
        if pair.check(raw, must_handle=True, label="cel"):
            answer = pair.native.handle(raw)
            for t in answer[2] if answer is not None else []:
                hits[t.ruleset] += 1
    held = sum(1 for v in hits.values() if v)
    print(
        pair.summary(f"CEL battery ({len(used)} of {len(EXPRESSIONS)} expressions compile)")
        + f"; {held} expressions held for some event"
    )


# ---------------------------------------------------------------------------- every feature

FEATURE_DOCS: list[dict[str, Any]] = [
    {
        "ruleset": "bands-stack",
        "version": 1,
        "effective_from": "2026-01-01T00:00:00+03:00",
        "timezone": "America/New_York",
        "currencies": ["RUB", "EUR"],
        "rounding": "half_up",
        "combine": "stack",
        "max_per_purchase_minor": 25_000,
        "hold_days": 0,
        "notify": {"accrual": "stack_accrued"},
        "rules": [
            {
                "id": "bands",
                "description": "bands",
                "priority": 9,
                "when": {"categories": ["fuel", "groceries"]},
                "pay": {
                    "bands": [
                        {"from_minor": 0, "percent": "0.333333"},
                        {"from_minor": 100_000, "percent": "1.5"},
                        {"from_minor": 500_000, "percent": "2.25"},
                    ],
                    "max_minor": 20_000,
                },
            },
            {
                "id": "night",
                "description": 'night "owl" \\ é',
                "priority": 8,
                "when": {"local_time": {"from": "22:00", "to": "06:00"}},
                "pay": {"percent": "3.5", "min_minor": 10},
            },
            {
                "id": "weekday-mornings",
                "description": "mornings",
                "priority": 7,
                "when": {
                    "days_of_week": ["mon", "tue", "wed"],
                    "local_time": {"from": "06:00", "to": "12:00"},
                },
                "pay": {"percent": "2"},
            },
            {
                "id": "skus",
                "description": "skus",
                "priority": 6,
                "when": {"skus": ["AUTO-WASH-1", "GRO-00001", "S1"]},
                "pay": {"fixed_minor": 777},
            },
            {
                "id": "skus-cat",
                "description": "skus in a category",
                "priority": 6,
                "when": {"skus": ["FUEL-AI95", "S2"], "categories": ["fuel"]},
                "pay": {"percent": "0.5"},
            },
            {
                "id": "merchants",
                "description": "merchants",
                "priority": 5,
                "when": {"merchants": ["M-FUEL-001", "M-GROC-001", "M-GROC-002"]},
                "pay": {"percent": "1"},
            },
            {
                "id": "mcc",
                "description": "mcc",
                "priority": 4,
                "when": {"mcc": ["5411", "5541"]},
                "pay": {"percent": "0.75", "max_minor": 900},
            },
            {
                "id": "big",
                "description": "big orders",
                "priority": 3,
                "when": {"min_total_minor": 300_000, "regions": ["RU-MOW", "KZ-ALA"]},
                "pay": {"fixed_minor": 1500},
            },
            {
                "id": "segments",
                "description": "students and families",
                "priority": 2,
                "when": {"segments": ["student", "family"], "channels": ["app", "online"]},
                "pay": {"percent": "4", "min_minor": 5000},
            },
            {"id": "all", "description": "all", "priority": 1, "pay": {"percent": "0.1"}},
        ],
    },
    {
        "ruleset": "best-budget",
        "version": 1,
        "effective_from": "2026-01-01T00:00:00Z",
        "timezone": "Australia/Lord_Howe",
        "currencies": ["RUB", "KZT"],
        "rounding": "half_even",
        "combine": "best",
        "max_per_purchase_minor": 3000,
        "hold_days": 3650,
        "expires_days": 36500,
        "rules": [
            {
                "id": "a",
                "description": "a",
                "priority": 5,
                "when": {"categories": ["groceries"]},
                "pay": {"percent": "2.5"},
            },
            {
                "id": "b",
                "description": "b",
                "priority": 5,
                "when": {"categories": ["electronics"]},
                "pay": {"percent": "0.5"},
            },
            {
                "id": "c",
                "description": "c",
                "priority": 4,
                "when": {"days_of_week": ["sat", "sun"], "tiers": ["gold", "silver"]},
                "pay": {"percent": "1.25"},
            },
            {
                "id": "d",
                "description": "d",
                "priority": 3,
                "when": {"payment_methods": ["wallet"]},
                "pay": {"fixed_minor": 2500},
            },
            {
                "id": "e",
                "description": "e",
                "priority": 2,
                "when": {"local_time": {"from": "01:30", "to": "02:30"}},
                "pay": {"fixed_minor": 4000},
            },
        ],
    },
    {
        "ruleset": "first-cel",
        "version": 1,
        "effective_from": "2026-01-01T00:00:00Z",
        "timezone": "Asia/Kathmandu",
        "currencies": ["RUB", "KZT", "EUR"],
        "rounding": "down",
        "combine": "first",
        "hold_days": 1,
        "notify": {"accrual": "first_a", "reversal": "first_r"},
        "rules": [
            {
                "id": "cel-lines",
                "description": "cel lines",
                "priority": 9,
                "when": {
                    "categories": ["groceries", "beauty"],
                    "expr": "size(purchase.lines) > 1 && purchase.total_minor < 2000000"
                    " && purchase.lines[0].amount_minor > 30000",
                },
                "pay": {"percent": "5"},
            },
            {
                "id": "cel-any",
                "description": "cel whole",
                "priority": 8,
                "when": {"expr": "size(purchase) > 10 && has(purchase.merchant)"},
                "pay": {"percent": "0.2", "min_minor": 200},
            },
            {
                "id": "cel-customer",
                "description": "cel customer",
                "priority": 7,
                "when": {
                    "expr": "purchase.customer.tier == 'platinum'"
                    " || 'new' in purchase.customer.segments",
                    "categories": ["home", "apparel", "electronics"],
                },
                "pay": {"percent": "3"},
            },
            {
                "id": "evening",
                "description": "evening",
                "priority": 6,
                "when": {"local_time": {"from": "17:45", "to": "23:15"}},
                "pay": {"percent": "1.5"},
            },
            {
                "id": "rest",
                "description": "rest",
                "priority": 0,
                "pay": {"percent": "0.4", "min_minor": 100},
            },
        ],
    },
    {
        "ruleset": "first-cel",
        "version": 2,
        "effective_from": "2026-11-20T12:34:56.789+01:00",
        "timezone": "Europe/Berlin",
        "currencies": ["RUB", "KZT", "EUR"],
        "combine": "first",
        "rules": [
            {
                "id": "sunday",
                "description": "sunday",
                "priority": 9,
                "when": {"days_of_week": ["sun"]},
                "pay": {"percent": "9"},
            },
            {
                "id": "rest",
                "description": "rest",
                "priority": 0,
                "when": {"expr": "purchase.payment_method != 'cash'"},
                "pay": {"percent": "0.4", "min_minor": 100},
            },
        ],
    },
    {
        "ruleset": "first-cel",
        "version": 3,
        "effective_from": "2026-11-29T00:00:00Z",
        "timezone": "Europe/Berlin",
        "currencies": ["RUB"],
        "rules": [],
    },
    {
        "ruleset": "zz-no-rules-matching",
        "version": 1,
        "effective_from": "2026-11-01T00:00:00Z",
        "currencies": ["RUB"],
        "rules": [
            {
                "id": "toys",
                "description": "toys",
                "when": {"categories": ["toys"]},
                "pay": {"percent": "1"},
            },
        ],
    },
]


def feature_catalog() -> Catalog:
    return Catalog.of([doc_ruleset(doc) for doc in FEATURE_DOCS])


CATEGORIES = [
    "groceries",
    "electronics",
    "fuel",
    "pharmacy",
    "auto",
    "beauty",
    "home",
    "toys",
    "travel",
]
SKUS = ["GRO-00001", "AUTO-WASH-1", "FUEL-AI95", "S1", "S2", "X", 'é"\\']
MERCHANTS = [None, "M-FUEL-001", "M-GROC-001", "M-GROC-002", "M-OTHER", ""]
MCCS = [None, "5411", "5541", "5999"]
OFFSETS = [
    "Z",
    "+00:00",
    "+03:00",
    "-04:00",
    "-05:00",
    "+05:45",
    "+10:30",
    "+11:00",
    "+14:00",
    "-09:30",
]


def random_time(rng: random.Random) -> str:
    # Mostly around the catalog's version switches and the DST changes of 2026.
    base = rng.choice(
        [
            1_772_928_000,  # 2026-03-08 (US DST)
            1_775_318_400,  # 2026-04-04 (Lord Howe DST end)
            1_792_800_000,  # 2026-10-24
            1_793_491_200,  # 2026-11-01
            1_795_132_800,  # 2026-11-20
            1_795_737_600,  # 2026-11-27
            1_796_342_400,  # 2026-12-04
            1_767_225_600,  # 2026-01-01
        ]
    )
    t = base + rng.randrange(-4 * 86400, 4 * 86400)
    offset = rng.choice(OFFSETS)
    if offset == "Z":
        minutes = 0
    else:
        sign = -1 if offset[0] == "-" else 1
        minutes = sign * (int(offset[1:3]) * 60 + int(offset[4:6]))
    local = t + minutes * 60
    days, secs = divmod(local, 86400)
    d = date.fromordinal(date(1970, 1, 1).toordinal() + days)
    text = f"{d.isoformat()}T{secs // 3600:02d}:{secs // 60 % 60:02d}:{secs % 60:02d}"
    fraction = rng.random()
    if fraction < 0.1:
        text += "." + str(rng.randrange(10**6)).rjust(6, "0")
    elif fraction < 0.2:
        text += "." + str(rng.randrange(1000))
    return text + offset


def random_purchase(rng: random.Random, n: int) -> dict[str, Any]:
    lines: list[dict[str, Any]] = []
    for _ in range(rng.choice([1, 1, 2, 3, 4, 6, 12])):
        amount = rng.choice([0, 1, 99, 5000, rng.randrange(1, 2_000_000), rng.randrange(1, 10**9)])
        lines.append(
            {
                "sku": rng.choice(SKUS),
                "category": rng.choice(CATEGORIES),
                "quantity": rng.randrange(1, 5),
                "amount_minor": amount,
            }
        )
    customer: dict[str, Any] = {"id": f"C-{rng.randrange(50)}"}
    if rng.random() < 0.7:
        customer["tier"] = rng.choice([None, "gold", "silver", "platinum", "x"])
    if rng.random() < 0.5:
        customer["segments"] = rng.sample(["student", "family", "new", "q"], rng.randrange(3))
    if rng.random() < 0.8:
        customer["locale"] = rng.choice([None, "ru-RU", "en", "kk-KZ"])
    if rng.random() < 0.2:
        customer["notifications"] = rng.random() < 0.5
    event: dict[str, Any] = {
        "type": "purchase",
        "event_id": f"evt-{n}",
        "purchase_id": f"P-{n}",
        "occurred_at": random_time(rng),
        "customer": customer,
        "currency": rng.choice(["RUB", "RUB", "KZT", "EUR", "USD"]),
        "total_minor": sum(x["amount_minor"] for x in lines) + rng.choice([0, 0, 0, 1, 250_000]),
        "lines": lines,
    }
    if rng.random() < 0.85:
        event["merchant"] = {
            "id": rng.choice(MERCHANTS),
            "mcc": rng.choice(MCCS),
            "region": rng.choice([None, "RU-MOW", "KZ-ALA", "RU-SPE"]),
        }
    if rng.random() < 0.9:
        event["channel"] = rng.choice([None, "app", "online", "pos"])
    if rng.random() < 0.9:
        event["payment_method"] = rng.choice([None, "card", "wallet", "cash"])
    return event


def random_refund(rng: random.Random, bought: dict[str, Any], n: int) -> dict[str, Any]:
    remaining = [x["amount_minor"] for x in bought["lines"]]
    previously = []
    for _ in range(rng.randrange(3)):
        i = rng.randrange(len(remaining))
        a = rng.randrange(remaining[i] + 1)
        remaining[i] -= a
        previously.append((i, a))
    refunded = []
    for _ in range(rng.randrange(1, 4)):
        i = rng.randrange(len(remaining))
        a = rng.choice([remaining[i], rng.randrange(remaining[i] + 1)])
        remaining[i] -= a
        refunded.append((i, a))
    event = refund_of(
        bought,
        refunded,
        previously if previously or rng.random() < 0.5 else None,
        event_id=f"ref-{n}",
        occurred_at=random_time(rng),
    )
    if rng.random() < 0.5:
        event["original"]["customer"] = {
            "id": bought["customer"]["id"],
            "tier": rng.choice([None, "gold", "platinum"]),
            "segments": rng.sample(["student", "family", "new"], rng.randrange(3)),
        }
    if rng.random() < 0.3:
        event["customer"] = {"id": "C-other", "locale": None, "notifications": rng.random() < 0.5}
    return event


def random_events(seed: int, count: int) -> Iterator[bytes]:
    rng = random.Random(seed)
    bought: list[dict[str, Any]] = []
    for n in range(count):
        if bought and rng.random() < 0.3:
            yield orjson.dumps(random_refund(rng, rng.choice(bought), n))
        else:
            event = random_purchase(rng, n)
            bought.append(event)
            yield orjson.dumps(event)


def check_features(quick: bool) -> None:
    catalog = feature_catalog()
    pair = Pair(catalog)
    for raw in random_events(5, 3000 if quick else 12_000):
        pair.check(raw, label="random event, feature catalog")
    for record in generate(3000 if quick else 10_000, seed=3, bad_every=97):
        if record.value is not None:
            pair.check(record.value, label="sample stream, feature catalog")
    for label, raw, _ in edge_events():
        pair.check(raw, label=label)
    print(
        pair.summary("feature catalog (bands, stack, best, budgets, skus, indexes, DST zones, CEL)")
    )
    if pair.declined_valid > pair.handled // 100:
        raise MismatchError("too many valid events declined on the feature catalog")
    both = Pair(Catalog.of([*sample_catalog().all(), *catalog.all()]))
    for raw in random_events(6, 2000 if quick else 6000):
        both.check(raw, label="random event, sample + feature catalog")
    print(both.summary("sample + feature catalog"))


# ---------------------------------------------------------------------------- random catalogs

ZONES = [
    "UTC",
    "Europe/Moscow",
    "America/New_York",
    "Australia/Lord_Howe",
    "Asia/Kathmandu",
    "Pacific/Chatham",
    "America/St_Johns",
    "Europe/Berlin",
]
RANDOM_EXPRESSIONS = [
    'purchase.payment_method == "card" && size(purchase.lines) >= 3',
    "purchase.total_minor > 200000",
    "has(purchase.merchant) && purchase.merchant.mcc == '5411'",
    "'student' in purchase.customer.segments",
    "size(purchase) > 9",
    "purchase.customer.locale == null || purchase.customer.notifications",
    'purchase.occurred_at.endsWith("Z")',
    "purchase.lines[0].amount_minor > 1000",
    "purchase.channel",
    "size(purchase.lines) >= 3",  # only the count is built (cel.demand)
    "purchase.lines.size() == 1 || purchase.lines.exists(l, l.quantity > 2)",
]
PERCENTS = ["0", "0.5", "1", "1.5", "2.25", "3", "0.333333", "12.5", "100", "7.123456"]


def random_rule(rng: random.Random, rule_id: str) -> dict[str, Any]:
    when: dict[str, Any] = {}
    choices: dict[str, Callable[[], Any]] = {
        "categories": lambda: rng.sample(CATEGORIES, rng.randrange(1, 4)),
        "skus": lambda: rng.sample(SKUS, rng.randrange(1, 3)),
        "mcc": lambda: rng.sample(["5411", "5541", "5999", "4511"], rng.randrange(1, 3)),
        "merchants": lambda: rng.sample(
            ["M-FUEL-001", "M-GROC-001", "M-GROC-002", "M-OTHER"], rng.randrange(1, 3)
        ),
        "channels": lambda: rng.sample(["app", "online", "pos"], rng.randrange(1, 3)),
        "regions": lambda: rng.sample(["RU-MOW", "KZ-ALA", "RU-SPE"], rng.randrange(1, 3)),
        "payment_methods": lambda: rng.sample(["card", "wallet", "cash"], rng.randrange(1, 3)),
        "tiers": lambda: rng.sample(["gold", "silver", "platinum"], rng.randrange(1, 3)),
        "segments": lambda: rng.sample(["student", "family", "new"], rng.randrange(1, 3)),
        "min_total_minor": lambda: rng.choice([0, 1000, 100_000, 2_000_000]),
        "days_of_week": lambda: rng.sample(
            ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], rng.randrange(1, 6)
        ),
        "local_time": lambda: dict(
            zip(
                ("from", "to"),
                [f"{m // 60:02d}:{m % 60:02d}" for m in rng.sample(range(0, 1440, 15), 2)],
                strict=True,
            )
        ),
        "expr": lambda: rng.choice(RANDOM_EXPRESSIONS),
    }
    for name in rng.sample(list(choices), rng.choice([0, 1, 1, 2, 2, 3])):
        when[name] = choices[name]()
    way = rng.random()
    pay: dict[str, Any]
    if way < 0.6:
        pay = {"percent": rng.choice(PERCENTS)}
    elif way < 0.8:
        pay = {"fixed_minor": rng.choice([0, 1, 50, 5000, 2**53 - 1])}
    else:
        starts = sorted(rng.sample([0, 1, 1000, 50_000, 200_000, 1_000_000], rng.randrange(1, 4)))
        pay = {"bands": [{"from_minor": s, "percent": rng.choice(PERCENTS)} for s in starts]}
    if rng.random() < 0.3:
        pay["max_minor"] = rng.choice([0, 100, 5000, 100_000])
    if rng.random() < 0.3:
        pay["min_minor"] = rng.choice([0, 1, 100, 5000])
        if "max_minor" in pay and pay["min_minor"] > pay["max_minor"]:
            del pay["min_minor"]
    description = rng.choice(
        ["plain", 'quote " and \\ backslash', "юникод ✓ 😀", "tab\tnew\nline\u0001"]
    )
    return {
        "id": rule_id,
        "description": description,
        "priority": rng.randrange(-2, 3),
        "when": when,
        "pay": pay,
    }


def random_catalog(rng: random.Random) -> Catalog:
    rulesets = []
    for name in rng.sample(["alpha", "beta", "gamma", "delta"], rng.randrange(1, 4)):
        for version in range(1, rng.randrange(2, 4)):
            day = rng.randrange(1, 28)
            month = rng.choice([1, 10, 11, 11, 12])
            doc: dict[str, Any] = {
                "ruleset": name,
                "version": version,
                "effective_from": f"2026-{month:02d}-{day:02d}T{rng.randrange(24):02d}:00:00+03:00",
                "timezone": rng.choice(ZONES),
                "currencies": rng.sample(["RUB", "KZT", "EUR"], rng.randrange(1, 4)),
                "rounding": rng.choice(["down", "half_up", "half_even"]),
                "combine": rng.choice(["first", "best", "stack"]),
                "hold_days": rng.choice([0, 0, 1, 14, 3650]),
                "rules": [random_rule(rng, f"r{i}") for i in range(rng.choice([0, 1, 2, 3, 5, 8]))],
            }
            if rng.random() < 0.5:
                doc["max_per_purchase_minor"] = rng.choice([0, 1000, 100_000])
            if rng.random() < 0.6:
                doc["expires_days"] = rng.choice([1, 30, 36500])
            if rng.random() < 0.7:
                doc["notify"] = {
                    k: f"{k}_t" for k in rng.sample(["accrual", "reversal"], rng.randrange(1, 3))
                }
            rulesets.append(doc_ruleset(doc))
    return Catalog.of(rulesets)


def check_random_catalogs(quick: bool) -> None:
    rng = random.Random(2026)
    total = Pair(Catalog())
    catalogs = 40 if quick else 150
    for n in range(catalogs):
        pair = Pair(random_catalog(rng))
        for raw in random_events(1000 + n, 150 if quick else 300):
            pair.check(raw, label=f"random catalog {n}")
        total.handled += pair.handled
        total.accrued += pair.accrued
        total.declined_valid += pair.declined_valid
        total.declined_invalid += pair.declined_invalid
    print(total.summary(f"{catalogs} random catalogs x random events"))
    if total.declined_valid > total.handled // 100:
        raise MismatchError("too many valid events declined on random catalogs")


# ---------------------------------------------------------------------------- mutations

MUTANT_VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    -0.0,
    1,
    -1,
    2**53 - 1,
    2**53,
    2**63,
    -(2**63),
    1.5,
    1e300,
    "",
    "x",
    "RUB",
    "5411",
    "ru-RU",
    "2026-11-25T14:00:00+03:00",
    "2026-11-25T14:00:00.5Z",
    "2026-11-25 14:00:00Z",
    [],
    [1],
    {},
    {"id": "C"},
    "é" * 129,
    "😀" * 128,
    [{"line": 0, "amount_minor": 1}],
    [{"sku": "s", "category": "c", "quantity": 1, "amount_minor": 1}],
]


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += paths(item, (*prefix, index))
    return found


def mutants(seed: int, count: int) -> Iterator[bytes]:
    rng = random.Random(seed)
    valid = [purchase(), refund_of(purchase(), [(1, 1000)], [(0, 5)])]
    valid[1]["original"]["customer"] = {"id": "C-1", "tier": "gold", "segments": []}
    valid += [orjson.loads(raw) for raw in random_events(seed, 50)]
    for _ in range(count):
        event = copy.deepcopy(rng.choice(valid))
        for _ in range(rng.choice([1, 1, 1, 2, 3])):
            options = paths(event)
            if not options:
                break
            path = rng.choice(options)
            target = event
            for step in path[:-1]:
                target = target[step]
            what = rng.random()
            if what < 0.25 and isinstance(target, dict):
                del target[path[-1]]
            elif what < 0.35 and isinstance(target, dict):
                target[rng.choice(["type", "zz", "event_id", "lines", "id", "tier"])] = rng.choice(
                    MUTANT_VALUES
                )
            else:
                target[path[-1]] = copy.deepcopy(rng.choice(MUTANT_VALUES))
        raw = json.dumps(event, ensure_ascii=rng.random() < 0.5).encode()
        if rng.random() < 0.2:  # byte-level damage
            b = bytearray(raw)
            for _ in range(rng.randrange(1, 4)):
                i = rng.randrange(len(b))
                op = rng.random()
                if op < 0.4:
                    b[i] = rng.randrange(256)
                elif op < 0.7:
                    del b[i]
                else:
                    b.insert(i, rng.choice(b' ,:{}[]"\\0e-.nt'))
            raw = bytes(b)
        yield raw


def check_mutations(quick: bool) -> None:
    for catalog_name, catalog in (("sample", sample_catalog()), ("feature", feature_catalog())):
        pair = Pair(catalog)
        for raw in mutants(11, 4000 if quick else 20_000):
            pair.check(raw, label=f"mutant, {catalog_name} catalog")
        print(pair.summary(f"mutated events, {catalog_name} catalog"))


# ---------------------------------------------------------------------------- speed


def bench() -> None:
    catalog = sample_catalog()
    python = Engine(catalog)
    native = cashback_native.Engine(export_catalog(catalog, MAX_EVENT_BYTES), Output, Tally)
    records = [r.value for r in generate(20_000, seed=7, bad_every=300)]
    values = [v for v in records if v]

    def run(handle: Any) -> float:
        start = time.perf_counter()
        for raw in values:
            handle(raw)
        return time.perf_counter() - start

    run(native.handle)
    run(python.handle)
    native_times = [run(native.handle) for _ in range(5)]
    python_times = [run(python.handle) for _ in range(5)]
    n = len(values)
    tn, tp = statistics.median(native_times), statistics.median(python_times)
    print(
        f"speed over {n} sample events (seed 7, median of 5, warm):"
        f" native {n / tn:,.0f} ev/s ({tn / n * 1e6:.2f} us/event),"
        f" python {n / tp:,.0f} ev/s ({tp / n * 1e6:.2f} us/event), x{tp / tn:.1f}"
    )


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer random inputs")
    parser.add_argument("--no-bench", action="store_true", help="skip the speed run")
    args = parser.parse_args(list(argv) if argv is not None else None)
    try:
        check_sample(args.quick)
        check_edges()
        check_cel(args.quick)
        check_features(args.quick)
        check_random_catalogs(args.quick)
        check_mutations(args.quick)
    except MismatchError as exc:
        print(f"MISMATCH: {exc}")
        return 1
    if not args.no_bench:
        bench()
    print("all native answers equal the Python reference")
    return 0


if __name__ == "__main__":
    sys.exit(main())
