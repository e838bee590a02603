"""Pricing one order under one rule set version: bases, results, combine and caps.

An order here is a view: lines with their current amounts and the order total. A purchase
is one view; a refund prices two views of its original (before and after this refund) and
takes the difference, so this module knows nothing about refunds.

This is the hot path: rules come pre-indexed by category (see `rules.RuleSet`), lines with
the same category (and sku, when a rule looks at skus) share one look-up, and order
conditions are checked at most once per rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cashback.domain.events import Line
from cashback.domain.facts import Facts
from cashback.domain.rules import Rule, RuleSet


@dataclass(slots=True)
class RuleResult:
    """One qualifying rule: its base, its result before and after its own caps, and what it
    pays after `combine` and `max_per_purchase_minor`."""

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
    by_category = ruleset.candidates_by_category
    always = ruleset.always
    by_sku = ruleset.by_sku
    per_sku = ruleset.sku_sensitive
    extra = _order_candidates(ruleset, facts) if ruleset.order_indexed else ()
    if not always and not extra and not _any_indexed(lines, by_category, by_sku):
        return Price(ruleset, [], [], 0, 0)  # no rule of this set can touch these lines
    first = ruleset.combine == "first"
    stack = ruleset.combine == "stack"
    memo: dict[int, bool] = {}
    holding_by_key: dict[object, tuple[int, ...]] = {}
    line_holding: list[tuple[int, ...]] = []
    bases: dict[int, int] = {}
    for index, line in enumerate(lines):
        category = line.category
        key: object = (category, line.sku) if per_sku else category
        holding = holding_by_key.get(key)
        if holding is None:
            ranks = by_category.get(category, always)
            if by_sku:
                ranks = _merge(ranks, by_sku.get(line.sku, ()))
            if extra:
                ranks = _merge(ranks, extra)
            found: list[int] = []
            sku = line.sku
            for rank in ranks:
                rule = rules[rank]
                held = memo.get(rank)
                if held is None:
                    held = memo[rank] = rule.order_holds(facts, total)
                # Every candidate came through an index that already matched the line's
                # category (or it has no category condition): only skus are left to check.
                skus = rule.skus
                if held and (skus is None or sku in skus):
                    found.append(rank)
                    if first:  # the line goes to the highest-priority rule that holds
                        break
            holding = holding_by_key[key] = tuple(found)
        amount = amounts[index]
        for rank in holding:
            bases[rank] = bases.get(rank, 0) + amount
        if stack:
            line_holding.append(holding)

    rounding = ruleset.rounding
    results: list[RuleResult] = []
    for rank in sorted(bases) if len(bases) > 1 else bases:
        base = bases[rank]
        if base == 0:  # only lines with money in them qualify a rule (see docs/decisions.md)
            continue
        payout = rules[rank].payout
        raw = payout.raw(base, rounding)
        results.append(RuleResult(rules[rank], base, raw, payout.limit(raw)))
    if not results:
        return Price(ruleset, results, [], 0, 0)

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
    amount = 0
    base = 0
    for result in chosen:  # under a purchase cap, higher-priority rules are paid first
        paid = result.amount if budget is None else min(result.amount, budget)
        if paid > 0:
            result.paid = paid
            paying.append(result)
            amount += paid
            base += result.base
            if budget is not None:
                budget -= paid
    if stack and len(paying) > 1:
        base = _union_base(paying, line_holding, amounts)
    return Price(ruleset, results, paying, amount, base)


def _any_indexed(
    lines: Sequence[Line],
    by_category: dict[str, tuple[int, ...]],
    by_sku: dict[str, tuple[int, ...]],
) -> bool:
    for line in lines:
        if line.category in by_category or line.sku in by_sku:
            return True
    return False


def _order_candidates(ruleset: RuleSet, facts: Facts) -> tuple[int, ...]:
    """Rules without line conditions indexed by this order's merchant or MCC."""
    found: tuple[int, ...] = ()
    if facts.merchant is not None:
        found = ruleset.by_merchant.get(facts.merchant, ())
    if facts.mcc is not None:
        found = _merge(found, ruleset.by_mcc.get(facts.mcc, ()))
    return found


def _merge(left: tuple[int, ...], right: tuple[int, ...]) -> tuple[int, ...]:
    if not right:
        return left
    if not left:
        return right
    return tuple(sorted(set(left).union(right)))


def _union_base(
    paying: list[RuleResult], line_holding: list[tuple[int, ...]], amounts: Sequence[int]
) -> int:
    """With `stack`, a line in several paying rules' bases counts once."""
    ranks = {result.rule.rank for result in paying}
    return sum(
        amounts[index]
        for index, holding in enumerate(line_holding)
        if not ranks.isdisjoint(holding)
    )
