"""Structured logs: one JSON object per line on stderr.

Messages are fixed sentences; the variable parts go in `fields` (`log.info("batch
committed", extra=fields(events=500))`) so they can be queried. Nothing here may carry
personal data: no customer or purchase ids, no event values, no secrets.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import IO, Any, Final

import orjson

ROOT: Final = "cashback"
KAFKA: Final = "kafka"
SUMMARY_SECONDS: Final = 30.0
_FIELDS: Final = "fields"
_SUMMARY: Final = "_cashback_summary"
_NUMBERS = re.compile(r"\d+")


def fields(**values: Any) -> dict[str, Any]:
    """The `extra=` argument that attaches queryable fields to one log record."""
    return {_FIELDS: values}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        extra = getattr(record, _FIELDS, None)
        if isinstance(extra, dict):
            line.update(extra)
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


class Repeats:
    """Once per kind, then a count: `first(kind)` says whether to log this occurrence;
    `summarize()` writes one line per interval with how often each kind came again.
    A kind quiet for a whole interval is forgotten, so its next occurrence shows again."""

    def __init__(
        self,
        log: logging.Logger,
        message: str,
        interval: float = SUMMARY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = log
        self._message = message
        self._interval = interval
        self._clock = clock
        self._lock = threading.Lock()  # librdkafka calls back from its own threads
        self._shown: set[str] = set()
        self._seen: Counter[str] = Counter()
        self._repeated: Counter[str] = Counter()
        self._window = clock()

    def first(self, kind: str) -> bool:
        with self._lock:
            self._seen[kind] += 1
            if kind not in self._shown:
                self._shown.add(kind)
                return True
            self._repeated[kind] += 1
        self.summarize()
        return False

    def summarize(self) -> None:
        with self._lock:
            now = self._clock()
            if now - self._window < self._interval:
                return
            repeated = dict(self._repeated.most_common(10))
            window = now - self._window
            self._shown &= set(self._seen)  # forget the kinds that were quiet
            self._seen.clear()
            self._repeated.clear()
            self._window = now
        if repeated:
            self._log.warning(
                self._message,
                extra={
                    _FIELDS: {"seconds": round(window, 1), "repeats": repeated},
                    _SUMMARY: True,
                },
            )


class RepeatFilter(logging.Filter):
    """On librdkafka's logger: a line that only differs in numbers (ports, counts, ms)
    from one already shown this interval is counted, not written."""

    def __init__(self, log: logging.Logger, interval: float = SUMMARY_SECONDS) -> None:
        super().__init__()
        self.repeats = Repeats(log, "Kafka client log lines repeated", interval)

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, _SUMMARY, False):
            return True
        text = f"{record.levelno}:{record.getMessage()}:{getattr(record, _FIELDS, '')}"
        return self.repeats.first(_NUMBERS.sub("#", text)[:200])


def configure(level: str = "info", stream: IO[str] | None = None) -> None:
    """Send the `cashback` loggers (librdkafka's included) to `stream` as JSON lines."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger(ROOT)
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
    kafka = get(KAFKA)
    kafka.filters[:] = [RepeatFilter(kafka)]


def summarize_repeats() -> None:
    """Write the due summaries of librdkafka's repeated lines (called from the loop, so a
    summary comes even when the repeats stop)."""
    for known in get(KAFKA).filters:
        if isinstance(known, RepeatFilter):
            known.repeats.summarize()


def get(name: str) -> logging.Logger:
    """A logger under the `cashback` root, e.g. get("worker") -> `cashback.worker`."""
    return logging.getLogger(f"{ROOT}.{name}")
