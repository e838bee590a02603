"""New rule set versions are compiled off the poll loop and swapped in by reference."""

from __future__ import annotations

import logging
import threading
import time

from cashback.domain.catalog import Catalog
from cashback.domain.engine import Engine
from cashback.domain.native_engine import NativeEngine
from cashback.domain.rules import parse_ruleset
from cashback.runtime.rules_swap import BackgroundRules
from engines import NATIVE
from events_factory import ruleset_document

LOG = logging.getLogger("test.rules_swap")


class OneUpdate:
    """A rules feed that has one new catalog to give (the Kafka side is RulesFeed's)."""

    def __init__(self, newer: Catalog) -> None:
        self.newer = newer
        self.calls = 0

    def poll(self, catalog: Catalog) -> Catalog:
        self.calls += 1
        return self.newer


def catalogs() -> tuple[Catalog, Catalog]:
    older = Catalog.of([parse_ruleset(ruleset_document(version=1))])
    return older, older.with_ruleset(parse_ruleset(ruleset_document(version=2)))


def test_a_new_catalog_is_offered_only_once_the_engine_is_built_for_it() -> None:
    older, newer = catalogs()
    engine = NativeEngine(older) if NATIVE is not None else Engine(older)
    updates = BackgroundRules(OneUpdate(newer), engine, LOG)
    assert updates.poll(engine.catalog) is older  # nothing read yet
    updates.step()  # what the thread does
    assert updates.poll(engine.catalog) is newer
    if isinstance(engine, NativeEngine):
        prepared = engine._prepared
        assert prepared is not None and prepared.catalog is newer
        engine.catalog = newer  # the loop's swap: the prepared engine, not a new build
        assert engine._native is prepared.native and engine._python is prepared.python
    else:
        engine.catalog = newer
    assert engine.catalog is newer


def test_the_thread_reads_the_feed_until_closed() -> None:
    older, newer = catalogs()
    feed = OneUpdate(newer)
    updates = BackgroundRules(feed, Engine(older), LOG, poll_seconds=0.01)
    updates.start()
    deadline = time.monotonic() + 5
    while updates.poll(older) is older and time.monotonic() < deadline:
        time.sleep(0.01)
    updates.close()
    assert updates.poll(older) is newer
    calls = feed.calls
    time.sleep(0.05)
    assert feed.calls == calls  # stopped
    assert not any(t.name == "rules-swap" and t.is_alive() for t in threading.enumerate())
