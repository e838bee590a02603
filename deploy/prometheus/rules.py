"""The worker's alert rules; renders alerts.yaml from these and thresholds.yaml.

    python deploy/prometheus/rules.py          # write alerts.yaml
    python deploy/prometheus/rules.py --check  # exit 1 if alerts.yaml is not current

`<<name>>` in an expression or description is the value `name` in thresholds.yaml (plain
`{}` stays PromQL's and `{{ }}` Prometheus' templating). Each alert also lists its
*signals*: the expression without its threshold comparison, which the real-Prometheus test
runs against a scraped worker and which must return data (tests/deploy/test_dashboard_live.py).
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
THRESHOLDS = HERE / "thresholds.yaml"
ALERTS = HERE / "alerts.yaml"
SEVERITIES = ("critical", "warning", "info")
_PLACEHOLDER = re.compile(r"<<([a-z_]+)>>")

# Aggregation every job-level alert uses: one alert per deployment (namespace and job).
JOB = "namespace, job"
RATE = 'sum by (namespace, job, ruleset, currency) (rate(cashback_payout_minor_total{kind="accrual"}[<<effective_rate_window>>]))'  # noqa: E501
BASE = "sum by (namespace, job, ruleset, currency) (rate(cashback_earning_purchase_amount_minor_total[<<effective_rate_window>>]))"  # noqa: E501
BASELINE_RATE = 'sum by (namespace, job, ruleset, currency) (rate(cashback_payout_minor_total{kind="accrual"}[<<effective_rate_baseline_window>>] offset <<effective_rate_baseline_offset>>))'  # noqa: E501
BASELINE_BASE = "sum by (namespace, job, ruleset, currency) (rate(cashback_earning_purchase_amount_minor_total[<<effective_rate_baseline_window>>] offset <<effective_rate_baseline_offset>>))"  # noqa: E501
ACCRUALS = 'sum by (namespace, job, ruleset, currency) (increase(cashback_accruals_total{kind="accrual"}[<<effective_rate_window>>]))'  # noqa: E501


@dataclass(frozen=True)
class Alert:
    name: str
    group: str
    severity: str
    expr: str
    duration: str  # the thresholds.yaml key of its `for:`
    summary: str
    description: str
    signals: tuple[str, ...]


ALERT_RULES: tuple[Alert, ...] = (
    Alert(
        "CashbackWorkerDown",
        "cashback-accrual.worker",
        "critical",
        "up{<<job_selector>>} == 0",
        "worker_down_for",
        "A cashback worker does not answer its metrics scrape.",
        "{{ $labels.instance }} ({{ $labels.job }}, namespace {{ $labels.namespace }}) has"
        " failed every scrape for <<worker_down_for>>; its partitions wait for a rebalance.",
        ("up{<<job_selector>>}",),
    ),
    Alert(
        "CashbackWorkerAbsent",
        "cashback-accrual.worker",
        "critical",
        "absent(up{<<job_selector>>} == 1)",
        "worker_absent_for",
        "No cashback worker is up.",
        "No target matching {<<job_selector>>} has answered a scrape for <<worker_absent_for>>:"
        " purchases are not being priced.",
        ("up{<<job_selector>>} == 1",),
    ),
    Alert(
        "CashbackNotReady",
        "cashback-accrual.worker",
        "warning",
        "cashback_ready == 0",
        "not_ready_for",
        "A cashback worker has not been ready for long.",
        "{{ $labels.instance }} has reported /readyz false for <<not_ready_for>> (rule sets"
        " not loaded or input not consumed).",
        ("cashback_ready",),
    ),
    Alert(
        "CashbackConsumerLagHigh",
        "cashback-accrual.worker",
        "warning",
        f"sum by ({JOB}, topic) (cashback_consumer_lag) > <<consumer_lag_records>>\n"
        f"and\nsum by ({JOB}, topic) (deriv(cashback_consumer_lag[<<lag_growth_window>>])) > 0",
        "consumer_lag_for",
        "Cashback consumer lag is high and growing.",
        "Topic {{ $labels.topic }} is {{ $value | humanize }} records behind (threshold"
        " <<consumer_lag_records>>) and the lag has grown over <<lag_growth_window>>.",
        (
            f"sum by ({JOB}, topic) (cashback_consumer_lag)",
            f"sum by ({JOB}, topic) (deriv(cashback_consumer_lag[<<lag_growth_window>>]))",
        ),
    ),
    Alert(
        "CashbackEventTimeLagHigh",
        "cashback-accrual.worker",
        "warning",
        "cashback_event_time_lag_seconds > <<event_time_lag_slo_seconds>>\n"
        "and on (namespace, job, instance)\n"
        "sum by (namespace, job, instance) (rate(cashback_events_consumed_total[5m])) > 0",
        "event_time_lag_for",
        "Cashback is priced later than its event-time SLO.",
        "{{ $labels.instance }} prices events {{ $value | humanizeDuration }} after they"
        " happened (SLO <<event_time_lag_slo_seconds>>s).",
        (
            "cashback_event_time_lag_seconds",
            "sum by (namespace, job, instance) (rate(cashback_events_consumed_total[5m]))",
        ),
    ),
    Alert(
        "CashbackNoProgress",
        "cashback-accrual.worker",
        "critical",
        "cashback_consumer_lag > 1\n"
        "unless on (namespace, job, instance, topic, partition)\n"
        "changes(cashback_committed_offset[<<no_progress_window>>]) > 0",
        "no_progress_for",
        "A cashback input partition makes no progress.",
        "{{ $labels.topic }}[{{ $labels.partition }}] on {{ $labels.instance }} is"
        " {{ $value | humanize }} records behind and its committed offset has not moved for"
        " <<no_progress_window>> (more than the 1-record transaction marker).",
        (
            "cashback_consumer_lag",
            "changes(cashback_committed_offset[<<no_progress_window>>])",
        ),
    ),
    Alert(
        "CashbackDeadLetterRatioHigh",
        "cashback-accrual.worker",
        "warning",
        f"sum by ({JOB}) (rate(cashback_dead_letters_total[<<dead_letter_window>>]))\n/\n"
        f"sum by ({JOB}) (rate(cashback_events_processed_total[<<dead_letter_window>>]))\n"
        "> <<dead_letter_ratio>>",
        "dead_letter_for",
        "Too many cashback input events go to the dead-letter topic.",
        "{{ $value | humanizePercentage }} of the events of {{ $labels.job }} were"
        " dead-lettered over <<dead_letter_window>> (threshold <<dead_letter_ratio>>).",
        (
            f"sum by ({JOB}) (rate(cashback_dead_letters_total[<<dead_letter_window>>]))\n/\n"
            f"sum by ({JOB}) (rate(cashback_events_processed_total[<<dead_letter_window>>]))",
        ),
    ),
    Alert(
        "CashbackPricingFailed",
        "cashback-accrual.worker",
        "critical",
        f"sum by ({JOB}) (increase(cashback_dead_letters_total"
        '{code="internal_error"}[<<pricing_failure_window>>])) > 0',
        "pricing_failure_for",
        "The cashback engine failed on input events.",
        "{{ $value | humanize }} events of {{ $labels.job }} were dead-lettered as"
        " internal_error over <<pricing_failure_window>>: the engine raised (a bug).",
        (
            f"sum by ({JOB}) (increase(cashback_dead_letters_total"
            '{code="internal_error"}[<<pricing_failure_window>>]))',
        ),
    ),
    Alert(
        "CashbackTransactionsAborting",
        "cashback-accrual.worker",
        "warning",
        f"sum by ({JOB}) (rate(cashback_transactions_total"
        '{result="aborted"}[<<transaction_window>>]))\n/\n'
        f"sum by ({JOB}) (rate(cashback_transactions_total[<<transaction_window>>]))\n"
        "> <<aborted_transaction_ratio>>",
        "transactions_for",
        "Cashback Kafka transactions are aborting.",
        "{{ $value | humanizePercentage }} of the transactions of {{ $labels.job }} aborted"
        " over <<transaction_window>> (threshold <<aborted_transaction_ratio>>).",
        (
            f"sum by ({JOB}) (rate(cashback_transactions_total"
            '{result="aborted"}[<<transaction_window>>]))\n/\n'
            f"sum by ({JOB}) (rate(cashback_transactions_total[<<transaction_window>>]))",
        ),
    ),
    Alert(
        "CashbackKafkaErrors",
        "cashback-accrual.worker",
        "warning",
        "sum by (namespace, job, instance, error) "
        "(rate(cashback_kafka_errors_total[<<kafka_errors_window>>]))"
        " > <<kafka_errors_per_second>>",
        "kafka_errors_for",
        "A cashback worker's Kafka clients report errors.",
        '{{ $labels.instance }} reports {{ $labels.error }} {{ printf "%.2f" $value }} times a'
        " second over <<kafka_errors_window>> (threshold <<kafka_errors_per_second>>/s).",
        (
            "sum by (namespace, job, instance, error) "
            "(rate(cashback_kafka_errors_total[<<kafka_errors_window>>]))",
        ),
    ),
    Alert(
        "CashbackRuleDocumentRefused",
        "cashback-accrual.worker",
        "warning",
        f"max by ({JOB}, reason) (increase(cashback_rule_documents_refused_total"
        "[<<rule_refusal_window>>])) > 0",
        "rule_refusal_for",
        "A rule set document on the rules topic was refused.",
        "{{ $value | humanize }} rule documents were refused as {{ $labels.reason }} in the"
        " last <<rule_refusal_window>>; the versions already loaded keep serving.",
        (
            f"max by ({JOB}, reason) (increase(cashback_rule_documents_refused_total"
            "[<<rule_refusal_window>>]))",
        ),
    ),
    Alert(
        "CashbackEffectiveRateAboveCeiling",
        "cashback-accrual.finance",
        "critical",
        f"{RATE}\n/\n{BASE}\n> <<effective_rate_ceiling>>",
        "effective_rate_ceiling_for",
        "Cashback is paid at a rate above the configured ceiling.",
        "Rule set {{ $labels.ruleset }} pays {{ $value | humanizePercentage }} of the"
        " {{ $labels.currency }} orders that earn from it over <<effective_rate_window>>"
        " (ceiling <<effective_rate_ceiling>>).",
        (f"{RATE}\n/\n{BASE}",),
    ),
    Alert(
        "CashbackEffectiveRateJump",
        "cashback-accrual.finance",
        "critical",
        f"({RATE}\n/\n{BASE})\n>\n<<effective_rate_jump_factor>> * ({BASELINE_RATE}\n/\n"
        f"{BASELINE_BASE})\nand\n{ACCRUALS}\n>= <<effective_rate_min_accruals>>",
        "effective_rate_jump_for",
        "Cashback is paid far above its own recent rate.",
        "Rule set {{ $labels.ruleset }} pays {{ $value | humanizePercentage }} of its"
        " {{ $labels.currency }} earning orders over <<effective_rate_window>>, more than"
        " <<effective_rate_jump_factor>> times its rate over the <<effective_rate_baseline_window>>"
        " before.",
        (f"{RATE}\n/\n{BASE}", f"{BASELINE_RATE}\n/\n{BASELINE_BASE}", ACCRUALS),
    ),
)


def thresholds() -> dict[str, Any]:
    loaded = yaml.safe_load(THRESHOLDS.read_text())
    assert isinstance(loaded, dict)
    return loaded


def fill(template: str, values: dict[str, Any]) -> str:
    def value(match: re.Match[str]) -> str:
        return str(values[match.group(1)])

    return _PLACEHOLDER.sub(value, template)


def anchor(name: str) -> str:
    """The runbook heading's anchor: `## CashbackWorkerDown` -> `#cashbackworkerdown`."""
    return name.lower()


