"""New rule set versions compiled off the poll loop, swapped in by reference.

A 10,000-rule version takes about a second to parse, compile and build the native engine
for; done on the poll loop that second is a batch that waits. Here a thread of its own
reads the rules feed, builds the engine for each new catalog (`NativeEngine.prepare`),
and only then offers the catalog: the loop's `poll` is an attribute read, and setting the
engine's catalog to a prepared one is a few reference assignments.

The cyclic garbage collector is the other way a compile stalls the loop: a collection
holds the GIL for as long as it walks the tracked objects, ~50-100 ms once a 10,000-rule
catalog's ~100,000 objects are among them, and the compile's allocations trigger several.
So the compile runs with automatic collection paused, and every catalog that is loaded is
then moved out of the collector's sight (`gc.freeze`): later collections walk only what
the loop allocates. Catalogs hold no reference cycles (a dropped one is freed by its
reference counts; `test_runtime_rules_swap`), so freezing them keeps nothing alive.
"""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Final, Protocol

from cashback.domain.catalog import Catalog
from cashback.runtime.logs import fields

POLL_SECONDS: Final = 0.2


class Feed(Protocol):
    def poll(self, catalog: Catalog) -> Catalog: ...


class Preparable(Protocol):
    catalog: Catalog


@contextmanager
def collector_paused() -> Iterator[None]:
    """Automatic garbage collection off inside (for the whole process), as it was after."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def settle_loaded() -> None:
    """Collect once, then keep everything alive now out of later collections (startup)."""
    gc.collect()
    gc.freeze()


class BackgroundRules:
    """`poll(catalog)` for the worker: the newest catalog that is ready, else `catalog`."""

    def __init__(
        self,
        feed: Feed,
        engine: Preparable,
        log: logging.Logger,
        poll_seconds: float = POLL_SECONDS,
        on_swap: Callable[[Catalog], None] | None = None,
    ) -> None:
        self._feed = feed
        self._on_swap = on_swap
        self._engine = engine
        self._log = log
        self._poll_seconds = poll_seconds
        self._latest = engine.catalog
        self._ready: Catalog | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rules-swap", daemon=True)

    def start(self) -> None:
        settle_loaded()  # the catalog read at startup: out of every later collection
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def poll(self, catalog: Catalog) -> Catalog:
        """Called by the loop, which swaps in what it returns: `on_swap` hears of a new
        catalog then, not when the feed read it (its compile may take seconds)."""
        ready = self._ready
        if ready is None or ready is catalog:
            return catalog
        if self._on_swap is not None:
            self._on_swap(ready)
        return ready

    def step(self) -> None:
        """One read of the feed; a new catalog is prepared, then offered."""
        with collector_paused():
            updated = self._feed.poll(self._latest)
            if updated is self._latest:
                return
            prepare = getattr(self._engine, "prepare", None)
            if prepare is not None:
                prepare(updated)
            # The new catalog's objects (and what the loop allocated meanwhile) are moved
            # out of the collector's generations without walking them: one list splice.
            gc.freeze()
        self._latest = updated
        self._ready = updated

    def _run(self) -> None:
        while not self._stop.wait(self._poll_seconds):
            try:
                self.step()
            except Exception as exc:  # keep serving the versions already loaded
                self._log.error(
                    "rules update failed; the loaded versions keep serving",
                    extra=fields(error=f"{type(exc).__name__}: {exc}"),
                )
