"""Idempotent creation of the worker's Kafka topics.

`create_topics` creates what is missing and leaves existing topics alone (their partition
count and config are not changed), returning the names it actually created, so running it
twice is safe. `default_topic_specs` describes the worker's standard topic set.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from cashback.runtime.rules_feed import MAX_DOCUMENT_BYTES

__all__ = ["TopicError", "TopicSpec", "create_topics", "default_topic_specs"]

COMPACTED: Mapping[str, str] = {"cleanup.policy": "compact"}
# Rule documents up to the workers' limit even when a publisher does not compress them.
RULES_MAX_MESSAGE_BYTES: str = str(MAX_DOCUMENT_BYTES + 64 * 1024)


class TopicError(RuntimeError):
    """A topic could not be created, or did not show up in the metadata in time."""


@dataclass(frozen=True)
class TopicSpec:
    """One topic to create. ``replication_factor=-1`` means the broker's default."""

    name: str
    partitions: int
    replication_factor: int = -1
    config: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.name or self.name.strip() != self.name:
            raise ValueError(f"invalid topic name {self.name!r}")
        if self.partitions < 1:
            raise ValueError(f"topic {self.name}: partitions must be >= 1, got {self.partitions}")
        if self.replication_factor == 0 or self.replication_factor < -1:
            raise ValueError(
                f"topic {self.name}: replication_factor must be -1 (broker default) or >= 1, "
                f"got {self.replication_factor}"
            )


def default_topic_specs(
    input_topics: Sequence[str],
    *,
    accruals: str,
    notifications: str,
    dlq: str,
    rules: str,
    partitions: int,
    replication: int = -1,
) -> list[TopicSpec]:
    """The worker's topics: inputs, accruals, notifications and DLQ with ``partitions`` each,
    and the rules topic, compacted (``cleanup.policy=compact``) with a single partition so
    every rule-set version is read back in the order it was published, taking records up
    to the workers' rule document limit."""
    names = [*input_topics, accruals, notifications, dlq, rules]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"the same topic is named for two roles: {', '.join(duplicates)}")
    specs = [TopicSpec(name, partitions, replication) for name in names[:-1]]
    rules_config = {**COMPACTED, "max.message.bytes": RULES_MAX_MESSAGE_BYTES}
    specs.append(TopicSpec(rules, 1, replication, rules_config))
    return specs


def create_topics(
    conf: Mapping[str, str], specs: Sequence[TopicSpec], *, timeout: float = 30.0
) -> list[str]:
    """Create the topics in ``specs`` that do not exist yet; return the names created.

    ``conf`` is a librdkafka client config (at least ``bootstrap.servers``). Topics that
    already exist are skipped. Waits until every created topic is in the cluster metadata
    with a leader for each partition; raises `TopicError` on any other failure or timeout.
    """
    if not specs:
        return []
    names = [spec.name for spec in specs]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate topic names in {names}")
    admin = AdminClient(dict(conf))
    futures = admin.create_topics(
        [
            NewTopic(
                spec.name,
                num_partitions=spec.partitions,
                replication_factor=spec.replication_factor,
                config=dict(spec.config),
            )
            for spec in specs
        ],
        operation_timeout=timeout,
        request_timeout=timeout,
    )
    created: set[str] = set()
    failures: list[str] = []
    for name, future in futures.items():
        try:
            future.result()
        except KafkaException as exc:
            error = exc.args[0]
            if isinstance(error, KafkaError) and error.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                continue
            failures.append(f"{name}: {error}")
        else:
            created.add(name)
    if failures:
        raise TopicError("could not create topics: " + "; ".join(sorted(failures)))
    expected = {spec.name: spec.partitions for spec in specs if spec.name in created}
    _wait_until_visible(admin, expected, timeout)
    return [name for name in names if name in created]


def _wait_until_visible(admin: AdminClient, expected: Mapping[str, int], timeout: float) -> None:
    """Poll the metadata until each topic has its partitions, all with a leader."""
    deadline = time.monotonic() + timeout
    missing = sorted(expected)
    while missing:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TopicError(
                f"created topics not visible in the metadata after {timeout:.0f}s: "
                + ", ".join(missing)
            )
        try:
            metadata = admin.list_topics(timeout=min(remaining, 5.0))
        except KafkaException:
            continue
        ready = set()
        for name in missing:
            topic = metadata.topics.get(name)
            if topic is None or topic.error is not None:
                continue
            partitions = topic.partitions.values()
            if len(partitions) == expected[name] and all(p.leader >= 0 for p in partitions):
                ready.add(name)
        missing = [name for name in missing if name not in ready]
        if missing:
            time.sleep(0.05)
