"""`cashback acls`: the least-privilege ACLs of one worker principal, as `kafka-acls.sh`
commands an operator runs with admin credentials.

Exactly what `cashback run` needs and nothing more (tests/security applies what this
prints on a SASL_SSL broker and runs the exactly-once scenario with it):

- Read on the input topics and the rules topic (Read implies Describe: metadata, offsets);
- Read on the consumer group (join, heartbeat, offsets; Describe is implied);
- Describe on the rules reader's group id: it reads with assign() and never joins or
  commits, but librdkafka looks its coordinator up (FindCoordinator needs Describe);
- Write on the accruals, notifications and dead-letter topics;
- exactly once: Write on the transactional ids starting with the prefix (Write implies
  Describe, and grants the producer id too: no IdempotentWrite needed, KAFKA-5259).
  At least once: nothing more (since Kafka 3.0 Write on a topic covers idempotence).
"""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from cashback.cli.run import CONNECTION_FIELDS, TOPIC_FIELDS, add_settings_arguments, settings_from
from cashback.runtime.settings import Settings, SettingsError

TOOL: Final = "kafka-acls.sh"
TOPIC: Final = "topic"
GROUP: Final = "group"
TRANSACTIONAL_ID: Final = "transactional-id"


@dataclass(frozen=True, slots=True)
class Grant:
    """One `kafka-acls.sh --add` command: these operations on these resources of one type."""

    resource_type: str  # TOPIC, GROUP or TRANSACTIONAL_ID
    names: tuple[str, ...]
    operations: tuple[str, ...]
    prefixed: bool = False
    why: str = ""


def rules_reader_group(group_id: str) -> str:
    """The group id of the rules topic reader (clients.rules_consumer_config)."""
    return f"{group_id}.rules-reader"


def default_prefix(group_id: str) -> str:
    """The transactional ids `cashback run` derives (cashback-<group>-<hostname>)."""
    return f"cashback-{group_id}-"


def required_grants(settings: Settings, transactional_id_prefix: str | None) -> list[Grant]:
    grants = [
        Grant(
            TOPIC,
            (*settings.input_topics, *([settings.rules_topic] if settings.rules_topic else [])),
            ("Read",),
            why="consume the inputs and the rule sets",
        ),
        Grant(GROUP, (settings.group_id,), ("Read",), why="the worker's consumer group"),
        *(
            [
                Grant(
                    GROUP,
                    (rules_reader_group(settings.group_id),),
                    ("Describe",),
                    why="the rules reader's group id: looked up, never joined nor committed",
                )
            ]
            if settings.rules_topic
            else []
        ),
        Grant(
            TOPIC,
            (settings.accruals_topic, settings.notifications_topic, settings.dlq_topic),
            ("Write",),
            why="write accruals, notifications and dead letters",
        ),
    ]
    if settings.exactly_once:
        prefix = transactional_id_prefix or default_prefix(settings.group_id)
        grants.append(
            Grant(
                TRANSACTIONAL_ID,
                (prefix,),
                ("Write",),
                prefixed=True,
                why="exactly once: the instances' transactional ids",
            )
        )
    return grants


def command_for(grant: Grant, principal: str, bootstrap: str, command_config: str) -> list[str]:
    words = [
        TOOL,
        "--bootstrap-server",
        bootstrap,
        "--command-config",
        command_config,
        "--add",
        "--allow-principal",
        principal,
    ]
    for operation in grant.operations:
        words += ["--operation", operation]
    for name in grant.names:
        words += [f"--{grant.resource_type}", name]
    if grant.prefixed:
        words += ["--resource-pattern-type", "prefixed"]
    return words


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "acls",
        help="print the least-privilege ACLs of a worker principal as kafka-acls.sh commands",
        description="Print, as kafka-acls.sh commands, exactly the ACLs `cashback run` needs "
        "with the same topic, group and guarantee settings (flags, CASHBACK_* env, --config).",
    )
    parser.add_argument("--principal", required=True, help="e.g. User:cashback")
    parser.add_argument(
        "--transactional-id-prefix",
        help="prefix of the instances' transactional ids [cashback-<group-id>-]",
    )
    parser.add_argument(
        "--command-config",
        default="admin.properties",
        help="admin client properties passed to kafka-acls.sh [%(default)s]",
    )
    add_settings_arguments(
        parser, (*CONNECTION_FIELDS, *TOPIC_FIELDS, "group_id", "processing_guarantee")
    )
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    principal: str = args.principal
    kind, sep, name = principal.partition(":")
    if not sep or not kind or not name:
        print("error: --principal must look like User:NAME", flush=True)
        return 2
    try:
        settings = settings_from(args)
    except SettingsError as exc:
        print(f"error: {exc}")
        return 2
    print(f"# least-privilege ACLs for {principal} (cashback run, {settings.processing_guarantee})")
    for grant in required_grants(settings, args.transactional_id_prefix):
        words = command_for(grant, principal, settings.bootstrap_servers, args.command_config)
        print(f"# {grant.why}")
        print(shlex.join(words))
    return 0


def parse_commands(text: str) -> list[Sequence[str]]:
    """The argument lists of the commands `handle` printed (comments skipped), tool first."""
    return [shlex.split(line) for line in text.splitlines() if line.startswith(TOOL)]
