"""The dashboard JSON that ships: current with its generator, and built the house way
(fixed uid, chained variables, `$__rate_interval`, a unit, legend and description on every
panel, a row per concern, no ids)."""

from __future__ import annotations

import re
from typing import Any

import orjson
import pytest
from prometheus_support import ROOT, dashboard_generator

pytestmark = pytest.mark.deploy

DASHBOARD = ROOT / "deploy" / "grafana" / "cashback-accrual.json"
ROWS = (
    "Throughput and outcomes",
    "Dead letters",
    "Payout and reversals",
    "Effective cashback rate (finance guard)",
    "Purchase amount",
    "Lag",
    "Batches",
    "Transactions and Kafka",
    "Rule sets",
    "Readiness",
)


def board() -> dict[str, Any]:
    document: dict[str, Any] = orjson.loads(DASHBOARD.read_bytes())
    return document


def panels() -> list[dict[str, Any]]:
    return [p for p in board()["panels"] if p["type"] != "row"]


def test_the_json_is_current_and_deterministic() -> None:
    text = dashboard_generator().render()
    assert DASHBOARD.read_text() == text, "stale: run python deploy/grafana/dashboard.py"
    assert dashboard_generator().render() == text


def test_fixed_uid_and_chained_variables() -> None:
    document = board()
    assert document["uid"] == "cashback-accrual"
    variables = {v["name"]: v for v in document["templating"]["list"]}
    assert list(variables) == ["datasource", "namespace", "job", "instance", "ruleset"]
    assert variables["datasource"]["query"] == "prometheus"
    assert "$namespace" in variables["job"]["query"]
    assert "$job" in variables["instance"]["query"]
    assert "$instance" in variables["ruleset"]["query"]


def test_one_row_per_concern() -> None:
    titles = [p["title"] for p in board()["panels"] if p["type"] == "row"]
    assert tuple(titles) == ROWS


def test_every_panel_has_unit_legend_description_and_the_datasource_variable() -> None:
    for panel in panels():
        title = panel["title"]
        assert panel["description"], title
        assert panel["fieldConfig"]["defaults"].get("unit") not in (None, ""), title
        assert panel["options"]["legend"]["showLegend"], title
        assert panel["datasource"]["uid"] == "${datasource}", title
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}", title
            assert target["legendFormat"], title


def test_every_rate_uses_rate_interval_and_every_query_the_selector() -> None:
    for panel in panels():
        for target in panel["targets"]:
            expr = target["expr"]
            windows = re.findall(r"\brate\([^\[]*\[([^\]]+)\]", expr)
            assert len(windows) == expr.count("rate("), expr
            assert set(windows) <= {"$__rate_interval"}, expr
            assert 'job=~"$job"' in expr and 'instance=~"$instance"' in expr, expr


def test_per_second_panels_are_not_unit_short() -> None:
    for panel in panels():
        exprs = " ".join(t["expr"] for t in panel["targets"])
        if "rate(" in exprs and "histogram_quantile" not in exprs and "/" not in exprs:
            assert panel["fieldConfig"]["defaults"]["unit"] != "short", panel["title"]


def test_no_customer_or_purchase_id_anywhere() -> None:
    text = DASHBOARD.read_text().lower()
    for word in ("customer", "purchase_id", "event_id", "accrual_id"):
        assert word not in text
