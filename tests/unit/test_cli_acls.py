"""`cashback acls`: exactly the worker's grants, as kafka-acls.sh commands, from the same
settings the worker reads (tests/security applies them on a real SASL_SSL broker)."""

from __future__ import annotations

import shlex

import pytest

from cashback.cli.acls import parse_commands
from cashback.cli.main import main


def printed(capsys: pytest.CaptureFixture[str], *argv: str) -> list[list[str]]:
    assert main(["acls", *argv]) == 0
    return [list(c) for c in parse_commands(capsys.readouterr().out)]


def test_exactly_once_grants(capsys: pytest.CaptureFixture[str]) -> None:
    commands = printed(
        capsys, "--principal", "User:cashback", "--bootstrap-servers", "b:9096",
        "--input-topics", "pos.purchases,web.purchases", "--group-id", "cb",
        "--transactional-id-prefix", "cashback-",
    )  # fmt: skip
    tails = [shlex.join(c[c.index("--allow-principal") :]) for c in commands]
    assert tails == [
        "--allow-principal User:cashback --operation Read --topic pos.purchases "
        "--topic web.purchases --topic cashback.rules",
        "--allow-principal User:cashback --operation Read --group cb",
        "--allow-principal User:cashback --operation Describe --group cb.rules-reader",
        "--allow-principal User:cashback --operation Write --topic cashback.accruals "
        "--topic cashback.notifications --topic cashback.dlq",
        "--allow-principal User:cashback --operation Write --transactional-id cashback- "
        "--resource-pattern-type prefixed",
    ]
    assert all(c[:3] == ["kafka-acls.sh", "--bootstrap-server", "b:9096"] for c in commands)
    assert all("--add" in c and "--command-config" in c for c in commands)


def test_at_least_once_and_no_rules_topic_need_less(capsys: pytest.CaptureFixture[str]) -> None:
    commands = printed(
        capsys, "--principal", "User:x", "--processing-guarantee", "at_least_once",
        "--rules-topic", "",
    )  # fmt: skip
    text = "\n".join(shlex.join(c) for c in commands)
    assert "--transactional-id" not in text
    assert "rules" not in text
    assert "--group cashback-accrual" in text


def test_the_default_prefix_is_what_the_worker_derives(capsys: pytest.CaptureFixture[str]) -> None:
    commands = printed(capsys, "--principal", "User:x", "--group-id", "g1")
    assert "cashback-g1-" in commands[-1]  # transactional.id = cashback-<group>-<hostname>


def test_a_malformed_principal_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["acls", "--principal", "cashback"]) == 2
    assert "User:NAME" in capsys.readouterr().out
