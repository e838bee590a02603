"""Both engines on one input: the Python reference answers, the native one must agree.

`CheckedEngine` is what the pricing tests price with. It runs the Python `Engine` and, when
the native accelerator is built, the native engine on the same bytes; whenever the native
engine accepts an event, every field of its answer must equal the reference's, byte for
byte. So every table case and every Hypothesis example is also a native-vs-Python case.

`make test` sets CASHBACK_REQUIRE_NATIVE=1: there a missing native build fails the run
instead of quietly testing Python alone (see conftest.py).
"""

from __future__ import annotations

import os
from types import ModuleType
from typing import Any, Final

from cashback.domain.catalog import Catalog
from cashback.domain.engine import Engine, Handled, Output, Tally
from cashback.domain.events import MAX_EVENT_BYTES
from cashback.domain.native_engine import NATIVE_OUTCOMES, native_module
from cashback.domain.native_spec import export_catalog

NATIVE: Final[ModuleType | None] = native_module()
NATIVE_REQUIRED: Final = os.environ.get("CASHBACK_REQUIRE_NATIVE") == "1"


def native_raw(catalog: Catalog, max_event_bytes: int = MAX_EVENT_BYTES) -> Any:
    """The bare native engine (None where it is not built): `handle` may return None."""
    if NATIVE is None:
        return None
    return NATIVE.Engine(export_catalog(catalog, max_event_bytes), Output, Tally)


def assert_same(reference: Handled, native: tuple[Any, ...], raw: bytes | None) -> None:
    """The native answer `native` (a tuple from the bare engine) equals `reference`."""
    outcome, outputs, tallies, event_id, currency, purchase_minor, event_us = native
    where = f"input {raw[:300]!r}" if raw else "empty input"
    assert reference.rejection is None, f"native accepted what Python refuses: {where}"
    assert NATIVE_OUTCOMES[outcome] == reference.outcome, where
    assert [tuple(o) for o in outputs] == [tuple(o) for o in reference.outputs], where
    assert all(type(o) is Output for o in outputs), where
    assert [tuple(t) for t in tallies] == [tuple(t) for t in reference.tallies], where
    assert all(type(t) is Tally for t in tallies), where
    assert (event_id, currency, purchase_minor, event_us) == (
        reference.event_id,
        reference.currency,
        reference.purchase_minor,
        reference.event_time_us,
    ), where


class CheckedEngine:
    """The Python engine, cross-checked against the native one on every input."""

    def __init__(self, catalog: Catalog, max_event_bytes: int = MAX_EVENT_BYTES) -> None:
        self.catalog = catalog
        self._python = Engine(catalog, max_event_bytes)
        self._native = native_raw(catalog, max_event_bytes)
        self.native_handled = 0
        self.native_declined = 0

    def handle(self, raw: bytes | None) -> Handled:
        reference = self._python.handle(raw)
        if self._native is not None and raw:
            native = self._native.handle(raw)
            if native is None:
                self.native_declined += 1
            else:
                self.native_handled += 1
                assert_same(reference, native, raw)
        return reference
