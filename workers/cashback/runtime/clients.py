"""librdkafka configuration for the worker's clients, and how their errors are read.

Each config is layered: the worker's defaults, then the operator's pass-through
properties (`--kafka`, `KAFKA_*`), then the few properties the delivery guarantee
depends on, which nobody may override (settings.RESERVED_KAFKA refuses them up front).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Final

import orjson

from cashback.runtime.settings import Settings

STATISTICS_INTERVAL_MS: Final = "5000"
OFFSET_RESET_DEFAULT: Final = "earliest"
MAX_POLL_INTERVAL_MS: Final = 60_000
SESSION_TIMEOUT_MS: Final = 45_000  # librdkafka's default
TXN_RETRY_BACKOFF_MS: Final = 10
# make bench-tuning: lz4 puts 3.8x fewer output bytes on the wire and the broker's disks at
# the same CPU per event, faster in 6 of 7 repeats (benchmarks/README.md, "Client tuning").
PRODUCER_COMPRESSION: Final = "lz4"
UNASSIGNED_PARTITION: Final = -1

# Codes that mean another producer took over our transactional.id, or the group moved on.
_FENCED_NAMES: Final = frozenset(
    {
        "_FENCED",
        "PRODUCER_FENCED",
        "INVALID_PRODUCER_EPOCH",
        "TRANSACTIONAL_ID_AUTHORIZATION_FAILED",
    }
)


class FatalKafkaError(RuntimeError):
    """A client can no longer work (fenced, fatal idempotence error, bad config): exit."""


def is_fenced(error: Any) -> bool:
    return bool(error.name() in _FENCED_NAMES)


def _common(
    settings: Settings, log: logging.Logger, on_error: Callable[[Any], None]
) -> dict[str, Any]:
    return {
        "bootstrap.servers": settings.bootstrap_servers,
        "client.id": "cashback-accrual",
        "logger": log,
        "error_cb": on_error,
    }


def _layer(defaults: dict[str, Any], settings: Settings, fixed: dict[str, Any]) -> dict[str, Any]:
    return {**defaults, **settings.kafka_config(), **fixed}


def consumer_config(
    settings: Settings,
    *,
    log: logging.Logger,
    on_error: Callable[[Any], None],
    on_stats: Callable[[str], None],
) -> dict[str, Any]:
    """The input consumer: a group member that never commits on its own."""
    # The rebalance timeout too: a member killed while its JoinGroup waits is dropped only
    # after it, and the whole group waits meanwhile (300 s by default: a 4-7 minute stall
    # in the soak after a worker kill). The loop polls well within a minute unless the
    # broker is away, and then the group is gone anyway.
    session = int(settings.kafka_config().get("session.timeout.ms", SESSION_TIMEOUT_MS))
    defaults = {
        **_common(settings, log, on_error),
        "statistics.interval.ms": STATISTICS_INTERVAL_MS,
        "max.poll.interval.ms": str(max(MAX_POLL_INTERVAL_MS, session)),
    }
    fixed = {
        "bootstrap.servers": settings.bootstrap_servers,
        "group.id": settings.group_id,
        # librdkafka reports a partition without a start offset instead of jumping; the
        # worker picks the start (offset_reset_policy, runtime/start_offsets.py).
        "auto.offset.reset": "error",
        # Offsets move only with the outputs: in the transaction, or after delivery.
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        # Inputs written by transactional producers count only once committed.
        "isolation.level": "read_committed",
        "stats_cb": on_stats,
    }
    return _layer(defaults, settings, fixed)


def probe_config(
    settings: Settings, *, stable: bool, log: logging.Logger, on_error: Callable[[Any], None]
) -> dict[str, Any]:
    """A consumer of the worker's group that only asks for committed offsets: it never
    subscribes, so it never joins the group (runtime/held_offsets.py). `stable`: as the
    worker asks (read_committed: KIP-447 require_stable), else without waiting on open
    transactions."""
    fixed = {
        "bootstrap.servers": settings.bootstrap_servers,
        "group.id": settings.group_id,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "isolation.level": "read_committed" if stable else "read_uncommitted",
    }
    config = _layer(_common(settings, log, on_error), settings, fixed)
    for own in ("group.instance.id", "statistics.interval.ms", "auto.offset.reset"):
        config.pop(own, None)
    return config


def offset_reset_policy(settings: Settings) -> str:
    """Where a partition the group never committed starts (`--kafka auto.offset.reset`)."""
    return str(settings.kafka_config().get("auto.offset.reset", OFFSET_RESET_DEFAULT))


def producer_config(
    settings: Settings, *, log: logging.Logger, on_error: Callable[[Any], None]
) -> dict[str, Any]:
    """Transactional (exactly once) or idempotent (at least once) producer."""
    fixed: dict[str, Any] = {
        "bootstrap.servers": settings.bootstrap_servers,
        "enable.idempotence": True,
    }
    defaults = {**_common(settings, log, on_error), "compression.type": PRODUCER_COMPRESSION}
    if settings.exactly_once:
        fixed["transactional.id"] = settings.transactional_id
        # Right after a commit the coordinator is still writing the markers, and the next
        # transaction's first request gets CONCURRENT_TRANSACTIONS; librdkafka retries it
        # after retry.backoff.ms, 100 ms by default: a short batch would wait that long.
        defaults["retry.backoff.ms"] = TXN_RETRY_BACKOFF_MS
    config = _layer(defaults, settings, fixed)
    config.pop("group.instance.id", None)
    return config


def rules_consumer_config(
    settings: Settings, *, log: logging.Logger, on_error: Callable[[Any], None]
) -> dict[str, Any]:
    """Reads the rules topic with assign(): it never joins the group nor commits."""
    fixed = {
        "bootstrap.servers": settings.bootstrap_servers,
        # librdkafka wants a group.id even for assign(); this one never joins or commits.
        "group.id": f"{settings.group_id}.rules-reader",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "isolation.level": "read_committed",
        "enable.partition.eof": True,
        "auto.offset.reset": "earliest",
    }
    config = _layer(_common(settings, log, on_error), settings, fixed)
    config.pop("group.instance.id", None)
    config.pop("statistics.interval.ms", None)
    return config


def admin_config(settings: Settings) -> dict[str, Any]:
    """Plain client config for admin and one-off producers (topics, publish)."""
    return {**settings.kafka_config(), "bootstrap.servers": settings.bootstrap_servers}


def consumer_lags(statistics: str | bytes) -> dict[tuple[str, int], int]:
    """(topic, partition) -> records behind the end, for the partitions assigned here.

    The end is the last stable offset (what a read_committed consumer can reach), the
    position the later of the consumed position and the committed offset. librdkafka's
    own `consumer_lag` is not used: it stays -1 until the consumer itself commits, and in
    exactly-once mode offsets are committed by the producer's transaction instead.
    """
    document = orjson.loads(statistics)
    lags: dict[tuple[str, int], int] = {}
    for topic, data in (document.get("topics") or {}).items():
        for partition in (data.get("partitions") or {}).values():
            number = partition.get("partition", UNASSIGNED_PARTITION)
            if number == UNASSIGNED_PARTITION or not partition.get("desired", False):
                continue
            end = partition.get("ls_offset", -1)
            if end is None or end < 0:
                end = partition.get("hi_offset", -1)
            position = max(partition.get("app_offset", -1), partition.get("committed_offset", -1))
            if end >= 0 and position >= 0:
                lags[(topic, int(number))] = max(end - position, 0)
    return lags
