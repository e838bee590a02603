"""The worker's settings: one frozen object, built from flags > env > TOML file > defaults.

Every field has a flag `--field-name`, an env var `CASHBACK_FIELD_NAME` and a TOML key
`field_name`. librdkafka properties pass through untouched: `--kafka key=value`, env
`KAFKA_SASL_PASSWORD` (-> `sasl.password`) or a `[kafka]` table. Secrets never print.
"""

from __future__ import annotations

import re
import socket
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Final

from cashback.domain.events import MAX_EVENT_BYTES

EXACTLY_ONCE: Final = "exactly_once"
AT_LEAST_ONCE: Final = "at_least_once"
GUARANTEES: Final = (EXACTLY_ONCE, AT_LEAST_ONCE)
LOG_LEVELS: Final = ("debug", "info", "warning", "error")
ENV_PREFIX: Final = "CASHBACK_"
KAFKA_ENV_PREFIX: Final = "KAFKA_"
MASK: Final = "***"
DEFAULT_GROUP_ID: Final = "cashback-accrual"

# Properties the worker owns: each has its own setting, or the delivery mode depends on it.
RESERVED_KAFKA: Final = {
    "bootstrap.servers": "use --bootstrap-servers",
    "group.id": "use --group-id",
    "transactional.id": "use --transactional-id",
    "enable.auto.commit": "offsets are committed by the worker",
    "enable.auto.offset.store": "offsets are committed by the worker",
    "isolation.level": "the worker always reads committed records",
    "enable.idempotence": "the producer is always idempotent",
}
# KAFKA_* variables that belong to Kafka's own scripts and JVM, not to librdkafka.
_NOT_CLIENT_ENV: Final = frozenset(
    {"HOME", "OPTS", "HEAP_OPTS", "JVM_PERFORMANCE_OPTS", "LOG4J_OPTS", "JMX_OPTS", "DEBUG"}
)
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
    batch_size: int = 500
    commit_interval_ms: int = 100
    max_event_bytes: int = MAX_EVENT_BYTES
    log_level: str = "info"
    liveness_seconds: float = 30.0
    transactional_id: str = ""  # "" means derived: cashback-<group>-<hostname>
    kafka: tuple[tuple[str, str], ...] = field(default=())

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
    if s.processing_guarantee not in GUARANTEES:
        problems.append(f"processing_guarantee must be one of {', '.join(GUARANTEES)}")
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
    for key, _ in s.kafka:
        if key in RESERVED_KAFKA:
            problems.append(f"kafka property {key} cannot be set: {RESERVED_KAFKA[key]}")
    return problems


# --------------------------------------------------------------------------- sources

_LISTS: Final = frozenset({"input_topics", "rules"})
_INTS: Final = frozenset({"metrics_port", "batch_size", "commit_interval_ms", "max_event_bytes"})
_FLOATS: Final = frozenset({"liveness_seconds"})
FIELD_NAMES: Final = tuple(f.name for f in fields(Settings) if f.name != "kafka")


def resolve_settings(
    flags: Mapping[str, Any],
    env: Mapping[str, str],
    *,
    config_file: Path | None = None,
    hostname: str | None = None,
) -> Settings:
    """Merge the sources, highest first: flags, env, the TOML file, then the defaults.

    `flags` maps field names to values given on the command line (None = not given) and
    `kafka` to a list of "key=value" strings. The file comes from `config_file`, else
    `$CASHBACK_CONFIG`.
    """
    path = config_file or (
        Path(env[ENV_PREFIX + "CONFIG"]) if env.get(ENV_PREFIX + "CONFIG") else None
    )
    layers = [_from_file(path) if path else ({}, {}), _from_env(env), _from_flags(flags)]
    values: dict[str, Any] = {}
    kafka: dict[str, str] = {}
    for plain, props in layers:
        values.update(plain)
        kafka.update(props)
    values["kafka"] = tuple(sorted(kafka.items()))
    if not values.get("transactional_id") and hostname is not None:
        group = values.get("group_id") or DEFAULT_GROUP_ID
        values["transactional_id"] = default_transactional_id(group, hostname)
    return Settings(**values)


def default_transactional_id(group_id: str, hostname: str) -> str:
    """Stable across restarts of one instance (a StatefulSet pod name, a VM's hostname) and
    distinct between instances: a restart then aborts what its predecessor left open."""
    return f"cashback-{group_id}-{hostname}"


def parse_kafka_pairs(pairs: list[str] | tuple[str, ...]) -> dict[str, str]:
    found: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise SettingsError(f"--kafka expects key=value, got {pair.split('=')[0]!r}...")
        found[key.strip()] = value
    return found


def _from_flags(flags: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    plain = {
        name: _coerce(name, value, "flag")
        for name, value in flags.items()
        if name in FIELD_NAMES and value is not None
    }
    return plain, parse_kafka_pairs(flags.get("kafka") or [])


def _from_env(env: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    plain: dict[str, Any] = {}
    for name in FIELD_NAMES:
        raw = env.get(ENV_PREFIX + name.upper())
        if raw is not None and raw != "":
            plain[name] = _coerce(name, raw, ENV_PREFIX + name.upper())
    kafka_bootstrap = env.get(KAFKA_ENV_PREFIX + "BOOTSTRAP_SERVERS")
    if kafka_bootstrap and "bootstrap_servers" not in plain:
        plain["bootstrap_servers"] = kafka_bootstrap
    kafka: dict[str, str] = {}
    for var, value in env.items():
        if not var.startswith(KAFKA_ENV_PREFIX):
            continue
        suffix = var[len(KAFKA_ENV_PREFIX) :]
        if suffix in _NOT_CLIENT_ENV or suffix == "BOOTSTRAP_SERVERS" or not suffix:
            continue
        kafka[suffix.lower().replace("_", ".")] = value
    return plain, kafka


def _from_file(path: Path) -> tuple[dict[str, Any], dict[str, str]]:
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SettingsError(f"cannot read config file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"config file {path} is not valid TOML: {exc}") from None
    plain: dict[str, Any] = {}
    kafka: dict[str, str] = {}
    for raw_key, value in document.items():
        key = raw_key.replace("-", "_")
        if key == "kafka" and isinstance(value, dict):
            kafka = {str(k): _kafka_text(v) for k, v in value.items()}
        elif key in FIELD_NAMES:
            plain[key] = _coerce(key, value, f"{path}: {raw_key}")
        else:
            raise SettingsError(f"config file {path}: unknown setting {raw_key!r}")
    return plain, kafka


def _kafka_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _coerce(name: str, value: Any, source: str) -> Any:
    """Text from env/flags, or TOML values, to the field's type; errors name the source."""
    try:
        if name in _LISTS:
            items = value.split(",") if isinstance(value, str) else list(value)
            cleaned = [str(item).strip() for item in items if str(item).strip()]
            return tuple(Path(p) for p in cleaned) if name == "rules" else tuple(cleaned)
        if name in _INTS:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError(value)
            return int(value)
        if name in _FLOATS:
            return float(value)
        if not isinstance(value, str):
            raise ValueError(value)
        return value.strip().lower() if name in ("log_level", "processing_guarantee") else value
    except (TypeError, ValueError):
        raise SettingsError(f"{source}: {name} has an invalid value") from None
