"""Record headers, the same for the Kafka worker and the offline `cashback price`."""

from __future__ import annotations

from typing import Final

from cashback.domain.events import Rejection

CONTENT_TYPE: Final = b"application/json"
MAX_ERROR_MESSAGE: Final = 512

Headers = list[tuple[str, bytes]]
_CONTENT_TYPE: Final = ("content-type", CONTENT_TYPE)
_SCHEMAS: dict[str, tuple[str, bytes]] = {}  # a handful of schema names, each encoded once


def output_headers(schema: str, event_id: str | None, traceparent: bytes | None) -> Headers:
    """`content-type`, `schema`, the input's `event_id` and its W3C `traceparent` if present."""
    found = _SCHEMAS.get(schema)
    if found is None:
        found = _SCHEMAS[schema] = ("schema", schema.encode())
    headers: Headers = [_CONTENT_TYPE, found]
    if event_id is not None:
        headers.append(("event_id", event_id.encode()))
    if traceparent is not None:
        headers.append(("traceparent", traceparent))
    return headers


def dead_letter_headers(rejection: Rejection, topic: str, partition: int, offset: int) -> Headers:
    """Why the input was refused and where it came from; the value and key stay untouched."""
    return [
        ("error.code", rejection.code.encode()),
        ("error.message", rejection.message[:MAX_ERROR_MESSAGE].encode()),
        ("source.topic", topic.encode()),
        ("source.partition", str(partition).encode()),
        ("source.offset", str(offset).encode()),
    ]
