"""The rule set versions a worker knows, and which one applies at a given event time.

A `Catalog` is an immutable snapshot: adding a version returns a new catalog, so a worker
can build the next one while the current batch is priced and swap them between batches.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping
from datetime import datetime

from cashback.domain.rules import RuleSet


class RuleSetConflictError(ValueError):
    """A published version was sent again with different content; versions never change."""


class Versions:
    """All versions of one named rule set. `at(t)` is the highest version effective at t."""

    __slots__ = ("_best_upto", "_last_start", "_starts", "by_version", "name")

    def __init__(self, name: str, by_version: Mapping[int, RuleSet]) -> None:
        self.name = name
        self.by_version = dict(by_version)
        ordered = sorted(self.by_version.values(), key=lambda rs: (rs.effective_from, rs.version))
        self._starts = [rs.effective_from for rs in ordered]
        # _best_upto[i]: the highest version among the first i+1 by effective_from.
        best: list[RuleSet] = []
        for rs in ordered:
            best.append(rs if not best or rs.version > best[-1].version else best[-1])
        self._best_upto = best
        self._last_start = self._starts[-1]

    def at(self, moment: datetime) -> RuleSet | None:
        if moment >= self._last_start:  # most events: the newest start is behind them
            return self._best_upto[-1]
        index = bisect_right(self._starts, moment)
        return self._best_upto[index - 1] if index else None


class Catalog:
    __slots__ = ("_in_force", "_starts", "_versions", "names")

    def __init__(self, versions: Mapping[str, Versions] | None = None) -> None:
        self._versions: dict[str, Versions] = dict(sorted((versions or {}).items()))
        # Rule sets are priced in name order so outputs come out in a stable order.
        self.names: tuple[str, ...] = tuple(self._versions)
        # Between two consecutive `effective_from`s (of any version) the answer of `at` is
        # constant: precompute it per interval, so pricing does one bisect per event.
        self._starts = sorted({s for v in self._versions.values() for s in v._starts})
        self._in_force = [self._compute_at(None)] + [self._compute_at(s) for s in self._starts]

    @classmethod
    def of(cls, rulesets: Iterable[RuleSet]) -> Catalog:
        catalog = cls()
        for ruleset in rulesets:
            catalog = catalog.with_ruleset(ruleset)
        return catalog

    def with_ruleset(self, ruleset: RuleSet) -> Catalog:
        """This catalog plus `ruleset`; the same catalog if that exact version is known."""
        current = self._versions.get(ruleset.name)
        known = current.by_version.get(ruleset.version) if current else None
        if known is not None:
            if known.fingerprint != ruleset.fingerprint:
                raise RuleSetConflictError(
                    f"{ruleset.name} version {ruleset.version} is already published with"
                    " different content; publish a new version instead"
                )
            return self
        by_version = dict(current.by_version) if current else {}
        by_version[ruleset.version] = ruleset
        versions = dict(self._versions)
        versions[ruleset.name] = Versions(ruleset.name, by_version)
        return Catalog(versions)

    def versions(self, name: str) -> Versions | None:
        return self._versions.get(name)

    def all(self) -> list[RuleSet]:
        return [rs for v in self._versions.values() for _, rs in sorted(v.by_version.items())]

    def at(self, moment: datetime) -> list[RuleSet]:
        """The version of every rule set in force at `moment` that has rules (those not yet
        effective, and versions that switch a rule set off with no rules, are skipped)."""
        return self._in_force[bisect_right(self._starts, moment)]

    def intervals(self) -> tuple[list[datetime], list[list[RuleSet]]]:
        """(starts, in_force): `at(t)` is `in_force[bisect_right(starts, t)]`."""
        return list(self._starts), [list(found) for found in self._in_force]

    def _compute_at(self, moment: datetime | None) -> list[RuleSet]:
        found = []
        for versions in self._versions.values():
            ruleset = versions.at(moment) if moment is not None else None
            if ruleset is not None and ruleset.rules:
                found.append(ruleset)
        return found

    def __len__(self) -> int:
        return sum(len(v.by_version) for v in self._versions.values())
