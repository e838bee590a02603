"""New rule set versions compiled off the poll loop, swapped in by reference.

A 10,000-rule version takes about a second to parse, compile and build the native engine
for; done on the poll loop that second is a batch that waits. Here a thread of its own
reads the rules feed, builds the engine for each new catalog (`NativeEngine.prepare`),
and only then offers the catalog: the loop's `poll` is an attribute read, and setting the
engine's catalog to a prepared one is a few reference assignments.
"""

from __future__ import annotations

import logging
import threading
from typing import Final, Protocol

from cashback.domain.catalog import Catalog
from cashback.runtime.logs import fields

POLL_SECONDS: Final = 0.2


class Feed(Protocol):
    def poll(self, catalog: Catalog) -> Catalog: ...


class Preparable(Protocol):
    catalog: Catalog


class BackgroundRules:
    """`poll(catalog)` for the worker: the newest catalog that is ready, else `catalog`."""

    def __init__(
        self,
        feed: Feed,
        engine: Preparable,
        log: logging.Logger,
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        self._feed = feed
        self._engine = engine
        self._log = log
        self._poll_seconds = poll_seconds
        self._latest = engine.catalog
        self._ready: Catalog | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rules-swap", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def poll(self, catalog: Catalog) -> Catalog:
        ready = self._ready
        return catalog if ready is None else ready

    def step(self) -> None:
        """One read of the feed; a new catalog is prepared, then offered."""
        updated = self._feed.poll(self._latest)
        if updated is self._latest:
            return
        prepare = getattr(self._engine, "prepare", None)
        if prepare is not None:
            prepare(updated)
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
