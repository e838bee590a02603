"""Order conditions of a rule, each one small object that can say whether it holds and why.

Line conditions (categories, skus) and `min_total_minor` live on the rule itself because
pricing reads them per line and per view; these are the ones that read `Facts`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from cashback.domain.cel import Demand
from cashback.domain.facts import Facts

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class Condition(Protocol):
    name: str

    def holds(self, facts: Facts) -> bool: ...

    def describe(self) -> str: ...


class OneOf:
    """An order attribute (mcc, merchant, channel, region, payment method, tier) in a list."""

    __slots__ = ("allowed", "field", "name", "read")

    def __init__(
        self, name: str, field: str, allowed: frozenset[str], read: Callable[[Facts], str | None]
    ) -> None:
        self.name = name
        self.field = field
        self.allowed = allowed
        self.read = read

    def holds(self, facts: Facts) -> bool:
        return self.read(facts) in self.allowed

    def describe(self) -> str:
        return f"{self.field} in {sorted(self.allowed)}"


class AnySegment:
    __slots__ = ("allowed", "name")

    def __init__(self, allowed: frozenset[str]) -> None:
        self.name = "segments"
        self.allowed = allowed

    def holds(self, facts: Facts) -> bool:
        return not self.allowed.isdisjoint(facts.segments)

    def describe(self) -> str:
        return f"any customer segment in {sorted(self.allowed)}"


class DaysOfWeek:
    __slots__ = ("days", "name", "zone")

    def __init__(self, days: frozenset[int], zone: ZoneInfo) -> None:
        self.name = "days_of_week"
        self.days = days
        self.zone = zone

    def holds(self, facts: Facts) -> bool:
        return facts.local(self.zone)[0] in self.days

    def describe(self) -> str:
        return f"local day ({self.zone.key}) in {[DAYS[d] for d in sorted(self.days)]}"


class LocalTime:
    """Local clock time in [start, end); a window with start > end crosses midnight."""

    __slots__ = ("end", "name", "start", "zone")

    def __init__(self, start: int, end: int, zone: ZoneInfo) -> None:
        self.name = "local_time"
        self.start = start
        self.end = end
        self.zone = zone

    def holds(self, facts: Facts) -> bool:
        minute = facts.local(self.zone)[1]
        if self.start < self.end:
            return self.start <= minute < self.end
        return minute >= self.start or minute < self.end

    def describe(self) -> str:
        return f"local time ({self.zone.key}) in [{_clock(self.start)}, {_clock(self.end)})"


class Expression:
    """A CEL expression over `purchase`; an evaluation error or a non-true result does not hold."""

    __slots__ = ("demand", "name", "program", "source")

    def __init__(self, source: str, program: Any, demand: Demand) -> None:
        self.name = "expr"
        self.source = source
        self.program = program
        self.demand = demand

    def holds(self, facts: Facts) -> bool:
        try:
            return self.program.execute(facts.cel_context(self.demand)) is True
        except Exception:
            return False

    def describe(self) -> str:
        return f"expr {self.source}"


def _clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"
