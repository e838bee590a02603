"""SPEC "Refund event": reversal = cashback(O - P) - cashback(O - P - R), stateless and exact."""

from __future__ import annotations

import orjson
import pytest

from cashback.domain.engine import Outcome
from cashback.domain.events import REFUND_MISMATCH
from pricing_support import amounts, handle, line, purchase, refund, rule, rule_amounts, ruleset

G, T = "groceries", "toys"

CATEGORY_RATES = ruleset(
    [
        rule("groceries", pay={"percent": "5"}, priority=10, when={"categories": [G]}),
        rule("all", pay={"percent": "1"}),
    ],
    notify={"accrual": "cashback_accrued", "reversal": "cashback_reversed"},
)
ORDER = purchase([line(10000, G), line(20000, T)])  # earns 500 + 200 = 700


def test_partial_refund_of_one_line() -> None:
    handled = handle(CATEGORY_RATES, refund(ORDER, [(1, 5000)]))
    # before: 500 + 20000*1% = 700; after: 500 + 15000*1% = 650; reversal -50
    assert handled.outcome is Outcome.REVERSED
    assert amounts(handled) == {"retail": -50}
    assert rule_amounts(handled) == {"all": -50}
    accrual = handled.accruals[0]
    assert (accrual.kind, accrual.status, accrual.base_minor) == ("reversal", "available", -5000)
    assert accrual.available_at == accrual.occurred_at
    assert accrual.expires_at is None


def test_full_refund_reverses_exactly_the_accrual() -> None:
    accrued = amounts(handle(CATEGORY_RATES, ORDER))["retail"]
    reversed_ = amounts(handle(CATEGORY_RATES, refund(ORDER, [(0, 10000), (1, 20000)])))
    assert accrued == 700
    assert reversed_ == {"retail": -700}


def test_refunds_in_steps_add_up_to_the_full_reversal() -> None:
    # 1% with rounding down: each step alone would lose fractions; differences do not.
    rs = ruleset([rule(pay={"percent": "1"})])
    order = purchase([line(999), line(999), line(999)])  # 2997 * 1% = 29
    assert amounts(handle(rs, order)) == {"retail": 29}
    first = amounts(handle(rs, refund(order, [(0, 999)])))  # 29 - 19 = -10
    second = amounts(handle(rs, refund(order, [(1, 999)], previously=[(0, 999)])))  # 19 - 9
    third = amounts(handle(rs, refund(order, [(2, 999)], previously=[(0, 999), (1, 999)])))
    assert (first, second, third) == ({"retail": -10}, {"retail": -10}, {"retail": -9})


def test_dropping_under_the_minimum_total_claws_everything_back() -> None:
    rs = ruleset([rule(pay={"percent": "5"}, when={"min_total_minor": 25000})])
    # before: 30000 * 5% = 1500; after refunding 6000 the total is 24000 < 25000: 0
    assert amounts(handle(rs, refund(ORDER, [(1, 6000)]))) == {"retail": -1500}


def test_bands_stay_right() -> None:
    rs = ruleset(
        [
            rule(
                pay={
                    "bands": [
                        {"from_minor": 0, "percent": "1"},
                        {"from_minor": 25000, "percent": "3"},
                    ]
                }
            )
        ]
    )
    # before: 30000 * 3% = 900; after: 20000 * 1% = 200; reversal -700
    assert amounts(handle(rs, refund(ORDER, [(1, 10000)]))) == {"retail": -700}


def test_caps_stay_right() -> None:
    rs = ruleset([rule(pay={"percent": "10", "max_minor": 2000})])
    # before: 3000 capped at 2000; after refunding 5000: 2500 capped at 2000: nothing changes
    handled = handle(rs, refund(ORDER, [(1, 5000)]))
    assert handled.outcome is Outcome.NOT_ELIGIBLE and handled.outputs == []
    # after refunding 15000: 1500 < 2000: reversal -500
    assert amounts(handle(rs, refund(ORDER, [(1, 15000)]))) == {"retail": -500}


