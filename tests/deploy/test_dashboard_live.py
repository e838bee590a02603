"""Every dashboard panel query and every alert expression, run against a real Prometheus
that scraped a real worker on the real broker, must return data; then the panels are drawn
to a PNG from those same results.

Variables are filled as Grafana would: job and instance with the scraped target, the rule
set with every value the `ruleset` variable's own query finds (a multi-value regex), and
namespace with its "All" value `.*` (a plain scrape config has no namespace label).
`$__rate_interval` becomes 5s: Grafana's max(4 x scrape interval, step + scrape interval)
for a 1 s scrape and a 1 s step, rounded up for scrape jitter. `$__range` becomes the run's
length. An alert "returns data" when each of its signals (the expression without its
threshold comparison, listed in deploy/prometheus/rules.py) returns a sample; the finance
guard's baseline (`offset 15m` over a day) is run without its offset, since a Prometheus
started for the test holds no day-old data (promtool's tests cover the offset).

Set CASHBACK_DASHBOARD_PNG=docs/dashboard.png to refresh the picture the README shows.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from dashboard_png import draw
from live_worker import LiveRun, run_live
from prometheus_support import ROOT, PrometheusServer, Sample, alert_rules, ensure_prometheus

from kafka_support import TopicFactory

pytestmark = [pytest.mark.deploy, pytest.mark.kafka]

DASHBOARD = ROOT / "deploy" / "grafana" / "cashback-accrual.json"
JOB = "cashback-accrual"
RATE_INTERVAL = "5s"
STEP = 1.0


@dataclass
class Scraped:
    prometheus: PrometheusServer
    run: LiveRun
    instance: str

    def query_range(self, expr: str) -> list[Sample]:
        return self.prometheus.query_range(expr, self.run.started - 5, self.run.finished + 1, STEP)


@pytest.fixture(scope="module")
def scraped(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scraped]:
    ensure_prometheus()
    workdir = tmp_path_factory.mktemp("live")
    factory = TopicFactory(kafka_bootstrap)
    servers: list[PrometheusServer] = []

    def start_scraper(port: int) -> None:
        server = PrometheusServer(workdir, {JOB: [f"127.0.0.1:{port}"]})
        servers.append(server)
        server.start()

    live = run_live(kafka_bootstrap, factory, workdir, start_scraper)
    try:
        run = next(live)
        yield Scraped(servers[0], run, f"127.0.0.1:{run.metrics_port}")
    finally:
        live.close()  # stops the worker
        for server in servers:
            server.stop()
        factory.delete_created()


def dashboard() -> dict[str, Any]:
    document: dict[str, Any] = orjson.loads(DASHBOARD.read_bytes())
    return document


def variable_values(scraped: Scraped, name: str) -> list[str]:
    """What a variable's label_values(metric{selector}, label) query finds."""
    variables = {v["name"]: v for v in dashboard()["templating"]["list"]}
    match = re.fullmatch(r"label_values\((.+), (\w+)\)", variables[name]["query"])
    assert match, variables[name]["query"]
    selector, label = fill(match.group(1), scraped, ruleset=".*"), match.group(2)
    values: list[str] = scraped.prometheus.api(f"label/{label}/values", **{"match[]": selector})
    return values


def promql_regex(value: str) -> str:
    """A literal as a regex inside a PromQL string (whose backslashes are escaped too)."""
    return re.escape(value).replace("\\", "\\\\")


def fill(expr: str, scraped: Scraped, *, ruleset: str, seconds: float = 60.0) -> str:
    return (
        expr.replace("$__rate_interval", RATE_INTERVAL)
        .replace("$__range", f"{int(seconds) + 1}s")
        .replace("$namespace", ".*")
        .replace("$job", JOB)
        .replace("$instance", promql_regex(scraped.instance))
        .replace("$ruleset", ruleset)
    )


