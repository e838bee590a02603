"""`cashback price`: what the Kafka worker would write for a file of events, as JSON lines.

Each input line is one record value, priced by the same `Engine` the worker runs. Each output
line is one record the worker would produce, in input order:

    {"topic": ..., "key": ..., "value": ..., "headers": {name: text}}

`value` embeds the engine's bytes as they are (no re-encoding), so the output carries exactly
what the worker would write. A dead letter's value is the input line as a JSON string (or,
when the line is not UTF-8, `value` is null and `value_base64` holds it); its key is null, as
a file has no record keys, and its headers say `source.topic` (default `purchases`),
partition 0 and `source.offset` = the 0-based line number. A blank line is a record with an
empty value, as on Kafka: it becomes an `empty` dead letter.
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, BinaryIO, Final

import orjson

from cashback.cli.catalogs import RulesNotLoadedError, add_command, fail, load_rules
from cashback.cli.jsonlines import Progress, open_input, open_output, read_lines
from cashback.domain.engine import NOTIFICATIONS, OUTCOME_NAMES, Outcome, Output
from cashback.domain.events import Rejection
from cashback.domain.headers import dead_letter_headers, output_headers
from cashback.domain.native_engine import ENGINE_MODES, NativeUnavailableError, Pricer, make_engine

DEFAULT_SOURCE: Final = "purchases"
DEFAULT_ACCRUALS: Final = "cashback.accruals"
DEFAULT_NOTIFICATIONS: Final = "cashback.notifications"
DEFAULT_DLQ: Final = "cashback.dlq"
_FLUSH_EVERY: Final = 2048  # records joined per write: fewer, larger writes


def register(commands: Any) -> None:
    parser = add_command(
        commands,
        "price",
        "price a file of events offline; print the records the worker would write",
        __doc__,
    )
    parser.add_argument("--input", default="-", metavar="FILE", help="JSON lines (- = stdin)")
    parser.add_argument("--output", default="-", metavar="FILE", help="JSON lines (- = stdout)")
    for option, default, what in (
        ("--source-topic", DEFAULT_SOURCE, "input topic named in dead letter headers"),
        ("--accruals-topic", DEFAULT_ACCRUALS, "topic of accruals and reversals"),
        ("--notifications-topic", DEFAULT_NOTIFICATIONS, "topic of notifications"),
        ("--dlq-topic", DEFAULT_DLQ, "dead-letter topic"),
    ):
        parser.add_argument(option, default=default, metavar="TOPIC", help=f"{what} ({default})")
    parser.add_argument(
        "--engine",
        choices=ENGINE_MODES,
        default="auto",
        help="native when built (auto), or force one; both write the same bytes",
    )
    parser.add_argument("--quiet", action="store_true", help="no summary on stderr")
    parser.set_defaults(handler=run)


@dataclass(frozen=True, slots=True)
class Topics:
    source: str
    accruals: str
    notifications: str
    dlq: str


def run(args: argparse.Namespace) -> int:
    try:
        engine = make_engine(load_rules(args.rules), mode=args.engine)
    except (RulesNotLoadedError, NativeUnavailableError) as exc:
        return fail(str(exc))
    topics = Topics(
        args.source_topic, args.accruals_topic, args.notifications_topic, args.dlq_topic
    )
    try:
        with open_input(args.input) as source, open_output(args.output) as sink:
            counts = price_stream(engine, source, sink, topics)
    except OSError as exc:
        if isinstance(exc, BrokenPipeError):  # `cashback price ... | head`: stop quietly
            _silence_stdout()
            return 0
        return fail(f"{exc.filename or 'i/o'}: {exc.strerror}")
    if not args.quiet:
        print(summary(counts), file=sys.stderr)
    return 0


def price_stream(engine: Pricer, source: BinaryIO, sink: BinaryIO, topics: Topics) -> list[int]:
    """Price every line of `source` and write its records to `sink`; counts by outcome."""
    counts = [0] * len(OUTCOME_NAMES)
    progress = Progress(source)
    pending: list[bytes] = []
    for offset, raw in enumerate(read_lines(source)):
        if offset == progress.next_at:
            progress.tick(offset)
        handled = engine.handle(raw)
        counts[handled.outcome] += 1
        if handled.rejection is not None:
            pending.append(dead_letter_line(raw, handled.rejection, topics, offset))
        else:
            pending.extend(record_lines(handled.outputs, handled.event_id, topics))
        if len(pending) >= _FLUSH_EVERY:
            sink.write(b"".join(pending))
            pending.clear()
    sink.write(b"".join(pending))
    progress.done()
    return counts


def record_lines(outputs: Iterable[Output], event_id: str | None, topics: Topics) -> list[bytes]:
    lines = []
    for output in outputs:
        topic = topics.notifications if output.destination == NOTIFICATIONS else topics.accruals
        headers = {
            name: value.decode() for name, value in output_headers(output.schema, event_id, None)
        }
        lines.append(
            b'{"topic":%b,"key":%b,"value":%b,"headers":%b}\n'
            % (
                orjson.dumps(topic),
                orjson.dumps(output.key.decode()),
                output.value,
                orjson.dumps(headers),
            )
        )
    return lines


def dead_letter_line(raw: bytes, rejection: Rejection, topics: Topics, offset: int) -> bytes:
    headers = {
        name: value.decode()
        for name, value in dead_letter_headers(rejection, topics.source, 0, offset)
    }
    try:
        value = orjson.dumps(raw.decode())
    except UnicodeDecodeError:
        value = b'null,"value_base64":' + orjson.dumps(base64.b64encode(raw).decode())
    return b'{"topic":%b,"key":null,"value":%b,"headers":%b}\n' % (
        orjson.dumps(topics.dlq),
        value,
        orjson.dumps(headers),
    )


def summary(counts: list[int]) -> str:
    accrued, reversed_, not_eligible, dead = (counts[outcome] for outcome in Outcome)
    return (
        f"priced {sum(counts)} line(s): {accrued} accrued, {reversed_} reversed,"
        f" {not_eligible} not eligible, {dead} dead letter{'' if dead == 1 else 's'}"
    )


def _silence_stdout() -> None:
    # Python would report the broken pipe again when it flushes stdout at exit.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
