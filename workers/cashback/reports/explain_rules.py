"""One order view under one rule set version, rule by rule: the heart of `cashback explain`.

`price()` gives every number; this module says why. It works out which lines each rule could
take (line conditions, and under `combine: first` which rule won a line) to name the lines
of a base, and checks its sums against `price()`: a disagreement is reported as a note.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from cashback.domain.conditions import DAYS, AnySegment, Condition, DaysOfWeek, LocalTime, OneOf
from cashback.domain.events import Line
from cashback.domain.facts import Facts
from cashback.domain.money import Percent
from cashback.domain.pricing import Price, RuleResult, price
from cashback.domain.rules import Payout, Rule, RuleSet
from cashback.reports.explain_model import Check, LineCheck, RuleExplanation, ViewExplanation
from cashback.reports.numbers import exact_quotient


def explain_view(
    ruleset: RuleSet,
    facts: Facts,
    *,
    label: str,
    lines: Sequence[Line],
    amounts: Sequence[int],
    total: int,
) -> ViewExplanation:
    priced = price(ruleset, facts, lines, amounts, total)
    results = {rule_of(result).rank: result for result in priced.results}
    first = ruleset.combine == "first"
    order_holds = {rule.rank: rule.order_holds(facts, total) for rule in ruleset.rules}
    # Which lines each rule takes; under `first` a line stops at the first rule holding it.
    taken_by: list[str | None] = [None] * len(lines)
    base_lines: dict[int, list[int]] = {}
    for index, line in enumerate(lines):
        for rule in ruleset.rules:
            if order_holds[rule.rank] and rule.line_holds(line.category, line.sku):
                base_lines.setdefault(rule.rank, []).append(index)
                if first:
                    taken_by[index] = rule.id
                    break
    notes: list[str] = []
    explained = []
    for rule in ruleset.rules:
        # Only lines with money in them make a base (a line at 0 is still won under `first`).
        mine = [i for i in base_lines.get(rule.rank, []) if amounts[i] > 0]
        result = results.get(rule.rank)
        if (result.base if result else 0) != sum(amounts[i] for i in mine):
            notes.append(f"{rule.id}: explain could not name the lines of its base")
        explained.append(
            _rule(
                ruleset,
                rule,
                facts=facts,
                lines=lines,
                total=total,
                priced=priced,
                result=result,
                mine=mine,
                taken_by=taken_by,
            )
        )
    return ViewExplanation(
        label=label,
        total_minor=total,
        line_amounts=list(amounts),
        rules=explained,
        combine=_combine(ruleset, priced),
        purchase_cap=_purchase_cap(ruleset, priced),
        amount_minor=priced.amount,
        base_minor=priced.base,
        notes=notes,
    )


def _rule(
    ruleset: RuleSet,
    rule: Rule,
    *,
    facts: Facts,
    lines: Sequence[Line],
    total: int,
    priced: Price,
    result: RuleResult | None,
    mine: list[int],
    taken_by: list[str | None],
) -> RuleExplanation:
    checks = []
    if rule.min_total is not None:
        checks.append(
            Check(
                f"order total {total} >= min_total_minor {rule.min_total}", total >= rule.min_total
            )
        )
    checks.extend(Check(_describe(c, facts), c.holds(facts)) for c in rule.conditions)
    holds = rule.order_holds(facts, total)
    line_checks = []
    for index, line in enumerate(lines):
        line_ok = rule.line_holds(line.category, line.sku)
        winner = taken_by[index]
        line_checks.append(
            LineCheck(
                index,
                line_ok,
                index in mine,
                winner if holds and line_ok and winner not in (None, rule.id) else None,
            )
        )
    explained = RuleExplanation(
        id=rule.id,
        description=rule.description,
        priority=rule.priority,
        order_checks=checks,
        order_holds=holds,
        line_conditions=_line_conditions(rule),
        lines=line_checks,
        qualifies=False,
        pay=_pay(rule.payout),
        outcome=_why_not(checks, line_checks),
    )
    if result is None:
        return explained
    payout = rule.payout
    band, percent = _band(payout, result.base)
    return msgspec.structs.replace(
        explained,
        qualifies=True,
        base_minor=result.base,
        base_lines=mine,
        band=band,
        arithmetic=_arithmetic(result, percent, ruleset.rounding.value),
        caps=_caps(payout, result.raw),
        result_minor=result.raw,
        amount_minor=result.amount,
        paid_minor=result.paid,
        outcome=_outcome(ruleset, result, priced),
    )


def _describe(condition: Condition, facts: Facts) -> str:
    """The condition, and what the event had where that is a plain value."""
    text = condition.describe()
    if isinstance(condition, OneOf):
        value = condition.read(facts)
        return f"{text} (here: {'not given' if value is None else repr(value)})"
    if isinstance(condition, AnySegment):
        return f"{text} (here: {sorted(facts.segments)})"
    if isinstance(condition, DaysOfWeek):
        return f"{text} (here: {DAYS[facts.local(condition.zone)[0]]})"
    if isinstance(condition, LocalTime):
        minute = facts.local(condition.zone)[1]
        return f"{text} (here: {minute // 60:02d}:{minute % 60:02d})"
    return text


def rule_of(result: RuleResult) -> Rule:
    """The rule of a result (typed loosely in `pricing`, which keeps its imports light)."""
    rule = result.rule
    assert isinstance(rule, Rule)
    return rule


def _line_conditions(rule: Rule) -> str | None:
    parts = []
    if rule.categories is not None:
        parts.append(f"category in {sorted(rule.categories)}")
    if rule.skus is not None:
        parts.append(f"sku in {sorted(rule.skus)}")
    return " and ".join(parts) or None


def _pay(payout: Payout) -> str:
    if payout.percent is not None:
        text = f"{payout.percent.text}% of the base"
    elif payout.fixed_minor is not None:
        text = f"{payout.fixed_minor} once per qualifying purchase"
    else:
        text = "bands " + ", ".join(f"from {start}: {p.text}%" for start, p in payout.bands)
    if payout.max_minor is not None:
        text += f", at most {payout.max_minor}"
    if payout.min_minor is not None:
        text += f", nothing below {payout.min_minor}"
    return text


def _band(payout: Payout, base: int) -> tuple[str | None, Percent | None]:
    if payout.percent is not None or not payout.bands:
        return None, payout.percent
    percent = payout.band_percent(base)
    starts = [start for start, _ in payout.bands if start <= base]
    if not starts:
        first = payout.bands[0][0]
        return f"base {base} is below the first band (from {first}): 0%", percent
    return f"base {base} is in the band from {starts[-1]}: {percent.text}%", percent


def _arithmetic(result: RuleResult, percent: Percent | None, rounding: str) -> str:
    if percent is None:
        return f"fixed {result.raw}"
    exact = exact_quotient(result.base * percent.numerator, 100 * percent.denominator)
    return f"{result.base} × {percent.text}% = {exact} → {result.raw} ({rounding})"


def _caps(payout: Payout, raw: int) -> list[str]:
    caps = []
    capped = raw
    if payout.max_minor is not None:
        if raw > payout.max_minor:
            capped = payout.max_minor
            caps.append(f"max_minor {payout.max_minor}: {raw} → {capped}")
        else:
            caps.append(f"max_minor {payout.max_minor}: {raw} is within")
    if payout.min_minor is not None:
        if capped < payout.min_minor:
            caps.append(f"min_minor {payout.min_minor}: {capped} is below it → 0")
        else:
            caps.append(f"min_minor {payout.min_minor}: {capped} reaches it")
    return caps


def _why_not(checks: list[Check], lines: list[LineCheck]) -> str:
    failed = [check.text for check in checks if not check.held]
    if failed:
        return "does not qualify: " + "; ".join(f"not {text}" for text in failed)
    if not any(line.holds for line in lines):
        return "does not qualify: no line meets its line conditions"
    winners = sorted({line.taken_by for line in lines if line.taken_by})
    if winners and all(line.taken_by for line in lines if line.holds):
        return f"does not qualify: its lines went to higher-priority {', '.join(winners)}"
    return "does not qualify: no money left in its lines"


def _outcome(ruleset: RuleSet, result: RuleResult, priced: Price) -> str:
    if result.amount == 0:
        passed_on = " (its lines are not passed on)" if ruleset.combine == "first" else ""
        return f"result 0: pays nothing{passed_on}"
    if result.paid == result.amount:
        return f"pays {result.paid}"
    if result.paid > 0:
        return f"pays {result.paid}: cut from {result.amount} by the purchase cap"
    if ruleset.combine == "best" and _best(priced) is not result:
        winner = _best(priced)
        return f"pays nothing: combine best counts only {rule_of(winner).id if winner else '-'}"
    return f"pays nothing: the purchase cap is used up by higher-priority rules ({result.amount})"


def _best(priced: Price) -> RuleResult | None:
    """The result `best` counts: the largest, ties to the earlier (priority, then id)."""
    winner = None
    for result in priced.results:
        if winner is None or result.amount > winner.amount:
            winner = result
    return winner


def _chosen(ruleset: RuleSet, priced: Price) -> list[RuleResult]:
    if ruleset.combine == "best":
        winner = _best(priced)
        return [winner] if winner is not None and winner.amount > 0 else []
    return [result for result in priced.results if result.amount > 0]


def _combine(ruleset: RuleSet, priced: Price) -> str:
    how = {
        "first": "first: each line went to the highest-priority rule holding it",
        "best": "best: only the largest result counts (ties: priority, then id)",
        "stack": "stack: every result counts",
    }[ruleset.combine]
    chosen = _chosen(ruleset, priced)
    if not chosen:
        return f"{how}; no rule has a result above 0"
    terms = " + ".join(f"{rule_of(r).id} {r.amount}" for r in chosen)
    return f"{how}; {terms} = {sum(r.amount for r in chosen)}"


def _purchase_cap(ruleset: RuleSet, priced: Price) -> str | None:
    cap = ruleset.max_per_purchase_minor
    if cap is None:
        return None
    wanted = sum(result.amount for result in _chosen(ruleset, priced))
    if wanted <= cap:
        return f"max_per_purchase_minor {cap}: {wanted} is within"
    return (
        f"max_per_purchase_minor {cap}: {wanted} → {priced.amount},"
        " paid to the rules in priority order"
    )
