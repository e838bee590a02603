"""Rule set versions from the compacted rules topic, read to the end at start, then live.

The feed uses its own consumer with `assign()` (no group membership, no commits): every
instance must see every version, and re-reading the compacted topic from the beginning
on each start is cheap. A document is applied only if it is JSON of at most 4 MiB with
no key given twice, parses as a rule set, its key is `<ruleset>:<version>` of its
content, and it does not change a version already known;
otherwise it is refused, logged with its key and problem (never its content) and
counted, and the versions already loaded keep serving.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import orjson
from confluent_kafka import OFFSET_BEGINNING, KafkaError, KafkaException, TopicPartition

from cashback.domain.catalog import Catalog, RuleSetConflictError
from cashback.domain.duplicates import repeats_anything
from cashback.domain.rules import RuleSet, parse_ruleset
from cashback.domain.ruleset_doc import RuleSetError
from cashback.runtime.logs import fields
from cashback.runtime.metrics import Metrics

APPLIED: Final = "applied"
DUPLICATE: Final = "duplicate"  # the same version with the same content, read again
IGNORED: Final = "ignored"  # a tombstone: published versions are never removed
REFUSED: Final = "refused"
INVALID: Final = "invalid"
CONFLICT: Final = "conflict"
KEY_MISMATCH: Final = "key_mismatch"
TOO_LARGE: Final = "too_large"
DUPLICATE_KEY: Final = "duplicate_key"
# A 10,000-rule version is ~1.4 MB of canonical JSON and compiles in ~0.5 CPU s off the
# loop (benchmarks/README.md); 4 MiB leaves room for wordier rules and bounds what one
# document can cost (~2 CPU s, ~100 MB compiled). Bigger is a mistake or an attack.
MAX_DOCUMENT_BYTES: Final = 4 * 1024 * 1024
WAIT_FOR_TOPIC_SECONDS: Final = 2.0


@dataclass(frozen=True, slots=True)
class Applied:
    catalog: Catalog
    result: str
    reason: str | None = None
    problem: str | None = None
    ruleset: RuleSet | None = None


def rule_key(ruleset: RuleSet) -> str:
    return f"{ruleset.name}:{ruleset.version}"


def apply_document(catalog: Catalog, key: bytes | None, value: bytes | None) -> Applied:
    """The catalog with this document's version added, or why it is refused."""
    if not value:
        return Applied(catalog, IGNORED)
    if len(value) > MAX_DOCUMENT_BYTES:
        problem = f"the document is {len(value)} bytes; the limit is {MAX_DOCUMENT_BYTES}"
        return Applied(catalog, REFUSED, TOO_LARGE, problem)
    # The topic carries canonical JSON (`cashback rules publish` writes it): anything else,
    # YAML included (its aliases can expand a few hundred bytes enormously), is refused.
    try:
        orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        return Applied(catalog, REFUSED, INVALID, f"not JSON: {exc.args[0]}")
    if repeats_anything(value):
        repeated = _repeated_key(value)
        if repeated is not None:
            problem = f"the key {repeated!r} is given twice in one object (ambiguous)"
            return Applied(catalog, REFUSED, DUPLICATE_KEY, problem)
    try:
        ruleset = parse_ruleset(value)
    except RuleSetError as exc:
        return Applied(catalog, REFUSED, INVALID, "; ".join(str(p) for p in exc.problems))
    expected = rule_key(ruleset)
    if key is None or key.decode("utf-8", "replace") != expected:
        problem = f"the key must be {expected!r}, the document's ruleset:version"
        return Applied(catalog, REFUSED, KEY_MISMATCH, problem, ruleset)
    try:
        updated = catalog.with_ruleset(ruleset)
    except RuleSetConflictError as exc:
        return Applied(catalog, REFUSED, CONFLICT, str(exc), ruleset)
    return Applied(updated, APPLIED if updated is not catalog else DUPLICATE, ruleset=ruleset)


def _repeated_key(value: bytes) -> str | None:
    """The first key given twice in one object of a JSON document, or None."""
    found: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: set[str] = set()
        for key, _ in items:
            if key in seen and not found:
                found.append(key)
            seen.add(key)
        return dict(items)

    json.loads(value, object_pairs_hook=pairs)
    return found[0] if found else None


