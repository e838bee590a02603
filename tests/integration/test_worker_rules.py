"""Rule set versions from the rules topic: a new version published with `cashback rules
publish` applies live; a bad document is refused while the known versions keep serving."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
import yaml
from confluent_kafka import Producer
from test_worker_harness import (
    WorkerProcess,
    by_key,
    engine_for,
    expected_by_key,
    make_topics,
    produce,
    publish_rules,
    read_all,
    wait_for,
    wait_until_committed,
)

from cashback.domain.engine import ACCRUALS
from cashback.runtime.rules_feed import MAX_DOCUMENT_BYTES
from events_factory import START, big_ruleset_document, ruleset_document, stream
from kafka_support import TopicFactory

pytestmark = pytest.mark.kafka


def retail_versions(records: list[bytes]) -> set[int]:
    decoded = [orjson.loads(value) for value in records]
    return {a["ruleset_version"] for a in decoded if a["ruleset"] == "retail"}


@pytest.mark.conformance
def test_a_published_version_applies_to_the_events_after_it(
    kafka_bootstrap: str,
    topic_factory: TopicFactory,
    workers: Callable[..., WorkerProcess],
    tmp_path: Path,
) -> None:
    topics = make_topics(topic_factory)
    v1 = ruleset_document(version=1)
    publish_rules(kafka_bootstrap, topics.rules, v1)
    # Rule files and the topic together: files first, the topic's versions added on top.
    partner = ruleset_document("partner", percent="1", notify=False)
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "partner.json").write_bytes(partner)
    group = f"g-{uuid.uuid4().hex[:8]}"
    extra = ["--rules", str(tmp_path / "files")]
    worker = workers(kafka_bootstrap, topics, group=group, extra=extra).start()
    before = stream(300, seed=21, prefix="a")
    produce(kafka_bootstrap, topics.input, before)
    wait_until_committed(kafka_bootstrap, group, topics.input, len(before))

    # Authors write YAML; the topic carries canonical JSON.
    v2 = ruleset_document(version=2, percent="3", groceries_percent="7")
    source = tmp_path / "retail.v2.yaml"
    source.write_text(yaml.safe_dump(orjson.loads(v2)))
    published = subprocess.run(
        [sys.executable, "-m", "cashback.cli.main", "rules", "publish", str(source),
         "--bootstrap-servers", kafka_bootstrap, "--rules-topic", topics.rules],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert published.returncode == 0, published.stderr
    assert "published retail:2" in published.stdout
    on_topic = read_all(kafka_bootstrap, topics.rules)[-1]
    assert on_topic.key == b"retail:2"
    assert orjson.loads(on_topic.value or b"") == orjson.loads(v2)
    wait_for(
        lambda: worker.metric("cashback_ruleset_latest_version", ruleset="retail") == 2,
        30,
        "version 2 to be loaded",
    )
    after = stream(300, seed=22, prefix="b", start=START.replace(day=20))
    produce(kafka_bootstrap, topics.input, after)
    wait_until_committed(kafka_bootstrap, group, topics.input, len(before) + len(after))

    accruals = by_key(read_all(kafka_bootstrap, topics.accruals))
    expected_before = expected_by_key(engine_for(v1, partner), before)[ACCRUALS]
    expected_after = expected_by_key(engine_for(v1, v2, partner), after)[ACCRUALS]
    for key, values in accruals.items():
        old, new = expected_before.get(key, []), expected_after.get(key, [])
        assert values == old + new
        assert retail_versions(old) <= {1} and retail_versions(new) <= {2}
    assert worker.metric("cashback_ruleset_latest_version", ruleset="partner") == 1
    assert sum(map(len, accruals.values())) == sum(
        len(v) for e in (expected_before, expected_after) for v in e.values()
    )


@pytest.mark.conformance
def test_a_10000_rule_version_is_published_and_applied_live(
    kafka_bootstrap: str,
    topic_factory: TopicFactory,
    workers: Callable[..., WorkerProcess],
    tmp_path: Path,
) -> None:
    """A 10,000-rule version (1.7 MB of JSON) through `cashback rules publish` to a rules
    topic left at the broker's 1 MB record limit, into a running worker: before, the
    worker refused anything over 1 MiB and the publisher could not send it."""
    topics = make_topics(topic_factory)
    v1 = ruleset_document(version=1)
    publish_rules(kafka_bootstrap, topics.rules, v1)
    group = f"g-{uuid.uuid4().hex[:8]}"
    worker = workers(kafka_bootstrap, topics, group=group).start()
    before = stream(200, seed=25, prefix="a")
    produce(kafka_bootstrap, topics.input, before)
    wait_until_committed(kafka_bootstrap, group, topics.input, len(before))

    big = big_ruleset_document(version=2)
    assert 1024 * 1024 < len(big) < MAX_DOCUMENT_BYTES
    source = tmp_path / "retail.v2.json"
    source.write_bytes(big)
    published = subprocess.run(
        [sys.executable, "-m", "cashback.cli.main", "rules", "publish", str(source),
         "--bootstrap-servers", kafka_bootstrap, "--rules-topic", topics.rules],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert published.returncode == 0, published.stderr
    wait_for(
        lambda: worker.metric("cashback_ruleset_latest_version", ruleset="retail") == 2,
        120,
        "the 10,000-rule version 2 to be loaded",
    )
    assert worker.metric("cashback_rule_documents_refused_total") == 0
    after = stream(200, seed=26, prefix="b", start=START.replace(day=20))
    produce(kafka_bootstrap, topics.input, after)
    wait_until_committed(kafka_bootstrap, group, topics.input, len(before) + len(after))
    accruals = by_key(read_all(kafka_bootstrap, topics.accruals))
    expected_before = expected_by_key(engine_for(v1), before)[ACCRUALS]
    expected_after = expected_by_key(engine_for(v1, big), after)[ACCRUALS]
    assert retail_versions([v for vs in expected_after.values() for v in vs]) == {2}
    for key in accruals.keys() | expected_before.keys() | expected_after.keys():
        assert accruals.get(key, []) == expected_before.get(key, []) + expected_after.get(key, [])


def test_bad_rule_documents_are_refused_and_known_versions_keep_serving(
    kafka_bootstrap: str, topic_factory: TopicFactory, workers: Callable[..., WorkerProcess]
) -> None:
    topics = make_topics(topic_factory)
    v1 = ruleset_document(version=1)
    publish_rules(kafka_bootstrap, topics.rules, v1)
    group = f"g-{uuid.uuid4().hex[:8]}"
    worker = workers(kafka_bootstrap, topics, group=group).start()

    secret_marker = b"do-not-log-this-value"
    publish_rules(kafka_bootstrap, topics.rules, b'{"ruleset": "retail", "version": 2}')
    publish_rules(kafka_bootstrap, topics.rules, b"{" + secret_marker, key="retail:3")
    publish_rules(kafka_bootstrap, topics.rules, ruleset_document(version=1, percent="9"))
    publish_rules(kafka_bootstrap, topics.rules, ruleset_document(version=4), key="retail:5")
    wait_for(
        lambda: worker.metric("cashback_rule_documents_refused_total") == 4,
        30,
        "four refusals",
    )
    assert worker.metric("cashback_rule_documents_refused_total", reason="invalid") == 2
    assert worker.metric("cashback_rule_documents_refused_total", reason="conflict") == 1
    assert worker.metric("cashback_rule_documents_refused_total", reason="key_mismatch") == 1
    assert worker.metric("cashback_ruleset_latest_version", ruleset="retail") == 1
    refusals = [line for line in worker.logs() if line.get("msg", "").startswith("rule document")]
    assert sorted(line["key"] for line in refusals) == [
        "retail:1", "retail:2", "retail:3", "retail:5",
    ]  # fmt: skip
    assert secret_marker.decode() not in worker.log_path.read_text()

    events = stream(200, seed=23)
    produce(kafka_bootstrap, topics.input, events)
    wait_until_committed(kafka_bootstrap, group, topics.input, len(events))
    accruals = by_key(read_all(kafka_bootstrap, topics.accruals))
    assert accruals == expected_by_key(engine_for(v1), events)[ACCRUALS]
    assert worker.get("/readyz")[0] == 200
    assert worker.get("/healthz")[0] == 200


def test_hostile_rule_documents_are_refused_counted_and_logged(
    kafka_bootstrap: str, topic_factory: TopicFactory, workers: Callable[..., WorkerProcess]
) -> None:
    # The rules topic takes records up to 6 MB here, so the worker's own limit is what refuses.
    rules = topic_factory("rules", 1, {"cleanup.policy": "compact", "max.message.bytes": "6000000"})
    topics = dataclasses.replace(make_topics(topic_factory), rules=rules)
    v1 = ruleset_document(version=1)
    publish_rules(kafka_bootstrap, topics.rules, v1)
    group = f"g-{uuid.uuid4().hex[:8]}"
    worker = workers(kafka_bootstrap, topics, group=group).start()

    huge = orjson.loads(ruleset_document(version=2))
    huge["rules"][0]["description"] = "d" * (MAX_DOCUMENT_BYTES + 1)
    big = {"message.max.bytes": "6000000"}
    publish_rules(kafka_bootstrap, topics.rules, orjson.dumps(huge), key="retail:2", config=big)
    publish_rules(kafka_bootstrap, topics.rules, b"\x00\xff\xfe\x80garbage", key="retail:3")
    twice = ruleset_document(version=4)[:-1] + b',"hold_days":0}'
    publish_rules(kafka_bootstrap, topics.rules, twice, key="retail:4")
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    producer.produce(topics.rules, key=b"retail:1", value=None)  # a tombstone
    assert producer.flush(10) == 0
    wait_for(
        lambda: (
            worker.metric("cashback_rule_documents_refused_total") == 3
            and worker.metric("cashback_rule_documents_total", result="ignored") == 1
        ),
        30,
        "three refusals and one ignored tombstone",
    )
    for reason in ("too_large", "invalid", "duplicate_key"):
        assert worker.metric("cashback_rule_documents_refused_total", reason=reason) == 1
    assert worker.metric("cashback_ruleset_latest_version", ruleset="retail") == 1
    keys = {line.get("key") for line in worker.logs() if "rule document" in line.get("msg", "")}
    assert {"retail:1", "retail:2", "retail:3", "retail:4"} <= keys
    assert "d" * 100 not in worker.log_path.read_text()  # reasons, never the content

    events = stream(200, seed=24)
    produce(kafka_bootstrap, topics.input, events)
    wait_until_committed(kafka_bootstrap, group, topics.input, len(events))
    accruals = by_key(read_all(kafka_bootstrap, topics.accruals))
    assert accruals == expected_by_key(engine_for(v1), events)[ACCRUALS]