def signals(values: dict[str, Any] | None = None) -> dict[str, list[str]]:
    """alert name -> the expressions that must return data against a scraped worker."""
    values = values or thresholds()
    return {a.name: [fill(s, values) for s in a.signals] for a in ALERT_RULES}


def render(values: dict[str, Any] | None = None) -> str:
    values = values or thresholds()
    groups: dict[str, list[dict[str, Any]]] = {}
    for alert in ALERT_RULES:
        assert alert.severity in SEVERITIES, alert.name
        groups.setdefault(alert.group, []).append(
            {
                "alert": alert.name,
                "expr": fill(alert.expr, values),
                "for": str(values[alert.duration]),
                "labels": {"severity": alert.severity},
                "annotations": {
                    "summary": alert.summary,
                    "description": fill(alert.description, values),
                    "runbook_url": f"{values['runbook_base']}#{anchor(alert.name)}",
                },
            }
        )
    document = {"groups": [{"name": n, "rules": rules} for n, rules in groups.items()]}
    header = (
        "# Rendered by deploy/prometheus/rules.py from thresholds.yaml: edit those, then run\n"
        "# `python deploy/prometheus/rules.py`. Tested by alerts_test.yaml (promtool).\n"
    )
    return header + yaml.dump(
        document, Dumper=_Dumper, sort_keys=False, width=100, allow_unicode=True
    )


class _Dumper(yaml.SafeDumper):
    """Multi-line expressions as literal blocks, as a person would write them."""


def _text(dumper: yaml.SafeDumper, text: str) -> yaml.Node:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Dumper.add_representer(str, _text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="fail if alerts.yaml is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if ALERTS.read_text() != text:
            print(f"{ALERTS} is not current: run python {Path(__file__)}", file=sys.stderr)
            return 1
        return 0
    ALERTS.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
