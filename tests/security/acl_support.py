"""Applying `cashback acls` output on the secured broker, and SCRAM users for the tests.

`bindings_of` reads the printed `kafka-acls.sh` commands with only the flags that tool
knows and that `cashback acls` uses (anything else fails the test): the tests apply
exactly what an operator would run, through the admin's librdkafka properties.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence

from confluent_kafka.admin import (
    AclBinding,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)

_RESOURCES = {
    "--topic": ResourceType.TOPIC,
    "--group": ResourceType.GROUP,
    "--transactional-id": ResourceType.TRANSACTIONAL_ID,
}
_OPERATIONS = {
    "Read": AclOperation.READ,
    "Write": AclOperation.WRITE,
    "Describe": AclOperation.DESCRIBE,
    "IdempotentWrite": AclOperation.IDEMPOTENT_WRITE,
}
_PATTERNS = {"literal": ResourcePatternType.LITERAL, "prefixed": ResourcePatternType.PREFIXED}


def bindings_of(command: Sequence[str]) -> list[AclBinding]:
    """One `kafka-acls.sh --add ...` command as the ACL bindings it creates."""
    assert command[0] == "kafka-acls.sh", command
    words = list(command[1:])
    principal, pattern, add = "", "literal", False
    operations: list[str] = []
    resources: list[tuple[ResourceType, str]] = []
    while words:
        flag = words.pop(0)
        if flag == "--add":
            add = True
        elif flag in ("--bootstrap-server", "--command-config"):
            words.pop(0)
        elif flag == "--allow-principal":
            principal = words.pop(0)
        elif flag == "--operation":
            operations.append(words.pop(0))
        elif flag in _RESOURCES:
            resources.append((_RESOURCES[flag], words.pop(0)))
        elif flag == "--resource-pattern-type":
            pattern = words.pop(0)
        else:
            raise AssertionError(f"kafka-acls.sh flag not understood here: {flag}")
    assert add and principal and operations and resources, command
    return [
        AclBinding(
            kind, name, _PATTERNS[pattern], principal, "*", _OPERATIONS[op], AclPermissionType.ALLOW
        )
        for kind, name in resources
        for op in operations
    ]


def apply(admin: AdminClient, bindings: Sequence[AclBinding]) -> None:
    if bindings:
        for future in admin.create_acls(list(bindings)).values():
            future.result(30)


def for_principal(bindings: Sequence[AclBinding], principal: str) -> list[AclBinding]:
    return [
        AclBinding(
            b.restype,
            b.name,
            b.resource_pattern_type,
            principal,
            b.host,
            b.operation,
            b.permission_type,
        )
        for b in bindings
    ]


def describe(binding: AclBinding) -> str:
    return f"{binding.operation.name} on {binding.restype.name} {binding.name}"


def create_user(admin: AdminClient, name: str) -> str:
    """A new SCRAM-SHA-512 user on the broker; returns its password."""
    password = secrets.token_urlsafe(24)
    upsert = UserScramCredentialUpsertion(
        name, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096), password.encode()
    )
    for future in admin.alter_user_scram_credentials([upsert]).values():
        future.result(30)
    return password


def user_properties(base: Mapping[str, str], name: str, password: str) -> dict[str, str]:
    return {**base, "sasl.username": name, "sasl.password": password}
