"""The two steps every runtime takes around `batch.price_batch`: swap in new rule set
versions between batches, and count a delivered batch. Shared so that the confluent and
faust runtimes log and count the same things the same way."""

from __future__ import annotations

import logging
from typing import Protocol

from cashback.domain.catalog import Catalog
from cashback.domain.native_engine import Pricer
from cashback.runtime.batch import INTERNAL_ERROR, BatchStats
from cashback.runtime.logs import fields
from cashback.runtime.metrics import Metrics


class RuleUpdates(Protocol):
    """Where new rule set versions come from between batches (rules_feed.RulesFeed)."""

    def poll(self, catalog: Catalog) -> Catalog: ...


def swap_rules(engine: Pricer, feed: RuleUpdates | None, log: logging.Logger) -> None:
    """New rule set versions apply from the next batch on, all at once."""
    if feed is None:
        return
    catalog = feed.poll(engine.catalog)
    if catalog is not engine.catalog:
        engine.catalog = catalog
        problem = getattr(engine, "native_error", None)
        if problem:
            log.warning(
                "the native engine refused the new catalog; the Python engine prices it",
                extra=fields(error=problem),
            )


def report_batch(metrics: Metrics, log: logging.Logger, stats: BatchStats, seconds: float) -> None:
    """A delivered batch into the metrics (once per label set) and, at debug, one line."""
    metrics.record_batch(stats, seconds)
    failed = stats.dead_letters.get(INTERNAL_ERROR, 0)
    if failed:
        log.error("pricing failed; records dead-lettered", extra=fields(count=failed))
    if log.isEnabledFor(logging.DEBUG):
        log.debug(
            "batch committed",
            extra=fields(
                events=stats.events,
                outcomes=dict(stats.outcomes),
                written=dict(stats.written),
                seconds=round(seconds, 4),
            ),
        )
