"""The worker image (top-level Dockerfile) run for real with podman.

Offline commands give the host's bytes; `cashback run` in the container, on the host
network against the test broker, processes a stream exactly once, answers its probes from
outside, runs as uid 10001 on a read-only root filesystem as PID 1, and stops on SIGTERM
with its batch committed. Skipped, with the reason, when no container engine can be had.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from confluent_kafka import TopicPartition
from test_worker_harness import (
    Topics,
    by_key,
    committed_total,
    engine_for,
    expected_by_key,
    group_members,
    make_topics,
    offsets_reader,
    produce,
    publish_rules,
    read_all,
    wait_for,
)

from cashback.domain.engine import ACCRUALS, NOTIFICATIONS
from events_factory import Event, ruleset_document, stream
from image_support import REPO, UID, build_image, podman
from kafka_support import TopicFactory

pytestmark = [pytest.mark.container, pytest.mark.timeout(1800)]

EXAMPLES = REPO / "deploy" / "examples"
# What every container here gets: no writable root, nothing but /tmp to write to.
LOCKED_DOWN = ("--read-only", "--tmpfs", "/tmp:rw,size=16m,mode=1777")


@pytest.fixture(scope="module")
def cashback_image() -> str:
    return build_image()


def host_cashback(*args: str, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "cashback.cli.main", *args],
        capture_output=True, cwd=cwd, timeout=120, check=False,
    )  # fmt: skip


def image_cashback(
    image: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    mounts = ("-v", f"{EXAMPLES}:/examples:ro", "-w", "/examples")
    env_args = [arg for key, value in (env or {}).items() for arg in ("-e", f"{key}={value}")]
    return podman(
        "run", "--rm", "--network=none", *LOCKED_DOWN, *mounts, *env_args, image, *args,
        check=False,
    )  # fmt: skip


def test_version_is_the_hosts(cashback_image: str) -> None:
    host = host_cashback("--version", cwd=REPO)
    image = image_cashback(cashback_image, "--version")
    assert (image.returncode, image.stdout) == (0, host.stdout), image.stderr


def test_the_faust_runtime_ships_in_the_image(cashback_image: str) -> None:
    # The faust extra is in the image by default; its adapter imports inside it.
    result = podman(
        "run", "--rm", "--network=none", *LOCKED_DOWN, "--entrypoint", "python", cashback_image,
        "-c", "import faust, cashback.runtime.faust_runtime.runner",
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


def test_price_gives_the_hosts_bytes(cashback_image: str) -> None:
    args = ("price", "--rules", "rules", "--input", "events/sample.jsonl")
    host = host_cashback(*args, cwd=EXAMPLES)
    image = image_cashback(cashback_image, *args)
    assert host.returncode == 0, host.stderr
    assert image.returncode == 0, image.stderr
    assert len(host.stdout.splitlines()) > 10
    assert image.stdout == host.stdout


def test_a_bad_configuration_is_refused_in_one_line(cashback_image: str) -> None:
    result = image_cashback(cashback_image, "run", env={"CASHBACK_BATCH_SIZE": "0"})
    lines = result.stderr.decode().strip().splitlines()
    assert result.returncode == 2
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: ") and "batch_size" in lines[0]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return 0, ""


def _consumed(port: int) -> float:
    status, text = _get(port, "/metrics")
    if status != 200:
        return 0.0
    return sum(
        float(line.rpartition(" ")[2])
        for line in text.splitlines()
        if line.startswith("cashback_events_consumed_total{")
    )


def container_logs(name: str) -> str:
    result = podman("logs", name, check=False)
    return (result.stdout + result.stderr).decode(errors="replace")


def _proc_status(pid: int) -> dict[str, str]:
    pairs = (line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return {key: value.strip() for key, value in pairs}


@dataclass(frozen=True)
class Running:
    """A worker container on the host network, and what it was started with."""

    name: str
    port: int
    bootstrap: str
    topics: Topics
    group: str

    def logs(self) -> str:
        return container_logs(self.name)


@pytest.mark.kafka
def test_run_in_the_container_exactly_once_then_sigterm(
    cashback_image: str, kafka_bootstrap: str, topic_factory: TopicFactory
) -> None:
    topics = make_topics(topic_factory)
    document = ruleset_document()
    publish_rules(kafka_bootstrap, topics.rules, document)
    first = stream(1500, seed=21, prefix="img-a")
    produce(kafka_bootstrap, topics.input, first)
    name = f"cashback-test-{uuid.uuid4().hex[:8]}"
    running = Running(name, _free_port(), kafka_bootstrap, topics, f"img-{name}")
    podman(
        "run", "-d", "--name", name, "--network=host", *LOCKED_DOWN, cashback_image,
        "run", "--bootstrap-servers", kafka_bootstrap, *topics.args(),
        "--group-id", running.group, "--transactional-id", f"tx-{name}",
        "--metrics-host", "127.0.0.1", "--metrics-port", str(running.port),
        "--batch-size", "50",
        "--kafka", "session.timeout.ms=6000", "--kafka", "heartbeat.interval.ms=1000",
    )  # fmt: skip
    try:
        _check(running, first, document)
    finally:
        podman("rm", "-f", "-t", "0", name, check=False)


def _check(running: Running, first: list[Event], document: bytes) -> None:
    name, port, bootstrap, topics, group = (
        running.name, running.port, running.bootstrap, running.topics, running.group,
    )  # fmt: skip
    logs = running.logs
    try:
        wait_for(lambda: _get(port, "/readyz")[0] == 200, 90, "/readyz 200 from the container")
        wait_for(lambda: _consumed(port) >= len(first), 90, "the first stream consumed")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\ncontainer log:\n{logs()[-3000:]}") from exc

    # The probes answer from outside the container.
    assert _get(port, "/healthz")[0] == 200
    status, metrics = _get(port, "/metrics")
    assert status == 200 and "cashback_build_info" in metrics

    # PID 1 of the container is the worker itself, as uid/gid 10001, on a read-only root.
    pid = int(podman("inspect", "--format", "{{.State.Pid}}", name).stdout)
    proc = _proc_status(pid)
    assert proc["NSpid"].split()[-1] == "1"
    assert proc["Uid"].split() == [str(UID)] * 4 and proc["Gid"].split() == [str(UID)] * 4
    assert b"cashback" in Path(f"/proc/{pid}/cmdline").read_bytes()
    readonly = podman("inspect", "--format", "{{.HostConfig.ReadonlyRootfs}}", name).stdout
    assert readonly.strip() == b"true"

    # Exactly once: what is visible is the engine's output for every input, once.
    engine = engine_for(document)
    expected = expected_by_key(engine, first)
    assert by_key(read_all(bootstrap, topics.accruals)) == expected[ACCRUALS]
    assert by_key(read_all(bootstrap, topics.notifications)) == expected[NOTIFICATIONS]

    # SIGTERM mid-stream: exit 0 within 10 s, the batch in hand committed, the group left.
    second = stream(6000, seed=22, prefix="img-b")
    produce(bootstrap, topics.input, second)
    wait_for(lambda: _consumed(port) >= len(first) + 500, 90, "progress on the second stream")
    started = time.monotonic()
    podman("kill", "--signal", "TERM", name)
    code = podman("wait", name, timeout=30).stdout.decode().strip()
    elapsed = time.monotonic() - started
    assert code == "0", logs()[-3000:]
    assert elapsed < 10
    assert "stopped" in logs()
    assert group_members(bootstrap, group) == 0
    committed = committed_total(bootstrap, group, topics.input)
    assert len(first) + 500 <= committed <= len(first) + len(second)
    inputs = read_all(bootstrap, topics.input)
    reader = offsets_reader(bootstrap, group)
    try:
        offsets = reader.committed(
            [TopicPartition(topics.input, p) for p in {r.partition for r in inputs}], timeout=10
        )
    finally:
        reader.close()
    upto = {tp.partition: tp.offset for tp in offsets}
    done = [Event(r.key, r.value) for r in inputs if r.offset < upto[r.partition]]
    assert by_key(read_all(bootstrap, topics.accruals)) == expected_by_key(engine, done)[ACCRUALS]


@pytest.mark.kafka
def test_sigint_stops_the_container_cleanly_too(
    cashback_image: str, kafka_bootstrap: str, topic_factory: TopicFactory
) -> None:
    topics = make_topics(topic_factory, partitions=1)
    publish_rules(kafka_bootstrap, topics.rules, ruleset_document())
    name = f"cashback-test-{uuid.uuid4().hex[:8]}"
    port = _free_port()
    podman(
        "run", "-d", "--name", name, "--network=host", *LOCKED_DOWN, cashback_image,
        "run", "--bootstrap-servers", kafka_bootstrap, *topics.args(),
        "--group-id", f"img-{name}", "--transactional-id", f"tx-{name}",
        "--metrics-host", "127.0.0.1", "--metrics-port", str(port),
    )  # fmt: skip
    try:
        wait_for(lambda: _get(port, "/readyz")[0] == 200, 90, "/readyz 200 from the container")
        started = time.monotonic()
        podman("kill", "--signal", "INT", name)
        code = podman("wait", name, timeout=30).stdout.decode().strip()
        assert (code, time.monotonic() - started < 10) == ("0", True)
        assert "signal received" in container_logs(name)
    finally:
        podman("rm", "-f", "-t", "0", name, check=False)
