"""Loading the `--rules` of a command, with every problem reported the same way."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cashback.domain.catalog import Catalog
from cashback.reports.latest import latest_versions
from cashback.rulefiles import SUFFIXES, RuleSetFilesError, load_catalog


def load_rules(paths: Sequence[str], *, latest: bool = False, option: str = "--rules") -> Catalog:
    """The catalog of every rule set under `paths`; RulesNotLoadedError if any file is wrong.

    An empty result is an error too: pricing with no rules would silently pay nothing.
    """
    try:
        catalog = load_catalog([Path(p) for p in paths])
    except RuleSetFilesError as exc:
        lines = [f"the rule sets of {option} {' '.join(paths)} do not load:"]
        lines.extend(f"  {problem}" for problem in exc.problems)
        raise RulesNotLoadedError("\n".join(lines)) from None
    if not len(catalog):
        raise RulesNotLoadedError(
            f"no rule set files ({', '.join(SUFFIXES)}) in {option} {' '.join(paths)}"
        )
    return latest_versions(catalog) if latest else catalog


class RulesNotLoadedError(Exception):
    pass


def fail(message: str) -> int:
    """Print `cashback: message` on stderr; the exit code of a command that cannot run."""
    print(f"cashback: {message}", file=sys.stderr)
    return 1


def add_command(commands: Any, name: str, summary: str, doc: str | None) -> argparse.ArgumentParser:
    """A subcommand whose `--help` shows its module docstring, with the `--rules` option."""
    parser: argparse.ArgumentParser = commands.add_parser(
        name,
        help=summary,
        description=help_text(doc),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--rules",
        action="append",
        required=True,
        metavar="PATH",
        help="rule set file or folder (repeatable)",
    )
    return parser


def help_text(docstring: str | None) -> str | None:
    """A command module's docstring without its title line, for `--help`."""
    if not docstring:
        return None
    return docstring.split("\n\n", 1)[-1].strip()
