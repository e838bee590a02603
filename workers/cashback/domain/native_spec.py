"""A compiled catalog as the native engine reads it: one JSON document, built from the very
objects the Python engine prices with, so both engines share every decision made at compile
time (rule order, indexes, conditions, percents as exact ratios).

Local time is the one thing the native engine cannot look up itself without a second copy
of the timezone database: each zone a rule needs goes over as the table of its UTC offsets,
read from `zoneinfo` (the same source the Python engine uses) between `ZONE_VALID_FROM` and
`ZONE_VALID_UNTIL`. Outside that range the native engine leaves the event to Python.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Final
from zoneinfo import ZoneInfo

import msgspec

from cashback.domain.catalog import Catalog
from cashback.domain.conditions import (
    AnySegment,
    Condition,
    DaysOfWeek,
    Expression,
    LocalTime,
    OneOf,
)
from cashback.domain.engine import event_time_us
from cashback.domain.money import Percent
from cashback.domain.rules import Payout, Rule, RuleSet

ZONE_VALID_FROM: Final = int(datetime(1970, 1, 1, tzinfo=UTC).timestamp())
ZONE_VALID_UNTIL: Final = int(datetime(2100, 1, 1, tzinfo=UTC).timestamp())
# Offsets are sampled this often and every change is then found to the second. Real zones
# never change their offset twice within 3 hours.
_STEP: Final = 3 * 3600

# The `OneOf` condition names as the native engine calls the fields they read.
_ONE_OF_FIELDS: Final = {
    "mcc": "mcc",
    "merchants": "merchant",
    "regions": "region",
    "channels": "channel",
    "payment_methods": "payment_method",
    "tiers": "tier",
}


def export_catalog(catalog: Catalog, max_event_bytes: int) -> bytes:
    """The native engine's spec of `catalog` (see workers/native/README.md for the format)."""
    starts, in_force = catalog.intervals()
    rulesets: list[RuleSet] = []
    index: dict[int, int] = {}
    for found in in_force:
        for ruleset in found:
            if id(ruleset) not in index:
                index[id(ruleset)] = len(rulesets)
                rulesets.append(ruleset)
    zones: list[ZoneInfo] = []
    exported = [_ruleset(ruleset, zones) for ruleset in rulesets]
    spec = {
        "max_event_bytes": max_event_bytes,
        "starts_us": [event_time_us(start) for start in starts],
        "in_force": [[index[id(ruleset)] for ruleset in found] for found in in_force],
        "zones": [{"key": zone.key, "transitions": offset_table(zone.key)} for zone in zones],
        "zone_valid_from": ZONE_VALID_FROM,
        "zone_valid_until": ZONE_VALID_UNTIL,
        "rulesets": exported,
    }
    return msgspec.json.encode(spec)


def _ruleset(ruleset: RuleSet, zones: list[ZoneInfo]) -> dict[str, Any]:
    needs_zone = any(
        isinstance(c, DaysOfWeek | LocalTime) for rule in ruleset.rules for c in rule.conditions
    )
    zone: int | None = None
    if needs_zone:
        if ruleset.zone not in zones:
            zones.append(ruleset.zone)
        zone = zones.index(ruleset.zone)
    return {
        "name": ruleset.name,
        "version": ruleset.version,
        "currencies": sorted(ruleset.currencies),
        "rounding": ruleset.rounding.value,
        "combine": ruleset.combine,
        "max_per_purchase_minor": ruleset.max_per_purchase_minor,
        "hold_days": ruleset.hold_days,
        "expires_days": ruleset.expires_days,
        "notify_accrual": ruleset.notify.accrual,
        "notify_reversal": ruleset.notify.reversal,
        "zone": zone,
        "rules": [_rule(rule) for rule in ruleset.rules],
        "candidates_by_category": ruleset.candidates_by_category,
        "always": ruleset.always,
        "by_sku": ruleset.by_sku,
        "sku_sensitive": ruleset.sku_sensitive,
        "by_merchant": ruleset.by_merchant,
        "by_mcc": ruleset.by_mcc,
        "order_indexed": ruleset.order_indexed,
    }


def _rule(rule: Rule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "description": rule.description,
        "categories": None if rule.categories is None else sorted(rule.categories),
        "skus": None if rule.skus is None else sorted(rule.skus),
        "min_total": rule.min_total,
        "conditions": [_condition(c) for c in rule.conditions],
        "payout": _payout(rule.payout),
    }


def _condition(condition: Condition) -> dict[str, Any]:
    if isinstance(condition, OneOf):
        field = _ONE_OF_FIELDS[condition.name]
        return {"kind": "one_of", "field": field, "allowed": sorted(condition.allowed)}
    if isinstance(condition, AnySegment):
        return {"kind": "segments", "allowed": sorted(condition.allowed)}
    if isinstance(condition, DaysOfWeek):
        return {"kind": "days_of_week", "days": sorted(condition.days)}
    if isinstance(condition, LocalTime):
        return {"kind": "local_time", "start": condition.start, "end": condition.end}
    if isinstance(condition, Expression):
        demand = condition.demand
        fields = None if demand.fields is None else sorted(demand.fields)
        return {"kind": "expr", "source": condition.source, "fields": fields,
                "sized": sorted(demand.sized)}  # fmt: skip
    raise TypeError(f"no native form for the condition {condition.name!r}")


def _payout(payout: Payout) -> dict[str, Any]:
    return {
        "percent": _ratio(payout.percent),
        "fixed_minor": payout.fixed_minor,
        "bands": [[start, *_pair(percent)] for start, percent in payout.bands],
        "max_minor": payout.max_minor,
        "min_minor": payout.min_minor,
    }


def _ratio(percent: Percent | None) -> list[int] | None:
    return None if percent is None else _pair(percent)


def _pair(percent: Percent) -> list[int]:
    return [percent.numerator, percent.denominator]


@lru_cache(maxsize=64)
def offset_table(key: str) -> list[list[int]]:
    """[[utc_epoch_seconds, utc_offset_seconds], ...] of zone `key` over the valid range: the
    offset at t is that of the last row starting at or before t."""
    zone = ZoneInfo(key)

    def offset(t: int) -> int:
        found = datetime.fromtimestamp(t, zone).utcoffset()
        assert found is not None
        return int(found.total_seconds())

    rows = [[ZONE_VALID_FROM, offset(ZONE_VALID_FROM)]]
    previous = ZONE_VALID_FROM
    for t in [*range(ZONE_VALID_FROM + _STEP, ZONE_VALID_UNTIL, _STEP), ZONE_VALID_UNTIL]:
        current = offset(t)
        if current != rows[-1][1]:
            low, high = previous, t  # offset(low) is the old one, offset(high) the new one
            while high - low > 1:
                middle = (low + high) // 2
                if offset(middle) == current:
                    high = middle
                else:
                    low = middle
            rows.append([high, current])
        previous = t
    return rows
