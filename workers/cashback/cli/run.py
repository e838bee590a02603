"""`cashback run`: the stream worker. Every flag also reads from CASHBACK_* and --config."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cashback.domain.native_engine import ENGINE_MODES
from cashback.runtime.settings import (
    FAUST,
    GUARANTEES,
    LOG_LEVELS,
    RUNTIMES,
    Settings,
    SettingsError,
)
from cashback.runtime.settings_sources import resolve_settings

# Flag help, by settings field; defaults come from Settings so they are stated once.
_HELP: dict[str, tuple[str, dict[str, Any]]] = {
    "bootstrap_servers": ("Kafka bootstrap servers (also KAFKA_BOOTSTRAP_SERVERS)", {}),
    "input_topics": ("comma-separated purchase/refund topics", {}),
    "accruals_topic": ("accrual/v1 output topic", {}),
    "notifications_topic": ("notification/v1 output topic", {}),
    "dlq_topic": ("dead-letter topic", {}),
    "rules_topic": ("compacted rule set topic; empty string for --rules files only", {}),
    "rules": ("rule set file or folder; repeatable", {"action": "append", "metavar": "PATH"}),
    "group_id": ("consumer group of the worker instances", {}),
    "processing_guarantee": ("delivery guarantee", {"choices": GUARANTEES}),
    "metrics_host": ("address for /metrics, /healthz, /readyz", {}),
    "metrics_port": ("port for /metrics, /healthz, /readyz (0 picks one)", {"type": int}),
    "batch_size": ("records per batch (one transaction each)", {"type": int}),
    "commit_interval_ms": ("longest wait for a record when none is fetched", {"type": int}),
    "max_event_bytes": ("larger inputs are dead-lettered as too_large", {"type": int}),
    "log_level": ("log level", {"choices": LOG_LEVELS}),
    "engine": ("pricing engine: native when built (auto), or force one", {"choices": ENGINE_MODES}),
    "liveness_seconds": ("/healthz fails after this long without a loop turn", {"type": float}),
    "runtime": (
        "the Kafka client around the batch step (faust: the `faust` extra)",
        {"choices": RUNTIMES},
    ),
    "transactional_id": (
        "unique, stable id of this instance (default cashback-<group>-<hostname>)",
        {},
    ),
}
CONNECTION_FIELDS = ("bootstrap_servers",)
TOPIC_FIELDS = ("input_topics", "accruals_topic", "notifications_topic", "dlq_topic", "rules_topic")


def add_settings_arguments(parser: argparse.ArgumentParser, names: Iterable[str]) -> None:
    """The flags for these settings fields, plus --config and --kafka; all default to unset."""
    defaults = Settings()
    for name in names:
        text, options = _HELP[name]
        default = getattr(defaults, name)
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        parser.add_argument(
            "--" + name.replace("_", "-"),
            dest=name,
            default=None,
            help=f"{text} [{shown}]" if shown not in ("", None) else text,
            **options,
        )
    parser.add_argument("--config", type=Path, help="TOML file with the same settings")
    parser.add_argument(
        "--kafka-config",
        type=Path,
        metavar="FILE",
        help="librdkafka properties file (key=value lines; also CASHBACK_KAFKA_CONFIG); "
        "--kafka and KAFKA_* override it",
    )
    parser.add_argument(
        "--kafka",
        action="append",
        metavar="KEY=VALUE",
        help="any librdkafka property, repeatable (also KAFKA_* env, e.g. KAFKA_SASL_PASSWORD)",
    )


def settings_from(args: argparse.Namespace) -> Settings:
    return resolve_settings(vars(args), os.environ, config_file=args.config)


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "run",
        help="run the stream worker",
        description="Price purchases and refunds from Kafka, exactly once by default. "
        "Precedence: flags > CASHBACK_* env > --config file > defaults.",
    )
    add_settings_arguments(parser, _HELP)
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    try:
        settings = settings_from(args)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    # Each runtime is imported only when chosen: the default one never loads faust.
    if settings.runtime == FAUST:
        from cashback.runtime.faust_runtime.runner import run as run_faust  # noqa: PLC0415

        return run_faust(settings)
    from cashback.runtime.bootstrap import run  # noqa: PLC0415

    return run(settings)
