"""The explanation of one event as text for people (`cashback explain` without --json)."""

from __future__ import annotations

from typing import Any

from cashback.reports.explain_model import (
    EventSummary,
    Explanation,
    RuleExplanation,
    RuleSetExplanation,
    ViewExplanation,
)

YES = "✓"
NO = "✗"


def render(explanation: Explanation) -> str:
    out: list[str] = []
    if explanation.event is None:
        rejection = explanation.rejection or {}
        out.append("not an event the worker can price: it goes to the dead-letter topic")
        out.append(f"  error.code    {rejection.get('code')}")
        out.append(f"  error.message {rejection.get('message')}")
        return "\n".join(out) + "\n"
    _event(explanation.event, out)
    for ruleset in explanation.rulesets:
        out.append("")
        _ruleset(ruleset, explanation.event, out)
    out.append("")
    outcome = explanation.outcome.replace("_", " ")
    out.append(f"outcome: {outcome}; " + ("writes:" if explanation.outputs else "writes nothing"))
    for record in explanation.outputs:
        out.extend(_output(record.destination, record.key, record.value))
    return "\n".join(out) + "\n"


def _event(event: EventSummary, out: list[str]) -> None:
    refund = event.refund
    if refund is None:
        out.append(f"purchase {event.event_id} (purchase_id {event.purchase_id})")
        out.append(f"  at {event.occurred_at}")
    else:
        out.append(f"refund {event.event_id} of purchase {event.purchase_id}")
        out.append(
            f"  at {event.occurred_at}; the original purchase at {refund.original_occurred_at}"
        )
    who = [f"customer {event.customer_id}"]
    who.append(f"tier {event.tier}" if event.tier else "no tier")
    if event.segments:
        who.append(f"segments {', '.join(event.segments)}")
    out.append("  " + ", ".join(who) + (" (as at the purchase)" if refund else ""))
    where = [
        f"{label} {value}"
        for label, value in (
            ("merchant", event.merchant),
            ("mcc", event.mcc),
            ("region", event.region),
            ("channel", event.channel),
            ("payment", event.payment_method),
        )
        if value is not None
    ]
    if where:
        out.append("  " + ", ".join(where))
    width = max(len(line.sku) for line in event.lines)
    kind = max(len(line.category) for line in event.lines)
    if refund is None:
        out.append(f"  {event.currency}, total {event.total_minor}, {len(event.lines)} line(s):")
        for line in event.lines:
            out.append(
                f"    [{line.line}] {line.sku:<{width}}  {line.category:<{kind}}"
                f"  × {line.quantity}  {line.amount_minor}"
            )
        return
    out.append(f"  {event.currency}; amounts: original → before this refund → after it")
    for line in event.lines:
        before, after = refund.before_lines[line.line], refund.after_lines[line.line]
        out.append(
            f"    [{line.line}] {line.sku:<{width}}  {line.category:<{kind}}  × {line.quantity}"
            f"  {line.amount_minor} → {before} → {after}"
        )
    out.append(
        f"    total {refund.original_total_minor} → {refund.before_total_minor}"
        f" → {refund.after_total_minor}"
    )
    returned = ", ".join(f"[{line}] {amount}" for line, amount in refund.refunded)
    out.append(f"  this refund returns {returned}")
    if refund.previously_refunded:
        earlier = ", ".join(f"[{line}] {amount}" for line, amount in refund.previously_refunded)
        out.append(f"  earlier refunds returned {earlier}")


def _ruleset(ruleset: RuleSetExplanation, event: EventSummary, out: list[str]) -> None:
    if not ruleset.applies:
        out.append(f"rule set {ruleset.ruleset} earns nothing: {ruleset.reason}")
        return
    out.append(f"rule set {ruleset.ruleset}: {ruleset.reason}")
    views = ruleset.views
    for view in views:
        indent = "  "
        if len(views) > 1:
            out.append(f"  {view.label} (total {view.total_minor}):")
            indent = "    "
        _view(view, event, indent, out)
    if len(views) > 1:
        before, after = views[0].amount_minor, views[-1].amount_minor
        out.append(
            f"  difference: {after} - {before} = {ruleset.amount_minor} (base {ruleset.base_minor})"
        )
    if ruleset.amount_minor == 0:
        out.append("  writes nothing for this rule set")
    elif ruleset.notification is not None:
        out.append(f"  notification: {ruleset.notification}")


def _view(view: ViewExplanation, event: EventSummary, indent: str, out: list[str]) -> None:
    for rule in view.rules:
        _rule(rule, event, indent, out)
    out.append(f"{indent}combine {view.combine}")
    if view.purchase_cap is not None:
        out.append(f"{indent}{view.purchase_cap}")
    out.append(f"{indent}= {view.amount_minor} on a base of {view.base_minor}")
    out.extend(f"{indent}note: {note}" for note in view.notes)


def _rule(rule: RuleExplanation, event: EventSummary, indent: str, out: list[str]) -> None:
    inner = indent + "  "
    out.append(f"{indent}{rule.id} (priority {rule.priority}): {rule.description}")
    out.append(f"{inner}pays {rule.pay}")
    out.extend(f"{inner}{YES if check.held else NO} {check.text}" for check in rule.order_checks)
    if rule.order_holds:
        tokens = []
        for check in rule.lines:
            sku = event.lines[check.line].sku
            if check.in_base:
                tokens.append(f"{YES} [{check.line}] {sku}")
            elif check.taken_by:
                tokens.append(f"[{check.line}] {sku} taken by {check.taken_by}")
            elif check.holds:
                tokens.append(f"[{check.line}] {sku} has nothing left")
            else:
                tokens.append(f"{NO} [{check.line}] {sku}")
        conditions = rule.line_conditions or "any line"
        out.append(f"{inner}lines ({conditions}): {', '.join(tokens)}")
    if rule.qualifies:
        lines = ", ".join(f"[{line}]" for line in rule.base_lines)
        out.append(f"{inner}base {rule.base_minor} from lines {lines}")
        if rule.band:
            out.append(f"{inner}{rule.band}")
        if rule.arithmetic:
            out.append(f"{inner}{rule.arithmetic}")
        out.extend(f"{inner}{cap}" for cap in rule.caps)
    out.append(f"{inner}→ {rule.outcome}")


def _output(destination: str, key: str, value: Any) -> list[str]:
    if destination == "notifications":
        params = value["params"]
        return [
            f"  notification for {key}: template {value['template']},"
            f" locale {value['locale']}, {params['amount_minor']} {params['currency']}",
            f"    notification_id {value['notification_id']}",
        ]
    expires = value["expires_at"] or "never"
    rules = ", ".join(f"{r['id']} {r['amount_minor']} on {r['base_minor']}" for r in value["rules"])
    return [
        f"  {value['kind']} for {key}: {value['amount_minor']} {value['currency']}"
        f" ({value['ruleset']} v{value['ruleset_version']}), {value['status']},"
        f" available {value['available_at']}, expires {expires}",
        f"    rules: {rules}",
        f"    accrual_id {value['accrual_id']}",
    ]
