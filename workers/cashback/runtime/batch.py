"""The batch step: consumed records in, records to write and aggregated counts out.

No Kafka client and no clock: `price_batch` runs each record through the engine, routes
outputs to topics with their headers, turns refusals into dead letters, and counts what
the metrics need. Any runtime (this worker, a faust agent, a test) can feed it records
that look like `Record` and get the same bytes back.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

from cashback.domain.engine import (
    ACCRUALS,
    NOTIFICATIONS,
    OUTCOME_NAMES,
    Handled,
    Outcome,
    Tally,
)
from cashback.domain.events import Rejection
from cashback.domain.headers import Headers, dead_letter_headers, output_headers
from cashback.domain.native_engine import Pricer

TRACEPARENT = "traceparent"
# Not a kind of bad input: the engine raised. Alert on it; fix, then replay the DLQ.
INTERNAL_ERROR = "internal_error"

# (currency, ruleset, version, kind): the labels accruals and payouts are counted by.
AccrualKey = tuple[str, str, int, str]


class Record(Protocol):
    """What the batch step reads from a consumed record; confluent_kafka.Message fits."""

    def topic(self) -> str | None: ...
    def partition(self) -> int | None: ...
    def offset(self) -> int | None: ...
    def key(self) -> bytes | None: ...
    def value(self) -> bytes | None: ...
    def headers(self) -> list[tuple[str, bytes]] | None: ...


@dataclass(frozen=True, slots=True)
class Routes:
    """The topic each kind of output goes to."""

    accruals: str
    notifications: str
    dlq: str

    def by_destination(self) -> dict[str, str]:
        """The topic of each engine output destination (ACCRUALS, NOTIFICATIONS)."""
        return {ACCRUALS: self.accruals, NOTIFICATIONS: self.notifications}


class ProduceRequest(NamedTuple):
    topic: str
    key: bytes | None
    value: bytes | None
    headers: Headers


@dataclass(slots=True)
class BatchStats:
    """Everything the metrics need about one batch, summed per label set."""

    events: int = 0
    consumed: Counter[str] = field(default_factory=Counter)  # by input topic
    outcomes: Counter[str] = field(default_factory=Counter)  # by outcome name
    dead_letters: Counter[str] = field(default_factory=Counter)  # by error code
    accruals: Counter[AccrualKey] = field(default_factory=Counter)
    payout_minor: Counter[AccrualKey] = field(default_factory=Counter)  # amounts > 0
    reversed_minor: Counter[AccrualKey] = field(default_factory=Counter)  # -amounts < 0
    purchase_minor: Counter[str] = field(default_factory=Counter)  # by currency
    # Order totals of the purchases that earned, by (currency, ruleset, version).
    earning_minor: Counter[tuple[str, str, int]] = field(default_factory=Counter)
    written: Counter[str] = field(default_factory=Counter)  # by output topic
    latest_event_us: int | None = None  # the newest event time, UTC epoch microseconds


@dataclass(slots=True)
class PricedBatch:
    requests: list[ProduceRequest]
    stats: BatchStats


def price_batch(engine: Pricer, records: Sequence[Record], routes: Routes) -> PricedBatch:
    """Price every record in order; the requests keep the input order within the batch.

    This runs once per input record, so it is one loop with the counting done in local
    tallies and folded into `stats` once per batch (see docs/runtime.md, "Hot path").
    """
    requests: list[ProduceRequest] = []
    request = requests.append
    stats = BatchStats()
    outcomes = [0] * len(OUTCOME_NAMES)
    consumed: dict[str, int] = {}
    tallies: list[Tally] = []
    purchases: dict[str, int] = {}
    earning: dict[tuple[str, str, int], int] = {}
    latest: int | None = None
    topics = routes.by_destination()
    for record in records:
        handled = handle_safely(engine, record.value())
        outcomes[handled.outcome] += 1
        source = record.topic() or ""
        consumed[source] = consumed.get(source, 0) + 1
        rejection = handled.rejection
        if rejection is not None:
            request(dead_letter(record, handled, routes))
            stats.dead_letters[rejection.code] += 1
            continue
        outputs = handled.outputs
        if outputs:
            event_id = handled.event_id
            traceparent = find_header(record.headers(), TRACEPARENT)
            for output in outputs:
                headers = output_headers(output.schema, event_id, traceparent)
                request(
                    ProduceRequest(topics[output.destination], output.key, output.value, headers)
                )
            tallies += handled.tallies
            if handled.purchase_minor:  # an accrued purchase: its total is each rule set's base
                for tally in handled.tallies:
                    earned = (tally[0], tally[1], tally[2])
                    earning[earned] = earning.get(earned, 0) + handled.purchase_minor
        if handled.purchase_minor and handled.currency is not None:
            purchases[handled.currency] = (
                purchases.get(handled.currency, 0) + handled.purchase_minor
            )
        moment = handled.event_time_us
        if moment is not None and (latest is None or moment > latest):
            latest = moment
    _fold(
        stats,
        outcomes=outcomes,
        consumed=consumed,
        tallies=tallies,
        purchases=purchases,
        latest=latest,
    )
    stats.earning_minor.update(earning)
    for found in requests:
        stats.written[found.topic] += 1
    return PricedBatch(requests, stats)


def _fold(
    stats: BatchStats,
    *,
    outcomes: list[int],
    consumed: dict[str, int],
    tallies: list[Tally],
    purchases: dict[str, int],
    latest: int | None,
) -> None:
    """The batch's local tallies into `stats`, once per batch."""
    stats.events = sum(outcomes)
    stats.consumed.update(consumed)
    stats.outcomes.update({OUTCOME_NAMES[i]: n for i, n in enumerate(outcomes) if n})
    for currency, ruleset, version, kind, amount in tallies:
        key = (currency, ruleset, version, kind)
        stats.accruals[key] += 1
        # Counters only go up: credits and debits are summed apart (a reversal is normally
        # negative, but the refund arithmetic may make one positive).
        if amount >= 0:
            stats.payout_minor[key] += amount
        else:
            stats.reversed_minor[key] -= amount
    stats.purchase_minor.update(purchases)
    stats.latest_event_us = latest


def handle_safely(engine: Pricer, value: bytes | None) -> Handled:
    """The engine's answer; if pricing itself fails (a bug), the input is dead-lettered
    as `internal_error` instead of stopping the stream on it forever."""
    try:
        return engine.handle(value)
    except Exception as exc:
        message = f"pricing failed with {type(exc).__name__}; the record is kept for replay"
        return Handled(Outcome.DEAD_LETTER, rejection=Rejection(INTERNAL_ERROR, message))


def dead_letter(record: Record, handled: Handled, routes: Routes) -> ProduceRequest:
    """The input's key and value untouched; its headers plus why and where from."""
    assert handled.rejection is not None
    why = dead_letter_headers(
        handled.rejection,
        record.topic() or "",
        _number(record.partition()),
        _number(record.offset()),
    )
    return ProduceRequest(
        routes.dlq, record.key(), record.value(), [*(record.headers() or []), *why]
    )


def find_header(headers: list[tuple[str, bytes]] | None, name: str) -> bytes | None:
    """The first header called `name` (any case), or None."""
    for key, value in headers or ():
        if key.lower() == name:
            return value
    return None


def _number(value: int | None) -> int:
    return -1 if value is None else value
