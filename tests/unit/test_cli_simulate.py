"""`cashback simulate`: totals are sums of the engine's accruals; baselines give the change."""

from __future__ import annotations

import io
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

from cashback.cli.jsonlines import Progress
from cashback.cli.main import main
from cashback.domain.catalog import Catalog
from cashback.domain.engine import Engine
from cashback.reports.latest import latest_versions
from cashback.reports.numbers import exact_quotient, percent_text
from cashback.rulefiles import load_catalog

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy/examples/rules"
SAMPLE = ROOT / "deploy/examples/events/sample.jsonl"
V1 = RULES / "retail.v1.yaml"
V2 = RULES / "retail.v2.yaml"


def engine_sums(catalog: Catalog) -> tuple[Counter[Any], Counter[Any]]:
    """Payout per (ruleset, currency) and per (ruleset, rule, currency), from the engine."""
    per_set: Counter[Any] = Counter()
    per_rule: Counter[Any] = Counter()
    engine = Engine(catalog)
    for raw in SAMPLE.read_bytes().splitlines():
        for accrual in engine.handle(raw).accruals:
            per_set[accrual.ruleset, accrual.currency] += accrual.amount_minor
            for rule in accrual.rules:
                per_rule[accrual.ruleset, rule.id, accrual.currency] += rule.amount_minor
    return per_set, per_rule


