"""`cashback explain`: its figures are the engine's; it only says why."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from cashback.cli.main import main
from cashback.domain.catalog import Catalog
from cashback.domain.engine import Engine
from cashback.reports.explanation import explain
from cashback.rulefiles import load_catalog
from pricing_support import MONDAY, SATURDAY, line, purchase, refund, rule, ruleset

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy/examples/rules"
SAMPLE = ROOT / "deploy/examples/events/sample.jsonl"


def assert_agrees_with_engine(catalog: Catalog, raw: bytes) -> None:
    explanation = explain(catalog, raw)
    handled = Engine(catalog).handle(raw)
    engine = {a.ruleset: (a.amount_minor, a.base_minor) for a in handled.accruals}
    explained = {
        r.ruleset: (r.amount_minor, r.base_minor)
        for r in explanation.rulesets
        if r.applies and r.amount_minor != 0
    }
    assert explained == engine
    for explained_set in explanation.rulesets:
        for view in explained_set.views:
            assert view.notes == []  # every base's lines were named
            assert sum(r.paid_minor for r in view.rules) == view.amount_minor
    # Each rule's share is the accrual's (a reversal: after - before, per rule).
    for accrual in handled.accruals:
        (found,) = [r for r in explanation.rulesets if r.ruleset == accrual.ruleset]
        change: dict[str, int] = {}
        for sign, view in zip((1,) if len(found.views) == 1 else (-1, 1), found.views, strict=True):
            for r in view.rules:
                change[r.id] = change.get(r.id, 0) + sign * r.paid_minor
        assert {k: v for k, v in change.items() if v} == {
            r.id: r.amount_minor for r in accrual.rules
        }
    assert [orjson.loads(o.value) for o in handled.outputs] == [
        o.value for o in explanation.outputs
    ]


@pytest.mark.parametrize("number", range(1, len(SAMPLE.read_bytes().splitlines()) + 1))
def test_every_sample_event_agrees_with_the_engine(number: int) -> None:
    raw = SAMPLE.read_bytes().splitlines()[number - 1]
    assert_agrees_with_engine(load_catalog([RULES]), raw)


BIG = [line(7_000_000), line(6_000_000, "electronics", "TV"), line(1_000_000, "toys", "LEGO")]
CASES: list[tuple[str, Any, Any]] = [
    (
        "first with caps and a purchase cap",
        ruleset(
            [
                rule(
                    "groc",
                    {"percent": "5", "max_minor": 300_000},
                    priority=3,
                    when={"categories": ["groceries"]},
                ),
                rule(
                    "elec",
                    {"percent": "4", "max_minor": 200_000},
                    priority=2,
                    when={"categories": ["electronics"]},
                ),
                rule("rest", {"percent": "1", "min_minor": 100}),
            ],
            max_per_purchase_minor=500_000,
        ),
        purchase(BIG),
    ),
    (
        "best with a fixed reward and a min total",
        ruleset(
            [
                rule("pct", {"percent": "2.5"}, priority=1, when={"categories": ["electronics"]}),
                rule("big", {"fixed_minor": 50_000}, when={"min_total_minor": 1_000_000}),
            ],
            combine="best",
        ),
        purchase(BIG),
    ),
    (
        "stack with bands, skus and days",
        ruleset(
            [
                rule(
                    "bands",
                    {
                        "bands": [
                            {"from_minor": 0, "percent": "1"},
                            {"from_minor": 5_000_000, "percent": "1.25"},
                        ]
                    },
                ),
                rule("lego", {"percent": "7"}, when={"skus": ["LEGO"]}),
                rule("weekend", {"percent": "0.3"}, when={"days_of_week": ["sat", "sun"]}),
            ],
            combine="stack",
            rounding="half_even",
        ),
        purchase(BIG, occurred_at=SATURDAY),
    ),
    (
        "a refund that takes the order under a minimum total",
        ruleset(
            [
                rule("min", {"percent": "3"}, priority=1, when={"min_total_minor": 10_000_000}),
                rule("rest", {"percent": "1"}),
            ]
        ),
        refund(purchase(BIG, occurred_at=MONDAY), [(1, 6_000_000)], previously=[(2, 500_000)]),
    ),
]


@pytest.mark.parametrize(("name", "rules", "event"), CASES, ids=[c[0] for c in CASES])
def test_explained_amounts_equal_the_engine_accruals(name: str, rules: Any, event: Any) -> None:
    assert_agrees_with_engine(Catalog.of([rules]), orjson.dumps(event))


def write(tmp_path: Path, name: str, data: Any) -> Path:
    path = tmp_path / name
    path.write_bytes(data if isinstance(data, bytes) else orjson.dumps(data))
    return path


def test_text_shows_conditions_arithmetic_caps_and_records(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    write(
        rules,
        "retail.json",
        {
            "ruleset": "retail",
            "version": 1,
            "effective_from": "2026-01-01T00:00:00+03:00",
            "timezone": "Europe/Moscow",
            "currencies": ["RUB"],
            "max_per_purchase_minor": 500_000,
            "hold_days": 14,
            "notify": {"accrual": "cashback_accrued"},
            "rules": [
                {
                    "id": "weekend",
                    "description": "5% back on groceries at weekends",
                    "priority": 2,
                    "when": {"categories": ["groceries"], "days_of_week": ["sat", "sun"]},
                    "pay": {"percent": "5", "max_minor": 300_000},
                },
                {
                    "id": "groceries",
                    "description": "3% back on groceries",
                    "priority": 1,
                    "when": {"categories": ["groceries"]},
                    "pay": {"percent": "3"},
                },
                {
                    "id": "fuel",
                    "description": "fuel",
                    "when": {"mcc": ["5541"]},
                    "pay": {"percent": "2.5"},
                },
            ],
        },
    )
    event = write(
        tmp_path, "e.json", purchase([line(123_400), line(999, "toys")], occurred_at=SATURDAY)
    )
    assert main(["explain", "--rules", str(rules), str(event)]) == 0
    out = capsys.readouterr().out
    for expected in [
        "purchase evt-1 (purchase_id P-1)",
        "rule set retail: version 1 is in force at the event time 2026-12-05T14:00:00+03:00",
        "✓ local day (Europe/Moscow) in ['sat', 'sun'] (here: sat)",
        "123400 × 5% = 6170.00 → 6170 (down)",
        "max_minor 300000: 6170 is within",
        "[0] SKU-1 taken by weekend",
        "does not qualify: its lines went to higher-priority weekend",
        "✗ merchant.mcc in ['5541'] (here: not given)",
        "max_per_purchase_minor 500000: 6170 is within",
        "= 6170 on a base of 123400",
        "outcome: accrued; writes:",
        "accrual for C-42: 6170 RUB (retail v1), pending",
        "notification for C-42: template cashback_accrued",
    ]:
        assert expected in out, expected


def test_refund_text_shows_both_views_and_the_difference(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bought = purchase(
        [line(100_000), line(50_000, "toys")], occurred_at="2026-03-07T12:00:00+03:00"
    )
    event = write(tmp_path, "r.json", refund(bought, [(1, 50_000)]))
    assert main(["explain", "--rules", str(RULES), str(event)]) == 0
    out = capsys.readouterr().out
    assert "refund ref-1 of purchase P-1" in out
    assert "[1] SKU-1  toys       × 1  50000 → 50000 → 0" in out
    assert "before this refund (total 150000):" in out
    assert "after this refund (total 100000):" in out
    assert "difference: 5000 - 5500 = -500 (base -50000)" in out
    assert "reversal for C-42: -500 RUB (retail v1)" in out


def test_json_line_option_and_dead_letters(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = SAMPLE.read_bytes().splitlines()
    for number, raw in enumerate(lines, start=1):
        assert (
            main(["explain", "--rules", str(RULES), "--json", "--line", str(number), str(SAMPLE)])
            == 0
        )
        printed = orjson.loads(capsys.readouterr().out)
        handled = Engine(load_catalog([RULES])).handle(raw)
        if handled.rejection is not None:
            assert printed["outcome"] == "dead_letter"
            assert printed["rejection"]["code"] == handled.rejection.code
            continue
        amounts = {
            r["ruleset"]: r["amount_minor"] for r in printed["rulesets"] if r["amount_minor"]
        }
        assert amounts == {a.ruleset: a.amount_minor for a in handled.accruals}
    assert main(["explain", "--rules", str(RULES), "--line", "99", str(SAMPLE)]) == 1
    assert "fewer than 99 lines" in capsys.readouterr().err


def test_not_in_force_and_other_currency_are_explained(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    early = write(
        tmp_path, "a.json", purchase([line(100_000)], occurred_at="2025-12-31T12:00:00+03:00")
    )
    assert main(["explain", "--rules", str(RULES / "retail.v1.yaml"), str(early)]) == 0
    out = capsys.readouterr().out
    assert "rule set retail earns nothing: not yet in force at the event time" in out
    assert "outcome: not eligible; writes nothing" in out
    dollars = write(tmp_path, "b.json", purchase([line(100_000)], currency="USD"))
    assert main(["explain", "--rules", str(RULES / "retail.v1.yaml"), str(dollars)]) == 0
    assert "it pays in RUB only, and this event is in USD" in capsys.readouterr().out


def test_as_of_latest_prices_with_the_newest_version(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    event = write(
        tmp_path, "a.json", purchase([line(100_000)], occurred_at="2026-03-10T12:00:00+03:00")
    )
    args = [
        "explain",
        "--rules",
        str(RULES / "retail.v1.yaml"),
        "--rules",
        str(RULES / "retail.v2.yaml"),
    ]
    assert main([*args, "--json", str(event)]) == 0
    assert orjson.loads(capsys.readouterr().out)["rulesets"][0]["version"] == 1
    assert main([*args, "--json", "--as-of-latest", str(event)]) == 0
    (retail,) = orjson.loads(capsys.readouterr().out)["rulesets"]
    assert retail["version"] == 2
    assert "--as-of-latest" in retail["reason"]
