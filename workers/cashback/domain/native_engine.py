"""The engine the adapters run: the native accelerator in front of the Python reference.

`cashback_native` (workers/native/, Rust) decodes, prices and encodes the common event in a
few microseconds and declines anything it is not certain about (every bad input, unusual
timestamp forms, arithmetic near the limits): those go to the Python `Engine`, which is the
reference. For any event the native engine accepts, its answer is byte-for-byte the Python
engine's; tests/unit/test_native_engine.py holds it to that.

Pick with `make_engine(catalog, mode=...)`: "auto" (native when built, else Python),
"native" (fail if it is not built) or "python".
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from types import ModuleType
from typing import Any, Final, Literal, NamedTuple, Protocol

from cashback.domain.batch import (
    BatchTally,
    NativeCounts,
    PricedBatch,
    Record,
    Request,
    Routes,
    fold_native,
    handle_safely,
    price_records,
)
from cashback.domain.catalog import Catalog
from cashback.domain.engine import Engine, Handled, Outcome, Output, Tally
from cashback.domain.events import MAX_EVENT_BYTES
from cashback.domain.native_spec import export_catalog

EngineMode = Literal["auto", "native", "python"]
ENGINE_MODES: Final = ("auto", "native", "python")
# What the native engine's outcome numbers mean.
NATIVE_OUTCOMES: Final = (Outcome.ACCRUED, Outcome.REVERSED, Outcome.NOT_ELIGIBLE)


class Pricer(Protocol):
    """What the adapters need of an engine: a swappable catalog, `handle` (one input) and
    `price_batch` (a batch of consumed records: what to write, what to count)."""

    catalog: Catalog

    def handle(self, raw: bytes | None) -> Handled: ...

    def price_batch(self, records: Sequence[Record], routes: Routes) -> PricedBatch: ...


class NativeUnavailableError(RuntimeError):
    """The native engine was asked for but is not built in this environment."""


def native_module() -> ModuleType | None:
    """The built `cashback_native` extension, or None."""
    try:
        return importlib.import_module("cashback_native")
    except ImportError:
        return None


class _Prepared(NamedTuple):
    catalog: Catalog
    native: Any
    error: str | None
    python: Engine


class NativeEngine:
    """`Engine.handle` with the common case done natively; same answers, byte for byte."""

    __slots__ = (
        "_catalog",
        "_native",
        "_native_class",
        "_prepared",
        "_python",
        "declined",
        "max_event_bytes",
        "native_error",
        "pricing_threads",
    )

    def __init__(
        self,
        catalog: Catalog,
        max_event_bytes: int = MAX_EVENT_BYTES,
        module: ModuleType | None = None,
        pricing_threads: int = 0,
    ) -> None:
        found = module or native_module()
        if found is None:
            raise NativeUnavailableError(
                "the native engine is not built: run `make install` (needs Rust's cargo),"
                " or choose the python engine"
            )
        self._native_class = found.Engine
        self.max_event_bytes = max_event_bytes
        self.declined = 0  # events the native engine left to Python (bad input, rare forms)
        self.native_error: str | None = None
        # Threads `price_batch` prices on, the GIL released (0: up to 2, as the process may
        # use; 1: the loop's thread only).
        self.pricing_threads = pricing_threads
        self._prepared: _Prepared | None = None
        self.catalog = catalog

    @property
    def catalog(self) -> Catalog:
        return self._catalog

    @catalog.setter
    def catalog(self, catalog: Catalog) -> None:
        """Swap catalogs. Should the native engine refuse one (a bug: the spec comes from our
        own exporter), that catalog is priced by Python and `native_error` says why.
        Only reference assignments when `prepare(catalog)` built it already."""
        prepared = self._prepared
        if prepared is None or prepared.catalog is not catalog:
            prepared = self._build(catalog)
        self._prepared = None
        self._native, self.native_error = prepared.native, prepared.error
        self._python = prepared.python
        self._catalog = catalog

    def prepare(self, catalog: Catalog) -> None:
        """Build the engine for `catalog` now (on any thread: the native compile releases
        the GIL), so that setting `catalog` to it later costs nothing."""
        self._prepared = self._build(catalog)

    def _build(self, catalog: Catalog) -> _Prepared:
        spec = export_catalog(catalog, self.max_event_bytes)
        try:
            native, error = self._native_class(spec, Output, Tally), None
        except ValueError as exc:
            native, error = None, str(exc)
        return _Prepared(catalog, native, error, Engine(catalog, self.max_event_bytes))

    def handle(self, raw: bytes | None) -> Handled:
        native = self._native
        found = native.handle(raw) if raw and native is not None else None
        if found is None:
            self.declined += 1
            return self._python.handle(raw)
        outcome, outputs, tallies, event_id, currency, purchase_minor, event_us = found
        return Handled(
            NATIVE_OUTCOMES[outcome],
            outputs=outputs,
            tallies=tallies,
            event_id=event_id,
            currency=currency,
            purchase_minor=purchase_minor,
            event_time_us=event_us,
        )

    def price_batch(self, records: Sequence[Record], routes: Routes) -> PricedBatch:
        """`domain.batch.price_records` in one native call: the same requests in the same
        order and the same counts, with no Python object per event or per output beyond
        the request tuples. Pricing itself runs with the GIL released, on
        `pricing_threads` threads. A record the native engine declines is priced by the
        Python reference inside that call (`BatchTally.add`), in its place."""
        native = self._native
        if native is None:
            return price_records(self.handle, records, routes)
        python = self._python.handle
        tally = BatchTally(routes)

        def fallback(record: Record, requests: list[Request]) -> None:
            self.declined += 1
            tally.add(record, handle_safely(python, record.value()), requests)

        found: tuple[Any, ...] = native.price_batch(
            records, routes.accruals, routes.notifications, fallback, self.pricing_threads
        )
        requests: list[Request] = found[0]
        counts: NativeCounts = found[1:]
        stats = tally.stats()
        fold_native(stats, counts, routes)
        return PricedBatch(requests, stats)


def make_engine(
    catalog: Catalog, max_event_bytes: int = MAX_EVENT_BYTES, mode: EngineMode = "auto"
) -> Pricer:
    """The engine for `mode`: "auto" is native when built, else the Python reference."""
    if mode == "python" or (mode == "auto" and native_module() is None):
        return Engine(catalog, max_event_bytes)
    return NativeEngine(catalog, max_event_bytes)
