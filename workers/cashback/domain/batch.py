"""A batch of consumed records in; the records to write and the batch's counts out.

No Kafka client and no clock. `price_records` is the reference: each record through an
engine's `handle`, outputs routed to topics with their headers, refusals turned into dead
letters, and the counts the metrics need. The native engine's `price_batch` gives the
same requests, in the same order, and the same counts in one call per batch, leaving each
record it declines to `BatchTally.add` (this module's per-record step).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final, NamedTuple, Protocol

from cashback.domain.events import Rejection
from cashback.domain.handled import (
    ACCRUALS,
    NOTIFICATIONS,
    OUTCOME_NAMES,
    Handled,
    Outcome,
)
from cashback.domain.headers import Headers, dead_letter_headers, output_headers

TRACEPARENT: Final = "traceparent"
# Not a kind of bad input: the engine raised. Alert on it; fix, then replay the DLQ.
INTERNAL_ERROR: Final = "internal_error"

# (currency, ruleset, version, kind): the labels accruals and payouts are counted by.
AccrualKey = tuple[str, str, int, str]
# What the producer needs of one output: (topic, key, value, headers). The native engine
# hands back plain tuples; the reference builds `ProduceRequest`s, the same tuples named.
Request = tuple[str, bytes | None, bytes | None, Headers]


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
    requests: list[Request]
    stats: BatchStats


class BatchTally:
    """The reference's per-record step: a record's requests appended, its counts added.

    Counting goes into plain local tallies and is folded into `BatchStats` once per batch
    (`stats()`), see docs/runtime.md, "Hot path"."""

    __slots__ = (
        "_consumed",
        "_dead_letters",
        "_earning",
        "_latest",
        "_outcomes",
        "_purchases",
        "_routes",
        "_tallies",
        "_topics",
        "_written",
    )

    def __init__(self, routes: Routes) -> None:
        self._routes = routes
        self._topics = routes.by_destination()
        self._outcomes = [0] * len(OUTCOME_NAMES)
        self._consumed: dict[str, int] = {}
        self._dead_letters: dict[str, int] = {}
        self._tallies: list[tuple[str, str, int, str, int]] = []
        self._purchases: dict[str, int] = {}
        self._earning: dict[tuple[str, str, int], int] = {}
        self._written: dict[str, int] = {}
        self._latest: int | None = None

    def add(self, record: Record, handled: Handled, requests: list[Request]) -> None:
        """Append what `record` (answered by `handled`) writes, in order, and count it."""
        self._outcomes[handled.outcome] += 1
        source = record.topic() or ""
        self._consumed[source] = self._consumed.get(source, 0) + 1
        written = self._written
        rejection = handled.rejection
        if rejection is not None:
            requests.append(dead_letter(record, rejection, self._routes))
            self._dead_letters[rejection.code] = self._dead_letters.get(rejection.code, 0) + 1
            written[self._routes.dlq] = written.get(self._routes.dlq, 0) + 1
            return
        outputs = handled.outputs
        if outputs:
            event_id = handled.event_id
            traceparent = find_header(record.headers(), TRACEPARENT)
            for output in outputs:
                topic = self._topics[output.destination]
                headers = output_headers(output.schema, event_id, traceparent)
                requests.append(ProduceRequest(topic, output.key, output.value, headers))
                written[topic] = written.get(topic, 0) + 1
            self._tallies += handled.tallies
            if handled.purchase_minor:  # an accrued purchase: its total is each rule set's base
                earning = self._earning
                for tally in handled.tallies:
                    earned = (tally[0], tally[1], tally[2])
                    earning[earned] = earning.get(earned, 0) + handled.purchase_minor
        currency = handled.currency
        if handled.purchase_minor and currency is not None:
            self._purchases[currency] = self._purchases.get(currency, 0) + handled.purchase_minor
        moment = handled.event_time_us
        if moment is not None and (self._latest is None or moment > self._latest):
            self._latest = moment

    def stats(self) -> BatchStats:
        """The tallies so far as `BatchStats`."""
        stats = BatchStats(events=sum(self._outcomes))
        stats.consumed.update(self._consumed)
        stats.outcomes.update({OUTCOME_NAMES[i]: n for i, n in enumerate(self._outcomes) if n})
        stats.dead_letters.update(self._dead_letters)
        for currency, ruleset, version, kind, amount in self._tallies:
            key = (currency, ruleset, version, kind)
            stats.accruals[key] += 1
            # Counters only go up: credits and debits are summed apart (a reversal is
            # normally negative, but the refund arithmetic may make one positive).
            if amount >= 0:
                stats.payout_minor[key] += amount
            else:
                stats.reversed_minor[key] -= amount
        stats.purchase_minor.update(self._purchases)
        stats.earning_minor.update(self._earning)
        stats.written.update(self._written)
        stats.latest_event_us = self._latest
        return stats


def price_records(
    handle: Callable[[bytes | None], Handled], records: Iterable[Record], routes: Routes
) -> PricedBatch:
    """The reference batch: every record through `handle`, in order (the requests keep
    the input order within the batch)."""
    requests: list[Request] = []
    tally = BatchTally(routes)
    add = tally.add
    for record in records:
        add(record, handle_safely(handle, record.value()), requests)
    return PricedBatch(requests, tally.stats())


# What the native engine's `price_batch` returns after the requests (see batch.rs).
NativeCounts = tuple[
    int,  # events
    list[int],  # outcomes: accrued, reversed, not eligible
    list[tuple[str, int]],  # consumed, by input topic
    list[tuple[str, str, int, str, int, int | None, int | None]],  # key, n, credit, debit
    list[tuple[str, int]],  # purchase totals, by currency
    list[tuple[str, str, int, int]],  # earning purchase totals, by (currency, rule set)
    int,  # written to the accruals topic
    int,  # written to the notifications topic
    int | None,  # the newest event time
]


def fold_native(stats: BatchStats, counts: NativeCounts, routes: Routes) -> None:
    """Add the native engine's counts (of the records it priced) to `stats`."""
    events, outcomes, consumed, accruals, purchases, earning, accrued, notified, latest = counts
    stats.events += events
    for topic, n in consumed:
        stats.consumed[topic] += n
    for i, n in enumerate(outcomes):
        if n:
            stats.outcomes[OUTCOME_NAMES[i]] += n
    for currency, ruleset, version, kind, n, credit, debit in accruals:
        key = (currency, ruleset, version, kind)
        stats.accruals[key] += n
        if credit is not None:
            stats.payout_minor[key] += credit
        if debit is not None:
            stats.reversed_minor[key] += debit
    for currency, amount in purchases:
        stats.purchase_minor[currency] += amount
    for currency, ruleset, version, amount in earning:
        stats.earning_minor[(currency, ruleset, version)] += amount
    if accrued:
        stats.written[routes.accruals] += accrued
    if notified:
        stats.written[routes.notifications] += notified
    if latest is not None and (stats.latest_event_us is None or latest > stats.latest_event_us):
        stats.latest_event_us = latest


def handle_safely(handle: Callable[[bytes | None], Handled], value: bytes | None) -> Handled:
    """The engine's answer; if pricing itself fails (a bug), the input is dead-lettered
    as `internal_error` instead of stopping the stream on it forever."""
    try:
        return handle(value)
    except Exception as exc:
        message = f"pricing failed with {type(exc).__name__}; the record is kept for replay"
        return Handled(Outcome.DEAD_LETTER, rejection=Rejection(INTERNAL_ERROR, message))


def dead_letter(record: Record, rejection: Rejection, routes: Routes) -> ProduceRequest:
    """The input's key and value untouched; its headers plus why and where from."""
    why = dead_letter_headers(
        rejection,
        record.topic() or "",
        _number(record.partition()),
        _number(record.offset()),
    )
    return ProduceRequest(
        routes.dlq, record.key(), record.value(), [*(record.headers() or []), *why]
    )


def find_header(headers: Sequence[tuple[str, bytes]] | None, name: str) -> bytes | None:
    """The first header called `name` (any case), or None."""
    for key, value in headers or ():
        if key.lower() == name:
            return value
    return None


def _number(value: int | None) -> int:
    return -1 if value is None else value
