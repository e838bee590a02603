"""Compiled, immutable rule sets: what a validated document becomes before pricing.

Compiling checks what the document schema cannot (one way to pay, increasing bands, unique
ids, a real timezone, a CEL expression that compiles), orders the rules by priority, and
indexes them by category, sku, merchant and MCC so pricing looks only at the rules that
can apply to a line instead of scanning them all.
"""

from __future__ import annotations

import operator
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from cashback.domain import cel
from cashback.domain.conditions import (
    DAYS,
    AnySegment,
    Condition,
    DaysOfWeek,
    Expression,
    LocalTime,
    OneOf,
)
from cashback.domain.facts import Facts
from cashback.domain.money import Percent, Rounding
from cashback.domain.ruleset_doc import (
    Problem,
    RuleDoc,
    RuleSetDoc,
    RuleSetError,
    convert_document,
    load_document,
)


@dataclass(frozen=True, slots=True)
class Payout:
    """How a rule turns its base into money: percent, fixed amount or bands, then caps."""

    percent: Percent | None
    fixed_minor: int | None
    bands: tuple[tuple[int, Percent], ...]
    max_minor: int | None
    min_minor: int | None

    def raw(self, base: int, rounding: Rounding) -> int:
        """The result before `max_minor` and `min_minor`."""
        if self.percent is not None:
            return self.percent.of(base, rounding)
        if self.fixed_minor is not None:
            return self.fixed_minor
        return self.band_percent(base).of(base, rounding) if self.bands else 0

    def band_percent(self, base: int) -> Percent:
        """The percent of the band with the greatest `from_minor` <= base (0 % below them all)."""
        chosen = _ZERO
        for start, percent in self.bands:
            if start > base:
                break
            chosen = percent
        return chosen

    def limit(self, raw: int) -> int:
        """Cap by `max_minor`, then pay 0 below `min_minor`."""
        amount = raw if self.max_minor is None or raw <= self.max_minor else self.max_minor
        if self.min_minor is not None and amount < self.min_minor:
            return 0
        return amount


_ZERO = Percent(0, 1, "0")


class Rule:
    """One compiled rule. `rank` is its place in priority order (0 is tried first)."""

    __slots__ = (
        "categories",
        "conditions",
        "description",
        "id",
        "min_total",
        "payout",
        "priority",
        "rank",
        "skus",
    )

    def __init__(
        self,
        doc: RuleDoc,
        rank: int,
        conditions: tuple[Condition, ...],
        payout: Payout,
    ) -> None:
        self.id = doc.id
        self.description = doc.description
        self.priority = doc.priority
        self.rank = rank
        self.categories = frozenset(doc.when.categories) if doc.when.categories else None
        self.skus = frozenset(doc.when.skus) if doc.when.skus else None
        self.min_total = doc.when.min_total_minor
        self.conditions = conditions
        self.payout = payout

    def order_holds(self, facts: Facts, total: int) -> bool:
        """All order conditions hold (min total first, CEL last: it is the slow path)."""
        if self.min_total is not None and total < self.min_total:
            return False
        for condition in self.conditions:
            if not condition.holds(facts):
                return False
        return True

    def line_holds(self, category: str, sku: str) -> bool:
        return (self.categories is None or category in self.categories) and (
            self.skus is None or sku in self.skus
        )


@dataclass(frozen=True, slots=True)
class Notifications:
    accrual: str | None
    reversal: str | None


class RuleSet:
    """One version of a named rule set, compiled and indexed. Immutable once built."""

    __slots__ = (
        "always",
        "by_category",
        "by_mcc",
        "by_merchant",
        "by_sku",
        "candidates_by_category",
        "combine",
        "currencies",
        "doc",
        "effective_from",
        "expires_days",
        "expiry",
        "fingerprint",
        "hold",
        "hold_days",
        "max_per_purchase_minor",
        "name",
        "notify",
        "order_indexed",
        "rounding",
        "rules",
        "sku_sensitive",
        "version",
        "zone",
    )

    def __init__(self, doc: RuleSetDoc, zone: ZoneInfo, rules: tuple[Rule, ...]) -> None:
        self.doc = doc
        self.name = doc.ruleset
        self.version = doc.version
        self.effective_from: datetime = doc.effective_from
        self.zone = zone
        self.currencies = frozenset(doc.currencies)
        self.rounding = Rounding(doc.rounding)
        self.combine = doc.combine
        self.max_per_purchase_minor = doc.max_per_purchase_minor
        self.hold_days = doc.hold_days
        self.expires_days = doc.expires_days
        self.hold = timedelta(days=doc.hold_days)
        self.expiry = None if doc.expires_days is None else timedelta(days=doc.expires_days)
        notify = doc.notify
        self.notify = Notifications(
            notify.accrual if notify else None, notify.reversal if notify else None
        )
        self.rules = rules
        # Same content, same fingerprint: how a republished version is told apart.
        self.fingerprint = msgspec.json.encode(doc)
        self.by_category = _index(rules, lambda r: r.categories)
        self.by_sku = _index([r for r in rules if r.categories is None], lambda r: r.skus)
        # Whether a line's sku can change which rules hold it (then pricing caches per sku).
        self.sku_sensitive = any(r.skus is not None for r in rules)
        whole_order = [r for r in rules if r.categories is None and r.skus is None]
        self.by_merchant = _index(whole_order, lambda r: _allowed(r, "merchants"))
        self.by_mcc = _index(
            [r for r in whole_order if _allowed(r, "merchants") is None],
            lambda r: _allowed(r, "mcc"),
        )
        self.always = tuple(
            r.rank
            for r in whole_order
            if _allowed(r, "merchants") is None and _allowed(r, "mcc") is None
        )
        # Precomputed so pricing merges nothing for the common line: its category's rules
        # plus the rules that hold any line, in priority order.
        self.candidates_by_category = {
            category: tuple(sorted(set(ranks).union(self.always)))
            for category, ranks in self.by_category.items()
        }
        self.order_indexed = bool(self.by_merchant or self.by_mcc)

    def __repr__(self) -> str:
        return f"RuleSet({self.name!r}, version={self.version})"


