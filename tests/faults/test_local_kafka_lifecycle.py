"""The local broker can be hurt from the command line: kill, start, pause, resume.

Each step is checked against the broker itself: a record written before the crash is read
back after `start` (the data directory survived), and a paused broker answers nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from cashback.runtime.topics import TopicSpec, create_topics

pytestmark = [pytest.mark.kafka, pytest.mark.faults]


def _cli(state: Path, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CASHBACK_KAFKA_STATE_DIR": str(state)}
    return subprocess.run(
        [sys.executable, "-m", "cashback.devtools.local_kafka", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _metadata_answers(bootstrap: str, timeout: float) -> bool:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    try:
        admin.list_topics(timeout=timeout)
    except Exception:  # any failure means "did not answer"
        return False
    return True


def test_kill_start_pause_resume(tmp_path: Path) -> None:
    state = tmp_path / ".kafka"
    up = _cli(state, "up", "--timeout", "180", timeout=300)
    assert up.returncode == 0, up.stderr
    try:
        bootstrap = (state / "bootstrap").read_text().strip()
        topic = f"lifecycle-{uuid.uuid4().hex[:8]}"
        create_topics({"bootstrap.servers": bootstrap}, [TopicSpec(topic, 1)])
        producer = Producer({"bootstrap.servers": bootstrap})
        producer.produce(topic, b"before the crash")
        assert producer.flush(15) == 0

        killed = _cli(state, "kill")
        assert killed.returncode == 0, killed.stderr
        assert "data kept" in killed.stdout
        assert not _metadata_answers(bootstrap, 2.0)

        started = _cli(state, "start", "--timeout", "180", timeout=300)
        assert started.returncode == 0, started.stderr
        assert (state / "bootstrap").read_text().strip() == bootstrap, "same ports again"
        consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": uuid.uuid4().hex})
        consumer.assign([TopicPartition(topic, 0, 0)])
        message = consumer.poll(20)
        consumer.close()
        assert message is not None and message.error() is None
        assert message.value() == b"before the crash"

        assert _cli(state, "pause").returncode == 0
        assert not _metadata_answers(bootstrap, 3.0), "a paused broker must not answer"
        assert _cli(state, "resume").returncode == 0
        assert _metadata_answers(bootstrap, 20.0)
    finally:
        down = _cli(state, "down")
        assert down.returncode == 0, down.stderr
    assert not (state / "pid").exists()
