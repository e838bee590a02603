"""Settings: flags > env > file > defaults, librdkafka pass-through, secrets masked."""

from __future__ import annotations

import dataclasses
import socket
from pathlib import Path
from typing import Any

import pytest

from cashback.runtime.settings import Settings, SettingsError
from cashback.runtime.settings_sources import resolve_settings

FILE = """
bootstrap_servers = "file:9092"
input-topics = ["f1", "f2"]
batch_size = 100
group_id = "from-file"
[kafka]
"security.protocol" = "SASL_SSL"
"sasl.password" = "file-secret"
"enable.ssl.certificate.verification" = false
"""


def resolve(
    flags: dict[str, Any] | None = None, env: dict[str, str] | None = None, **kw: Any
) -> Settings:
    return resolve_settings(flags or {}, env or {}, hostname="host-1", **kw)


def test_defaults_and_the_derived_transactional_id() -> None:
    settings = resolve()
    assert settings.input_topics == ("purchases",)
    assert settings.processing_guarantee == "exactly_once"
    assert settings.metrics_port == 9400
    assert settings.transactional_id == "cashback-cashback-accrual-host-1"


def test_precedence_flags_over_env_over_file(tmp_path: Path) -> None:
    config = tmp_path / "worker.toml"
    config.write_text(FILE)
    env = {
        "CASHBACK_BATCH_SIZE": "200",
        "CASHBACK_GROUP_ID": "from-env",
        "KAFKA_SASL_PASSWORD": "env-secret",
    }
    flags = {"batch_size": 300, "kafka": ["sasl.password=flag-secret"], "group_id": None}
    settings = resolve(flags, env, config_file=config)
    assert settings.bootstrap_servers == "file:9092"
    assert settings.input_topics == ("f1", "f2")
    assert settings.group_id == "from-env"
    assert settings.batch_size == 300
    kafka = settings.kafka_config()
    assert kafka["sasl.password"] == "flag-secret"
    assert kafka["security.protocol"] == "SASL_SSL"
    assert kafka["enable.ssl.certificate.verification"] == "false"
    assert settings.transactional_id == "cashback-from-env-host-1"


def test_env_lists_paths_and_the_config_file_from_env(tmp_path: Path) -> None:
    config = tmp_path / "worker.toml"
    config.write_text('dlq_topic = "dead"\n')
    env = {
        "CASHBACK_CONFIG": str(config),
        "CASHBACK_INPUT_TOPICS": "a, b,,c",
        "CASHBACK_RULES": "rules/,more.yaml",
        "CASHBACK_PROCESSING_GUARANTEE": "AT_LEAST_ONCE",
        "CASHBACK_TRANSACTIONAL_ID": "pod-7",
        "KAFKA_BOOTSTRAP_SERVERS": "kafka:9092",
        "KAFKA_HOME": "/opt/kafka",
        "KAFKA_HEAP_OPTS": "-Xmx1g",
        "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
    }
    settings = resolve(env=env)
    assert settings.dlq_topic == "dead"
    assert settings.input_topics == ("a", "b", "c")
    assert settings.rules == (Path("rules"), Path("more.yaml"))
    assert not settings.exactly_once
    assert settings.transactional_id == "pod-7"
    assert settings.bootstrap_servers == "kafka:9092"
    assert settings.kafka_config() == {"sasl.mechanism": "SCRAM-SHA-512"}


def test_secrets_are_masked_in_repr_and_describe() -> None:
    flags = {"kafka": ["sasl.password=hunter2", "ssl.key.password=k", "sasl.username=bob"]}
    settings = resolve(flags)
    shown = repr(settings) + str(settings.describe())
    assert "hunter2" not in shown
    assert "ssl.key.password': '***'" in shown
    assert "bob" in shown


@pytest.mark.parametrize(
    ("flags", "env", "message"),
    [
        ({"kafka": ["group.id=x"]}, {}, "use --group-id"),
        ({"kafka": ["enable.auto.commit=true"]}, {}, "cannot be set"),
        ({"kafka": ["no-equals-sign"]}, {}, "key=value"),
        ({"kafka": ["auto.offset.reset=oldest"]}, {}, "auto.offset.reset=oldest is not one of"),
        ({}, {"CASHBACK_BATCH_SIZE": "many"}, "CASHBACK_BATCH_SIZE"),
        ({}, {"CASHBACK_PROCESSING_GUARANTEE": "maybe"}, "processing_guarantee"),
        ({"batch_size": 0}, {}, "batch_size"),
        ({"dlq_topic": "purchases"}, {}, "two roles: purchases"),
        ({"metrics_port": 70000}, {}, "metrics_port"),
    ],
)
def test_bad_settings_are_refused_by_name(
    flags: dict[str, Any], env: dict[str, str], message: str
) -> None:
    with pytest.raises(SettingsError, match=message):
        resolve(flags, env)


def test_bad_config_files_are_refused(tmp_path: Path) -> None:
    typo = tmp_path / "typo.toml"
    typo.write_text('bootstrap_server = "x"\n')
    with pytest.raises(SettingsError, match="unknown setting 'bootstrap_server'"):
        resolve(config_file=typo)
    broken = tmp_path / "broken.toml"
    broken.write_text("= nope")
    with pytest.raises(SettingsError, match="not valid TOML"):
        resolve(config_file=broken)
    with pytest.raises(SettingsError, match="cannot read"):
        resolve(config_file=tmp_path / "missing.toml")


def test_settings_built_directly_derive_a_transactional_id() -> None:
    assert Settings(group_id="g").transactional_id == f"cashback-g-{socket.gethostname()}"
    assert Settings(transactional_id="pod-3").transactional_id == "pod-3"


def test_settings_are_frozen() -> None:
    settings = resolve()
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.batch_size = 1  # type: ignore[misc]
