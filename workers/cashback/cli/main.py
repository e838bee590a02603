"""`cashback`: the command line entry point.

Each subcommand lives in its own module with a `register(subparsers)` function that adds
its parser and sets `handler` (a function taking the parsed args, returning the exit code).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from cashback import __version__
from cashback.cli import acls, explain, price, publish, run, simulate, topics, validate


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cashback",
        description="Prices purchases and refunds with versioned cashback rule sets.",
    )
    parser.add_argument("--version", action="version", version=f"cashback {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    rules = commands.add_parser("rules", help="validate or publish rule set documents")
    rules_commands = rules.add_subparsers(dest="rules_command", required=True, metavar="COMMAND")
    # Subcommands register here, one line each.
    run.register(commands)
    topics.register(commands)
    publish.register(rules_commands)
    price.register(commands)
    explain.register(commands)
    simulate.register(commands)
    validate.register(rules_commands)
    acls.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        code: int = handler(args)
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
