"""`cashback rules publish FILE...`: validate every rule set file, then publish them all."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaException

from cashback.cli.run import CONNECTION_FIELDS, add_settings_arguments, settings_from
from cashback.runtime.clients import admin_config
from cashback.runtime.publisher import PublishError, prepare, publish
from cashback.runtime.settings import SettingsError


def register(rules_commands: Any) -> None:
    parser = rules_commands.add_parser(
        "publish",
        help="publish rule set files to the rules topic",
        description="Validates every file first and publishes nothing if any is refused. "
        "Each file is sent as canonical JSON with the key <ruleset>:<version>.",
    )
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE", help="file or folder")
    add_settings_arguments(parser, (*CONNECTION_FIELDS, "rules_topic"))
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    try:
        settings = settings_from(args)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not settings.rules_topic:
        print("error: --rules-topic is empty", file=sys.stderr)
        return 2
    documents, problems = prepare(args.files)
    if problems:
        for problem in problems:
            print(f"refused: {problem}", file=sys.stderr)
        print("nothing published", file=sys.stderr)
        return 1
    if not documents:
        print("error: no rule set files found", file=sys.stderr)
        return 2
    try:
        published = publish(admin_config(settings), settings.rules_topic, documents)
    except (PublishError, KafkaException) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for item in published:
        print(
            f"published {item.document.key} from {item.document.path} to "
            f"{settings.rules_topic}[{item.partition}]@{item.offset}"
        )
    return 0
