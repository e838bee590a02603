"""Consumed records without a broker, for the benchmarks that time the batch step alone."""

from __future__ import annotations

from collections.abc import Iterable

from cashback.devtools.sample_stream import SampleRecord


class Consumed:
    """The methods of confluent_kafka.Message the batch step calls (Message is a C type
    that cannot be made without a broker; these calls cost a little more than its)."""

    __slots__ = ("_headers", "_key", "_offset", "_value")

    def __init__(
        self,
        key: bytes | None,
        value: bytes | None,
        offset: int,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> None:
        self._key, self._value, self._offset, self._headers = key, value, offset, headers

    def topic(self) -> str:
        return "purchases"

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes | None:
        return self._key

    def value(self) -> bytes | None:
        return self._value

    def headers(self) -> list[tuple[str, bytes]] | None:
        return self._headers


def consumed(samples: Iterable[SampleRecord]) -> list[Consumed]:
    return [Consumed(s.key, s.value, i) for i, s in enumerate(samples)]
