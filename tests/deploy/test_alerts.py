"""The alert rules that ship: current with their thresholds, valid and unit-tested by
promtool, and written the house way (one prefix, three severities, a fixed summary, a
description with numbers, a runbook section per alert)."""

from __future__ import annotations

import re
import subprocess
from typing import Any

import pytest
import yaml
from prometheus_support import ALERT_TESTS, ALERTS, ROOT, alert_rules, ensure_prometheus

pytestmark = pytest.mark.deploy

RUNBOOK = ROOT / "docs" / "runbook.md"
SECTIONS = ("Meaning", "Impact", "Diagnosis", "Mitigation")


def shipped_rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(ALERTS.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


@pytest.fixture(scope="module")
def promtool() -> str:
    ensure_prometheus()
    return "promtool"


def test_alerts_yaml_is_rendered_from_the_thresholds() -> None:
    assert ALERTS.read_text() == alert_rules().render(), (
        "alerts.yaml is stale: run python deploy/prometheus/rules.py"
    )


def test_promtool_checks_the_rules(promtool: str) -> None:
    result = subprocess.run(
        [promtool, "check", "rules", str(ALERTS)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(shipped_rules())} rules found" in result.stdout


def test_promtool_unit_tests_pass(promtool: str) -> None:
    result = subprocess.run(
        [promtool, "test", "rules", str(ALERT_TESTS)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ALERT_TESTS.parent,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_a_wrong_expectation_fails_promtool(promtool: str, tmp_path: Any) -> None:
    """The tests can fail: expecting CashbackWorkerDown a minute before its `for:` ends."""
    document = yaml.safe_load(ALERT_TESTS.read_text())
    first = document["tests"][0]  # CashbackWorkerDown's: the rest need not run again
    check = next(c for c in first["alert_rule_test"] if c["eval_time"] == "7m")
    assert check["alertname"] == "CashbackWorkerDown" and check["exp_alerts"]
    check["eval_time"] = "6m"
    path = tmp_path / "alerts_test.yaml"
    path.write_text(yaml.safe_dump({**document, "rule_files": [str(ALERTS)], "tests": [first]}))
    result = subprocess.run(
        [promtool, "test", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode != 0
    assert "alertname: CashbackWorkerDown, time: 6m" in result.stdout + result.stderr


def test_every_alert_is_tested_quiet_before_for_and_firing_at_for() -> None:
    tests = yaml.safe_load(ALERT_TESTS.read_text())["tests"]
    firing: dict[str, set[str]] = {}
    quiet: dict[str, set[str]] = {}
    for case in tests:
        for check in case.get("alert_rule_test", []):
            target = firing if check["exp_alerts"] else quiet
            target.setdefault(check["alertname"], set()).add(check["eval_time"])
    for rule in shipped_rules():
        name = rule["alert"]
        assert firing.get(name), f"{name}: no test where it fires"
        assert quiet.get(name), f"{name}: no test where it stays quiet"
        # For alerts with a `for:` the quiet tests include the minute before one that fires.
        fire_minutes = {_minutes(t) for t in firing[name]}
        quiet_minutes = {_minutes(t) for t in quiet[name]}
        assert any(m - 1 in quiet_minutes for m in fire_minutes), (
            f"{name}: no quiet check one minute before a firing one"
        )


def _minutes(text: str) -> int:
    value, unit = re.fullmatch(r"(\d+)([mh])", text).groups()  # type: ignore[union-attr]
    return int(value) * (60 if unit == "h" else 1)


def test_rules_follow_the_house_conventions() -> None:
    thresholds = alert_rules().thresholds()
    runbook = RUNBOOK.read_text()
    headings = {
        line[3:].strip().lower(): index
        for index, line in enumerate(runbook.splitlines())
        if line.startswith("## ")
    }
    for rule in shipped_rules():
        name, annotations = rule["alert"], rule["annotations"]
        assert name.startswith("Cashback"), name
        assert rule["labels"]["severity"] in ("critical", "warning", "info"), name
        assert rule["for"], name
        assert "{{" not in annotations["summary"], f"{name}: summary must be fixed"
        assert re.search(r"\{\{ (\$value|printf)", annotations["description"]) or re.search(
            r"\d", annotations["description"]
        ), f"{name}: description without numbers"
        url = annotations["runbook_url"]
        assert url == f"{thresholds['runbook_base']}#{name.lower()}", name
        assert name.lower() in headings, f"docs/runbook.md has no section ## {name}"


def test_every_runbook_section_says_what_to_look_at_and_do() -> None:
    text = RUNBOOK.read_text()
    for rule in shipped_rules():
        name = rule["alert"]
        section = text.split(f"## {name}\n", 1)[1].split("\n## ", 1)[0]
        for part in SECTIONS:
            assert f"**{part}**" in section, f"runbook {name}: no {part}"


def test_no_identifier_labels_in_the_rules() -> None:
    text = ALERTS.read_text()
    for word in ("customer", "purchase_id", "event_id", "accrual_id"):
        assert word not in text