def test_uses_the_version_in_force_at_the_original_purchase() -> None:
    v1 = ruleset([rule(pay={"percent": "1"})], version=1)
    v2 = ruleset([rule(pay={"percent": "9"})], version=2, effective_from="2026-12-10T00:00:00Z")
    handled = handle([v1, v2], refund(ORDER, [(1, 10000)]))  # refunded on 2026-12-20
    assert amounts(handled) == {"retail": -100}  # 1% of 10000, version 1
    assert handled.accruals[0].ruleset_version == 1


def test_time_conditions_read_the_original_time() -> None:
    rs = ruleset([rule(pay={"percent": "10"}, when={"days_of_week": ["sat"]})])
    # original on Saturday; refund on Sunday 2026-12-20
    assert amounts(handle(rs, refund(ORDER, [(1, 10000)]))) == {"retail": -1000}


def test_customer_conditions_read_the_original_customer_when_given() -> None:
    rs = ruleset([rule(pay={"percent": "10"}, when={"tiers": ["gold"]})])
    order = purchase([line(10000)], customer={"id": "C-1", "tier": "gold"})
    now_silver = {"id": "C-1", "tier": "silver"}
    with_then = refund(order, [(0, 10000)], customer=now_silver)
    with_then["original"]["customer"] = {"tier": "gold"}
    assert amounts(handle(rs, with_then)) == {"retail": -1000}
    without_then = refund(order, [(0, 10000)], customer=now_silver)
    assert handle(rs, without_then).outputs == []  # reads the event's customer: silver


def test_reversal_notification_and_key() -> None:
    handled = handle(CATEGORY_RATES, refund(ORDER, [(0, 10000)]))
    accrual, note = (orjson.loads(o.value) for o in handled.outputs)
    assert handled.outputs[0].key == b"C-42"
    assert note["template"] == "cashback_reversed"
    assert note["kind"] == "reversal"
    assert note["params"]["amount_minor"] == accrual["amount_minor"] == -500
    assert note["params"]["descriptions"] == ["rule groceries"]


def test_refund_in_another_currency_reverses_nothing() -> None:
    assert handle(CATEGORY_RATES, refund(ORDER, [(0, 10000)], currency="EUR")).outputs == []


@pytest.mark.parametrize(
    ("refunded", "previously", "fragment"),
    [
        ([(2, 1)], [], "line 2 does not exist"),
        ([(0, 10001)], [], "returns 10001 on line 0 where 10000 remains"),
        ([(0, 6000)], [(0, 5000)], "returns 6000 on line 0 where 5000 remains"),
        ([(0, 1)], [(0, 10001)], "`$.previously_refunded_lines[0]`"),
        ([(0, 6000), (0, 6000)], [], "`$.refunded_lines[1]`"),
    ],
)
def test_a_refund_that_does_not_add_up_is_a_dead_letter(
    refunded: list[tuple[int, int]], previously: list[tuple[int, int]], fragment: str
) -> None:
    handled = handle(CATEGORY_RATES, refund(ORDER, refunded, previously=previously))
    assert handled.outcome is Outcome.DEAD_LETTER
    assert handled.rejection is not None
    assert handled.rejection.code == REFUND_MISMATCH
    assert fragment in handled.rejection.message


def test_refund_larger_than_the_order_total_is_a_dead_letter() -> None:
    event = refund(ORDER, [(1, 20000)])
    event["original"]["total_minor"] = 15000  # discounts: the lines add up to more
    handled = handle(CATEGORY_RATES, event)
    assert handled.rejection is not None
    assert handled.rejection.code == REFUND_MISMATCH


def test_cel_sees_the_view_being_priced() -> None:
    # SPEC's difference method holds for `expr` as for min_total_minor: a refund taking the
    # order under 25000 claws the cashback back.
    rs = ruleset([rule(pay={"percent": "5"}, when={"expr": "purchase.total_minor >= 25000"})])
    assert amounts(handle(rs, ORDER)) == {"retail": 1500}  # 30000 * 5%
    assert amounts(handle(rs, refund(ORDER, [(1, 6000)]))) == {"retail": -1500}
    lines_rs = ruleset(
        [rule(pay={"percent": "5"}, when={"expr": "purchase.lines[1].amount_minor > 0"})]
    )
    assert amounts(handle(lines_rs, refund(ORDER, [(1, 20000)]))) == {"retail": -1500}
