"""The one entry of the core: input bytes + rule set versions in, records to write out.

`Engine.handle` is a pure function of its input and the catalog it holds: no clock, no I/O.
The Kafka worker, the offline `cashback price` command and the benchmarks all call it and
differ only in where bytes come from and go to.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import msgspec

from cashback.domain.batch import PricedBatch, Record, Routes, price_records
from cashback.domain.catalog import Catalog
from cashback.domain.events import (
    MAX_EVENT_BYTES,
    SCHEMA_VIOLATION,
    CheckedRefund,
    Purchase,
    Refund,
    RefundAmounts,
    Rejection,
    decode,
)
from cashback.domain.facts import Facts
from cashback.domain.handled import (
    ACCRUALS,
    NOTIFICATIONS,
    OUTCOME_NAMES,
    Handled,
    Outcome,
    Output,
    Tally,
)
from cashback.domain.pricing import Price, price
from cashback.domain.records import (
    ACCRUAL_SCHEMA,
    NOTIFICATION_SCHEMA,
    Accrual,
    Kind,
    RuleAmount,
    Status,
    accrual_id,
    encoder,
    notification_for,
)
from cashback.domain.rules import RuleSet

__all__ = [
    "ACCRUALS",
    "NOTIFICATIONS",
    "OUTCOME_NAMES",
    "Engine",
    "Handled",
    "Outcome",
    "Output",
    "Tally",
    "event_time_us",
    "purchase_facts",
    "refund_facts",
]


def event_time_us(moment: datetime) -> int:
    """UTC epoch microseconds of an aware datetime, exactly (no float)."""
    return (moment - _EPOCH) // _MICROSECOND


_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)


class Engine:
    """Prices events against a catalog. Swap `catalog` between batches to apply new versions."""

    __slots__ = ("catalog", "max_event_bytes")

    def __init__(self, catalog: Catalog, max_event_bytes: int = MAX_EVENT_BYTES) -> None:
        self.catalog = catalog
        self.max_event_bytes = max_event_bytes

    def handle(self, raw: bytes | None) -> Handled:
        event = decode(raw, self.max_event_bytes)
        if type(event) is Purchase:
            return self._purchase(event)
        if isinstance(event, CheckedRefund):
            return self._refund(event.refund, event.amounts)
        assert isinstance(event, Rejection)
        return Handled(Outcome.DEAD_LETTER, rejection=event)

    def price_batch(self, records: Sequence[Record], routes: Routes) -> PricedBatch:
        """A batch of consumed records: the reference (`domain.batch.price_records`)."""
        return price_records(self.handle, records, routes)

    def _purchase(self, event: Purchase) -> Handled:
        handled = Handled(
            Outcome.NOT_ELIGIBLE,
            event_id=event.event_id,
            currency=event.currency,
            purchase_minor=event.total_minor,
            event_time_us=event_time_us(event.occurred_at),
            accruals=[],
        )
        rulesets = self.catalog.at(event.occurred_at)
        if not rulesets:
            return handled
        facts = purchase_facts(event)
        lines = event.lines
        amounts = [line.amount_minor for line in lines]
        for ruleset in rulesets:
            if event.currency not in ruleset.currencies:
                continue
            priced = price(ruleset, facts, lines, amounts, event.total_minor)
            if priced.amount == 0:
                continue
            rules = tuple(RuleAmount(r.rule.id, r.base, r.paid) for r in priced.paying)
            dates = _accrual_dates(event.occurred_at, ruleset)
            if dates is None:
                return Handled(Outcome.DEAD_LETTER, rejection=_BEYOND_CALENDAR)
            available_at, expires_at = dates
            accrual = _accrual(
                event,
                ruleset,
                kind="accrual",
                amount=priced.amount,
                base=priced.base,
                rules=rules,
                status="pending" if ruleset.hold_days else "available",
                available_at=available_at,
                expires_at=expires_at,
            )
            descriptions = tuple(r.rule.description for r in priced.paying)
            _emit(handled, accrual, ruleset.notify.accrual, event, descriptions)
        if handled.accruals:
            handled.outcome = Outcome.ACCRUED
        return handled

    def _refund(self, event: Refund, amounts: RefundAmounts) -> Handled:
        handled = Handled(
            Outcome.NOT_ELIGIBLE,
            event_id=event.event_id,
            currency=event.currency,
            event_time_us=event_time_us(event.occurred_at),
            accruals=[],
        )
        original = event.original
        rulesets = self.catalog.at(original.occurred_at)
        if not rulesets:
            return handled
        # CEL sees the view being priced, so `expr` follows SPEC's O - P and O - P - R too.
        facts_before = refund_facts(event, amounts.before_lines, amounts.before_total)
        facts_after = refund_facts(event, amounts.after_lines, amounts.after_total)
        for ruleset in rulesets:
            if event.currency not in ruleset.currencies:
                continue
            before = price(
                ruleset, facts_before, original.lines, amounts.before_lines, amounts.before_total
            )
            after = price(
                ruleset, facts_after, original.lines, amounts.after_lines, amounts.after_total
            )
            change = after.amount - before.amount
            if change == 0:
                continue
            accrual = _accrual(
                event,
                ruleset,
                kind="reversal",
                amount=change,
                base=after.base - before.base,
                rules=_rule_changes(before, after),
                status="available",
                available_at=event.occurred_at,
                expires_at=None,
            )
            described = {r.id for r in accrual.rules}
            descriptions = tuple(r.description for r in ruleset.rules if r.id in described)
            _emit(handled, accrual, ruleset.notify.reversal, event, descriptions)
        if handled.accruals:
            handled.outcome = Outcome.REVERSED
        return handled


_BEYOND_CALENDAR: Final = Rejection(
    SCHEMA_VIOLATION,
    "the hold and expiry dates of this purchase fall after the year 9999 - at `$.occurred_at`",
)


def _accrual_dates(
    occurred_at: datetime, ruleset: RuleSet
) -> tuple[datetime, datetime | None] | None:
    """(available_at, expires_at) of a purchase's accrual; None past the calendar's end."""
    try:
        available_at = occurred_at + ruleset.hold
        expiry = ruleset.expiry
        return available_at, None if expiry is None else available_at + expiry
    except OverflowError:
        return None


def _accrual(
    event: Purchase | Refund,
    ruleset: RuleSet,
    *,
    kind: Kind,
    amount: int,
    base: int,
    rules: tuple[RuleAmount, ...],
    status: Status,
    available_at: datetime,
    expires_at: datetime | None,
) -> Accrual:
    return Accrual(
        accrual_id=accrual_id(event.event_id, ruleset.name),
        kind=kind,
        event_id=event.event_id,
        purchase_id=event.purchase_id,
        customer_id=event.customer.id,
        ruleset=ruleset.name,
        ruleset_version=ruleset.version,
        currency=event.currency,
        amount_minor=amount,
        base_minor=base,
        rules=rules,
        status=status,
        occurred_at=event.occurred_at,
        available_at=available_at,
        expires_at=expires_at,
    )


def _emit(
    handled: Handled,
    accrual: Accrual,
    template: str | None,
    event: Purchase | Refund,
    descriptions: tuple[str, ...],
) -> None:
    key = accrual.customer_id.encode()
    handled.accruals.append(accrual)
    handled.tallies.append(
        Tally(
            accrual.currency,
            accrual.ruleset,
            accrual.ruleset_version,
            accrual.kind,
            accrual.amount_minor,
        )
    )
    handled.outputs.append(Output(ACCRUALS, key, encoder.encode(accrual), ACCRUAL_SCHEMA))
    if template is not None and event.customer.notifications:
        note = notification_for(accrual, template, event.customer.locale, descriptions)
        handled.outputs.append(
            Output(NOTIFICATIONS, key, encoder.encode(note), NOTIFICATION_SCHEMA)
        )


def _rule_changes(before: Price, after: Price) -> tuple[RuleAmount, ...]:
    """Per rule, what this refund changed (after - before), in priority order."""
    paid: dict[int, list[int]] = {}
    ids: dict[int, str] = {}
    for sign, priced in ((-1, before), (1, after)):
        for result in priced.paying:
            rank = result.rule.rank
            ids[rank] = result.rule.id
            entry = paid.setdefault(rank, [0, 0])
            entry[0] += sign * result.base
            entry[1] += sign * result.paid
    return tuple(
        RuleAmount(ids[rank], base, amount)
        for rank, (base, amount) in sorted(paid.items())
        if amount != 0
    )


def purchase_facts(event: Purchase) -> Facts:
    merchant = event.merchant
    customer = event.customer
    return Facts(
        occurred_at=event.occurred_at,
        merchant=merchant.id if merchant else None,
        mcc=merchant.mcc if merchant else None,
        region=merchant.region if merchant else None,
        channel=event.channel,
        payment_method=event.payment_method,
        tier=customer.tier,
        segments=frozenset(customer.segments),
        activation=lambda: _present(msgspec.to_builtins(event)),
    )


def refund_facts(event: Refund, lines: Sequence[int], total: int) -> Facts:
    """Conditions read the original purchase: its time, merchant, and the customer as then;
    `lines` and `total` are the amounts of the view being priced (O - P or O - P - R)."""
    original = event.original
    merchant = original.merchant
    customer: Any = original.customer if original.customer is not None else event.customer
    return Facts(
        occurred_at=original.occurred_at,
        merchant=merchant.id if merchant else None,
        mcc=merchant.mcc if merchant else None,
        region=merchant.region if merchant else None,
        channel=original.channel,
        payment_method=original.payment_method,
        tier=customer.tier,
        segments=frozenset(customer.segments),
        activation=lambda: _refund_view(event, lines, total),
    )


def _refund_view(event: Refund, lines: Sequence[int], total: int) -> dict[str, Any]:
    """The purchase as CEL sees it for a refund: the original, in the purchase/v1 shape,
    with the amounts of the view being priced."""
    original = event.original
    view: dict[str, Any] = msgspec.to_builtins(original)
    customer: dict[str, Any] = msgspec.to_builtins(event.customer)
    if original.customer is not None:
        customer["tier"] = original.customer.tier
        customer["segments"] = list(original.customer.segments)
    view.update(
        type="purchase",
        event_id=event.event_id,
        purchase_id=event.purchase_id,
        currency=event.currency,
        customer=customer,
        total_minor=total,
        lines=[
            {**line, "amount_minor": amount}
            for line, amount in zip(view["lines"], lines, strict=True)
        ],
    )
    return _present(view)


def _present(view: dict[str, Any]) -> dict[str, Any]:
    """Drop absent optional fields, so CEL's `has(purchase.channel)` means what it says."""
    return {key: value for key, value in view.items() if value is not None}