def _allowed(rule: Rule, name: str) -> frozenset[str] | None:
    for condition in rule.conditions:
        if isinstance(condition, OneOf) and condition.name == name:
            return condition.allowed
    return None


def _index(rules: Iterable[Rule], keys_of: object) -> dict[str, tuple[int, ...]]:
    index: defaultdict[str, list[int]] = defaultdict(list)
    for rule in rules:
        keys = keys_of(rule)  # type: ignore[operator]
        for key in keys or ():
            index[key].append(rule.rank)
    return {key: tuple(sorted(set(ranks))) for key, ranks in index.items()}


def parse_ruleset(data: bytes | str) -> RuleSet:
    """YAML or JSON text to a compiled rule set; raises RuleSetError naming every problem."""
    return compile_ruleset(convert_document(load_document(data)))


def compile_ruleset(doc: RuleSetDoc) -> RuleSet:
    problems: list[Problem] = []
    if doc.effective_from.tzinfo is None:
        problems.append(Problem("effective_from", "needs a UTC offset, e.g. +03:00"))
    try:
        zone = ZoneInfo(doc.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(Problem("timezone", f"unknown IANA timezone {doc.timezone!r}"))
        zone = ZoneInfo("UTC")
    seen: set[str] = set()
    # Positions carried along: `doc.rules.index(rule)` made a 10,000-rule set quadratic.
    ordered = sorted(enumerate(doc.rules), key=lambda p: (-p[1].priority, p[1].id))
    rules: list[Rule] = []
    for rank, (position, rule_doc) in enumerate(ordered):
        place = f"rules[{position}] (id {rule_doc.id!r})"
        if rule_doc.id in seen:
            problems.append(Problem(place, "duplicate rule id"))
        seen.add(rule_doc.id)
        payout = _payout(rule_doc, place, problems)
        conditions = _conditions(rule_doc, zone, place, problems)
        rules.append(Rule(rule_doc, rank, conditions, payout))
    if problems:
        raise RuleSetError(problems)
    return RuleSet(doc, zone, tuple(rules))


def _payout(rule: RuleDoc, place: str, problems: list[Problem]) -> Payout:
    pay = rule.pay
    ways = [w for w in ("percent", "fixed_minor", "bands") if getattr(pay, w) is not None]
    if len(ways) != 1:
        found = ", ".join(ways) if ways else "none"
        problems.append(
            Problem(
                f"{place}.pay", f"needs exactly one of percent, fixed_minor, bands (found {found})"
            )
        )
    percent = _percent(pay.percent, f"{place}.pay.percent", problems)
    bands: list[tuple[int, Percent]] = []
    for i, band in enumerate(pay.bands or ()):
        if bands and band.from_minor <= bands[-1][0]:
            problems.append(
                Problem(f"{place}.pay.bands[{i}]", "from_minor must increase from band to band")
            )
        bands.append(
            (band.from_minor, _percent(band.percent, f"{place}.pay.bands[{i}]", problems) or _ZERO)
        )
    if pay.min_minor is not None and pay.max_minor is not None and pay.min_minor > pay.max_minor:
        problems.append(Problem(f"{place}.pay", "min_minor is greater than max_minor"))
    return Payout(percent, pay.fixed_minor, tuple(bands), pay.max_minor, pay.min_minor)


def _percent(text: str | None, place: str, problems: list[Problem]) -> Percent | None:
    if text is None:
        return None
    try:
        return Percent.parse(text)
    except ValueError as exc:
        problems.append(Problem(place, str(exc)))
        return None


_ONE_OF = (
    ("mcc", "merchant.mcc", operator.attrgetter("mcc")),
    ("merchants", "merchant.id", operator.attrgetter("merchant")),
    ("regions", "merchant.region", operator.attrgetter("region")),
    ("channels", "channel", operator.attrgetter("channel")),
    ("payment_methods", "payment_method", operator.attrgetter("payment_method")),
    ("tiers", "customer.tier", operator.attrgetter("tier")),
)


def _conditions(
    rule: RuleDoc, zone: ZoneInfo, place: str, problems: list[Problem]
) -> tuple[Condition, ...]:
    when = rule.when
    found: list[Condition] = []
    for name, field, read in _ONE_OF:
        allowed = getattr(when, name)
        if allowed is not None:
            found.append(OneOf(name, field, frozenset(allowed), read))
    if when.segments is not None:
        found.append(AnySegment(frozenset(when.segments)))
    if when.days_of_week is not None:
        found.append(DaysOfWeek(frozenset(DAYS.index(d) for d in when.days_of_week), zone))
    if when.local_time is not None:
        start, end = _minute(when.local_time.start), _minute(when.local_time.to)
        if start == end:
            problems.append(
                Problem(f"{place}.when.local_time", "from and to are equal: empty window")
            )
        found.append(LocalTime(start, end, zone))
    if when.expr is not None:
        program = cel.compile_expression(when.expr)
        if isinstance(program, str):
            problems.append(Problem(f"{place}.when.expr", program))
        else:
            found.append(Expression(when.expr, program, cel.demand(when.expr)))
    return tuple(found)


def _minute(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)