class RulesFeed:
    """Reads the rules topic with `consumer` (a confluent_kafka.Consumer, not subscribed)."""

    def __init__(self, consumer: Any, topic: str, metrics: Metrics, log: logging.Logger) -> None:
        self._consumer = consumer
        self._topic = topic
        self._metrics = metrics
        metrics.expect_rule_refusals((INVALID, KEY_MISMATCH, CONFLICT))
        self._log = log

    def catch_up(
        self, catalog: Catalog, *, stop: threading.Event, beat: Callable[[], None]
    ) -> Catalog | None:
        """Read every document up to the end offsets seen now; None if stopped first."""
        ends = self._end_offsets(stop, beat)
        if ends is None:
            return None
        self._consumer.assign([TopicPartition(self._topic, p, OFFSET_BEGINNING) for p in ends])
        pending = {p for p, end in ends.items() if end > 0}
        while pending:
            if stop.is_set():
                return None
            beat()
            for message in self._consumer.consume(500, 0.5):
                error = message.error()
                if error is None:
                    catalog = self._apply(catalog, message)
                    if message.offset() + 1 >= ends[message.partition()]:
                        pending.discard(message.partition())
                elif error.code() == KafkaError._PARTITION_EOF:
                    if message.offset() >= ends[message.partition()]:
                        pending.discard(message.partition())
                else:
                    self._kafka_error(error)
        self._log.info(
            "rule sets loaded",
            extra=fields(versions=[rule_key(rs) for rs in catalog.all()], topic=self._topic),
        )
        return catalog

    def poll(self, catalog: Catalog) -> Catalog:
        """Apply whatever arrived since the last call, without waiting."""
        for message in self._consumer.consume(100, 0):
            error = message.error()
            if error is None:
                catalog = self._apply(catalog, message)
            elif error.code() != KafkaError._PARTITION_EOF:
                self._kafka_error(error)
        return catalog

    def close(self) -> None:
        self._consumer.close()

    def _end_offsets(
        self, stop: threading.Event, beat: Callable[[], None]
    ) -> dict[int, int] | None:
        """Partition -> end offset now; waits while the topic is missing or unreachable."""
        warned = False
        while not stop.is_set():
            beat()
            try:
                metadata = self._consumer.list_topics(self._topic, timeout=10)
                topic = metadata.topics.get(self._topic)
                if topic is not None and topic.error is None and topic.partitions:
                    return {
                        partition: self._consumer.get_watermark_offsets(
                            TopicPartition(self._topic, partition), timeout=10, cached=False
                        )[1]
                        for partition in sorted(topic.partitions)
                    }
                problem = "rules topic not found; waiting for it"
            except KafkaException as exc:
                problem = f"rules topic unreachable; retrying: {exc.args[0]}"
            if not warned:
                self._log.warning(problem, extra=fields(topic=self._topic))
                warned = True
            stop.wait(WAIT_FOR_TOPIC_SECONDS)
        return None

    def _apply(self, catalog: Catalog, message: Any) -> Catalog:
        applied = apply_document(catalog, message.key(), message.value())
        key = (message.key() or b"").decode("utf-8", "replace")
        self._metrics.count_rule_document(applied.result)
        if applied.result == REFUSED:
            assert applied.reason is not None
            self._metrics.count_rule_refusal(applied.reason)
            self._log.error(
                "rule document refused; the known versions keep serving",
                extra=fields(
                    key=key,
                    reason=applied.reason,
                    problem=applied.problem,
                    partition=message.partition(),
                    offset=message.offset(),
                ),
            )
        elif applied.result == APPLIED:
            # The gauges follow the versions in force (BackgroundRules' on_swap), not this.
            self._log.info("rule set version loaded", extra=fields(key=key))
        elif applied.result == IGNORED:
            self._log.warning(
                "empty rule document ignored; published versions are never removed",
                extra=fields(key=key),
            )
        return applied.catalog

    def _kafka_error(self, error: Any) -> None:
        self._metrics.count_kafka_error(error.name())
        self._log.warning("rules topic read error", extra=fields(error=str(error)))
