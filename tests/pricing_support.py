"""Builders for pricing tests: small rule sets and events from keyword arguments."""

from __future__ import annotations

from typing import Any

import orjson

from cashback.domain.catalog import Catalog
from cashback.domain.engine import Handled
from cashback.domain.rules import RuleSet, parse_ruleset
from engines import CheckedEngine

SATURDAY = "2026-12-05T14:00:00+03:00"  # a Saturday afternoon in Moscow
MONDAY = "2026-12-07T10:00:00+03:00"


def ruleset(rules: list[dict[str, Any]], **fields: Any) -> RuleSet:
    doc: dict[str, Any] = {
        "ruleset": "retail",
        "version": 1,
        "effective_from": "2026-01-01T00:00:00+03:00",
        "timezone": "Europe/Moscow",
        "currencies": ["RUB"],
        "rules": rules,
    }
    doc.update(fields)
    return parse_ruleset(orjson.dumps(doc))


def rule(rule_id: str = "r", pay: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    found: dict[str, Any] = {
        "id": rule_id,
        "description": f"rule {rule_id}",
        "pay": pay if pay is not None else {"percent": "1"},
    }
    found.update(fields)
    return found


def line(amount: int, category: str = "groceries", sku: str = "SKU-1") -> dict[str, Any]:
    return {"sku": sku, "category": category, "quantity": 1, "amount_minor": amount}


def purchase(lines: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "purchase",
        "event_id": "evt-1",
        "purchase_id": "P-1",
        "occurred_at": SATURDAY,
        "customer": {"id": "C-42"},
        "currency": "RUB",
        "total_minor": sum(item["amount_minor"] for item in lines),
        "lines": lines,
    }
    event.update(fields)
    return event


def refund(
    original: dict[str, Any],
    refunded: list[tuple[int, int]],
    previously: list[tuple[int, int]] = (),  # type: ignore[assignment]
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
            key: original[key]
            for key in (
                "occurred_at",
                "total_minor",
                "lines",
                "merchant",
                "channel",
                "payment_method",
            )
            if key in original
        },
        "refunded_lines": [{"line": i, "amount_minor": a} for i, a in refunded],
        "previously_refunded_lines": [{"line": i, "amount_minor": a} for i, a in previously],
    }
    event.update(fields)
    return event


def handle(rulesets: RuleSet | list[RuleSet], event: dict[str, Any] | bytes) -> Handled:
    found = [rulesets] if isinstance(rulesets, RuleSet) else rulesets
    raw = event if isinstance(event, bytes) else orjson.dumps(event)
    return CheckedEngine(Catalog.of(found)).handle(raw)


def amounts(handled: Handled) -> dict[str, int]:
    """Accrued (or reversed) amount per rule set name."""
    return {a.ruleset: a.amount_minor for a in handled.accruals}


def rule_amounts(handled: Handled) -> dict[str, int]:
    """Amount per rule id across the accruals."""
    return {r.id: r.amount_minor for a in handled.accruals for r in a.rules}


def paid(rs: RuleSet, event: dict[str, Any]) -> int:
    """The single amount `rs` pays for `event` (0 when nothing)."""
    return amounts(handle(rs, event)).get(rs.name, 0)
