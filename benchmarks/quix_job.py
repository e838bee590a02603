"""The cashback job written with Quix Streams, for the `quixstreams-eos|alo` runs.

The same work as the worker: decode and price each input with the engine the worker runs
(`make_engine`: native when built, in this venv too; the same rule files), then write each
accrual and notification to its topic with the same key and headers (a rejected input goes
to the dead-letter topic untouched), in Quix's own idiom: a StreamingDataFrame of one
`apply(expand=True)` step, `set_headers` and `to_topic` with a topic chosen per row. Quix's
defaults otherwise (commit every 5 s, one transaction per commit under exactly-once).

It runs in its own virtualenv (benchmarks/.venv-quix: Quix pins an older
confluent-kafka) with `workers/` on PYTHONPATH, so the pricing code is ours, unchanged.

    python -m benchmarks.quix_job --bootstrap HOST:PORT --input T --accruals A \
        --notifications N --dlq D --group G --rules DIR [--guarantee exactly-once]
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from quixstreams import Application, message_context
from quixstreams.models import Topic
from quixstreams.models.serializers import SerializationContext, Serializer

from cashback.domain.engine import ACCRUALS, NOTIFICATIONS
from cashback.domain.headers import Headers, dead_letter_headers, output_headers
from cashback.domain.native_engine import Pricer, make_engine
from cashback.rulefiles import load_catalog
from cashback.runtime.batch import TRACEPARENT, find_header


@dataclass(frozen=True, slots=True)
class Routed:
    """One record to write: where, and what."""

    topic: Topic
    key: bytes | None
    value: bytes | None
    headers: Headers


class RoutedValue(Serializer):
    """The record's bytes are ready: the value serializer only unwraps them."""

    def __call__(self, value: Routed, ctx: SerializationContext) -> bytes | None:
        return value.value


PriceRow = Callable[[bytes, bytes | None, int, Any], list[Routed]]


def pricer(engine: Pricer, outputs: dict[str, Topic], dlq: Topic) -> PriceRow:
    def price(value: bytes, key: bytes | None, _timestamp: int, headers: Any) -> list[Routed]:
        handled = engine.handle(value)
        if handled.rejection is not None:
            ctx = message_context()
            why = dead_letter_headers(handled.rejection, ctx.topic, ctx.partition, ctx.offset)
            return [Routed(dlq, key, value, [*(headers or []), *why])]
        traceparent = find_header(headers, TRACEPARENT)
        return [
            Routed(
                outputs[output.destination],
                output.key,
                output.value,
                output_headers(output.schema, handled.event_id, traceparent),
            )
            for output in handled.outputs
        ]

    return price


def build(args: argparse.Namespace) -> Application:
    app = Application(
        broker_address=args.bootstrap,
        consumer_group=args.group,
        auto_offset_reset="earliest",
        processing_guarantee=args.guarantee,
        state_dir=args.state_dir,
        loglevel=logging.WARNING,
    )
    source = app.topic(args.input, value_deserializer="bytes", key_deserializer="bytes")

    def sink(name: str) -> Topic:
        return app.topic(name, value_serializer=RoutedValue(), key_serializer="bytes")

    accruals, notifications, dlq = sink(args.accruals), sink(args.notifications), sink(args.dlq)
    outputs = {ACCRUALS: accruals, NOTIFICATIONS: notifications}
    engine = make_engine(load_catalog([Path(p) for p in args.rules]))

    sdf = app.dataframe(source)
    sdf = sdf.apply(pricer(engine, outputs, dlq), expand=True, metadata=True)
    sdf = sdf.set_headers(lambda row, _key, _ts, _headers: row.headers)
    sdf.to_topic(lambda row, _key, _ts, _headers: row.topic, key=lambda row: row.key)
    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks.quix_job", description=__doc__)
    for name in ("bootstrap", "input", "accruals", "notifications", "dlq", "group"):
        parser.add_argument(f"--{name}", required=True)
    parser.add_argument("--rules", action="append", required=True)
    parser.add_argument(
        "--guarantee", choices=("exactly-once", "at-least-once"), default="exactly-once"
    )
    parser.add_argument("--state-dir", default="benchmarks/.work/quix-state")
    build(parser.parse_args(argv)).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