@pytest.fixture(scope="module")
def panel_results(scraped: Scraped) -> dict[int, list[list[Sample]]]:
    rulesets = variable_values(scraped, "ruleset")
    assert rulesets, "the ruleset variable finds no rule set"
    chosen = "(" + "|".join(promql_regex(r) for r in rulesets) + ")"
    seconds = scraped.run.finished - scraped.run.started
    results: dict[int, list[list[Sample]]] = {}
    for panel in dashboard()["panels"]:
        if panel["type"] == "row":
            continue
        results[panel["id"]] = [
            scraped.query_range(fill(t["expr"], scraped, ruleset=chosen, seconds=seconds))
            for t in panel["targets"]
        ]
    return results


def test_variables_find_the_scraped_worker(scraped: Scraped) -> None:
    assert variable_values(scraped, "job") == [JOB]
    assert variable_values(scraped, "instance") == [scraped.instance]
    assert {"retail", "black-friday"} <= set(variable_values(scraped, "ruleset"))


def test_every_panel_query_returns_data(panel_results: dict[int, list[list[Sample]]]) -> None:
    panels = {p["id"]: p for p in dashboard()["panels"]}
    empty = [
        f"{panels[pid]['title']}: {panels[pid]['targets'][i]['expr']}"
        for pid, found in panel_results.items()
        for i, series in enumerate(found)
        if not series
    ]
    assert not empty, "panel queries without data:\n" + "\n".join(empty)


def test_every_alert_expression_returns_data(scraped: Scraped) -> None:
    rules = alert_rules()
    missing = []
    for alert, signals in rules.signals().items():
        for signal in signals:
            expr = re.sub(r"\s+offset\s+\w+", "", signal)
            if not scraped.query_range(expr):
                missing.append(f"{alert}: {expr}")
    assert not missing, "alert signals without data:\n" + "\n".join(missing)


def test_prometheus_loaded_the_alert_rules(scraped: Scraped) -> None:
    groups = scraped.prometheus.api("rules", type="alert")["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    assert len(rules) == len(alert_rules().ALERT_RULES)
    assert all(rule["health"] == "ok" for rule in rules), [r for r in rules if r["health"] != "ok"]


def test_the_incident_shows_aborts_and_retries(scraped: Scraped) -> None:
    """The DLQ refused an oversized dead letter until its limit was raised: the transaction
    aborted, the batch was rewound and retried, and then every record was committed."""
    aborted = scraped.prometheus.query(
        f'max_over_time(cashback_transactions_total{{job="{JOB}", result="aborted"}}[5m])'
    )
    retries = scraped.prometheus.query(
        f'sum(max_over_time(cashback_batch_retries_total{{job="{JOB}"}}[5m]))'
    )
    assert aborted and float(aborted[0]["value"][1]) >= 1
    assert retries and float(retries[0]["value"][1]) >= 1


def test_the_finance_guard_sees_a_mistyped_rule_set(scraped: Scraped) -> None:
    """retail v3 pays ten times v2's percentages: the effective rate the finance alerts use
    (their signal, over the panel's short window) rises several fold once it is live."""
    rate = alert_rules().signals()["CashbackEffectiveRateAboveCeiling"][0]
    expr = rate.replace("[5m]", f"[{RATE_INTERVAL}]")
    found = [
        s
        for s in scraped.query_range(expr)
        if s.labels.get("ruleset") == "retail" and s.labels.get("currency") == "RUB"
    ]
    assert found, expr
    points = found[0].points
    published = scraped.run.typo_published
    before = sorted(v for t, v in points if t < published)
    after = [v for t, v in points if t > published + 2]
    assert before and after, points
    usual = before[len(before) // 2]
    assert 0.005 < usual < 0.03, before
    assert max(after) > 3 * usual, (usual, after)


def test_panels_drawn_to_png(
    panel_results: dict[int, list[list[Sample]]], scraped: Scraped, tmp_path: Path
) -> None:
    out = tmp_path / "dashboard.png"
    seconds = scraped.run.finished - scraped.run.started
    draw(
        dashboard(),
        panel_results,
        out,
        subtitle=f"  -  real worker, {scraped.run.produced:,} sample events, {seconds:.0f} s,"
        " scraped every 1 s by Prometheus 2.42",
    )
    assert out.stat().st_size > 50_000
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    target = os.environ.get("CASHBACK_DASHBOARD_PNG")
    if target:
        shutil.copyfile(out, ROOT / target)
