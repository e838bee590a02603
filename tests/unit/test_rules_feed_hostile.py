"""Hostile documents on the rules topic: each is refused with its own reason, fast, and
the catalog the worker already has is kept as it was."""

from __future__ import annotations

import time

import orjson
import pytest

from cashback.domain.catalog import Catalog
from cashback.domain.rules import parse_ruleset
from cashback.runtime.rules_feed import (
    CONFLICT,
    DUPLICATE_KEY,
    IGNORED,
    INVALID,
    MAX_DOCUMENT_BYTES,
    REFUSED,
    TOO_LARGE,
    apply_document,
)
from events_factory import ruleset_document

V1 = ruleset_document(version=1)
CATALOG = Catalog.of([parse_ruleset(V1)])
# YAML with aliases (9^9 items if expanded): the topic carries JSON only, so it is refused
# before any YAML loader sees it (the strict rule set types refuse it today anyway).
BOMB = b'a: &a ["x","x","x","x","x","x","x","x","x"]\n' + b"".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},"
    f"*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)}]\n".encode()
    for i in range(8)
)


def big_document() -> bytes:
    doc = orjson.loads(ruleset_document(version=2))
    doc["rules"][0]["description"] = "x" * (MAX_DOCUMENT_BYTES + 10)
    return orjson.dumps(doc)


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        (b"retail:2", big_document(), TOO_LARGE),
        (b"retail:2", b"\x00\xff\xfe garbage \x80", INVALID),
        (b"retail:2", BOMB, INVALID),
        (b"retail:2", V1.replace(b'"version":1', b'"version":2,"version":1'), DUPLICATE_KEY),
        (b"retail:2", ruleset_document(version=2)[:-1] + b',"hold_days":0}', DUPLICATE_KEY),
        (b"retail:1", ruleset_document(version=1, percent="9"), CONFLICT),
    ],
)
def test_refused_with_a_reason_and_the_known_versions_kept(
    key: bytes, value: bytes, reason: str
) -> None:
    started = time.monotonic()
    applied = apply_document(CATALOG, key, value)
    assert time.monotonic() - started < 5, "a hostile document must not stall the loop"
    assert (applied.result, applied.reason) == (REFUSED, reason)
    assert applied.catalog is CATALOG
    assert applied.problem and "x" * 50 not in applied.problem  # a reason, not the content


def test_a_tombstone_removes_nothing() -> None:
    for value in (None, b""):
        applied = apply_document(CATALOG, b"retail:1", value)
        assert applied.result == IGNORED
        assert applied.catalog is CATALOG
