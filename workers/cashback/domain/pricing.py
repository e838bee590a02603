"""Pricing one order under one rule set version: bases, results, combine and caps.

An order here is a view: lines with their current amounts and the order total. A purchase
is one view; a refund prices two views of its original (before and after this refund) and
takes the difference, so this module knows nothing about refunds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cashback.domain.events import Line
from cashback.domain.facts import Facts
from cashback.domain.rules import Rule, RuleSet


@dataclass(slots=True)
class RuleResult:
    """One qualifying rule: its base, its result before and after its own caps, and what it pays
    after `combine` and `max_per_purchase_minor`."""

    rule: Rule
    base: int
    raw: int
    amount: int
    paid: int = 0


@dataclass(slots=True)
class Price:
    ruleset: RuleSet
    results: list[RuleResult]  # every qualifying rule, in priority order
    paying: list[RuleResult]  # the rules that pay, in priority order; their `paid` adds up
    amount: int
    base: int


def price(
    ruleset: RuleSet, facts: Facts, lines: Sequence[Line], amounts: Sequence[int], total: int
) -> Price:
    """Cashback of one order view under `ruleset` (the caller has checked the currency)."""
    rules = ruleset.rules
    candidates = _order_candidates(ruleset, facts)
    by_category = ruleset.by_category
    by_sku = ruleset.by_sku
    per_sku = ruleset.sku_sensitive
    first = ruleset.combine == "first"
    memo: dict[int, bool] = {}
    holding_by_key: dict[object, tuple[int, ...]] = {}
    line_holding: list[tuple[int, ...]] = []
    bases: dict[int, int] = {}
    for index, line in enumerate(lines):
        key: object = (line.category, line.sku) if per_sku else line.category
        holding = holding_by_key.get(key)
        if holding is None:
            ranks = by_category.get(line.category, ())
            if by_sku:
                ranks = _merge(ranks, by_sku.get(line.sku, ()))
            ranks = _merge(ranks, candidates)
            found: list[int] = []
            for rank in ranks:
                held = memo.get(rank)
                if held is None:
                    held = memo[rank] = rules[rank].order_holds(facts, total)
                if held and rules[rank].line_holds(line.category, line.sku):
                    found.append(rank)
                    if first:  # the line goes to the highest-priority rule that holds
                        break
            holding = holding_by_key[key] = tuple(found)
        amount = amounts[index]
        for rank in holding:
            bases[rank] = bases.get(rank, 0) + amount
        line_holding.append(holding)
    rounding = ruleset.rounding
    results: list[RuleResult] = []
    for rank in sorted(bases):
        base = bases[rank]
        if base == 0:  # only lines with money in them qualify a rule (see docs/decisions.md)
            continue
        rule = rules[rank]
        raw = rule.payout.raw(base, rounding)
        results.append(RuleResult(rule, base, raw, rule.payout.limit(raw)))
    if not results:
        return Price(ruleset, [], [], 0, 0)

    if ruleset.combine == "best":
        winner = results[0]
        for result in results:  # ties go to the earlier rule: priority, then id
            if result.amount > winner.amount:
                winner = result
        chosen = [winner] if winner.amount > 0 else []
    else:
        chosen = [result for result in results if result.amount > 0]

    budget = ruleset.max_per_purchase_minor
    paying: list[RuleResult] = []
    for result in chosen:  # under a purchase cap, higher-priority rules are paid first
        paid = result.amount if budget is None else min(result.amount, budget)
        if paid > 0:
            result.paid = paid
            paying.append(result)
            if budget is not None:
                budget -= paid
    amount = sum(result.paid for result in paying)
    return Price(ruleset, results, paying, amount, _paid_base(paying, line_holding, amounts))


def _order_candidates(ruleset: RuleSet, facts: Facts) -> tuple[int, ...]:
    """Rules without line conditions that may hold for this order, in priority order."""
    candidates = ruleset.always
    if facts.merchant is not None and ruleset.by_merchant:
        candidates = _merge(candidates, ruleset.by_merchant.get(facts.merchant, ()))
    if facts.mcc is not None and ruleset.by_mcc:
        candidates = _merge(candidates, ruleset.by_mcc.get(facts.mcc, ()))
    return candidates


def _merge(left: tuple[int, ...], right: tuple[int, ...]) -> tuple[int, ...]:
    if not right:
        return left
    if not left:
        return right
    return tuple(sorted(set(left).union(right)))


def _paid_base(
    paying: list[RuleResult], line_holding: list[tuple[int, ...]], amounts: Sequence[int]
) -> int:
    """The amount of the lines that earned: in the base of at least one paying rule."""
    if len(paying) == 1:
        return paying[0].base
    ranks = {result.rule.rank for result in paying}
    return sum(
        amounts[index]
        for index, holding in enumerate(line_holding)
        if not ranks.isdisjoint(holding)
    )
