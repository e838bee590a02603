"""`cashback topics create` and `cashback rules publish` against the broker."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType
from test_worker_harness import read_all

from events_factory import ruleset_document
from kafka_support import TopicFactory

pytestmark = pytest.mark.kafka


def cashback(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cashback.cli.main", *args],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip


def test_topics_create_is_idempotent_and_compacts_the_rules_topic(
    kafka_bootstrap: str, topic_factory: TopicFactory
) -> None:
    prefix = f"cli-{uuid.uuid4().hex[:8]}"
    names = {
        "--input-topics": f"{prefix}.pos,{prefix}.web",
        "--accruals-topic": f"{prefix}.accruals",
        "--notifications-topic": f"{prefix}.notifications",
        "--dlq-topic": f"{prefix}.dlq",
        "--rules-topic": f"{prefix}.rules",
    }
    args = ["topics", "create", "--bootstrap-servers", kafka_bootstrap, "--partitions", "2"]
    args += [item for pair in names.items() for item in pair]
    first = cashback(*args)
    topic_factory.created.extend([*names["--input-topics"].split(","), *list(names.values())[1:]])
    assert first.returncode == 0, first.stderr
    assert first.stdout.count("created") == 6
    assert f"created  {prefix}.rules: 1 partition(s) (compacted)" in first.stdout
    again = cashback(*args)
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("exists") == 6
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    resource = ConfigResource(ResourceType.TOPIC, f"{prefix}.rules")
    config = admin.describe_configs([resource])[resource].result(10)
    assert config["cleanup.policy"].value == "compact"


def test_publish_refuses_everything_when_one_file_is_bad(
    kafka_bootstrap: str, topic_factory: TopicFactory, tmp_path: Path
) -> None:
    rules = topic_factory("rules", 1, {"cleanup.policy": "compact"})
    good = tmp_path / "retail.v1.json"
    good.write_bytes(ruleset_document())
    bad = tmp_path / "broken.yaml"
    bad.write_text("ruleset: retail\nversion: 2\nrules: []\n")
    connect = ["--bootstrap-servers", kafka_bootstrap, "--rules-topic", rules]

    refused = cashback("rules", "publish", str(good), str(bad), *connect)
    assert refused.returncode == 1
    assert "refused:" in refused.stderr and "broken.yaml" in refused.stderr
    assert "nothing published" in refused.stderr
    assert read_all(kafka_bootstrap, rules) == []

    published = cashback("rules", "publish", str(tmp_path / "retail.v1.json"), *connect)
    assert published.returncode == 0, published.stderr
    assert f"published retail:1 from {good} to {rules}[0]@0" in published.stdout
    [record] = read_all(kafka_bootstrap, rules)
    assert record.key == b"retail:1"


def test_publish_to_a_missing_topic_says_so(kafka_bootstrap: str, tmp_path: Path) -> None:
    good = tmp_path / "retail.v1.json"
    good.write_bytes(ruleset_document())
    missing = f"missing-{uuid.uuid4().hex[:8]}"
    result = cashback(
        "rules", "publish", str(good), "--bootstrap-servers", kafka_bootstrap,
        "--rules-topic", missing,
    )  # fmt: skip
    assert result.returncode == 1
    assert f"topic {missing} does not exist" in result.stderr
