"""What order conditions read: the facts of one purchase (or of a refund's original).

Built once per event and shared by every rule set; the local weekday and minute are worked
out once per timezone, and the CEL view of the purchase only when a rule with `expr` asks,
once per `cel.Demand` (what the expressions can reach).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from cashback.domain import cel


class Facts:
    __slots__ = (
        "_activation",
        "_activation_factory",
        "_contexts",
        "_local",
        "channel",
        "mcc",
        "merchant",
        "occurred_at",
        "payment_method",
        "region",
        "segments",
        "tier",
    )

    def __init__(
        self,
        *,
        occurred_at: datetime,
        merchant: str | None,
        mcc: str | None,
        region: str | None,
        channel: str | None,
        payment_method: str | None,
        tier: str | None,
        segments: frozenset[str],
        activation: Callable[[], dict[str, Any]],
    ) -> None:
        self.occurred_at = occurred_at
        self.merchant = merchant
        self.mcc = mcc
        self.region = region
        self.channel = channel
        self.payment_method = payment_method
        self.tier = tier
        self.segments = segments
        self._activation_factory = activation
        self._activation: dict[str, Any] | None = None
        self._contexts: dict[cel.Demand, Any] = {}
        self._local: dict[ZoneInfo, tuple[int, int]] = {}

    def local(self, zone: ZoneInfo) -> tuple[int, int]:
        """(weekday 0=Monday, minute of the day) of the event time in `zone`."""
        cached = self._local.get(zone)
        if cached is None:
            moment = self.occurred_at.astimezone(zone)
            cached = (moment.weekday(), moment.hour * 60 + moment.minute)
            self._local[zone] = cached
        return cached

    def activation(self) -> dict[str, Any]:
        """The purchase as CEL sees it (the purchase/v1 JSON shape), built on first use."""
        if self._activation is None:
            self._activation = self._activation_factory()
        return self._activation

    def cel_context(self, demand: cel.Demand) -> Any:
        """A CEL context with `purchase` narrowed to what `demand` reaches, built once."""
        found = self._contexts.get(demand)
        if found is None:
            purchase = cel.narrow(self.activation(), demand)
            found = self._contexts[demand] = cel.context(purchase)
        return found
