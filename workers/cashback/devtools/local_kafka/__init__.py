"""A real single-node Apache Kafka broker (KRaft) on 127.0.0.1, without Docker.

The broker runs from the Kafka jars that Maven resolves from ``deploy/local-kafka/pom.xml``
into ``deploy/local-kafka/lib/`` (once; a marker file records the pom's hash, so later runs
download nothing). Each start gets free ports, a fresh data directory, a generated
``server.properties`` for a combined broker+controller node, formatted storage, and then
waits until an AdminClient sees the broker in the cluster metadata.

Command line (the Makefile's ``kafka-up`` / ``kafka-down``)::

    python -m cashback.devtools.local_kafka up [--port N] [--controller-port N]
                                               [--advertised-port N] [--timeout S]
                                               [--security plaintext|sasl_plaintext|sasl_ssl]
    python -m cashback.devtools.local_kafka status | down
    python -m cashback.devtools.local_kafka kill | start | pause | resume

``up`` leaves the broker running in the background and writes ``<repo>/.kafka/bootstrap``
and ``<repo>/.kafka/pid``; ``down`` stops exactly that process and drops its data.
``kill`` is a crash (SIGKILL, data kept), ``start`` runs the same data directory on the
same ports again, ``pause``/``resume`` are SIGSTOP/SIGCONT.

Python API (tests, demo, benchmarks)::

    with start_broker(tmp_dir) as broker:      # LocalBroker
        use(broker.bootstrap)                 # "127.0.0.1:NNNNN"
        broker.kill(); broker.restart()       # a crash and a recovery, same data

Every expected failure (no Java, no Maven, a failed download, a broker that exits or never
becomes ready, a requested port that is taken) raises :class:`LocalKafkaError` with one
message that says what to do; the command line prints it as ``error: ...`` and exits 2.

Modules: ``toolchain`` (java, jars), ``properties`` (server.properties), ``ports``,
``broker`` (process control), ``pids``, ``state`` (``.kafka/``), ``cli``, ``security``
(SCRAM users, TLS, the authorizer; ``.kafka/worker.properties`` and ``admin.properties``).
Security plugs in at two seams: broker settings through the ``overlay`` argument of
``start_broker`` / ``properties.server_settings``, client properties files next to
``bootstrap`` in ``state.write_state`` (and ``cli._cmd_up`` for the flag).
"""

from __future__ import annotations

from cashback.devtools.local_kafka.broker import (
    BROKER_HEAP,
    DEFAULT_START_TIMEOUT,
    PORT_ATTEMPTS,
    LocalBroker,
    relaunch,
    start_broker,
)
from cashback.devtools.local_kafka.cli import main
from cashback.devtools.local_kafka.errors import LocalKafkaError
from cashback.devtools.local_kafka.locations import HOST, kafka_dir, state_dir
from cashback.devtools.local_kafka.pids import DEFAULT_STOP_TIMEOUT, stop_pid
from cashback.devtools.local_kafka.pids import pid_alive as _pid_alive
from cashback.devtools.local_kafka.properties import Listeners
from cashback.devtools.local_kafka.state import BrokerState, read_state, running_bootstrap
from cashback.devtools.local_kafka.toolchain import ensure_jars, find_java

__all__ = [
    "BROKER_HEAP",
    "DEFAULT_START_TIMEOUT",
    "DEFAULT_STOP_TIMEOUT",
    "HOST",
    "PORT_ATTEMPTS",
    "BrokerState",
    "Listeners",
    "LocalBroker",
    "LocalKafkaError",
    "_pid_alive",
    "ensure_jars",
    "find_java",
    "kafka_dir",
    "main",
    "read_state",
    "relaunch",
    "running_bootstrap",
    "start_broker",
    "state_dir",
    "stop_pid",
]
