"""`cashback simulate`: what a set of rule set versions pays over a file of events.

Each event is priced by the same `Engine` the worker runs; the simulation only adds up its
accruals and reversals per rule set, rule and currency, so its totals are, by construction,
the sums of what the worker would write. With a baseline (another catalog fed the same
events), `compare` gives the change per rule and per rule set, so marketing sees what a new
version costs before it goes live. Memory grows with rule sets x rules x currencies, never
with the number of events.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

import msgspec

from cashback.domain.catalog import Catalog
from cashback.domain.engine import Engine, Outcome


@dataclass(slots=True)
class Tally:
    """Figures of one rule set (or one rule) in one currency."""

    events: int = 0  # events priced under the rule set: a version in force, the currency accepted
    eligible: int = 0  # purchases it wrote an accrual for (a rule: that it paid in)
    reversals: int = 0  # refunds it wrote a reversal for (a rule: that changed what it paid)
    base_minor: int = 0  # net: reversals lower it
    accrued_minor: int = 0
    reversed_minor: int = 0  # <= 0 as a rule

    @property
    def payout_minor(self) -> int:
        return self.accrued_minor + self.reversed_minor


@dataclass(slots=True)
class CurrencyTally:
    purchases: int = 0
    refunds: int = 0
    sales_minor: int = 0  # the order totals of the purchases


class _Original(msgspec.Struct):
    occurred_at: datetime


class _Timing(msgspec.Struct):
    """Just what selects the rule set version: a refund is priced as at its original."""

    type: str
    occurred_at: datetime
    original: _Original | None = None


_timing = msgspec.json.Decoder(_Timing)


class Simulation:
    """Prices events one at a time and keeps the running figures."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._engine = Engine(catalog)
        self.lines = 0
        self.dead_letters: Counter[str] = Counter()
        self.currencies: dict[str, CurrencyTally] = {}
        self.rulesets: dict[tuple[str, str], Tally] = {}
        self.versions: dict[tuple[str, str], set[int]] = {}
        self.rules: dict[tuple[str, str, str], Tally] = {}

    def add(self, raw: bytes) -> None:
        self.lines += 1
        handled = self._engine.handle(raw)
        if handled.outcome is Outcome.DEAD_LETTER:
            assert handled.rejection is not None
            self.dead_letters[handled.rejection.code] += 1
            return
        assert handled.currency is not None
        currency = handled.currency
        timing = _timing.decode(raw)
        seen = self.currencies.get(currency)
        if seen is None:
            seen = self.currencies[currency] = CurrencyTally()
        if timing.original is None:
            seen.purchases += 1
            seen.sales_minor += handled.purchase_minor
            moment = timing.occurred_at
        else:
            seen.refunds += 1
            moment = timing.original.occurred_at
        for ruleset in self.catalog.at(moment):
            if currency in ruleset.currencies:
                key = (ruleset.name, currency)
                self._ruleset(key).events += 1
                self.versions.setdefault(key, set()).add(ruleset.version)
        for accrual in handled.accruals:
            reversal = accrual.kind == "reversal"
            _count(
                self._ruleset((accrual.ruleset, currency)),
                reversal,
                accrual.base_minor,
                accrual.amount_minor,
            )
            for rule in accrual.rules:
                key3 = (accrual.ruleset, rule.id, currency)
                tally = self.rules.get(key3)
                if tally is None:
                    tally = self.rules[key3] = Tally()
                _count(tally, reversal, rule.base_minor, rule.amount_minor)

    def _ruleset(self, key: tuple[str, str]) -> Tally:
        tally = self.rulesets.get(key)
        if tally is None:
            tally = self.rulesets[key] = Tally()
        return tally


def _count(tally: Tally, reversal: bool, base: int, amount: int) -> None:
    tally.base_minor += base
    if reversal:
        tally.reversals += 1
        tally.reversed_minor += amount
    else:
        tally.eligible += 1
        tally.accrued_minor += amount
