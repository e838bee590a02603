"""The result of a simulation, optionally against a baseline, as plain data (JSON-ready).

Rates are exact: `percent_text` divides integers, so `rate_percent` ("3.7012") is the payout
as a share of the base, rounded half-even at the last digit shown, never via a float.
"""

from __future__ import annotations

from msgspec import Struct

from cashback.reports.numbers import percent_text
from cashback.reports.simulation import CurrencyTally, Simulation, Tally

RATE_PLACES = 4


class Figures(Struct, frozen=True, kw_only=True):
    events: int  # priced under the rule set (version in force, currency accepted)
    eligible: int  # purchases that earned (a rule: that it paid in)
    reversals: int  # refunds that changed what was paid
    base_minor: int
    accrued_minor: int
    reversed_minor: int
    payout_minor: int  # accrued + reversed
    rate_percent: str | None  # payout / base


class Delta(Struct, frozen=True, kw_only=True):
    """Simulated minus baseline."""

    eligible: int
    base_minor: int
    payout_minor: int
    payout_change_percent: str | None  # relative to the baseline payout


class RuleRow(Struct, frozen=True, kw_only=True):
    rule: str
    figures: Figures
    baseline: Figures | None = None
    delta: Delta | None = None


class RuleSetRow(Struct, frozen=True, kw_only=True):
    ruleset: str
    currency: str
    versions: list[int]
    figures: Figures
    rules: list[RuleRow]
    baseline_versions: list[int] | None = None
    baseline: Figures | None = None
    delta: Delta | None = None


class CurrencyRow(Struct, frozen=True, kw_only=True):
    currency: str
    purchases: int
    refunds: int
    sales_minor: int
    payout_minor: int  # over every rule set
    cost_percent: str | None  # payout / sales
    baseline_payout_minor: int | None = None
    delta_payout_minor: int | None = None


class Report(Struct, frozen=True, kw_only=True):
    as_of_latest: bool
    lines: int
    dead_letters: dict[str, int]
    rulesets: list[RuleSetRow]
    currencies: list[CurrencyRow]


def report(current: Simulation, baseline: Simulation | None, *, as_of_latest: bool) -> Report:
    keys = set(current.rulesets) | (set(baseline.rulesets) if baseline else set())
    rows = [_ruleset_row(name, currency, current, baseline) for name, currency in sorted(keys)]
    currencies = [
        _currency_row(code, tally, rows, baseline is not None)
        for code, tally in sorted(current.currencies.items())
    ]
    return Report(
        as_of_latest=as_of_latest,
        lines=current.lines,
        dead_letters=dict(sorted(current.dead_letters.items())),
        rulesets=rows,
        currencies=currencies,
    )


def figures(tally: Tally, events: int | None = None) -> Figures:
    return Figures(
        events=tally.events if events is None else events,
        eligible=tally.eligible,
        reversals=tally.reversals,
        base_minor=tally.base_minor,
        accrued_minor=tally.accrued_minor,
        reversed_minor=tally.reversed_minor,
        payout_minor=tally.payout_minor,
        rate_percent=percent_text(tally.payout_minor, tally.base_minor, RATE_PLACES),
    )


def delta(now: Figures, then: Figures) -> Delta:
    change = now.payout_minor - then.payout_minor
    return Delta(
        eligible=now.eligible - then.eligible,
        base_minor=now.base_minor - then.base_minor,
        payout_minor=change,
        payout_change_percent=percent_text(change, abs(then.payout_minor), 2),
    )


def _ruleset_row(
    name: str, currency: str, current: Simulation, baseline: Simulation | None
) -> RuleSetRow:
    key = (name, currency)
    now = figures(current.rulesets.get(key, Tally()))
    rule_ids = {rule for (rs, rule, cur) in current.rules if (rs, cur) == key}
    if baseline is not None:
        rule_ids |= {rule for (rs, rule, cur) in baseline.rules if (rs, cur) == key}
    rules = []
    for rule in rule_ids:
        mine = figures(current.rules.get((name, rule, currency), Tally()), now.events)
        if baseline is None:
            rules.append(RuleRow(rule=rule, figures=mine))
            continue
        then_events = baseline.rulesets.get(key, Tally()).events
        theirs = figures(baseline.rules.get((name, rule, currency), Tally()), then_events)
        rules.append(RuleRow(rule=rule, figures=mine, baseline=theirs, delta=delta(mine, theirs)))
    # The costliest rules first: what marketing looks at.
    rules.sort(
        key=lambda r: (
            -r.figures.payout_minor,
            -(r.baseline.payout_minor if r.baseline else 0),
            r.rule,
        )
    )
    versions = sorted(current.versions.get(key, ()))
    if baseline is None:
        return RuleSetRow(
            ruleset=name, currency=currency, versions=versions, figures=now, rules=rules
        )
    then = figures(baseline.rulesets.get(key, Tally()))
    return RuleSetRow(
        ruleset=name,
        currency=currency,
        versions=versions,
        figures=now,
        rules=rules,
        baseline_versions=sorted(baseline.versions.get(key, ())),
        baseline=then,
        delta=delta(now, then),
    )


def _currency_row(
    code: str, tally: CurrencyTally, rows: list[RuleSetRow], with_baseline: bool
) -> CurrencyRow:
    mine = [row for row in rows if row.currency == code]
    payout = sum(row.figures.payout_minor for row in mine)
    before = (
        sum(row.baseline.payout_minor for row in mine if row.baseline) if with_baseline else None
    )
    return CurrencyRow(
        currency=code,
        purchases=tally.purchases,
        refunds=tally.refunds,
        sales_minor=tally.sales_minor,
        payout_minor=payout,
        cost_percent=percent_text(payout, tally.sales_minor, RATE_PLACES),
        baseline_payout_minor=before,
        delta_payout_minor=None if before is None else payout - before,
    )
