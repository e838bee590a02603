"""SPEC "Rule sets" and "Money", clause by clause. Expected amounts are worked by hand in the
comment of each case; none is computed by the code under test."""

from __future__ import annotations

from typing import Any

import pytest

from pricing_support import MONDAY, SATURDAY, handle, line, purchase, rule, rule_amounts, ruleset

G, E, F, T = "groceries", "electronics", "fuel", "toys"

# (case id, rule set fields, rules, event, expected amount per rule id)
CASES: list[tuple[str, dict[str, Any], list[dict[str, Any]], dict[str, Any], dict[str, int]]] = [
    # --- Money and rounding: round(base * percent / 100), once per rule result ---
    (
        "percent-down",
        {},
        [rule(pay={"percent": "1.5"})],
        purchase([line(1234)]),
        {"r": 18},
    ),  # 1234 * 1.5 / 100 = 18.51 -> 18 (down never overpays)
    (
        "percent-half-up",
        {"rounding": "half_up"},
        [rule(pay={"percent": "5"})],
        purchase([line(1230)]),
        {"r": 62},
    ),  # 1230 * 5% = 61.5 -> 62
    (
        "half-up-below-half",
        {"rounding": "half_up"},
        [rule(pay={"percent": "1.5"})],
        purchase([line(1234)]),
        {"r": 19},
    ),  # 18.51 -> 19
    (
        "half-even-odd",
        {"rounding": "half_even"},
        [rule(pay={"percent": "5"})],
        purchase([line(1230)]),
        {"r": 62},
    ),  # 61.5 -> 62 (62 is even)
    (
        "half-even-even",
        {"rounding": "half_even"},
        [rule(pay={"percent": "5"})],
        purchase([line(1250)]),
        {"r": 62},
    ),  # 62.5 -> 62 (62 is even)
    (
        "half-even-above-half",
        {"rounding": "half_even"},
        [rule(pay={"percent": "5"})],
        purchase([line(1251)]),
        {"r": 63},
    ),  # 62.55 -> 63
    (
        "six-decimals",
        {},
        [rule(pay={"percent": "0.000001"})],
        purchase([line(10**8)]),
        {"r": 1},
    ),  # 10^8 * 0.000001 / 100 = 1
    ("hundred-percent", {}, [rule(pay={"percent": "100"})], purchase([line(777)]), {"r": 777}),
    # --- A rule's base: lines that hold its line conditions, if its order conditions hold ---
    (
        "base-category-lines",
        {},
        [rule(pay={"percent": "10"}, when={"categories": [G]})],
        purchase([line(1000, G), line(5000, T), line(2000, G)]),
        {"r": 300},
    ),  # (1000 + 2000) * 10% = 300
    (
        "base-all-lines",
        {},
        [rule(pay={"percent": "10"})],
        purchase([line(1000, G), line(5000, T)]),
        {"r": 600},
    ),  # 6000 * 10%
    (
        "base-skus",
        {},
        [rule(pay={"percent": "10"}, when={"skus": ["A"]})],
        purchase([line(1000, G, "A"), line(5000, G, "B")]),
        {"r": 100},
    ),
    (
        "categories-and-skus-both-hold",
        {},
        [rule(pay={"percent": "10"}, when={"categories": [G], "skus": ["A"]})],
        purchase([line(1000, G, "A"), line(2000, T, "A"), line(4000, G, "B")]),
        {"r": 100},
    ),  # only line 0 is groceries AND sku A
    (
        "no-line-holds",
        {},
        [rule(pay={"percent": "10"}, when={"categories": [E]})],
        purchase([line(1000, G)]),
        {},
    ),
    # --- Order conditions: every given key must hold; a list holds if any element matches ---
    (
        "mcc-holds",
        {},
        [rule(when={"mcc": ["5411", "5412"]}, pay={"percent": "10"})],
        purchase([line(1000)], merchant={"id": "M-1", "mcc": "5412"}),
        {"r": 100},
    ),
    (
        "mcc-fails",
        {},
        [rule(when={"mcc": ["5411"]})],
        purchase([line(1000)], merchant={"id": "M-1", "mcc": "5541"}),
        {},
    ),
    ("mcc-missing-merchant", {}, [rule(when={"mcc": ["5411"]})], purchase([line(1000)]), {}),
    (
        "merchant-holds",
        {},
        [rule(when={"merchants": ["M-7"]}, pay={"percent": "10"})],
        purchase([line(1000)], merchant={"id": "M-7"}),
        {"r": 100},
    ),
    (
        "merchant-fails",
        {},
        [rule(when={"merchants": ["M-7"]})],
        purchase([line(1000)], merchant={"id": "M-8"}),
        {},
    ),
    (
        "channel",
        {},
        [rule(when={"channels": ["online", "app"]}, pay={"percent": "10"})],
        purchase([line(1000)], channel="app"),
        {"r": 100},
    ),
    (
        "channel-fails",
        {},
        [rule(when={"channels": ["online"]})],
        purchase([line(1000)], channel="pos"),
        {},
    ),
    (
        "region",
        {},
        [rule(when={"regions": ["RU-MOW"]}, pay={"percent": "10"})],
        purchase([line(1000)], merchant={"region": "RU-MOW"}),
        {"r": 100},
    ),
    (
        "payment-method",
        {},
        [rule(when={"payment_methods": ["card"]}, pay={"percent": "10"})],
        purchase([line(1000)], payment_method="card"),
        {"r": 100},
    ),
    (
        "payment-method-fails",
        {},
        [rule(when={"payment_methods": ["card"]})],
        purchase([line(1000)], payment_method="cash"),
        {},
    ),
    (
        "tier",
        {},
        [rule(when={"tiers": ["gold"]}, pay={"percent": "10"})],
        purchase([line(1000)], customer={"id": "C", "tier": "gold"}),
        {"r": 100},
    ),
    (
        "tier-missing",
        {},
        [rule(when={"tiers": ["gold"]})],
        purchase([line(1000)], customer={"id": "C"}),
        {},
    ),
    (
        "segments-any",
        {},
        [rule(when={"segments": ["new", "vip"]}, pay={"percent": "10"})],
        purchase([line(1000)], customer={"id": "C", "segments": ["staff", "vip"]}),
        {"r": 100},
    ),
    (
        "segments-none",
        {},
        [rule(when={"segments": ["new"]})],
        purchase([line(1000)], customer={"id": "C", "segments": ["staff"]}),
        {},
    ),
    (
        "min-total-equal-holds",
        {},
        [rule(when={"min_total_minor": 1000}, pay={"percent": "10"})],
        purchase([line(1000)]),
        {"r": 100},
    ),  # total >= min
    ("min-total-below", {}, [rule(when={"min_total_minor": 1001})], purchase([line(1000)]), {}),
    (
        "min-total-reads-order-total",
        {},
        [rule(when={"min_total_minor": 5000, "categories": [G]}, pay={"percent": "10"})],
        purchase([line(1000, G), line(4000, T)]),
        {"r": 100},
    ),  # total 5000 holds; base 1000
    (
        "all-conditions-must-hold",
        {},
        [rule(when={"channels": ["online"], "payment_methods": ["card"]})],
        purchase([line(1000)], channel="online", payment_method="cash"),
        {},
    ),
    # --- Time: days_of_week and local_time in the rule set's timezone ---
    (
        "weekend-moscow",
        {},
        [rule(when={"days_of_week": ["sat", "sun"]}, pay={"percent": "10"})],
        purchase([line(1000)], occurred_at=SATURDAY),
        {"r": 100},
    ),
    (
        "weekday-fails",
        {},
        [rule(when={"days_of_week": ["sat", "sun"]})],
        purchase([line(1000)], occurred_at=MONDAY),
        {},
    ),
    (
        "day-in-zone-not-in-offset",
        {},
        [rule(when={"days_of_week": ["sat"]}, pay={"percent": "10"})],
        # Friday 22:30 UTC is Saturday 01:30 in Moscow (UTC+3).
        purchase([line(1000)], occurred_at="2026-12-04T22:30:00Z"),
        {"r": 100},
    ),
    (
        "local-time-from-inclusive",
        {},
        [rule(when={"local_time": {"from": "08:00", "to": "12:00"}}, pay={"percent": "10"})],
        purchase([line(1000)], occurred_at="2026-12-07T08:00:00+03:00"),
        {"r": 100},
    ),
    (
        "local-time-to-exclusive",
        {},
        [rule(when={"local_time": {"from": "08:00", "to": "12:00"}})],
        purchase([line(1000)], occurred_at="2026-12-07T12:00:00+03:00"),
        {},
    ),
    (
        "local-time-converted",
        {},
        [rule(when={"local_time": {"from": "08:00", "to": "12:00"}}, pay={"percent": "10"})],
        purchase([line(1000)], occurred_at="2026-12-07T06:30:00Z"),
        {"r": 100},
    ),  # 09:30 MSK
    (
        "local-time-crosses-midnight-late",
        {},
        [rule(when={"local_time": {"from": "22:00", "to": "02:00"}}, pay={"percent": "10"})],
        purchase([line(1000)], occurred_at="2026-12-07T23:15:00+03:00"),
        {"r": 100},
    ),
    (
        "local-time-crosses-midnight-early",
        {},
        [rule(when={"local_time": {"from": "22:00", "to": "02:00"}}, pay={"percent": "10"})],
        purchase([line(1000)], occurred_at="2026-12-08T01:59:00+03:00"),
        {"r": 100},
    ),
    (
        "local-time-crosses-midnight-outside",
        {},
        [rule(when={"local_time": {"from": "22:00", "to": "02:00"}})],
        purchase([line(1000)], occurred_at="2026-12-08T02:00:00+03:00"),
        {},
    ),
    # New York switches to daylight time on 2026-03-08 at 07:00 UTC: 12:30 UTC is 08:30 EDT
    # that day but 07:30 EST the day before.
    (
        "dst-after-switch",
        {"timezone": "America/New_York"},
        [rule(when={"local_time": {"from": "08:00", "to": "12:00"}}, pay={"percent": "10"})],
        purchase([line(1000)], occurred_at="2026-03-08T12:30:00Z"),
        {"r": 100},
    ),
    (
        "dst-before-switch",
        {"timezone": "America/New_York"},
        [rule(when={"local_time": {"from": "08:00", "to": "12:00"}})],
        purchase([line(1000)], occurred_at="2026-03-07T12:30:00Z"),
        {},
    ),
    # --- CEL expr: checked last; an error means it does not hold ---
    (
        "expr-holds",
        {},
        [rule(when={"expr": 'purchase.payment_method == "card"'}, pay={"percent": "10"})],
        purchase([line(1000)], payment_method="card"),
        {"r": 100},
    ),
    (
        "expr-fails",
        {},
        [rule(when={"expr": 'purchase.payment_method == "card"'})],
        purchase([line(1000)], payment_method="cash"),
        {},
    ),
    (
        "expr-missing-field-does-not-hold",
        {},
        [rule(when={"expr": 'purchase.payment_method == "card"'})],
        purchase([line(1000)]),
        {},
    ),
    (
        "expr-on-lines",
        {},
        [rule(when={"expr": "size(purchase.lines) >= 2"}, pay={"percent": "10"})],
        purchase([line(1000), line(500)]),
        {"r": 150},
    ),
    (
        "expr-macro-exists",
        {},
        [
            rule(
                when={"expr": 'purchase.lines.exists(l, l.category == "books")'},
                pay={"percent": "10"},
            )
        ],
        purchase([line(1000), line(500, "books")]),
        {"r": 150},
    ),
    (
        "expr-macro-all-fails",
        {},
        [rule(when={"expr": "purchase.lines.all(l, l.amount_minor >= 1000)"})],
        purchase([line(1000), line(500)]),
        {},
    ),
    (
        "expr-macro-map-and-type",
        {},
        [
            rule(
                when={
                    "expr": "purchase.lines.map(l, l.quantity).exists(q, q > 2)"
                    " && type(purchase.total_minor) == int"
                },
                pay={"percent": "10"},
            )
        ],
        purchase([{"sku": "S", "category": "groceries", "quantity": 3, "amount_minor": 1000}]),
        {"r": 100},
    ),
    # --- pay: fixed_minor once per qualifying purchase; bands by the base ---
    (
        "fixed-once",
        {},
        [rule(pay={"fixed_minor": 5000}, when={"categories": [G]})],
        purchase([line(1000, G), line(2000, G)]),
        {"r": 5000},
    ),
    (
        "fixed-zero-amount-line-does-not-qualify",
        {},
        [rule(pay={"fixed_minor": 5000})],
        purchase([line(0)]),
        {},
    ),  # a free (or fully refunded) line has no money in it: the rule does not qualify
    (
        "fixed-qualifies-with-one-paid-line",
        {},
        [rule(pay={"fixed_minor": 5000})],
        purchase([line(0), line(1)]),
        {"r": 5000},
    ),
    (
        "fixed-needs-a-line",
        {},
        [rule(pay={"fixed_minor": 5000}, when={"categories": [E]})],
        purchase([line(1000, G)]),
        {},
    ),
    (
        "bands-low",
        {},
        [
            rule(
                pay={
                    "bands": [
                        {"from_minor": 0, "percent": "1"},
                        {"from_minor": 500000, "percent": "3"},
                    ]
                }
            )
        ],
        purchase([line(499999)]),
        {"r": 4999},
    ),  # 499999 * 1% = 4999.99 -> 4999
    (
        "bands-boundary-whole-base",
        {},
        [
            rule(
                pay={
                    "bands": [
                        {"from_minor": 0, "percent": "1"},
                        {"from_minor": 500000, "percent": "3"},
                    ]
                }
            )
        ],
        purchase([line(500000)]),
        {"r": 15000},
    ),  # band 500000 sets 3% for the whole base
    (
        "bands-below-first",
        {},
        [rule(pay={"bands": [{"from_minor": 1000, "percent": "5"}]})],
        purchase([line(999)]),
        {},
    ),  # no band holds: 0
    # --- max_minor caps, then min_minor zeroes ---
    (
        "max-caps",
        {},
        [rule(pay={"percent": "10", "max_minor": 50})],
        purchase([line(1000)]),
        {"r": 50},
    ),
    (
        "min-zeroes",
        {},
        [rule(pay={"percent": "1", "min_minor": 100})],
        purchase([line(9999)]),
        {},
    ),  # 99 < 100
    (
        "min-boundary",
        {},
        [rule(pay={"percent": "1", "min_minor": 100})],
        purchase([line(10000)]),
        {"r": 100},
    ),
    (
        "cap-before-min",
        {},
        [rule(pay={"percent": "10", "max_minor": 120, "min_minor": 100})],
        purchase([line(1500)]),
        {"r": 120},
    ),  # 150 -> capped 120 -> not below 100
    # --- combine: first ---
    (
        "first-priority-wins-line",
        {},
        [
            rule("cat", pay={"percent": "5"}, priority=10, when={"categories": [G]}),
            rule("all", pay={"percent": "1"}),
        ],
        purchase([line(10000, G), line(20000, T)]),
        {"cat": 500, "all": 200},
    ),  # groceries 10000*5%; toys 20000*1%
    (
        "first-equal-priority-smaller-id",
        {},
        [rule("b", pay={"percent": "5"}), rule("a", pay={"percent": "2"})],
        purchase([line(10000)]),
        {"a": 200},
    ),
    (
        "first-zero-result-not-passed-on",
        {},
        [
            rule(
                "cat",
                pay={"percent": "1", "min_minor": 1000},
                priority=10,
                when={"categories": [G]},
            ),
            rule("all", pay={"percent": "5"}),
        ],
        purchase([line(10000, G)]),
        {},
    ),  # cat wins the line, pays 100 < 1000 -> 0; all gets nothing
    (
        "first-order-condition-failing-passes-line",
        {},
        [
            rule("card", pay={"percent": "5"}, priority=10, when={"payment_methods": ["card"]}),
            rule("all", pay={"percent": "1"}),
        ],
        purchase([line(10000)], payment_method="cash"),
        {"all": 100},
    ),
    # --- combine: best ---
    (
        "best-largest",
        {"combine": "best"},
        [
            rule("a", pay={"percent": "1"}),
            rule("b", pay={"fixed_minor": 300}),
            rule("c", pay={"percent": "2"}),
        ],
        purchase([line(10000)]),
        {"b": 300},
    ),  # a 100, b 300, c 200
    (
        "best-tie-priority",
        {"combine": "best"},
        [rule("a", pay={"fixed_minor": 300}), rule("b", pay={"fixed_minor": 300}, priority=5)],
        purchase([line(10000)]),
        {"b": 300},
    ),
    (
        "best-tie-id",
        {"combine": "best"},
        [rule("b", pay={"fixed_minor": 300}), rule("a", pay={"fixed_minor": 300})],
        purchase([line(10000)]),
        {"a": 300},
    ),
    # --- combine: stack, and max_per_purchase_minor ---
    (
        "stack-adds",
        {"combine": "stack"},
        [
            rule("a", pay={"percent": "1"}),
            rule("b", pay={"fixed_minor": 300}),
            rule("c", pay={"percent": "2"}, when={"categories": [G]}),
        ],
        purchase([line(10000, G), line(10000, T)]),
        {"a": 200, "b": 300, "c": 200},
    ),
    (
        "stack-purchase-cap-fills-by-priority",
        {"combine": "stack", "max_per_purchase_minor": 400},
        [rule("a", pay={"fixed_minor": 300}, priority=1), rule("b", pay={"fixed_minor": 300})],
        purchase([line(10000)]),
        {"a": 300, "b": 100},
    ),  # 600 capped at 400: a first, b the rest
    (
        "first-purchase-cap",
        {"max_per_purchase_minor": 150},
        [
            rule("cat", pay={"percent": "5"}, priority=10, when={"categories": [G]}),
            rule("all", pay={"percent": "1"}),
        ],
        purchase([line(10000, G), line(20000, T)]),
        {"cat": 150},
    ),  # 500 + 200 capped at 150
]


@pytest.mark.parametrize(
    ("fields", "rules", "event", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_rule_clause(
    fields: dict[str, Any],
    rules: list[dict[str, Any]],
    event: dict[str, Any],
    expected: dict[str, int],
) -> None:
    handled = handle(ruleset(rules, **fields), event)
    assert rule_amounts(handled) == expected
    total = sum(a.amount_minor for a in handled.accruals)
    assert total == sum(expected.values())
    assert len(handled.accruals) == (1 if expected else 0)
