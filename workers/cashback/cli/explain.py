"""`cashback explain`: why one event earns what it earns, rule by rule, for people.

Reads one event: a JSON file (pretty-printed is fine), `-` for stdin, or with `--line N`
the N-th line (1-based) of a JSON lines file, e.g. the input of `cashback price`, whose
dead letters name `source.offset` = N - 1. Prints, for each rule set, the version that
applies (or why none does), every rule in priority order with each condition held or not,
its base and lines, the rounding, caps, `combine`, the purchase cap, and the records the
worker would write. `--json` prints the same as one JSON document.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import msgspec

from cashback.cli.catalogs import RulesNotLoadedError, add_command, fail, load_rules
from cashback.cli.jsonlines import input_label, open_input, read_lines
from cashback.reports.explain_text import render
from cashback.reports.explanation import explain


def register(commands: Any) -> None:
    parser = add_command(
        commands,
        "explain",
        "explain how one event is priced, rule by rule",
        __doc__,
    )
    parser.add_argument("event", metavar="EVENT", help="event JSON file, or - for stdin")
    parser.add_argument("--line", type=int, metavar="N", help="take line N (1-based) of EVENT")
    parser.add_argument("--json", action="store_true", help="print JSON for machines")
    parser.add_argument(
        "--as-of-latest",
        action="store_true",
        help="use the newest version of each rule set, whatever the event time",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        catalog = load_rules(args.rules, latest=args.as_of_latest)
    except RulesNotLoadedError as exc:
        return fail(str(exc))
    try:
        raw = read_event(args.event, args.line)
    except OSError as exc:
        return fail(f"{exc.filename or input_label(args.event)}: {exc.strerror}")
    except LookupError as exc:
        return fail(str(exc))
    explanation = explain(catalog, raw)
    if args.json:
        sys.stdout.buffer.write(msgspec.json.encode(explanation) + b"\n")
        sys.stdout.flush()
    else:
        sys.stdout.write(render(explanation))
    return 0


def read_event(name: str, line: int | None) -> bytes:
    """The whole input, or its line `line` (1-based); LookupError if there is no such line."""
    with open_input(name) as stream:
        if line is None:
            return stream.read()
        if line < 1:
            raise LookupError(f"--line counts from 1, got {line}")
        for number, raw in enumerate(read_lines(stream), start=1):
            if number == line:
                return raw
    raise LookupError(f"{input_label(name)} has fewer than {line} lines")
