"""Catalogs and event streams for the core benchmarks, generated from a seed-free recipe.

Generated catalogs grow without growing what one event can match: the rules that a sample
event can hit (one category rule per real category, the CEL basket rule, the catch-all)
are the same at every size, and the rest promote categories, SKUs, merchants and MCCs the
sample stream never uses. So the curves show what a bigger catalog costs by itself (index
lookups, version selection, memory), not more cashback per event.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import msgspec
import orjson

from cashback.domain.catalog import Catalog
from cashback.domain.rules import compile_ruleset, parse_ruleset
from cashback.rulefiles import load_catalog

RULES = Path(__file__).resolve().parent.parent / "deploy" / "examples" / "rules"
CATEGORIES = (
    "groceries", "electronics", "fuel", "pharmacy", "apparel",
    "travel", "restaurants", "home", "beauty", "auto",
)  # fmt: skip
# The six categories of the big-basket events (prefix of their SKUs).
BASKET = (("groceries", "GRO"), ("electronics", "ELE"), ("home", "HOM"),
          ("beauty", "BEA"), ("apparel", "APP"), ("pharmacy", "PHA"))  # fmt: skip
CEL_RULE: dict[str, Any] = {
    "id": "card-basket", "description": "1.5% on a basket of three items or more",
    "priority": 5, "when": {"expr": "size(purchase.lines) >= 3"}, "pay": {"percent": "1.5"},
}  # fmt: skip


def thousand_rules() -> Catalog:
    """1,000 rules that look like a big retailer's promotion calendar."""
    rules: list[dict[str, Any]] = []
    for i in range(400):  # category promotions, a few per category with extra conditions
        when: dict[str, Any] = {"categories": [CATEGORIES[i % 10], f"cat-{i}"]}
        if i % 3 == 0:
            when["tiers"] = ["gold", "platinum"]
        if i % 4 == 1:
            when["channels"] = ["online", "app"]
        if i % 5 == 2:
            when["days_of_week"] = ["sat", "sun"]
        rules.append({"id": f"cat-{i:04d}", "pay": {"percent": f"{1 + i % 7}.5"}, "when": when,
                      "priority": 10 + i % 50})  # fmt: skip
    for i in range(400):  # sku promotions
        skus = [f"GRO-{i:05d}", f"ELE-{i:05d}"]
        rules.append({"id": f"sku-{i:04d}", "pay": {"fixed_minor": 1000 + i},
                      "when": {"skus": skus}, "priority": 100})  # fmt: skip
    for i in range(150):  # merchant partnerships
        rules.append({"id": f"merchant-{i:04d}", "pay": {"percent": "2"},
                      "when": {"merchants": [f"M-{i:05d}"]}, "priority": 5})  # fmt: skip
    for i in range(49):  # MCC promotions
        rules.append({"id": f"mcc-{i:04d}", "pay": {"percent": "1.5", "max_minor": 100000},
                      "when": {"mcc": [f"{7000 + i:04d}"]}, "priority": 4})  # fmt: skip
    rules.append({"id": "catch-all", "pay": {"percent": "0.5", "min_minor": 100}})
    for rule in rules:
        rule["description"] = f"promotion {rule['id']}"
    return build([_doc("big-retail", 1, "2026-01-01T00:00:00+03:00", rules)])


def _doc(name: str, version: int, effective_from: str, rules: list[dict[str, Any]]) -> Any:
    return {
        "ruleset": name, "version": version, "effective_from": effective_from,
        "timezone": "Europe/Moscow", "currencies": ["RUB"], "hold_days": 14,
        "expires_days": 365, "combine": "first", "notify": {"accrual": "cashback_accrued"},
        "rules": rules,
    }  # fmt: skip


