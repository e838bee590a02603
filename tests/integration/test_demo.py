"""`make demo` end to end on the session broker: worker subprocess, sample stream, summary."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from cashback.devtools import demo
from cashback.devtools.sample_stream import generate
from cashback.domain.engine import Engine
from cashback.rulefiles import load_catalog

RULES = Path(__file__).resolve().parents[2] / "deploy" / "examples" / "rules"
COUNT = 400
SEED = 5


def offline_net_payout() -> Counter[str]:
    """Net payout per currency, priced here without Kafka."""
    engine = Engine(load_catalog([RULES]))
    totals: Counter[str] = Counter()
    for record in generate(COUNT, SEED, bad_every=40):
        for accrual in engine.handle(record.value).accruals:
            totals[accrual.currency] += accrual.amount_minor
    return totals


@pytest.mark.kafka
@pytest.mark.timeout(300)
def test_demo_runs_end_to_end_and_matches_offline_pricing(
    kafka_bootstrap: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(demo.ENV_BOOTSTRAP, kafka_bootstrap)
    argv = ["--count", str(COUNT), "--seed", str(SEED), "--bad-every", "40"]
    argv += ["--partitions", "2", "--rules", str(RULES), "--workdir", str(tmp_path)]

    code = demo.main(argv)

    out, err = capsys.readouterr()
    assert code == 0, out + err
    assert "matches offline pricing: yes" in out
    assert f"events in          {COUNT:,} " in out
    assert "dead letter 10" in out
    net = offline_net_payout()
    assert set(net) == {"RUB", "KZT", "EUR"}
    expected = ", ".join(demo.money(n, c) for c, n in sorted(net.items()))
    assert f"net payout by currency: {expected}" in out
    assert "the worker finished its batch, committed and exited 0" in out


def test_money_uses_the_currency_minor_units() -> None:
    assert demo.money(6170, "RUB") == "61.70 RUB"
    assert demo.money(-123456789, "KZT") == "-1,234,567.89 KZT"
    assert demo.money(1500, "JPY") == "1,500 JPY"
    assert demo.money(5, "KWD") == "0.005 KWD"
    assert demo.money(0, "EUR") == "0.00 EUR"


def test_prometheus_counts_by_label() -> None:
    text = "\n".join(
        [
            "# TYPE cashback_events_processed_total counter",
            'cashback_events_processed_total{outcome="accrued"} 12.0',
            'cashback_events_processed_total{outcome="dead_letter"} 2.0',
            'cashback_events_processed_created{outcome="accrued"} 1.7e+09',
        ]
    )
    counts = demo.metric_counts(text, "cashback_events_processed_total", "outcome")
    assert counts == Counter(accrued=12, dead_letter=2)
