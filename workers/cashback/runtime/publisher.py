"""Publishing rule set files to the rules topic: all valid, or nothing is sent.

Each file becomes one record, key `<ruleset>:<version>`, value the document as canonical
JSON (UTF-8, keys sorted, no insignificant whitespace, timestamps as RFC 3339 strings):
YAML is for authors, JSON is what readers in any language can parse. The canonical
bytes are parsed back and must compile to the very same rule set before anything is sent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import Producer

from cashback.domain.rules import parse_ruleset
from cashback.domain.ruleset_doc import Problem, RuleSetError, load_document
from cashback.rulefiles import FileProblem, catalog_from, load_rule_files
from cashback.runtime.rules_feed import MAX_DOCUMENT_BYTES

# librdkafka refuses a record over message.max.bytes (1,000,000 by default) before sending:
# the workers' document limit plus room for the key and headers. Compressed, a 10,000-rule
# document (~1.4 MB) is a small batch, so a topic left at Kafka's 1 MB default takes it.
PRODUCER_DEFAULTS: Mapping[str, Any] = {
    "message.max.bytes": MAX_DOCUMENT_BYTES + 64 * 1024,
    "compression.type": "zstd",
}


@dataclass(frozen=True, slots=True)
class Document:
    path: Path
    key: str
    value: bytes


@dataclass(frozen=True, slots=True)
class Published:
    document: Document
    partition: int
    offset: int


class PublishError(RuntimeError):
    """Some records were not acknowledged; the message names them."""


def canonical_json(data: bytes) -> bytes:
    return orjson.dumps(load_document(data), option=orjson.OPT_SORT_KEYS)


def prepare(paths: Iterable[Path]) -> tuple[list[Document], list[FileProblem]]:
    """Validate every file (and folder of files); documents only if there is no problem."""
    loaded, problems = load_rule_files(paths)
    _, conflicts = catalog_from(loaded)
    problems.extend(conflicts)
    documents: list[Document] = []
    for path, ruleset in loaded:
        value = canonical_json(path.read_bytes())
        try:
            same = parse_ruleset(value).fingerprint == ruleset.fingerprint
        except RuleSetError:
            same = False
        if not same:
            problems.append(FileProblem(path, Problem("", "does not survive conversion to JSON")))
        if len(value) > MAX_DOCUMENT_BYTES:
            too_large = f"is {len(value)} bytes as JSON; workers take {MAX_DOCUMENT_BYTES} at most"
            problems.append(FileProblem(path, Problem("", too_large)))
        documents.append(Document(path, f"{ruleset.name}:{ruleset.version}", value))
    # The same version in two files with the same content (else a conflict above): once.
    unique = list({document.key: document for document in reversed(documents)}.values())
    documents = sorted(unique, key=documents.index)
    return ([] if problems else documents), problems


def publish(config: Mapping[str, Any], topic: str, documents: list[Document]) -> list[Published]:
    """Send every document with one idempotent producer and one flush; all or an error."""
    producer = Producer({**PRODUCER_DEFAULTS, **config, "enable.idempotence": True})
    # A missing topic would only show as a delivery timeout minutes later: say it now.
    topics = producer.list_topics(topic, timeout=10).topics
    if topic not in topics or topics[topic].error is not None:
        raise PublishError(f"topic {topic} does not exist; create it with `cashback topics create`")
    published: list[Published] = []
    failed: list[str] = []
    for document in documents:

        def report(error: Any, message: Any, document: Document = document) -> None:
            if error is not None:
                failed.append(f"{document.key}: {error}")
            else:
                published.append(Published(document, message.partition(), message.offset()))

        producer.produce(topic, key=document.key.encode(), value=document.value, on_delivery=report)
    remaining = producer.flush(30)
    if remaining:
        failed.append(f"{remaining} record(s) not acknowledged within 30s")
    if failed:
        raise PublishError("; ".join(failed))
    return published
