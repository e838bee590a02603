"""A SASL_SSL broker of their own for the least-privilege tests (never the session one).

It is the local broker's `sasl_ssl` mode (SCRAM-SHA-512 users made at format time,
certificates made now, StandardAuthorizer, deny by default, admin super user), started
once for this folder and stopped by its own handle.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

# The worker harness lives with the integration tests; share it rather than copy it.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "integration"))

from test_worker_harness import WorkerProcess, worker_pool

from cashback.devtools.local_kafka import LocalKafkaError
from cashback.devtools.local_kafka.security import (
    ADMIN_PROPERTIES,
    SASL_SSL,
    BrokerSecurity,
    read_properties,
    start_secured_broker,
    write_client_files,
)
from kafka_support import terminal_printer


@dataclass(frozen=True)
class SecuredBroker:
    bootstrap: str
    security: BrokerSecurity
    files: Path  # worker.properties, admin.properties, admin-java.properties

    @property
    def admin(self) -> dict[str, str]:
        """The admin's librdkafka properties, bootstrap included."""
        return read_properties(self.files / ADMIN_PROPERTIES)

    @property
    def tls(self) -> dict[str, str]:
        """Connection properties without a user (a test adds its own)."""
        return {k: v for k, v in self.admin.items() if k not in ("sasl.username", "sasl.password")}


@pytest.fixture(scope="session")
def secured_broker(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SecuredBroker]:
    say = terminal_printer(request.config)
    workdir = tmp_path_factory.mktemp("secured-kafka")
    try:
        # A loaded CI machine can take minutes to start a JVM broker; 60 s was seen to fail.
        broker, security = start_secured_broker(workdir, SASL_SSL, progress=say, timeout=240)
    except LocalKafkaError as exc:
        pytest.fail(f"cannot start the sasl_ssl broker: {exc}", pytrace=False)
    assert security is not None
    with broker:
        say(f"sasl_ssl broker at {broker.bootstrap} ready in {broker.startup_seconds:.1f}s")
        write_client_files(security, workdir, broker.bootstrap)
        yield SecuredBroker(broker.bootstrap, security, workdir)


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    yield from worker_pool(tmp_path)
