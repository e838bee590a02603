"""What `cashback explain` says about one event, as plain data (text and JSON are views).

Figures come from `pricing.price` and the engine; the explanation only adds the reasons:
which conditions held, which lines made a base, how a result was rounded and capped.
"""

from __future__ import annotations

from typing import Any

from msgspec import Struct


class LineSummary(Struct, frozen=True):
    line: int
    sku: str
    category: str
    quantity: int
    amount_minor: int


class RefundSummary(Struct, frozen=True):
    original_occurred_at: str
    original_total_minor: int
    refunded: list[tuple[int, int]]  # (line, amount_minor) of this refund
    previously_refunded: list[tuple[int, int]]
    before_lines: list[int]  # each line's amount before this refund (original - previous)
    before_total_minor: int
    after_lines: list[int]
    after_total_minor: int


class EventSummary(Struct, frozen=True):
    type: str
    event_id: str
    purchase_id: str
    occurred_at: str
    customer_id: str
    tier: str | None  # as the conditions read it (a refund: the customer at the purchase)
    segments: list[str]
    merchant: str | None
    mcc: str | None
    region: str | None
    channel: str | None
    payment_method: str | None
    currency: str
    total_minor: int
    lines: list[LineSummary]
    refund: RefundSummary | None = None


class Check(Struct, frozen=True):
    text: str
    held: bool


class LineCheck(Struct, frozen=True):
    line: int
    holds: bool  # the rule's line conditions hold for this line
    in_base: bool
    taken_by: str | None = None  # combine first: the higher-priority rule that won the line


class RuleExplanation(Struct, frozen=True):
    id: str
    description: str
    priority: int
    order_checks: list[Check]
    order_holds: bool
    line_conditions: str | None  # None: every line
    lines: list[LineCheck]
    qualifies: bool
    pay: str
    base_minor: int = 0
    base_lines: list[int] = []
    band: str | None = None
    arithmetic: str | None = None
    caps: list[str] = []
    result_minor: int | None = None  # before max_minor/min_minor
    amount_minor: int | None = None  # after them
    paid_minor: int = 0  # after combine and the purchase cap
    outcome: str = ""


class ViewExplanation(Struct, frozen=True):
    label: str
    total_minor: int
    line_amounts: list[int]
    rules: list[RuleExplanation]
    combine: str
    purchase_cap: str | None
    amount_minor: int
    base_minor: int
    notes: list[str] = []


class RuleSetExplanation(Struct, frozen=True):
    ruleset: str
    version: int | None
    applies: bool
    reason: str
    views: list[ViewExplanation] = []
    amount_minor: int = 0  # a purchase: what it earns; a refund: after - before
    base_minor: int = 0
    notification: str | None = None


class OutputRecord(Struct, frozen=True):
    destination: str  # "accruals" or "notifications"
    key: str
    schema: str
    value: Any  # the engine's document, decoded


class Explanation(Struct, frozen=True):
    outcome: str
    event: EventSummary | None
    rejection: dict[str, str] | None
    rulesets: list[RuleSetExplanation]
    outputs: list[OutputRecord]
