"""Where settings come from: flags > `CASHBACK_*` env > a TOML file > the defaults.

Every field has a flag `--field-name`, an env var `CASHBACK_FIELD_NAME` and a TOML key
`field_name`. librdkafka properties: `--kafka key=value`, env `KAFKA_SASL_PASSWORD`
(-> `sasl.password`), a librdkafka properties file (`--kafka-config FILE`, env
`CASHBACK_KAFKA_CONFIG`), or a `[kafka]` table in the TOML file. The properties file sits
between the TOML file and the environment: `--kafka` > `KAFKA_*` > `--kafka-config` > TOML.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any, Final

from cashback.runtime.settings import (
    DEFAULT_GROUP_ID,
    Settings,
    SettingsError,
    default_transactional_id,
)

ENV_PREFIX: Final = "CASHBACK_"
KAFKA_ENV_PREFIX: Final = "KAFKA_"
# KAFKA_* variables that belong to Kafka's own scripts and JVM, not to librdkafka.
_NOT_CLIENT_ENV: Final = frozenset(
    {"HOME", "OPTS", "HEAP_OPTS", "JVM_PERFORMANCE_OPTS", "LOG4J_OPTS", "JMX_OPTS", "DEBUG"}
)
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
    `$CASHBACK_CONFIG`; the properties file from `flags["kafka_config"]`, else
    `$CASHBACK_KAFKA_CONFIG`.
    """
    path = config_file or (
        Path(env[ENV_PREFIX + "CONFIG"]) if env.get(ENV_PREFIX + "CONFIG") else None
    )
    properties = flags.get("kafka_config") or env.get(ENV_PREFIX + "KAFKA_CONFIG") or None
    layers = [
        _from_file(path) if path else ({}, {}),
        _from_properties(Path(properties)) if properties else ({}, {}),
        _from_env(env),
        _from_flags(flags),
    ]
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


def _from_properties(path: Path) -> tuple[dict[str, Any], dict[str, str]]:
    """A librdkafka properties file (`key=value` lines, `#` comments), as the local
    broker writes `.kafka/worker.properties`; its `bootstrap.servers` is the setting's."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SettingsError(f"cannot read kafka properties file {path}: {exc.strerror}") from None
    kafka: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith(("#", "!")):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            # The line is not quoted back: it may hold a password.
            raise SettingsError(f"kafka properties file {path}: line {number} is not key=value")
        kafka[key.strip()] = value.strip()
    servers = kafka.pop("bootstrap.servers", "")
    return ({"bootstrap_servers": servers} if servers else {}), kafka


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
        return (
            value.strip().lower()
            if name in ("log_level", "processing_guarantee", "engine", "runtime")
            else value
        )
    except (TypeError, ValueError):
        raise SettingsError(f"{source}: {name} has an invalid value") from None
