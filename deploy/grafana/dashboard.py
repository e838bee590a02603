"""The ops dashboard, built with grafana-foundation-sdk; writes cashback-accrual.json.

    python deploy/grafana/dashboard.py          # write cashback-accrual.json
    python deploy/grafana/dashboard.py --check  # exit 1 if the JSON is not current

One row per concern, a unit, a legend and a description on every panel, every query's data
source from the `datasource` variable and every rate() over `$__rate_interval`. The uid is
fixed: Grafana keys links and provisioning on it. Labels are topics, partitions, rule sets,
currencies, outcomes and codes: never a customer or purchase id.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import prometheus, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models.dashboard import (
    DataSourceRef,
    VariableRefresh,
    VariableSort,
)

HERE = Path(__file__).resolve().parent
OUTPUT = HERE / "cashback-accrual.json"
UID = "cashback-accrual"
DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
# Every query's selector: the variables chained datasource -> namespace -> job -> instance.
SEL = 'namespace=~"$namespace", job=~"$job", instance=~"$instance"'
RS = f'{SEL}, ruleset=~"$ruleset"'
MINOR_PER_SECOND = "suffix: minor units/s"


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str


@dataclass(frozen=True)
class Chart:
    title: str
    unit: str
    description: str
    queries: tuple[Query, ...]
    width: int = 12


def rate(metric: str, selector: str = SEL) -> str:
    return f"rate({metric}{{{selector}}}[$__rate_interval])"


def quantile(q: str, metric: str) -> Query:
    expr = f"histogram_quantile({q}, sum by (le) ({rate(metric + '_bucket')}))"
    return Query(expr, f"p{round(float(q) * 100)}")


ROWS: tuple[tuple[str, tuple[Chart, ...]], ...] = (
    (
        "Throughput and outcomes",
        (
            Chart(
                "Events consumed by input topic",
                "cps",
                "Input records in committed batches, per second, by input topic.",
                (Query(f"sum by (topic) ({rate('cashback_events_consumed_total')})", "{{topic}}"),),
                8,
            ),
            Chart(
                "Outcomes",
                "cps",
                "Events priced per second by outcome: accrued, reversed, not eligible,"
                " dead letter.",
                (
                    Query(
                        f"sum by (outcome) ({rate('cashback_events_processed_total')})",
                        "{{outcome}}",
                    ),
                ),
                8,
            ),
            Chart(
                "Records written by output topic",
                "cps",
                "Accrual, notification and dead-letter records written per second.",
                (Query(f"sum by (topic) ({rate('cashback_records_written_total')})", "{{topic}}"),),
                8,
            ),
        ),
    ),
    (
        "Dead letters",
        (
            Chart(
                "Dead letters by code",
                "cps",
                "Input events sent to the dead-letter topic per second, by error.code."
                " internal_error means the engine raised: page on it.",
                (Query(f"sum by (code) ({rate('cashback_dead_letters_total')})", "{{code}}"),),
            ),
            Chart(
                "Dead-letter ratio",
                "percentunit",
                "Dead letters over all events priced (alert CashbackDeadLetterRatioHigh).",
                (
                    Query(
                        f"sum({rate('cashback_dead_letters_total')})"
                        f" / sum({rate('cashback_events_processed_total')})",
                        "dead letters / events",
                    ),
                ),
            ),
        ),
    ),
    (
        "Payout and reversals",
        (
            Chart(
                "Cashback credited by rule set and currency",
                MINOR_PER_SECOND,
                "Sum of positive accrual amounts written per second, in minor units of the"
                " currency (kopecks, tiyn, cents).",
                (
                    Query(
                        f"sum by (ruleset, currency) ({rate('cashback_payout_minor_total', RS)})",
                        "{{ruleset}} {{currency}}",
                    ),
                ),
                8,
            ),
            Chart(
                "Cashback reversed by rule set and currency",
                MINOR_PER_SECOND,
                "Cashback taken back by refunds per second, in minor units.",
                (
                    Query(
                        "sum by (ruleset, currency)"
                        f" ({rate('cashback_payout_reversed_minor_total', RS)})",
                        "{{ruleset}} {{currency}}",
                    ),
                ),
                8,
            ),
            Chart(
                "Accrual records by rule set and kind",
                "cps",
                "Accrual (kind=accrual) and reversal (kind=reversal) records written per second.",
                (
                    Query(
                        f"sum by (ruleset, kind) ({rate('cashback_accruals_total', RS)})",
                        "{{ruleset}} {{kind}}",
                    ),
                ),
                8,
            ),
        ),
    ),
    (
        "Effective cashback rate (finance guard)",
        (
            Chart(
                "Effective rate by rule set and currency",
                "percentunit",
                "Cashback credited over the order totals of the purchases that earned from the"
                " rule set. A jump here after a rule set release is a mistyped rate"
                " (alerts CashbackEffectiveRateAboveCeiling and CashbackEffectiveRateJump).",
                (
                    Query(
                        f"sum by (ruleset, currency) ({rate('cashback_payout_minor_total', RS)})"
                        " / sum by (ruleset, currency)"
                        f" ({rate('cashback_earning_purchase_amount_minor_total', RS)})",
                        "{{ruleset}} {{currency}}",
                    ),
                ),
            ),
            Chart(
                "Program cost by currency",
                "percentunit",
                "All cashback credited over all valid purchase amounts, per currency.",
                (
                    Query(
                        f"sum by (currency) ({rate('cashback_payout_minor_total')})"
                        " / sum by (currency)"
                        f" ({rate('cashback_purchase_amount_minor_total')})",
                        "{{currency}}",
                    ),
                ),
            ),
        ),
    ),
    (
        "Purchase amount",
        (
            Chart(
                "Purchase amount by currency",
                MINOR_PER_SECOND,
                "Order totals of valid purchases seen per second, in minor units.",
                (
                    Query(
                        f"sum by (currency) ({rate('cashback_purchase_amount_minor_total')})",
                        "{{currency}}",
                    ),
                ),
            ),
            Chart(
                "Earning purchase amount by rule set",
                MINOR_PER_SECOND,
                "Order totals of the purchases that earned from each rule set, per second:"
                " the effective rate's base.",
                (
                    Query(
                        "sum by (ruleset, currency)"
                        f" ({rate('cashback_earning_purchase_amount_minor_total', RS)})",
                        "{{ruleset}} {{currency}}",
                    ),
                ),
            ),
        ),
    ),
    (
        "Lag",
        (
            Chart(
                "Consumer lag per partition",
                "short",
                "Records behind the last stable offset, per input partition (librdkafka"
                " statistics). An idle exactly-once partition shows 1: the transaction marker.",
                (
                    Query(
                        f"sum by (topic, partition) (cashback_consumer_lag{{{SEL}}})",
                        "{{topic}}[{{partition}}]",
                    ),
                ),
            ),
            Chart(
                "Event-time lag",
                "s",
                "Now minus the newest event time of each instance's last batch (SLO in"
                " deploy/prometheus/thresholds.yaml).",
                (
                    Query(
                        f"max by (instance) (cashback_event_time_lag_seconds{{{SEL}}})",
                        "{{instance}}",
                    ),
                ),
            ),
        ),
    ),
    (
        "Batches",
        (
            Chart(
                "Batch latency quantiles",
                "s",
                "From a batch consumed to its outputs and offsets committed.",
                (
                    quantile("0.5", "cashback_batch_duration_seconds"),
                    quantile("0.95", "cashback_batch_duration_seconds"),
                    quantile("0.99", "cashback_batch_duration_seconds"),
                ),
            ),
            Chart(
                "Batch size",
                "short",
                "Records per batch: small batches mean the worker keeps up with its input.",
                (
                    quantile("0.5", "cashback_batch_events"),
                    quantile("0.95", "cashback_batch_events"),
                ),
            ),
        ),
    ),
    (
        "Transactions and Kafka",
        (
            Chart(
                "Transactions by result",
                "cps",
                "Kafka transactions committed and aborted per second (exactly once).",
                (Query(f"sum by (result) ({rate('cashback_transactions_total')})", "{{result}}"),),
                8,
            ),
            Chart(
                "Batch retries by error",
                "cps",
                "Batches rewound and processed again per second, by Kafka error.",
                (Query(f"sum by (error) ({rate('cashback_batch_retries_total')})", "{{error}}"),),
                8,
            ),
            Chart(
                "Kafka client errors",
                "cps",
                "Errors the Kafka clients report per second, by error name.",
                (Query(f"sum by (error) ({rate('cashback_kafka_errors_total')})", "{{error}}"),),
                8,
            ),
        ),
    ),
    (
        "Rule sets",
        (
            Chart(
                "Rule set versions loaded",
                "none",
                "Highest version loaded per rule set, as each instance sees it.",
                (
                    Query(
                        f"max by (ruleset) (cashback_ruleset_latest_version{{{RS}}})",
                        "{{ruleset}} latest",
                    ),
                    Query(
                        f"max by (ruleset) (cashback_ruleset_versions{{{RS}}})",
                        "{{ruleset}} versions",
                    ),
                ),
            ),
            Chart(
                "Rule documents refused",
                "short",
                "Rules-topic documents refused (the known versions keep serving), by reason,"
                " over the dashboard's range.",
                (
                    Query(
                        "max by (reason)"
                        f" (increase(cashback_rule_documents_refused_total{{{SEL}}}[$__range]))",
                        "{{reason}}",
                    ),
                ),
            ),
        ),
    ),
    (
        "Readiness",
        (
            Chart(
                "Ready per instance",
                "bool_yes_no",
                "1 while /readyz answers 200: rule sets loaded and the input consumed.",
                (Query(f"max by (instance) (cashback_ready{{{SEL}}})", "{{instance}}"),),
                24,
            ),
        ),
    ),
)


def _variable(name: str, label: str, query: str) -> dash.QueryVariable:
    return (
        dash.QueryVariable(name)
        .label(label)
        .datasource(DATASOURCE)
        .query(query)
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_ASC)
        .include_all(True)
        .multi(True)
        .all_value(".*")
    )


def _panel(chart: Chart, number: int) -> timeseries.Panel:
    panel = (
        timeseries.Panel()
        .id(number)
        .title(chart.title)
        .description(chart.description)
        .datasource(DATASOURCE)
        .unit(chart.unit)
        .span(chart.width)
        .height(8)
        .legend(
            common_builders.VizLegendOptions()
            .show_legend(True)
            .display_mode(common.LegendDisplayMode.LIST)
            .placement(common.LegendPlacement.BOTTOM)
        )
    )
    for ref, query in zip("ABCDEFGH", chart.queries, strict=False):
        panel = panel.with_target(
            prometheus.Dataquery()
            .datasource(DATASOURCE)
            .expr(query.expr)
            .legend_format(query.legend)
            .ref_id(ref)
            .range()
        )
    return panel


def build() -> dict[str, object]:
    board = (
        dash.Dashboard("Cashback accrual")
        .uid(UID)
        .description(
            "The cashback-accrual stream worker: throughput, outcomes, payout and the"
            " effective cashback rate, lag, batches, transactions, rule sets, readiness."
        )
        .tags(["cashback", "kafka"])
        .editable()
        .refresh("30s")
        .time("now-6h", "now")
        .timezone("utc")
        .with_variable(
            dash.DatasourceVariable("datasource").label("Data source").type("prometheus")
        )
        .with_variable(
            _variable("namespace", "Namespace", "label_values(cashback_build_info, namespace)")
        )
        .with_variable(
            _variable(
                "job", "Job", 'label_values(cashback_build_info{namespace=~"$namespace"}, job)'
            )
        )
        .with_variable(
            _variable(
                "instance",
                "Instance",
                'label_values(cashback_build_info{namespace=~"$namespace", job=~"$job"}, instance)',
            )
        )
        .with_variable(
            _variable(
                "ruleset", "Rule set", f"label_values(cashback_ruleset_versions{{{SEL}}}, ruleset)"
            )
        )
    )
    number = 0  # fixed panel ids: links to a panel (viewPanel=N) keep working
    for title, charts in ROWS:
        number += 1
        board = board.with_row(dash.Row(title).id(number))
        for chart in charts:
            number += 1
            board = board.with_panel(_panel(chart, number))
    encoded: dict[str, object] = json.loads(json.dumps(board.build(), cls=JSONEncoder))
    return encoded


def render() -> str:
    return json.dumps(build(), sort_keys=True, indent=2) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="fail if the JSON is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if OUTPUT.read_text() != text:
            print(f"{OUTPUT} is not current: run python {Path(__file__)}", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
