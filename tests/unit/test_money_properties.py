"""Hypothesis properties for the money invariants of SPEC: never negative, never over a cap,
`first` never pays a line twice, refunds reverse exactly, more percent never pays less,
`down` never overpays, and the same input always gives the same bytes."""

from __future__ import annotations

import os
from decimal import Decimal
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from cashback.domain.catalog import Catalog
from cashback.domain.engine import Handled
from cashback.domain.rules import RuleSet
from engines import CheckedEngine
from pricing_support import line, purchase, refund, ruleset

CATEGORIES = ["groceries", "electronics", "fuel", "toys"]
settings.register_profile(
    "default", max_examples=int(os.environ.get("HYPOTHESIS_EXAMPLES", "150")), deadline=None
)
settings.load_profile("default")


def text(value: Decimal) -> str:
    return format(value.normalize(), "f")


percents = st.decimals(min_value=0, max_value=30, places=2).map(text)
money = st.integers(min_value=0, max_value=5_000_000)


@st.composite
def pays(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["percent", "fixed_minor", "bands"]))
    pay: dict[str, Any] = {}
    if kind == "percent":
        pay["percent"] = draw(percents)
    elif kind == "fixed_minor":
        pay["fixed_minor"] = draw(st.integers(0, 100_000))
    else:
        starts = sorted(draw(st.sets(st.integers(0, 2_000_000), min_size=1, max_size=3)))
        pay["bands"] = [{"from_minor": s, "percent": draw(percents)} for s in starts]
    if draw(st.booleans()):
        pay["max_minor"] = draw(st.integers(0, 100_000))
    if draw(st.booleans()):
        pay["min_minor"] = draw(st.integers(0, pay.get("max_minor", 100_000)))
    return pay


@st.composite
def rulesets(draw: st.DrawFn) -> dict[str, Any]:
    count = draw(st.integers(1, 5))
    rules = []
    for index in range(count):
        when: dict[str, Any] = {}
        if draw(st.booleans()):
            when["categories"] = draw(st.lists(st.sampled_from(CATEGORIES), min_size=1, max_size=2))
        if draw(st.integers(0, 4)) == 0:
            when["min_total_minor"] = draw(st.integers(0, 3_000_000))
        rules.append(
            {
                "id": f"r{index}",
                "description": f"rule {index}",
                "priority": draw(st.integers(0, 3)),
                "when": when,
                "pay": draw(pays()),
            }
        )
    fields: dict[str, Any] = {
        "rules": rules,
        "combine": draw(st.sampled_from(["first", "best", "stack"])),
        "rounding": draw(st.sampled_from(["down", "half_up", "half_even"])),
    }
    if draw(st.booleans()):
        fields["max_per_purchase_minor"] = draw(st.integers(0, 200_000))
    return fields


@st.composite
def orders(draw: st.DrawFn) -> dict[str, Any]:
    lines = [
        line(draw(money), draw(st.sampled_from(CATEGORIES)), f"SKU-{i}")
        for i in range(draw(st.integers(1, 6)))
    ]
    return purchase(lines)


def build(fields: dict[str, Any]) -> RuleSet:
    return ruleset(**fields)


def run(rs: RuleSet, event: dict[str, Any]) -> Handled:
    return CheckedEngine(Catalog.of([rs])).handle(orjson.dumps(event))


def total(handled: Handled) -> int:
    return sum(a.amount_minor for a in handled.accruals)


@given(rulesets(), orders())
def test_never_negative_never_over_a_cap(fields: dict[str, Any], order: dict[str, Any]) -> None:
    rs = build(fields)
    handled = run(rs, order)
    amount = total(handled)
    assert amount >= 0
    if rs.max_per_purchase_minor is not None:
        assert amount <= rs.max_per_purchase_minor
    by_id = {r.id: r for r in rs.rules}
    for accrual in handled.accruals:
        assert sum(r.amount_minor for r in accrual.rules) == accrual.amount_minor
        for paid in accrual.rules:
            payout = by_id[paid.id].payout
            assert paid.amount_minor > 0
            if payout.max_minor is not None:
                assert paid.amount_minor <= payout.max_minor
            if payout.min_minor is not None:
                assert paid.amount_minor >= min(payout.min_minor, paid.amount_minor)
        if rs.combine == "best":
            assert len(accrual.rules) == 1


