"""The faust runtime's plain parts: which settings it honours and how, the
co-partitioning rule, the record adapter, and that the default runtime never loads faust."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

import pytest
from test_runtime_batch import FakeRecord

from cashback.domain.catalog import Catalog
from cashback.domain.rules import parse_ruleset
from cashback.runtime.batch import Routes, price_batch
from cashback.runtime.faust_runtime.copartition import copartition_problem
from cashback.runtime.faust_runtime.options import app_settings, refusals
from cashback.runtime.settings import Settings
from cashback.runtime.settings_sources import resolve_settings
from engines import CheckedEngine
from events_factory import bad_events, ruleset_document, stream


def faust_settings(**kafka: str) -> Settings:
    pairs = [f"{k.replace('_', '.')}={v}" for k, v in kafka.items()]
    return resolve_settings({"runtime": "faust", "kafka": pairs}, {}, hostname="host-1")


def test_runtime_is_a_setting_from_flags_env_and_file() -> None:
    assert Settings().runtime == "confluent"
    assert resolve_settings({}, {"CASHBACK_RUNTIME": "FAUST"}).runtime == "faust"
    with pytest.raises(ValueError, match="runtime must be one of confluent, faust"):
        resolve_settings({"runtime": "kafka-streams"}, {})


def test_librdkafka_only_properties_are_refused_by_name() -> None:
    settings = faust_settings(statistics_interval_ms="1000", session_timeout_ms="6000")
    problems = refusals(settings, hostname="host-1")
    assert len(problems) == 1
    assert "statistics.interval.ms is librdkafka-only" in problems[0]
    assert "session.timeout.ms" in problems[0]  # the list of what it understands


def test_a_chosen_transactional_id_is_refused_under_exactly_once() -> None:
    chosen = resolve_settings({"runtime": "faust", "transactional_id": "tx-mine"}, {})
    assert any("transactional_id cannot be set" in p for p in refusals(chosen))
    at_least_once = resolve_settings(
        {"transactional_id": "tx-mine", "processing_guarantee": "at_least_once"}, {}
    )
    assert refusals(at_least_once) == []


def test_settings_map_to_faust_with_pinned_names() -> None:
    settings = faust_settings(
        session_timeout_ms="6000", heartbeat_interval_ms="1000", linger_ms="20", acks="all"
    )
    options = app_settings(settings, "/tmp/data")
    assert options["id"] == settings.group_id  # the consumer group, pinned
    assert options["broker"] == ["kafka://localhost:9092"]
    assert options["broker_session_timeout"] == 6.0
    assert options["broker_heartbeat_interval"] == 1.0
    assert options["producer_linger"] == 0.02
    assert options["producer_acks"] == -1
    assert options["processing_guarantee"] == "exactly_once"
    assert options["topic_allow_declare"] is False and options["web_enabled"] is False
    assert "broker_credentials" not in options


def test_copartitioning_names_every_topic_and_count() -> None:
    inputs, outputs = ["purchases"], ["cashback.accruals", "cashback.notifications", "dlq"]
    same = dict.fromkeys([*inputs, *outputs], 6)
    assert copartition_problem(inputs, outputs, same) is None
    problem = copartition_problem(inputs, outputs, {**same, "dlq": 2})
    assert problem is not None
    assert "purchases=6" in problem and "dlq=2" in problem
    assert "topics not found: dlq" in (
        copartition_problem(inputs, outputs, {**same, "dlq": 0}) or ""
    )


def test_faust_messages_price_to_the_same_requests() -> None:
    """Same records through the faust adapter and a confluent-like record: the same bytes,
    keys and headers (traceparent and dead letters included), on both engines."""
    from cashback.runtime.faust_runtime.agent import FaustRecord  # noqa: PLC0415 - needs faust

    engine = CheckedEngine(Catalog.of([parse_ruleset(ruleset_document())]), max_event_bytes=2048)
    routes = Routes("acc", "not", "dlq")
    events = [*stream(40, seed=3), *bad_events(max_event_bytes=2048)]
    plain = [
        FakeRecord(e.value, e.key, list(e.headers or []), "in", 1, i) for i, e in enumerate(events)
    ]
    messages = [
        SimpleNamespace(topic="in", partition=1, offset=i, key=e.key, value=e.value,
                        headers=tuple(e.headers or ()))
        for i, e in enumerate(events)
    ]  # fmt: skip
    through_faust = price_batch(engine, [FaustRecord(m) for m in messages], routes)
    expected = price_batch(engine, plain, routes)
    assert through_faust.requests == expected.requests
    assert any(r.topic == "dlq" for r in expected.requests)
    assert any(name == "traceparent" for r in expected.requests for name, _ in r.headers)


def test_the_default_runtime_never_imports_faust() -> None:
    """`cashback run` (default runtime) up to the runtime's entry, with the entry stubbed."""
    probe = (
        "import sys\n"
        "import cashback.runtime.bootstrap as bootstrap\n"
        "seen = {}\n"
        "def fake_run(settings):\n"
        "    seen['runtime'] = settings.runtime\n"
        "    return 0\n"
        "bootstrap.run = fake_run\n"
        "from cashback.cli.main import main\n"
        "code = main(['run', '--bootstrap-servers', '127.0.0.1:1'])\n"
        "clients = ('faust', 'mode', 'aiokafka')\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in clients)\n"
        "print(code, seen['runtime'], loaded)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "0 confluent []", done.stdout + done.stderr
