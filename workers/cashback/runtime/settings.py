"""The worker's settings: one frozen, validated object; secrets never print.

`settings_sources.resolve_settings` builds it from flags > env > TOML file > defaults.
librdkafka properties pass through untouched in `kafka`, except the few the delivery
guarantee depends on (RESERVED_KAFKA).
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Final

from cashback.domain.events import MAX_EVENT_BYTES
from cashback.domain.native_engine import ENGINE_MODES

EXACTLY_ONCE: Final = "exactly_once"
AT_LEAST_ONCE: Final = "at_least_once"
GUARANTEES: Final = (EXACTLY_ONCE, AT_LEAST_ONCE)
# Which client drives the batch step: confluent-kafka (librdkafka) or faust-streaming.
CONFLUENT: Final = "confluent"
FAUST: Final = "faust"
RUNTIMES: Final = (CONFLUENT, FAUST)
LOG_LEVELS: Final = ("debug", "info", "warning", "error")
MASK: Final = "***"
DEFAULT_GROUP_ID: Final = "cashback-accrual"

# Properties the worker owns: each has its own setting, or the delivery mode depends on it.
# What librdkafka accepts; the worker applies it itself (runtime/start_offsets.py).
OFFSET_RESET_POLICIES: Final = frozenset(
    {"earliest", "smallest", "beginning", "latest", "largest", "end", "error"}
)
RESERVED_KAFKA: Final = {
    "bootstrap.servers": "use --bootstrap-servers",
    "group.id": "use --group-id",
    "transactional.id": "use --transactional-id",
    "enable.auto.commit": "offsets are committed by the worker",
    "enable.auto.offset.store": "offsets are committed by the worker",
    "isolation.level": "the worker always reads committed records",
    "enable.idempotence": "the producer is always idempotent",
}
_SECRET: Final = re.compile(r"password|secret|key|token|oauthbearer\.config", re.IGNORECASE)


class SettingsError(ValueError):
    """A setting is missing, malformed or contradicts another; the message names it."""


def is_secret(name: str) -> bool:
    return _SECRET.search(name) is not None


@dataclass(frozen=True, slots=True, repr=False)
class Settings:
    bootstrap_servers: str = "localhost:9092"
    input_topics: tuple[str, ...] = ("purchases",)
    accruals_topic: str = "cashback.accruals"
    notifications_topic: str = "cashback.notifications"
    dlq_topic: str = "cashback.dlq"
    rules_topic: str = "cashback.rules"  # "" reads rule sets from --rules files only
    rules: tuple[Path, ...] = ()
    group_id: str = DEFAULT_GROUP_ID
    processing_guarantee: str = EXACTLY_ONCE
    metrics_host: str = "0.0.0.0"
    metrics_port: int = 9400
    batch_size: int = 2000  # make bench: +12% exactly-once throughput over 500, same latency
    commit_interval_ms: int = 100
    max_event_bytes: int = MAX_EVENT_BYTES
    engine: str = "auto"  # auto: the native engine when built, else the Python one
    log_level: str = "info"
    liveness_seconds: float = 30.0
    transactional_id: str = ""  # "" means derived: cashback-<group>-<hostname>
    kafka: tuple[tuple[str, str], ...] = field(default=())
    runtime: str = CONFLUENT  # faust: cashback.runtime.faust_runtime (the `faust` extra)

    def __post_init__(self) -> None:
        problems = _problems(self)
        if problems:
            raise SettingsError("; ".join(problems))
        if not self.transactional_id:
            # Frozen, so the derived default is set the one way a dataclass allows.
            derived = default_transactional_id(self.group_id, socket.gethostname())
            object.__setattr__(self, "transactional_id", derived)

    @property
    def exactly_once(self) -> bool:
        return self.processing_guarantee == EXACTLY_ONCE

    def kafka_config(self) -> dict[str, str]:
        """The pass-through librdkafka properties (secrets included: for clients only)."""
        return dict(self.kafka)

    def describe(self) -> dict[str, Any]:
        """Every setting as plain values for a log line, secrets masked."""
        shown: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "kafka":
                value = {k: MASK if is_secret(k) else v for k, v in value}
            elif f.name in ("input_topics", "rules"):
                value = [str(v) for v in value]
            shown[f.name] = value
        return shown

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self.describe().items())
        return f"Settings({inner})"


def _problems(s: Settings) -> list[str]:
    problems: list[str] = []
    if not s.bootstrap_servers:
        problems.append("bootstrap_servers is empty")
    if not s.input_topics or any(not t for t in s.input_topics):
        problems.append("input_topics needs at least one non-empty topic name")
    outputs = [s.accruals_topic, s.notifications_topic, s.dlq_topic]
    names = [*s.input_topics, *outputs, *([s.rules_topic] if s.rules_topic else [])]
    if any(not name for name in outputs):
        problems.append("accruals_topic, notifications_topic and dlq_topic must be named")
    doubled = sorted({n for n in names if n and names.count(n) > 1})
    if doubled:
        problems.append(f"the same topic is named for two roles: {', '.join(doubled)}")
    if s.engine not in ENGINE_MODES:
        problems.append(f"engine must be one of {', '.join(ENGINE_MODES)}")
    if s.processing_guarantee not in GUARANTEES:
        problems.append(f"processing_guarantee must be one of {', '.join(GUARANTEES)}")
    if s.runtime not in RUNTIMES:
        problems.append(f"runtime must be one of {', '.join(RUNTIMES)}")
    if s.log_level not in LOG_LEVELS:
        problems.append(f"log_level must be one of {', '.join(LOG_LEVELS)}")
    if not 0 <= s.metrics_port <= 65535:
        problems.append("metrics_port must be 0..65535 (0 picks a free port)")
    if not 1 <= s.batch_size <= 100_000:
        problems.append("batch_size must be 1..100000")
    if not 1 <= s.commit_interval_ms <= 60_000:
        problems.append("commit_interval_ms must be 1..60000")
    if s.max_event_bytes < 1:
        problems.append("max_event_bytes must be positive")
    if s.liveness_seconds <= 0:
        problems.append("liveness_seconds must be positive")
    for key, value in s.kafka:
        if key in RESERVED_KAFKA:
            problems.append(f"kafka property {key} cannot be set: {RESERVED_KAFKA[key]}")
        if key == "auto.offset.reset" and value.strip().lower() not in OFFSET_RESET_POLICIES:
            problems.append(
                f"kafka property auto.offset.reset={value} is not one of "
                + ", ".join(sorted(OFFSET_RESET_POLICIES))
            )
    return problems


def default_transactional_id(group_id: str, hostname: str) -> str:
    """Stable across restarts of one instance (a StatefulSet pod name, a VM's hostname) and
    distinct between instances: a restart then aborts what its predecessor left open."""
    return f"cashback-{group_id}-{hostname}"
