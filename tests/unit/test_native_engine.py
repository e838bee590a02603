"""The native engine: the same bytes as the Python reference, or it leaves the event to it.

The table cases and money properties already run through `CheckedEngine` (tests/engines.py);
these add what only the native engine has: how much of a real stream it takes, what it
declines, inputs shaped to trip a second decoder, catalog swaps and engine selection.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cashback.devtools.sample_stream import generate
from cashback.domain import native_engine
from cashback.domain.catalog import Catalog
from cashback.domain.engine import Engine
from cashback.domain.native_engine import NativeEngine, NativeUnavailableError, make_engine
from cashback.domain.rules import parse_ruleset
from cashback.rulefiles import load_catalog
from engines import NATIVE, CheckedEngine, native_raw
from events_factory import bad_events
from pricing_support import SATURDAY, line, purchase, refund, rule, ruleset

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "examples" / "rules"
needs_native = pytest.mark.skipif(NATIVE is None, reason="the native engine is not built")

# A rule set that reads every kind of fact, local time and CEL included.
EVERY_CONDITION = ruleset(
    [
        rule(
            "evening",
            {"percent": "3"},
            priority=9,
            when={"local_time": {"from": "18:00", "to": "02:00"}},
        ),
        rule(
            "weekend",
            {"percent": "2.5", "max_minor": 700},
            priority=8,
            when={"days_of_week": ["sat", "sun"]},
        ),
        rule(
            "cel",
            {"fixed_minor": 150},
            priority=7,
            when={"expr": 'purchase.customer.locale == "ru-RU" || size(purchase.lines) > 2'},
        ),
        rule(
            "gold",
            {"bands": [{"from_minor": 0, "percent": "1"}, {"from_minor": 5000, "percent": "4.25"}]},
            priority=6,
            when={"tiers": ["gold"]},
        ),
        rule("mcc", {"percent": "1.5", "min_minor": 30}, priority=5, when={"mcc": ["5411"]}),
        rule(
            "books",
            {"percent": "7"},
            priority=4,
            when={"categories": ["books"], "segments": ["students"]},
        ),
        rule("rest", {"percent": "0.5"}),
    ],
    combine="stack",
    rounding="half_up",
    hold_days=14,
    expires_days=30,
    notify={"accrual": "accrued", "reversal": "reversed"},
)


@needs_native
def test_every_valid_sample_event_is_priced_natively() -> None:
    engine = CheckedEngine(load_catalog([RULES]))
    records = list(generate(3000, seed=11, bad_every=40))
    bad = empty = 0
    for record in records:
        handled = engine.handle(record.value)
        bad += handled.rejection is not None
        empty += not record.value  # no bytes to hand to the native engine at all
    assert bad > empty > 0
    assert engine.native_handled == len(records) - bad
    assert engine.native_declined == bad - empty


@needs_native
@pytest.mark.parametrize("event", bad_events(2048), ids=lambda e: e.code)
def test_bad_input_is_left_to_python(event: Any) -> None:
    if event.value is not None:
        assert native_raw(Catalog.of([EVERY_CONDITION]), 2048).handle(event.value) is None


EDGE_CASES = {
    "utc-offset-written-as-+00:00": purchase(
        [line(10_000)], occurred_at="2026-12-05T14:00:00+00:00"
    ),
    "fractional-seconds": purchase([line(10_000)], occurred_at="2026-12-05T23:59:59.5+03:00"),
    "microseconds": purchase([line(10_000)], occurred_at="2026-12-05T00:00:00.000001-09:30"),
    "escapes-and-unicode": purchase(
        [line(10_000, "books", 'S"K\\U\n\t\u0001\u007f\u2028é😀')],
        event_id='e"\\\u0000\u001f/é',
        customer={"id": "C\u2029-ё", "locale": "ru-RU", "segments": ["students"], "tier": "gold"},
    ),
    "no-notifications": purchase([line(10_000)], customer={"id": "C-1", "notifications": False}),
    "locale-null": purchase([line(10_000)], customer={"id": "C-1", "locale": None}),
    "merchant-everything": purchase(
        [line(3000), line(2000, "books"), line(1, "x")],
        merchant={"id": "M-1", "mcc": "5411", "region": "msk"},
        channel="app",
        payment_method="card",
        customer={"id": "C-1", "tier": "gold", "segments": ["students", "x"]},
    ),
    "zero-amount-lines": purchase([line(0), line(0, "books")]),
    "before-any-rule-set": purchase([line(10_000)], occurred_at="2020-01-01T00:00:00Z"),
    "other-currency": purchase([line(10_000)], currency="KZT"),
    "near-the-end-of-time": purchase([line(10_000)], occurred_at="9999-12-01T00:00:00Z"),
    "duplicate-key": b'{"type":"purchase","event_id":"a","event_id":"b","purchase_id":"P",'
    b'"occurred_at":"2026-12-05T14:00:00Z","customer":{"id":"C"},"currency":"RUB",'
    b'"total_minor":5,"lines":[{"sku":"s","category":"c","quantity":1,"amount_minor":5}]}',
    "tag-last": b'{"event_id":"a","purchase_id":"P","occurred_at":"2026-12-05T14:00:00Z",'
    b'"customer":{"id":"C"},"currency":"RUB","total_minor":5,'
    b'"lines":[{"sku":"s","category":"c","quantity":1,"amount_minor":5}],"type":"purchase"}',
    "whitespace": b' {\n "type" : "purchase" , "event_id":"a","purchase_id":"P",'
    b'"occurred_at":"2026-12-05T14:00:00Z","customer":{"id":"C"},"currency":"RUB",'
    b'"total_minor":5,"lines":[{"sku":"s","category":"c","quantity":1,"amount_minor":5}]}\n ',
}


@pytest.mark.parametrize("event", EDGE_CASES.values(), ids=EDGE_CASES.keys())
def test_edge_cases_agree(event: dict[str, Any] | bytes) -> None:
    raw = event if isinstance(event, bytes) else orjson.dumps(event)
    CheckedEngine(Catalog.of([EVERY_CONDITION])).handle(raw)


def test_refunds_agree() -> None:
    original = EDGE_CASES["merchant-everything"]
    assert isinstance(original, dict)
    engine = CheckedEngine(Catalog.of([EVERY_CONDITION]))
    for refunded, previously in [
        ([(0, 3000)], []),
        ([(1, 1)], [(1, 1999)]),
        ([(0, 1000), (1, 2000), (2, 1)], [(0, 2000)]),
        ([(2, 1)], []),
    ]:
        event = refund(original, refunded, previously)
        event["customer"] = {"id": "C-1", "locale": "en"}
        engine.handle(orjson.dumps(event))


# ------------------------------------------------------------------ fuzzed inputs

_JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**64), 2**64)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | st.sampled_from(
        ["2026-12-05T14:00:00+03:00", "2026-12-05t14:00:00z", "RUB", "5411", "en-US"]
    ),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


def _valid_events() -> list[dict[str, Any]]:
    bought = EDGE_CASES["merchant-everything"]
    assert isinstance(bought, dict)
    returned = refund(bought, [(0, 1000)], [(1, 5)])
    return [bought, returned]


@needs_native
@settings(max_examples=int(os.environ.get("NATIVE_FUZZ_EXAMPLES", "300")), deadline=None)
@given(st.data())
def test_mutated_events_agree(data: st.DataObject) -> None:
    """A valid event with one value replaced or removed: both engines agree, or native declines."""
    event = copy.deepcopy(data.draw(st.sampled_from(_valid_events())))
    path = data.draw(st.sampled_from(_paths(event)))
    target = event
    for step in path[:-1]:
        target = target[step]
    if data.draw(st.booleans()) and isinstance(target, dict):
        del target[path[-1]]
    else:
        target[path[-1]] = data.draw(_JSON_VALUES)
    raw = json.dumps(event, ensure_ascii=data.draw(st.booleans())).encode()  # big ints too
    CheckedEngine(Catalog.of([EVERY_CONDITION])).handle(raw)


_INTERESTING_BYTES = st.sampled_from(
    [b'"', b"\\", b"{", b"}", b"[", b"]", b",", b":", b" ", b"0", b"9", b"-", b".", b"e",
     b"n", b"t", b"u", b"\x00", b"\x1f", b"\x7f", b"\xc3", b"\xa9", b"\xff", b"Z", b"T"]
)  # fmt: skip


@needs_native
@settings(max_examples=int(os.environ.get("NATIVE_FUZZ_EXAMPLES", "300")), deadline=None)
@given(st.data())
def test_byte_level_mutations_agree(data: st.DataObject) -> None:
    """Bytes of a valid event replaced, inserted or cut: a second JSON reader must refuse
    (decline) whatever the Python decoder refuses, and agree on the rest."""
    raw = bytearray(orjson.dumps(data.draw(st.sampled_from(_valid_events()))))
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(raw) - 1))
        edit = data.draw(st.sampled_from(["replace", "insert", "cut"]))
        if edit == "cut":
            del raw[at : at + data.draw(st.integers(1, 8))]
        else:
            byte = data.draw(_INTERESTING_BYTES)
            raw[at : at + (edit == "replace")] = byte
        if not raw:
            return
    CheckedEngine(Catalog.of([EVERY_CONDITION])).handle(bytes(raw))


@needs_native
@settings(max_examples=200, deadline=None)
@given(
    st.datetimes(timezones=st.timezones()),
    st.text(min_size=1, max_size=20),
    st.lists(st.integers(0, 2**40), min_size=1, max_size=5),
)
def test_random_times_ids_and_amounts_agree(when: Any, text: str, amounts: list[int]) -> None:
    event = purchase(
        [line(a, ("books", "groceries")[a % 2], text) for a in amounts],
        occurred_at=when.isoformat(),
        event_id=text,
        customer={"id": text, "locale": "ru-RU", "tier": "gold", "segments": ["students"]},
        merchant={"mcc": "5411"},
    )
    CheckedEngine(Catalog.of([EVERY_CONDITION])).handle(orjson.dumps(event))


# ------------------------------------------------------------------ the adapter


@needs_native
def test_native_engine_answers_like_python_and_swaps_catalogs() -> None:
    raw = orjson.dumps(purchase([line(10_000, "books")], occurred_at=SATURDAY))
    first = Catalog.of([ruleset([rule(pay={"percent": "1"})])])
    second = Catalog.of([ruleset([rule(pay={"percent": "9"})], version=2)])
    engine = NativeEngine(first)
    for catalog in (first, second):
        engine.catalog = catalog
        native, python = engine.handle(raw), Engine(catalog).handle(raw)
        assert engine.catalog is catalog
        assert native.outputs == python.outputs and native.tallies == python.tallies
        assert native.accruals == python.accruals  # decoded from the bytes on first use
    assert engine.declined == 0
    assert engine.handle(b"{").rejection is not None
    assert engine.declined == 1


def test_engine_modes(monkeypatch: pytest.MonkeyPatch) -> None:
    catalog = Catalog.of([parse_ruleset(orjson.dumps(_doc()))])
    assert type(make_engine(catalog, mode="python")) is Engine
    expected = Engine if NATIVE is None else NativeEngine
    assert type(make_engine(catalog)) is expected
    monkeypatch.setattr(native_engine, "native_module", lambda: None)
    assert type(make_engine(catalog, mode="auto")) is Engine
    with pytest.raises(NativeUnavailableError, match="make install"):
        make_engine(catalog, mode="native")


def _doc() -> dict[str, Any]:
    return {
        "ruleset": "r",
        "version": 1,
        "effective_from": "2026-01-01T00:00:00Z",
        "timezone": "UTC",
        "currencies": ["RUB"],
        "rules": [{"id": "a", "description": "a", "pay": {"percent": "1"}}],
    }


@needs_native
def test_the_native_differential_script_passes() -> None:
    """workers/native/tests/compare.py: random catalogs (every condition, payout, combine,
    zones with DST), CEL expressions, refunds and mutations, quick mode."""
    script = ROOT / "workers" / "native" / "tests" / "compare.py"
    done = subprocess.run(
        [sys.executable, str(script), "--quick", "--no-bench"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def test_a_catalog_the_native_engine_refuses_is_priced_by_python() -> None:
    class Refusing:
        class Engine:
            def __init__(self, *_: object) -> None:
                raise ValueError("unknown spec key `future`")

    catalog = Catalog.of([ruleset([rule(pay={"percent": "1"})])])
    engine = NativeEngine(catalog, module=Refusing)  # type: ignore[arg-type]
    raw = orjson.dumps(purchase([line(10_000)]))
    assert engine.native_error == "unknown spec key `future`"
    assert engine.handle(raw).outputs == Engine(catalog).handle(raw).outputs
    assert engine.declined == 1