def promotion_rules(count: int, tag: str = "") -> list[dict[str, Any]]:
    """`count` rules (>= 12): ten that sample events can hit (one per real category), the
    CEL basket rule, a catch-all, and promotions on things the sample stream never has."""
    rules: list[dict[str, Any]] = []
    for i, category in enumerate(CATEGORIES):
        when: dict[str, Any] = {"categories": [category]}
        if i % 3 == 0:
            when["tiers"] = ["gold", "platinum"]
        rules.append({"id": f"cat-{i}", "pay": {"percent": f"{1 + i % 4}.5"}, "when": when,
                      "priority": 20})  # fmt: skip
    rules.append(dict(CEL_RULE))
    others = count - len(rules) - 1
    for i in range(others):
        kind = i % 20
        if kind < 8:  # categories of other shops
            when = {"categories": [f"cat{tag}-{i}", f"aisle{tag}-{i}"]}
            if i % 4 == 1:
                when["channels"] = ["online", "app"]
            if i % 5 == 2:
                when["days_of_week"] = ["sat", "sun"]
            pay: dict[str, Any] = {"percent": f"{1 + i % 7}.5"}
        elif kind < 16:  # SKU promotions (the sample's SKUs are five digits)
            when = {"skus": [f"X{tag}-{i:07d}", f"Y{tag}-{i:07d}"]}
            pay = {"fixed_minor": 1000 + i % 500}
        elif kind < 19:  # merchant partnerships
            when = {"merchants": [f"P{tag}-{i:07d}"]}
            pay = {"percent": "2"}
        else:  # MCCs the sample stream does not use
            when = {"mcc": [f"{6000 + i % 1000:04d}"]}
            pay = {"percent": "1.5", "max_minor": 100000}
        rules.append({"id": f"p{tag}-{i:06d}", "pay": pay, "when": when,
                      "priority": 10 + i % 50})  # fmt: skip
    rules.append({"id": "catch-all", "pay": {"percent": "0.5", "min_minor": 100}})
    for rule in rules:
        rule.setdefault("description", f"promotion {rule['id']}")
    return rules


def rules_docs(count: int) -> list[dict[str, Any]]:
    """One rule set of `count` rules."""
    return [_doc("big-retail", 1, "2026-01-01T00:00:00+03:00", promotion_rules(count))]


def sets_docs(count: int, rules_per_set: int = 30) -> list[dict[str, Any]]:
    """`count` rule sets, all in force, 30 rules each."""
    return [
        _doc(f"partner-{s:03d}", 1, "2026-01-01T00:00:00+03:00",
             promotion_rules(rules_per_set, tag=str(s)))
        for s in range(count)
    ]  # fmt: skip


def versions_docs(count: int, rules_per_set: int = 30) -> list[dict[str, Any]]:
    """One rule set in `count` versions, a day apart, the newest from 2026-01-01: every
    sample event (November 2026) is priced by the newest, the catalog holds them all."""
    docs = []
    for v in range(1, count + 1):
        start = _days_before("2026-01-01", count - v)
        docs.append(_doc("big-retail", v, f"{start}T00:00:00+03:00",
                         promotion_rules(rules_per_set, tag=f"v{v}")))  # fmt: skip
    return docs


def _days_before(day: str, days: int) -> str:
    return (date.fromisoformat(day) - timedelta(days=days)).isoformat()


def build(docs: list[dict[str, Any]]) -> Catalog:
    return Catalog.of(parse_ruleset(orjson.dumps(doc)) for doc in docs)


def without_cel(catalog: Catalog) -> Catalog:
    found = []
    for ruleset in catalog.all():
        doc = ruleset.doc
        kept = tuple(r for r in doc.rules if r.when.expr is None)
        found.append(compile_ruleset(msgspec.structs.replace(doc, rules=kept)))
    return Catalog.of(found)


# When the example catalog's CEL rule is in force (retail v2, card payments in RUB).
BASKET_TIME = "2026-11-25T14:00:00+03:00"


def with_lines(event: dict[str, Any], count: int) -> dict[str, Any]:
    """A card purchase in RUB like `event`, at `BASKET_TIME`, with `count` lines over six
    categories: the example rules' CEL basket rule is evaluated for it."""
    lines = []
    for i in range(count):
        category, prefix = BASKET[i % len(BASKET)]
        amount = 9_900 + (i * 7_919) % 190_000
        lines.append({"sku": f"{prefix}-{(i * 37) % 100_000:05d}", "category": category,
                      "quantity": 1 + i % 3, "amount_minor": amount})  # fmt: skip
    total = sum(x["amount_minor"] for x in lines)
    return {**event, "lines": lines, "total_minor": total, "occurred_at": BASKET_TIME,
            "payment_method": "card", "currency": "RUB"}  # fmt: skip


def load_examples() -> Catalog:
    """The sample rule sets in deploy/examples/rules (several sets and versions, one CEL rule)."""
    return load_catalog([RULES])
