"""The sample stream (demo, benchmarks) and the sample rule sets in deploy/examples/rules."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from cashback.devtools.sample_stream import PURCHASE, REFUND, SampleRecord, generate, main
from cashback.domain.catalog import Catalog
from cashback.domain.conditions import Expression
from cashback.domain.engine import Outcome
from cashback.domain.events import ERROR_CODES, MAX_EVENT_BYTES
from cashback.rulefiles import load_catalog
from engines import CheckedEngine

RULES = Path(__file__).resolve().parents[2] / "deploy" / "examples" / "rules"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog([RULES])


@pytest.fixture(scope="module")
def stream() -> list[SampleRecord]:
    return list(generate(6000, seed=11))


def test_same_seed_gives_the_same_bytes() -> None:
    assert list(generate(1500, seed=3)) == list(generate(1500, seed=3))
    assert list(generate(1500, seed=3)) != list(generate(1500, seed=4))


def test_count_and_the_mix(stream: list[SampleRecord]) -> None:
    kinds = Counter(record.kind for record in stream)
    assert len(stream) == 6000
    assert set(kinds) == {PURCHASE, REFUND, *ERROR_CODES}
    assert sum(kinds[code] for code in ERROR_CODES) == 6000 // 300
    assert 0.03 < kinds[REFUND] / len(stream) < 0.07


def test_without_bad_events() -> None:
    assert {record.kind for record in generate(2000, seed=5, bad_every=None)} == {
        PURCHASE,
        REFUND,
    }
    assert list(generate(0)) == []
    with pytest.raises(ValueError):
        generate(10, bad_every=0)


def test_every_record_is_keyed_by_its_customer(stream: list[SampleRecord]) -> None:
    for record in stream:
        assert record.key is not None
        if record.kind in (PURCHASE, REFUND):
            assert record.value is not None
            assert orjson.loads(record.value)["customer"]["id"] == record.key.decode()


def test_bad_events_are_dead_lettered_with_their_code_and_only_they(
    stream: list[SampleRecord], catalog: Catalog
) -> None:
    engine = CheckedEngine(catalog)
    for record in stream:
        handled = engine.handle(record.value)
        if record.kind in (PURCHASE, REFUND):
            assert handled.outcome is not Outcome.DEAD_LETTER, (handled.rejection, record.value)
        else:
            assert handled.rejection is not None
            assert handled.rejection.code == record.kind
    too_large = [r for r in stream if r.kind == "too_large"]
    assert all(len(r.value or b"") > MAX_EVENT_BYTES for r in too_large)


def test_refunds_return_lines_of_earlier_purchases(stream: list[SampleRecord]) -> None:
    purchases: dict[str, dict[str, Any]] = {}
    history: dict[str, list[dict[str, int]]] = {}
    shapes: Counter[str] = Counter()
    for record in stream:
        event = orjson.loads(record.value or b"") if record.kind in (PURCHASE, REFUND) else None
        if event is None:
            continue
        if record.kind == PURCHASE:
            purchases[event["purchase_id"]] = event
            continue
        purchase = purchases[event["purchase_id"]]
        original = event["original"]
        assert original["lines"] == purchase["lines"]
        assert original["occurred_at"] == purchase["occurred_at"]
        assert original["total_minor"] == purchase["total_minor"]
        assert event["currency"] == purchase["currency"]
        assert _instant(event["occurred_at"]) >= _instant(original["occurred_at"])
        earlier = history.setdefault(event["purchase_id"], [])
        assert event.get("previously_refunded_lines", []) == earlier
        earlier.extend(event["refunded_lines"])
        returned = Counter[int]()
        for entry in earlier:
            returned[entry["line"]] += entry["amount_minor"]
        lines = purchase["lines"]
        assert all(returned[n] <= line["amount_minor"] for n, line in enumerate(lines))
        whole = all(returned[n] == line["amount_minor"] for n, line in enumerate(lines))
        shapes["order fully returned" if whole else "partly returned"] += 1
        shapes[
            "after earlier refunds" if len(earlier) > len(event["refunded_lines"]) else "first"
        ] += 1
    assert set(shapes) == {
        "order fully returned",
        "partly returned",
        "after earlier refunds",
        "first",
    }
    assert min(shapes.values()) >= 10, shapes


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_event_times_rise_through_the_campaign_window(stream: list[SampleRecord]) -> None:
    times = [
        _instant(orjson.loads(r.value or b"")["occurred_at"]) for r in stream if r.kind == PURCHASE
    ]
    assert times == sorted(times)
    assert times[0] >= _instant("2026-11-09T00:00:00+03:00")
    assert times[-1] < _instant("2026-12-07T00:00:00+03:00")
    black_friday = [t for t in times if t.date().isoformat() == "2026-11-27"]
    ordinary_friday = [t for t in times if t.date().isoformat() == "2026-11-20"]
    assert len(black_friday) > 2 * len(ordinary_friday)


def test_the_sample_rule_sets(catalog: Catalog) -> None:
    rulesets = catalog.all()
    names = {rs.name for rs in rulesets}
    assert {"retail", "black-friday", "fuel-partner", "travel"} <= names
    assert sum(len(rs.rules) for rs in rulesets) >= 20
    assert len({currency for rs in rulesets for currency in rs.currencies}) >= 3
    assert len({rs.rounding for rs in rulesets}) == 3
    assert {rs.combine for rs in rulesets} == {"first", "best", "stack"}
    conditions = [c for rs in rulesets for rule in rs.rules for c in rule.conditions]
    assert any(isinstance(condition, Expression) for condition in conditions)


def test_the_stream_earns_under_every_sample_version(
    stream: list[SampleRecord], catalog: Catalog
) -> None:
    engine = CheckedEngine(catalog)
    payout: Counter[tuple[str, int, str]] = Counter()
    paying_rules: set[str] = set()
    for record in stream:
        for accrual in engine.handle(record.value).accruals:
            payout[(accrual.ruleset, accrual.ruleset_version, accrual.kind)] += accrual.amount_minor
            paying_rules.update(f"{accrual.ruleset}/{r.id}" for r in accrual.rules)
    versions_with_rules = {(rs.name, rs.version) for rs in catalog.all() if rs.rules}
    for name, version in versions_with_rules:
        assert payout[(name, version, "accrual")] > 0, (name, version)
    assert payout[("retail", 1, "reversal")] < 0
    assert payout[("retail", 2, "reversal")] < 0
    assert "retail/card-basket" in paying_rules  # the CEL rule
    assert "fuel-partner/car-wash" in paying_rules  # a sku condition with fixed_minor


def test_command_line_writes_one_value_per_line(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    assert main(["--count", "400", "--seed", "9", "--bad-every", "100"]) == 0
    lines = capsysbinary.readouterr().out.split(b"\n")
    assert lines[-1] == b""
    expected = [record.value or b"" for record in generate(400, seed=9, bad_every=100)]
    assert lines[:-1] == expected


def test_command_line_records(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    assert main(["--count", "20", "--records"]) == 0
    rows = [orjson.loads(line) for line in capsysbinary.readouterr().out.splitlines()]
    assert [row["kind"] for row in rows] == [r.kind for r in generate(20)]
    assert rows[0]["key"] == orjson.loads(rows[0]["value"])["customer"]["id"]
