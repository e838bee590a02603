"""Structured logs: one JSON object per line on stderr.

Messages are fixed sentences; the variable parts go in `fields` (`log.info("batch
committed", extra=fields(events=500))`) so they can be queried. Nothing here may carry
personal data: no customer or purchase ids, no event values, no secrets.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import IO, Any, Final

import orjson

ROOT: Final = "cashback"
_FIELDS: Final = "fields"


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


def configure(level: str = "info", stream: IO[str] | None = None) -> None:
    """Send the `cashback` loggers (librdkafka's included) to `stream` as JSON lines."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger(ROOT)
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False


def get(name: str) -> logging.Logger:
    """A logger under the `cashback` root, e.g. get("worker") -> `cashback.worker`."""
    return logging.getLogger(f"{ROOT}.{name}")