def simulate(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    assert main(["simulate", "--input", str(SAMPLE), "--json", *args]) == 0
    return orjson.loads(capsys.readouterr().out)


def test_totals_are_the_sums_of_the_engine_accruals(capsys: pytest.CaptureFixture[str]) -> None:
    report = simulate(capsys, "--rules", str(RULES))
    per_set, per_rule = engine_sums(load_catalog([RULES]))
    assert {
        (row["ruleset"], row["currency"]): row["figures"]["payout_minor"]
        for row in report["rulesets"]
    } == dict(per_set)
    assert {
        (row["ruleset"], rule["rule"], row["currency"]): rule["figures"]["payout_minor"]
        for row in report["rulesets"]
        for rule in row["rules"]
    } == {key: value for key, value in per_rule.items()}
    by_currency = {c["currency"]: c["payout_minor"] for c in report["currencies"]}
    assert by_currency["RUB"] == sum(v for (_, cur), v in per_set.items() if cur == "RUB")
    lines = SAMPLE.read_bytes().splitlines()
    assert report["lines"] == len(lines)
    assert report["dead_letters"] == {"invalid_json": 1}
    retail = next(r for r in report["rulesets"] if r["ruleset"] == "retail")
    figures = retail["figures"]
    assert figures["payout_minor"] == figures["accrued_minor"] + figures["reversed_minor"]
    assert figures["reversals"] == 2
    assert retail["versions"] == [1, 2]


def test_baseline_gives_the_change_per_rule_and_rule_set(
    capsys: pytest.CaptureFixture[str],
) -> None:
    report = simulate(capsys, "--rules", str(V2), "--baseline", str(V1), "--as-of-latest")
    now_set, now_rule = engine_sums(latest_versions(load_catalog([V2])))
    then_set, then_rule = engine_sums(latest_versions(load_catalog([V1])))
    (retail,) = report["rulesets"]
    assert retail["versions"] == [2]
    assert retail["baseline_versions"] == [1]
    key = ("retail", "RUB")
    assert retail["figures"]["payout_minor"] == now_set[key]
    assert retail["baseline"]["payout_minor"] == then_set[key]
    assert retail["delta"]["payout_minor"] == now_set[key] - then_set[key]
    rules = {r["rule"]: r for r in retail["rules"]}
    assert set(rules) == {k[1] for k in now_rule} | {k[1] for k in then_rule}
    for rule_id, row in rules.items():
        now = now_rule["retail", rule_id, "RUB"]
        then = then_rule["retail", rule_id, "RUB"]
        assert (row["figures"]["payout_minor"], row["baseline"]["payout_minor"]) == (now, then)
        assert row["delta"]["payout_minor"] == now - then
    assert rules["card-basket"]["baseline"]["payout_minor"] == 0  # a rule new in version 2
    (rub,) = [c for c in report["currencies"] if c["currency"] == "RUB"]
    assert rub["delta_payout_minor"] == retail["delta"]["payout_minor"]


def test_by_event_time_old_events_keep_their_version(capsys: pytest.CaptureFixture[str]) -> None:
    report = simulate(capsys, "--rules", str(V1), "--rules", str(V2))
    (retail,) = report["rulesets"]
    assert retail["versions"] == [1, 2]
    latest = simulate(capsys, "--rules", str(V1), "--rules", str(V2), "--as-of-latest")
    assert latest["rulesets"][0]["versions"] == [2]
    assert latest["as_of_latest"] is True
    # A purchase from before any version counts only when every event gets the newest one.
    assert latest["rulesets"][0]["figures"]["events"] == retail["figures"]["events"] + 1


def test_table_for_people(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["simulate", "--input", str(SAMPLE), "--rules", str(V2), "--baseline", str(V1)]
    assert main([*args, "--as-of-latest"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("input: 14 lines, 13 events, 1 dead letter (invalid_json 1)\n")
    header = next(line for line in out.splitlines() if line.startswith("RULE SET / RULE"))
    columns = ["RULE SET / RULE", "CUR", "VERSIONS", "EVENTS", "ELIGIBLE", "REVERSALS", "BASE"]
    columns += ["PAYOUT", "RATE", "BASELINE PAYOUT", "BASELINE RATE", "DELTA", "CHANGE"]
    assert header.split() == " ".join(columns).split()
    row = next(line for line in out.splitlines() if line.startswith("retail "))
    assert "1 → 2" in row
    card = next(line for line in out.splitlines() if line.startswith("  card-basket "))
    assert card.split()[-1] == "new"


def test_rules_that_do_not_load(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("ruleset: x\n")
    code = main(["simulate", "--input", str(SAMPLE), "--rules", str(V1), "--baseline", str(bad)])
    assert code == 1
    assert "--baseline" in capsys.readouterr().err


def test_latest_versions_keeps_the_highest_in_force_at_any_time() -> None:
    catalog = latest_versions(load_catalog([RULES]))
    assert sorted((rs.name, rs.version) for rs in catalog.all()) == [
        ("black-friday", 3),
        ("fuel-partner", 1),
        ("kz-retail", 1),
        ("retail", 2),
        ("travel", 1),
    ]
    early = catalog.at(load_catalog([V1]).all()[0].effective_from.replace(year=1990))
    # black-friday v3 has no rules (it switches the campaign off): in force, but not priced
    assert [rs.name for rs in early] == ["fuel-partner", "kz-retail", "retail", "travel"]


@pytest.mark.parametrize(
    ("part", "whole", "places", "expected"),
    [
        (1, 3, 2, "33.33"),
        (2, 3, 2, "66.67"),
        (1, 8, 2, "12.50"),  # 12.5 exactly
        (1, 800, 2, "0.12"),  # 0.125: half-even
        (3, 800, 2, "0.38"),  # 0.375: half-even
        (-1, 3, 2, "-33.33"),
        (0, 5, 2, "0.00"),
        (5, 0, 2, None),
        (6170, 123400, 4, "5.0000"),
        (2**60 + 1, 3 * 2**60, 6, "33.333333"),  # big integers stay exact
        (7, 2, 0, "350"),
    ],
)
def test_percent_text_is_exact(part: int, whole: int, places: int, expected: str | None) -> None:
    assert percent_text(part, whole, places) == expected


def test_exact_quotient() -> None:
    assert exact_quotient(617000, 100) == "6170.00"
    assert exact_quotient(308625, 1000) == "308.625"
    assert exact_quotient(5, 100_000_000) == "0.00000005"


def test_progress_only_when_asked(tmp_path: Path) -> None:
    source = tmp_path / "x"
    source.write_bytes(b"a\n" * 10)
    out = io.StringIO()
    with source.open("rb") as stream:
        progress = Progress(stream, every=4, out=out, enabled=True)
        for count, _ in enumerate(stream):
            if count == progress.next_at:
                progress.tick(count)
        progress.done()
    assert out.getvalue().count("lines (") == 2
    quiet = io.StringIO()
    with source.open("rb") as stream:
        assert Progress(stream, out=quiet).next_at == -1  # a StringIO is not a terminal
