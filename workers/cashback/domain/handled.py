"""What the engine answers for one input: the records to write and what to count.

Shared by both engines (the native one builds the same objects) and the batch step.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Final, NamedTuple

import msgspec

from cashback.domain.events import Rejection
from cashback.domain.records import Accrual

ACCRUALS: Final = "accruals"
NOTIFICATIONS: Final = "notifications"


class Outcome(IntEnum):
    ACCRUED = 0
    REVERSED = 1
    NOT_ELIGIBLE = 2
    DEAD_LETTER = 3


OUTCOME_NAMES: Final = ("accrued", "reversed", "not_eligible", "dead_letter")


class Output(NamedTuple):
    """One record to write: a logical destination (ACCRUALS or NOTIFICATIONS), key and value."""

    destination: str
    key: bytes
    value: bytes
    schema: str


class Tally(NamedTuple):
    """What the metrics count of one accrual or reversal (its labels and its amount)."""

    currency: str
    ruleset: str
    ruleset_version: int
    kind: str
    amount_minor: int


class Handled:
    """Everything the adapters need about one input: what to write and what to count.

    `accruals` are the written accrual documents as structs; an engine that produced only
    their bytes (the native one) leaves them to be decoded on first use.
    """

    __slots__ = (
        "_accruals",
        "currency",
        "event_id",
        "event_time_us",
        "outcome",
        "outputs",
        "purchase_minor",
        "rejection",
        "tallies",
    )

    def __init__(
        self,
        outcome: Outcome,
        *,
        outputs: list[Output] | None = None,
        tallies: list[Tally] | None = None,
        event_id: str | None = None,
        rejection: Rejection | None = None,
        currency: str | None = None,
        purchase_minor: int = 0,  # the order total of a purchase (refunds: 0), for the metrics
        event_time_us: int | None = None,  # the event's occurred_at, UTC epoch microseconds
        accruals: list[Accrual] | None = None,
    ) -> None:
        self.outcome = outcome
        self.outputs = [] if outputs is None else outputs
        self.tallies = [] if tallies is None else tallies
        self.event_id = event_id
        self.rejection = rejection
        self.currency = currency
        self.purchase_minor = purchase_minor
        self.event_time_us = event_time_us
        self._accruals = accruals

    @property
    def accruals(self) -> list[Accrual]:
        if self._accruals is None:
            self._accruals = [
                _accrual_decoder.decode(o.value) for o in self.outputs if o.destination == ACCRUALS
            ]
        return self._accruals

    def __repr__(self) -> str:
        return f"Handled({OUTCOME_NAMES[self.outcome]}, event_id={self.event_id!r})"


_accrual_decoder: Final = msgspec.json.Decoder(Accrual)