@given(rulesets(), orders())
def test_first_never_pays_a_line_twice(fields: dict[str, Any], order: dict[str, Any]) -> None:
    rs = build({**fields, "combine": "first"})
    for accrual in run(rs, order).accruals:
        bases = sum(r.base_minor for r in accrual.rules)
        assert bases == accrual.base_minor
        assert bases <= sum(item["amount_minor"] for item in order["lines"])


@given(rulesets(), orders())
def test_a_full_refund_reverses_exactly_the_accrual(
    fields: dict[str, Any], order: dict[str, Any]
) -> None:
    rs = build(fields)
    accrued = total(run(rs, order))
    everything = [(i, item["amount_minor"]) for i, item in enumerate(order["lines"])]
    assert total(run(rs, refund(order, everything))) == -accrued


@given(rulesets(), orders(), st.data())
def test_refunds_in_steps_telescope_to_the_remaining_order(
    fields: dict[str, Any], order: dict[str, Any], data: st.DataObject
) -> None:
    rs = build(fields)
    first: list[tuple[int, int]] = []
    second: list[tuple[int, int]] = []
    for index, item in enumerate(order["lines"]):
        a = data.draw(st.integers(0, item["amount_minor"]))
        b = data.draw(st.integers(0, item["amount_minor"] - a))
        first.append((index, a))
        second.append((index, b))
    accrued = total(run(rs, order))
    step1 = total(run(rs, refund(order, first)))
    step2 = total(run(rs, refund(order, second, previously=first)))
    remaining_lines = [
        {**item, "amount_minor": item["amount_minor"] - a - b}
        for item, (_, a), (_, b) in zip(order["lines"], first, second, strict=True)
    ]
    remaining = purchase(remaining_lines)
    assert accrued + step1 + step2 == total(run(rs, remaining))


def raise_percents(fields: dict[str, Any], extra: Decimal) -> dict[str, Any]:
    def bump(percent: str) -> str:
        return text(min(Decimal(percent) + extra, Decimal(100)))

    rules = []
    for rule in fields["rules"]:
        pay = dict(rule["pay"])
        if "percent" in pay:
            pay["percent"] = bump(pay["percent"])
        if "bands" in pay:
            pay["bands"] = [{**b, "percent": bump(b["percent"])} for b in pay["bands"]]
        rules.append({**rule, "pay": pay})
    return {**fields, "rules": rules}


@given(rulesets(), orders(), st.decimals(min_value=0, max_value=20, places=2))
def test_raising_a_percent_never_lowers_the_payout(
    fields: dict[str, Any], order: dict[str, Any], extra: Decimal
) -> None:
    before = total(run(build(fields), order))
    after = total(run(build(raise_percents(fields, extra)), order))
    assert after >= before


@given(percents, st.lists(money, min_size=1, max_size=5))
def test_down_never_exceeds_the_exact_result(percent: str, amounts: list[int]) -> None:
    rs = build({"rules": [{"id": "r", "description": "d", "pay": {"percent": percent}}]})
    order = purchase([line(a) for a in amounts])
    exact = Decimal(sum(amounts)) * Decimal(percent) / 100
    paid = total(run(rs, order))
    assert paid <= exact
    assert exact - paid < 1


@given(rulesets(), orders())
def test_outputs_are_deterministic(fields: dict[str, Any], order: dict[str, Any]) -> None:
    rs = build(fields)
    raw = orjson.dumps(order)
    first = [(o.key, o.value) for o in CheckedEngine(Catalog.of([rs])).handle(raw).outputs]
    again = [
        (o.key, o.value) for o in CheckedEngine(Catalog.of([build(fields)])).handle(raw).outputs
    ]
    assert first == again
