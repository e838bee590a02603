"""The secured local broker's pieces, without a broker: run-time secrets, where they go,
and where they never go (reprs, group- or world-readable files)."""

from __future__ import annotations

import shutil
import stat
from pathlib import Path

import pytest

from cashback.devtools.local_kafka.security import (
    ADMIN_PROPERTIES,
    CLIENT_FILES,
    SASL_PLAINTEXT,
    SASL_SSL,
    WORKER_PROPERTIES,
    format_arguments,
    prepare,
    read_properties,
    remove_files,
    server_overlay,
    write_client_files,
)
from cashback.runtime.settings_sources import resolve_settings


def test_sasl_plaintext_users_passwords_and_the_authorizer(tmp_path: Path) -> None:
    security = prepare(SASL_PLAINTEXT, tmp_path)
    assert security is not None and security.tls_dir is None
    other = prepare(SASL_PLAINTEXT, tmp_path)
    assert other is not None and other.worker.password != security.worker.password
    overlay = server_overlay(security)
    assert overlay["allow.everyone.if.no.acl.found"] == "false"
    assert overlay["super.users"] == "User:admin"
    assert overlay["listener.security.protocol.map"] == (
        "PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT"
    )
    assert (
        "INTERNAL:SASL_PLAINTEXT"
        in server_overlay(security, internal=True)["listener.security.protocol.map"]
    )
    args = format_arguments(security)
    assert args.count("--add-scram") == 2
    assert f"SCRAM-SHA-512=[name=cashback,password={security.worker.password}]" in args
    assert security.worker.password not in repr(security)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed here")
def test_sasl_ssl_files_are_private_and_feed_kafka_config(tmp_path: Path) -> None:
    security = prepare(SASL_SSL, tmp_path)
    assert security is not None and security.ca_path is not None
    assert security.ca_path.read_text().startswith("-----BEGIN CERTIFICATE-----")
    write_client_files(security, tmp_path, "127.0.0.1:9093")
    for name in CLIENT_FILES:
        mode = stat.S_IMODE((tmp_path / name).stat().st_mode)
        assert mode == 0o600, f"{name} is {oct(mode)}"
    worker = read_properties(tmp_path / WORKER_PROPERTIES)
    assert worker["security.protocol"] == "SASL_SSL"
    assert worker["sasl.username"] == "cashback"
    assert read_properties(tmp_path / ADMIN_PROPERTIES)["sasl.username"] == "admin"
    settings = resolve_settings({"kafka_config": tmp_path / WORKER_PROPERTIES}, {}, hostname="h")
    assert settings.bootstrap_servers == "127.0.0.1:9093"
    assert security.worker.password not in repr(settings)
    remove_files(tmp_path)
    assert not any((tmp_path / name).exists() for name in CLIENT_FILES)
    assert not (tmp_path / "tls").exists()
