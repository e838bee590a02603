"""`--kafka-config FILE`: a librdkafka properties file, below `KAFKA_*` and `--kafka`,
above the TOML `[kafka]` table; its bootstrap.servers is the setting's; secrets masked."""

from __future__ import annotations

from pathlib import Path

import pytest

from cashback.cli.main import build_parser
from cashback.runtime.settings import MASK, SettingsError
from cashback.runtime.settings_sources import resolve_settings

PROPERTIES = """# written by local_kafka up --security sasl_ssl
bootstrap.servers=127.0.0.1:9093
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.username=cashback
sasl.password=s3cr3t-from-file
ssl.ca.location=/tmp/ca.pem

linger.ms = 5
"""


def test_the_file_sits_between_the_toml_table_and_the_environment(tmp_path: Path) -> None:
    props = tmp_path / "worker.properties"
    props.write_text(PROPERTIES)
    toml = tmp_path / "worker.toml"
    toml.write_text('[kafka]\n"linger.ms" = "50"\n"client.rack" = "r1"\n')
    env = {"KAFKA_SASL_USERNAME": "from-env"}
    flags = {"kafka_config": props, "kafka": ["ssl.ca.location=/etc/ca.pem"]}
    settings = resolve_settings(flags, env, config_file=toml, hostname="h")
    kafka = settings.kafka_config()
    assert settings.bootstrap_servers == "127.0.0.1:9093"
    assert kafka["security.protocol"] == "SASL_SSL"
    assert kafka["linger.ms"] == "5"  # the file over the TOML table
    assert kafka["client.rack"] == "r1"
    assert kafka["sasl.username"] == "from-env"  # KAFKA_* over the file
    assert kafka["ssl.ca.location"] == "/etc/ca.pem"  # --kafka over everything
    assert kafka["sasl.password"] == "s3cr3t-from-file"
    assert settings.describe()["kafka"]["sasl.password"] == MASK
    assert "s3cr3t" not in repr(settings)


def test_flags_and_env_bootstrap_win_over_the_file(tmp_path: Path) -> None:
    props = tmp_path / "worker.properties"
    props.write_text(PROPERTIES)
    env = {"CASHBACK_KAFKA_CONFIG": str(props), "KAFKA_BOOTSTRAP_SERVERS": "env:9092"}
    assert resolve_settings({}, env, hostname="h").bootstrap_servers == "env:9092"
    flags = {"kafka_config": props, "bootstrap_servers": "flag:9092"}
    assert resolve_settings(flags, {}, hostname="h").bootstrap_servers == "flag:9092"


def test_a_bad_line_is_named_by_number_never_quoted(tmp_path: Path) -> None:
    props = tmp_path / "worker.properties"
    props.write_text("security.protocol=SASL_SSL\nhunter2-password-without-a-key\n")
    with pytest.raises(SettingsError) as caught:
        resolve_settings({"kafka_config": props}, {}, hostname="h")
    assert "line 2" in str(caught.value)
    assert "hunter2" not in str(caught.value)
    with pytest.raises(SettingsError, match="cannot read"):
        resolve_settings({"kafka_config": tmp_path / "missing"}, {}, hostname="h")


def test_every_kafka_command_takes_the_flag(tmp_path: Path) -> None:
    parser = build_parser()
    for argv in (
        ["run"],
        ["topics", "create"],
        ["rules", "publish", "x.yaml"],
        ["acls", "--principal", "User:x"],
    ):
        args = parser.parse_args([*argv, "--kafka-config", str(tmp_path / "p")])
        assert args.kafka_config == tmp_path / "p"
