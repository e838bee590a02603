"""Deterministic test inputs for the worker: rule set documents, purchase and refund
streams, and one bad input of every kind. Same arguments, same bytes, every run."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson

MSK = timezone(timedelta(hours=3))
START = datetime(2026, 12, 1, 9, 0, tzinfo=MSK)  # a Tuesday
RULES_FROM = "2026-01-01T00:00:00+03:00"
CATEGORIES = ("groceries", "electronics", "fuel", "books")
TRACEPARENT = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@dataclass(frozen=True)
class Event:
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]] = field(default_factory=list)


@dataclass(frozen=True)
class BadEvent(Event):
    code: str = ""


def ruleset_document(
    name: str = "retail",
    version: int = 1,
    *,
    percent: str = "2",
    groceries_percent: str = "5",
    effective_from: str = RULES_FROM,
    notify: bool = True,
) -> bytes:
    """A small rule set: a higher rate on groceries, a catch-all rate on everything else."""
    doc: dict[str, Any] = {
        "ruleset": name,
        "version": version,
        "effective_from": effective_from,
        "timezone": "Europe/Moscow",
        "currencies": ["RUB"],
        "hold_days": 14,
        "expires_days": 365,
        "rules": [
            {
                "id": "groceries",
                "description": f"{groceries_percent}% back on groceries",
                "priority": 10,
                "when": {"categories": ["groceries"]},
                "pay": {"percent": groceries_percent},
            },
            {
                "id": "everything",
                "description": f"{percent}% back on everything else",
                "pay": {"percent": percent, "min_minor": 100},
            },
        ],
    }
    if notify:
        doc["notify"] = {"accrual": "cashback_accrued", "reversal": "cashback_reversed"}
    return orjson.dumps(doc)


def big_ruleset_document(version: int, rules: int = 10_000, percent: str = "3") -> bytes:
    """`ruleset_document(version)` grown to `rules` rules: SKU promotions the streams never
    hit (~1.7 MB of JSON at 10,000, over the 1 MiB the rules feed once took)."""
    doc = orjson.loads(ruleset_document(version=version, percent=percent))
    doc["rules"][1:1] = [
        {
            "id": f"sku-promo-{i:05d}",
            "description": f"{1 + i % 9}% back on promotion item {i}",
            "priority": 20 + i % 50,
            "when": {"skus": [f"PROMO-{i:05d}", f"PROMO-{i:05d}-B"]},
            "pay": {"percent": f"{1 + i % 9}", "max_minor": 50_000},
        }
        for i in range(rules - 2)
    ]
    return orjson.dumps(doc)


def purchase(
    number: int,
    *,
    customer: str,
    occurred_at: datetime,
    lines: list[tuple[str, int]],
    prefix: str = "evt",
) -> dict[str, Any]:
    return {
        "type": "purchase",
        "event_id": f"{prefix}-{number:07d}",
        "purchase_id": f"P-{prefix}-{number:07d}",
        "occurred_at": occurred_at.isoformat(),
        "customer": {"id": customer, "locale": "ru-RU"},
        "currency": "RUB",
        "total_minor": sum(amount for _, amount in lines),
        "lines": [
            {"sku": f"SKU-{category}", "category": category, "quantity": 1, "amount_minor": amount}
            for category, amount in lines
        ],
    }


def refund(number: int, original: dict[str, Any], *, prefix: str = "evt") -> dict[str, Any]:
    """Returns the first line of `original` in full, an hour after it was bought."""
    bought = datetime.fromisoformat(original["occurred_at"])
    first = original["lines"][0]
    return {
        "type": "refund",
        "event_id": f"{prefix}-{number:07d}",
        "purchase_id": original["purchase_id"],
        "occurred_at": (bought + timedelta(hours=1)).isoformat(),
        "customer": original["customer"],
        "currency": original["currency"],
        "original": {
            "occurred_at": original["occurred_at"],
            "total_minor": original["total_minor"],
            "lines": original["lines"],
        },
        "refunded_lines": [{"line": 0, "amount_minor": first["amount_minor"]}],
    }


def stream(
    count: int,
    *,
    seed: int = 1,
    customers: int = 40,
    refund_every: int = 10,
    start: datetime = START,
    prefix: str = "evt",
) -> list[Event]:
    """`count` events keyed by customer id, one minute apart; every `refund_every`-th is a
    refund of an earlier purchase (0: none); some carry a W3C traceparent header."""
    rng = random.Random(seed)
    bought: list[dict[str, Any]] = []
    events: list[Event] = []
    for number in range(count):
        occurred_at = start + timedelta(minutes=number)
        if refund_every and bought and number % refund_every == refund_every - 1:
            doc = refund(number, bought.pop(rng.randrange(len(bought))), prefix=prefix)
        else:
            lines = [
                (rng.choice(CATEGORIES), rng.randrange(100, 500_000))
                for _ in range(rng.randint(1, 3))
            ]
            customer = f"C-{rng.randrange(customers):04d}"
            doc = purchase(
                number, customer=customer, occurred_at=occurred_at, lines=lines, prefix=prefix
            )
            bought.append(doc)
        headers = [("traceparent", TRACEPARENT)] if number % 3 == 0 else []
        events.append(Event(doc["customer"]["id"].encode(), orjson.dumps(doc), headers))
    return events


def bad_events(max_event_bytes: int) -> list[BadEvent]:
    """One input per dead-letter code; run the worker with `--max-event-bytes max_event_bytes`."""
    valid = purchase(1, customer="C-bad", occurred_at=START, lines=[("books", 1000)], prefix="bad")
    big = dict(valid, event_id="bad-big", padding="x" * max_event_bytes)
    mismatch = refund(2, valid, prefix="bad")
    mismatch["refunded_lines"] = [{"line": 5, "amount_minor": 10}]
    schema = dict(valid, event_id="bad-schema", currency="rubles")
    header = [("origin", b"pos-17")]
    return [
        BadEvent(b"k-json", b"{not json", header, code="invalid_json"),
        BadEvent(b"k-schema", orjson.dumps(schema), header, code="schema_violation"),
        BadEvent(b"k-large", orjson.dumps(big), header, code="too_large"),
        BadEvent(b"k-refund", orjson.dumps(mismatch), header, code="refund_mismatch"),
        BadEvent(b"k-empty", None, header, code="empty"),
        BadEvent(
            b"k-twice", b'{"total_minor":1,' + orjson.dumps(valid)[1:], header, code="duplicate_key"
        ),
    ]
