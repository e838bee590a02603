"""Building the explanation of one event: `explain(catalog, raw)`.

The numbers (bases, results, caps, combine, purchase cap, the final amounts) are read from
`pricing.price` and the engine's own output, never recomputed; this module adds what people
need to follow them: each condition held or not, which lines made a base, the rounding.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import msgspec

from cashback.domain.catalog import Catalog
from cashback.domain.engine import OUTCOME_NAMES, Engine, purchase_facts, refund_facts
from cashback.domain.events import (
    Line,
    Purchase,
    Refund,
    RefundAmounts,
    Rejection,
    decode_event,
    refund_amounts,
)
from cashback.domain.facts import Facts
from cashback.domain.rules import RuleSet
from cashback.reports.explain_model import (
    EventSummary,
    Explanation,
    LineSummary,
    OutputRecord,
    RefundSummary,
    RuleSetExplanation,
)
from cashback.reports.explain_rules import explain_view
from cashback.reports.latest import DISTANT_PAST

View = tuple[str, Sequence[int], int, Facts]  # label, line amounts, order total, facts


def explain(catalog: Catalog, raw: bytes) -> Explanation:
    """Why the engine writes what it writes for `raw` (one input record value)."""
    handled = Engine(catalog).handle(raw)
    outputs = [
        OutputRecord(o.destination, o.key.decode(), o.schema, msgspec.json.decode(o.value))
        for o in handled.outputs
    ]
    outcome = OUTCOME_NAMES[handled.outcome]
    event = decode_event(raw)
    if isinstance(event, Rejection):
        rejection = {"code": event.code, "message": event.message}
        return Explanation(outcome, None, rejection, [], outputs)
    if isinstance(event, Purchase):
        facts = purchase_facts(event)
        lines = event.lines
        amounts_now = [line.amount_minor for line in lines]
        views: list[View] = [("purchase", amounts_now, event.total_minor, facts)]
        moment = event.occurred_at
        summary = _purchase_summary(event, facts)
    else:
        lines = event.original.lines
        amounts = refund_amounts(event)
        assert not isinstance(amounts, Rejection)  # decode_event has checked it adds up
        # Each view has its own facts: CEL sees the amounts of the view being priced.
        before, after = amounts.before_lines, amounts.after_lines
        facts = refund_facts(event, before, amounts.before_total)
        views = [
            ("before this refund", before, amounts.before_total, facts),
            (
                "after this refund",
                after,
                amounts.after_total,
                refund_facts(event, after, amounts.after_total),
            ),
        ]
        moment = event.original.occurred_at
        summary = _refund_summary(event, facts, amounts)
    rulesets = [
        _ruleset(catalog, name, event=event, moment=moment, lines=lines, views=views)
        for name in catalog.names
    ]
    return Explanation(outcome, summary, None, rulesets, outputs)


def _ruleset(
    catalog: Catalog,
    name: str,
    *,
    event: Purchase | Refund,
    moment: datetime,
    lines: Sequence[Line],
    views: list[View],
) -> RuleSetExplanation:
    versions = catalog.versions(name)
    assert versions is not None
    ruleset = versions.at(moment)
    when = "the original purchase time" if isinstance(event, Refund) else "the event time"
    if ruleset is None:
        first = min(versions.by_version.values(), key=lambda rs: rs.effective_from)
        return RuleSetExplanation(
            name,
            None,
            False,
            f"not yet in force at {when} {moment.isoformat()}: the earliest version"
            f" ({first.version}) takes effect {first.effective_from.isoformat()}",
        )
    reason = _in_force(ruleset, versions.by_version.values(), when, moment)
    if event.currency not in ruleset.currencies:
        accepted = ", ".join(sorted(ruleset.currencies))
        return RuleSetExplanation(
            name,
            ruleset.version,
            False,
            f"{reason}; it pays in {accepted} only, and this event is in {event.currency}",
        )
    explained = [
        explain_view(ruleset, facts, label=label, lines=lines, amounts=amounts, total=total)
        for label, amounts, total, facts in views
    ]
    # A purchase earns what its one view earns; a refund changes it by after - before.
    amount = explained[-1].amount_minor - (explained[0].amount_minor if len(explained) > 1 else 0)
    base = explained[-1].base_minor - (explained[0].base_minor if len(explained) > 1 else 0)
    notification = _notification(ruleset, event, amount)
    return RuleSetExplanation(
        name, ruleset.version, True, reason, explained, amount, base, notification
    )


def _in_force(ruleset: RuleSet, others: Iterable[RuleSet], when: str, moment: datetime) -> str:
    if ruleset.effective_from == DISTANT_PAST:
        return f"version {ruleset.version} applies (--as-of-latest: the newest, whatever the time)"
    later = sorted((rs for rs in others if rs.version > ruleset.version), key=lambda rs: rs.version)
    text = (
        f"version {ruleset.version} is in force at {when} {moment.isoformat()}"
        f" (effective from {ruleset.effective_from.isoformat()})"
    )
    if later:
        upcoming = ", ".join(f"{rs.version} from {rs.effective_from.isoformat()}" for rs in later)
        text += f"; later versions: {upcoming}"
    return text


def _notification(ruleset: RuleSet, event: Purchase | Refund, amount: int) -> str | None:
    if amount == 0:
        return None
    kind = "reversal" if isinstance(event, Refund) else "accrual"
    template = ruleset.notify.reversal if kind == "reversal" else ruleset.notify.accrual
    if template is None:
        return f"none: the rule set names no {kind} template"
    if not event.customer.notifications:
        return "none: the customer has said notifications: false"
    return f"template {template}, locale {event.customer.locale or '(not given)'}"


def _lines(lines: Sequence[Line]) -> list[LineSummary]:
    return [
        LineSummary(i, line.sku, line.category, line.quantity, line.amount_minor)
        for i, line in enumerate(lines)
    ]


def _purchase_summary(event: Purchase, facts: Facts) -> EventSummary:
    return _summary(event, facts, kind="purchase", total=event.total_minor, lines=event.lines)


def _refund_summary(event: Refund, facts: Facts, amounts: RefundAmounts) -> EventSummary:
    original = event.original
    refund = RefundSummary(
        original_occurred_at=original.occurred_at.isoformat(),
        original_total_minor=original.total_minor,
        refunded=[(r.line, r.amount_minor) for r in event.refunded_lines],
        previously_refunded=[(r.line, r.amount_minor) for r in event.previously_refunded_lines],
        before_lines=list(amounts.before_lines),
        before_total_minor=amounts.before_total,
        after_lines=list(amounts.after_lines),
        after_total_minor=amounts.after_total,
    )
    return _summary(
        event,
        facts,
        kind="refund",
        total=original.total_minor,
        lines=original.lines,
        refund=refund,
    )


def _summary(
    event: Purchase | Refund,
    facts: Facts,
    *,
    kind: str,
    total: int,
    lines: Sequence[Line],
    refund: RefundSummary | None = None,
) -> EventSummary:
    return EventSummary(
        type=kind,
        event_id=event.event_id,
        purchase_id=event.purchase_id,
        occurred_at=event.occurred_at.isoformat(),
        customer_id=event.customer.id,
        tier=facts.tier,
        segments=sorted(facts.segments),
        merchant=facts.merchant,
        mcc=facts.mcc,
        region=facts.region,
        channel=facts.channel,
        payment_method=facts.payment_method,
        currency=event.currency,
        total_minor=total,
        lines=_lines(lines),
        refund=refund,
    )
