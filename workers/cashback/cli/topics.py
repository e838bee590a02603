"""`cashback topics create`: the worker's topics, created if missing (safe to repeat)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from confluent_kafka import KafkaException

from cashback.cli.run import CONNECTION_FIELDS, TOPIC_FIELDS, add_settings_arguments, settings_from
from cashback.runtime.clients import admin_config
from cashback.runtime.settings import SettingsError
from cashback.runtime.topics import TopicError, create_topics, default_topic_specs


def register(commands: Any) -> None:
    topics = commands.add_parser("topics", help="manage the worker's Kafka topics")
    actions = topics.add_subparsers(dest="topics_command", required=True, metavar="COMMAND")
    create = actions.add_parser(
        "create",
        help="create the input, output, dead-letter and (compacted) rules topics",
        description="Creates the topics that do not exist yet; existing ones are left as "
        "they are. The rules topic is compacted with one partition.",
    )
    add_settings_arguments(create, (*CONNECTION_FIELDS, *TOPIC_FIELDS))
    create.add_argument("--partitions", type=int, default=6, help="partitions per topic [6]")
    create.add_argument(
        "--replication-factor",
        type=int,
        default=-1,
        help="replicas per partition; -1 is the broker default [-1]",
    )
    create.set_defaults(handler=handle_create)


def handle_create(args: argparse.Namespace) -> int:
    try:
        settings = settings_from(args)
        if not settings.rules_topic:
            raise SettingsError("topics create needs a rules topic name")
        specs = default_topic_specs(
            settings.input_topics,
            accruals=settings.accruals_topic,
            notifications=settings.notifications_topic,
            dlq=settings.dlq_topic,
            rules=settings.rules_topic,
            partitions=args.partitions,
            replication=args.replication_factor,
        )
    except (SettingsError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        created = set(create_topics(admin_config(settings), specs))
    except (TopicError, KafkaException) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for spec in specs:
        state = "created" if spec.name in created else "exists"
        extra = " (compacted)" if spec.config.get("cleanup.policy") == "compact" else ""
        print(f"{state:8} {spec.name}: {spec.partitions} partition(s){extra}")
    return 0
