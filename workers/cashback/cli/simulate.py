"""`cashback simulate`: what rule sets pay over a file of events, and what a change costs.

Prices every line of `--input` (JSON lines, as for `cashback price`) with the engine and adds
up the accruals and reversals per rule set, rule and currency: events priced, eligible
events, base, payout and the effective rate. With `--baseline DIR` the same events are also
priced with the baseline rule sets and each row shows the change. Versions are chosen by
event time, as the worker does; `--as-of-latest` prices every event with the newest version
of each rule set instead, which is what "what would this new version have cost" needs.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import msgspec

from cashback.cli.catalogs import RulesNotLoadedError, add_command, fail, load_rules
from cashback.cli.jsonlines import Progress, input_label, open_input, read_lines
from cashback.reports.simulate_report import report
from cashback.reports.simulate_text import render
from cashback.reports.simulation import Simulation


def register(commands: Any) -> None:
    parser = add_command(
        commands,
        "simulate",
        "payout per rule set, rule and currency over a file of events; compare versions",
        __doc__,
    )
    parser.add_argument("--input", required=True, metavar="FILE", help="JSON lines (- = stdin)")
    parser.add_argument(
        "--baseline", action="append", metavar="PATH", help="rule sets to compare against"
    )
    parser.add_argument(
        "--as-of-latest",
        action="store_true",
        help="price every event with the newest version of each rule set, whatever its time",
    )
    parser.add_argument("--json", action="store_true", help="print JSON for machines")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        current = Simulation(load_rules(args.rules, latest=args.as_of_latest))
        baseline = None
        if args.baseline:
            catalog = load_rules(args.baseline, latest=args.as_of_latest, option="--baseline")
            baseline = Simulation(catalog)
    except RulesNotLoadedError as exc:
        return fail(str(exc))
    try:
        with open_input(args.input) as source:
            progress = Progress(source)
            for count, raw in enumerate(read_lines(source)):
                if count == progress.next_at:
                    progress.tick(count)
                current.add(raw)
                if baseline is not None:
                    baseline.add(raw)
            progress.done()
    except OSError as exc:
        return fail(f"{exc.filename or input_label(args.input)}: {exc.strerror}")
    result = report(current, baseline, as_of_latest=args.as_of_latest)
    if args.json:
        sys.stdout.buffer.write(msgspec.json.encode(result) + b"\n")
        sys.stdout.flush()
    else:
        sys.stdout.write(render(result))
    return 0
