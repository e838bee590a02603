"""Record headers, the same for the Kafka worker and the offline `cashback price`."""

from __future__ import annotations

from typing import Final

from cashback.domain.events import Rejection

CONTENT_TYPE: Final = b"application/json"
MAX_ERROR_MESSAGE: Final = 512

Headers = list[tuple[str, bytes]]


def output_headers(schema: str, event_id: str | None, traceparent: bytes | None) -> Headers:
    """`content-type`, `schema`, the input's `event_id` and its W3C `traceparent` if present."""
    headers: Headers = [("content-type", CONTENT_TYPE), ("schema", schema.encode())]
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
