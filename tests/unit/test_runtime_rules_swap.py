"""New rule set versions are compiled off the poll loop and swapped in by reference."""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Iterator

import pytest

from cashback.domain.catalog import Catalog
from cashback.domain.engine import Engine
from cashback.domain.native_engine import NativeEngine
from cashback.domain.rules import parse_ruleset
from cashback.runtime.rules_feed import APPLIED, apply_document
from cashback.runtime.rules_swap import BackgroundRules
from engines import NATIVE
from events_factory import big_ruleset_document, ruleset_document, stream

LOG = logging.getLogger("test.rules_swap")


@pytest.fixture(autouse=True)
def _unfrozen() -> Iterator[None]:
    """`BackgroundRules` freezes what is loaded (`gc.freeze`): give the rest of the test
    session its collector back."""
    yield
    gc.unfreeze()
    gc.enable()


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
    swapped: list[Catalog] = []
    updates = BackgroundRules(OneUpdate(newer), engine, LOG, on_swap=swapped.append)
    assert updates.poll(engine.catalog) is older  # nothing read yet
    updates.step()  # what the thread does
    assert swapped == []  # ready, not yet in force (the metrics follow what is in force)
    assert updates.poll(engine.catalog) is newer
    assert swapped == [newer]
    if isinstance(engine, NativeEngine):
        prepared = engine._prepared
        assert prepared is not None and prepared.catalog is newer
        engine.catalog = newer  # the loop's swap: the prepared engine, not a new build
        assert engine._native is prepared.native and engine._python is prepared.python
    else:
        engine.catalog = newer
    assert engine.catalog is newer
    assert updates.poll(engine.catalog) is newer and swapped == [newer]  # told once


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


class DocumentArrives:
    """The rules feed with one document to read once the loop is running: `apply_document`,
    the checks RulesFeed makes on what the topic carries, on the rules thread."""

    def __init__(self, key: bytes, value: bytes) -> None:
        self.key, self.value = key, value
        self.arrived = threading.Event()
        self.result: str | None = None

    def poll(self, catalog: Catalog) -> Catalog:
        if self.result is not None or not self.arrived.is_set():
            return catalog
        applied = apply_document(catalog, self.key, self.value)
        self.result = applied.result
        return applied.catalog


def test_a_10000_rule_version_is_swapped_in_while_the_loop_keeps_pricing() -> None:
    """The open finding of issue 14: under a loop that never waits, a 10,000-rule version
    read by the feed (1.7 MB, once refused as too large) is compiled on the rules thread
    and served, and the loop priced batches all the while. Not a timing test: the
    deadline is only there so that a swap that never comes fails instead of hanging."""
    older = Catalog.of([parse_ruleset(ruleset_document(version=1))])
    engine = NativeEngine(older) if NATIVE is not None else Engine(older)
    big = big_ruleset_document(version=2)
    feed = DocumentArrives(b"retail:2", big)
    updates = BackgroundRules(feed, engine, LOG, poll_seconds=0.01)
    batch = [event.value for event in stream(200, seed=31)]
    updates.start()
    try:
        for _ in range(3):  # the loop is busy before the document arrives
            for value in batch:
                engine.handle(value)
        feed.arrived.set()
        batches_while_compiling = 0
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and feed.result in (None, APPLIED):
            catalog = updates.poll(engine.catalog)  # what Worker.swap_rules does
            if catalog is not engine.catalog:
                engine.catalog = catalog
                break
            for value in batch:
                engine.handle(value)
            batches_while_compiling += 1
    finally:
        updates.close()
    assert feed.result == APPLIED
    assert engine.catalog is not older, "the 10,000-rule version was never swapped in"
    assert batches_while_compiling > 0, "the loop waited for the compile"
    assert gc.isenabled()
    (served,) = [rs for rs in engine.catalog.all() if rs.version == 2]
    assert len(served.rules) == 10_000
    priced = [engine.handle(value) for value in batch]
    assert {accrual.ruleset_version for handled in priced for accrual in handled.accruals} == {2}


def test_a_dropped_catalog_leaves_no_cyclic_garbage() -> None:
    """Why freezing loaded catalogs keeps nothing alive: a catalog and its engines are
    freed by their reference counts alone, so the collector never has one to find."""
    older = Catalog.of([parse_ruleset(ruleset_document(version=1))])
    gc.collect()
    gc.disable()
    try:
        newer = older.with_ruleset(parse_ruleset(big_ruleset_document(version=2, rules=2_000)))
        engine = NativeEngine(newer) if NATIVE is not None else Engine(newer)
        tracked = len(gc.get_objects())
        del engine, newer
        assert len(gc.get_objects()) < tracked - 10_000  # freed on the spot
        assert gc.collect() == 0
    finally:
        gc.enable()


class FailingPrepare:
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def prepare(self, catalog: Catalog) -> None:
        raise RuntimeError("compile failed")


def test_the_collector_is_back_on_after_a_failed_compile() -> None:
    older, newer = catalogs()
    updates = BackgroundRules(OneUpdate(newer), FailingPrepare(older), LOG)
    with pytest.raises(RuntimeError):
        updates.step()
    assert gc.isenabled()
    assert updates.poll(older) is older
