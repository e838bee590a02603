"""The worker's settings as a faust app's settings, and what faust cannot honour.

The confluent runtime passes librdkafka properties through untouched; faust runs on
aiokafka, which knows a different set. The properties with an aiokafka meaning are
translated (times in ms become faust's seconds); any other is refused at start, by
name, rather than silently ignored.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable
from typing import Any, Final

from cashback.runtime.settings import Settings, default_transactional_id

# Pinned names: generated ones would change when a module moves, and the app id is the
# consumer group and the prefix of every transactional id.
AGENT_NAME: Final = "cashback.price_events"


class FaustSettingsError(ValueError):
    """A setting the faust runtime cannot honour; the message names it."""


def _seconds(value: str) -> float:
    return int(value) / 1000


def _acks(value: str) -> int:
    return -1 if value in ("all", "-1") else int(value)


# librdkafka property -> (faust setting, conversion).
_TRANSLATED: Final[dict[str, tuple[str, Callable[[str], Any]]]] = {
    "client.id": ("broker_client_id", str),
    "session.timeout.ms": ("broker_session_timeout", _seconds),
    "heartbeat.interval.ms": ("broker_heartbeat_interval", _seconds),
    "max.poll.interval.ms": ("broker_max_poll_interval", _seconds),
    "request.timeout.ms": ("broker_request_timeout", _seconds),
    "rebalance.timeout.ms": ("broker_rebalance_timeout", _seconds),
    "linger.ms": ("producer_linger", _seconds),
    "compression.type": ("producer_compression_type", str),
    "acks": ("producer_acks", _acks),
    "message.max.bytes": ("producer_max_request_size", int),
    "fetch.max.bytes": ("consumer_max_fetch_size", int),
    "auto.offset.reset": ("consumer_auto_offset_reset", str),
    "group.instance.id": ("consumer_group_instance_id", str),
}
# Read together into faust's broker_credentials.
_CREDENTIALS: Final = frozenset(
    {"security.protocol", "sasl.mechanism", "sasl.mechanisms", "sasl.username",
     "sasl.password", "ssl.ca.location"}
)  # fmt: skip
SUPPORTED_KAFKA: Final = tuple(sorted({*_TRANSLATED, *_CREDENTIALS}))


def refusals(settings: Settings, hostname: str | None = None) -> list[str]:
    """Every setting the faust runtime cannot honour, each with what to do instead."""
    problems: list[str] = []
    derived = default_transactional_id(settings.group_id, hostname or socket.gethostname())
    if settings.exactly_once and settings.transactional_id != derived:
        problems.append(
            "transactional_id cannot be set with --runtime faust: faust makes one "
            f"transactional producer per input partition, named {settings.group_id}-<n>-"
            "<partition> after the group id"
        )
    for key, _ in settings.kafka:
        if key not in _TRANSLATED and key not in _CREDENTIALS:
            problems.append(
                f"kafka property {key} is librdkafka-only; the faust runtime (aiokafka) "
                f"cannot honour it (it understands: {', '.join(SUPPORTED_KAFKA)})"
            )
    protocol = dict(settings.kafka).get("security.protocol", "PLAINTEXT").upper()
    if protocol not in ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"):
        problems.append(f"security.protocol {protocol} is not known")
    return problems


def app_settings(settings: Settings, datadir: str) -> dict[str, Any]:
    """Keyword arguments for `faust.App(...)` (after `refusals` found nothing)."""
    kafka = dict(settings.kafka)
    options: dict[str, Any] = {
        "id": settings.group_id,
        "broker": [f"kafka://{host.strip()}" for host in settings.bootstrap_servers.split(",")],
        "processing_guarantee": settings.processing_guarantee,
        # Offsets are committed (in exactly-once: each partition's transaction) this often.
        "broker_commit_interval": settings.commit_interval_ms / 1000,
        "broker_client_id": "cashback-accrual",
        "consumer_auto_offset_reset": "earliest",
        # The worker owns its topics (`cashback topics create`); faust creates none.
        "topic_allow_declare": False,
        "topic_disable_leader": True,
        "web_enabled": False,
        "store": "memory://",
        "datadir": datadir,
        "autodiscover": False,
        "key_serializer": "raw",
        "value_serializer": "raw",
    }
    for key, value in kafka.items():
        if key in _TRANSLATED:
            name, convert = _TRANSLATED[key]
            options[name] = convert(value)
    credentials = broker_credentials(kafka)
    if credentials is not None:
        options["broker_credentials"] = credentials
    return options


def broker_credentials(kafka: dict[str, str]) -> Any:
    """faust's credentials object for the librdkafka security properties, or None."""
    protocol = kafka.get("security.protocol", "PLAINTEXT").upper()
    if protocol == "PLAINTEXT":
        return None
    import faust  # noqa: PLC0415 - only here: the rest of this module is plain data

    context = None
    if protocol.endswith("SSL"):
        context = ssl.create_default_context(cafile=kafka.get("ssl.ca.location"))
    if protocol == "SSL":
        return faust.SSLCredentials(context)
    return faust.SASLCredentials(
        username=kafka.get("sasl.username"),
        password=kafka.get("sasl.password"),
        ssl_context=context,
        mechanism=kafka.get("sasl.mechanism") or kafka.get("sasl.mechanisms") or "PLAIN",
    )
