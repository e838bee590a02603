"""`cashback rules validate FILE...`: check rule set documents before they are published.

Every file (or every rule set file directly inside a given folder) is parsed and compiled as
the worker would. A valid file prints one OK line; every problem prints as
`file: place: message`, the place naming the rule id and field. Across files, the same
ruleset and version with different content is refused (a published version never changes),
and two warnings help authors: the same version twice with the same content, and a version
that can never apply because a higher version takes effect no later than it does.
Exit code: 0 when every file is valid (warnings allowed), 1 otherwise.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path
from typing import Any

from cashback.cli.catalogs import help_text
from cashback.domain.rules import RuleSet
from cashback.domain.ruleset_doc import Problem
from cashback.rulefiles import SUFFIXES, FileProblem, load_rule_files, rule_files


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "validate",
        help="check rule set files (or folders of them); exit 1 on any problem",
        description=help_text(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("paths", nargs="+", metavar="FILE", help="rule set file or folder")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    paths = [Path(p) for p in args.paths]
    report = validate(paths)
    for line in report.lines:
        print(line)
    return 0 if report.ok else 1


class Report:
    """What to print per file, in file order, and how many problems and warnings."""

    def __init__(self, files: list[Path]) -> None:
        self.files = files
        self.ok_lines: dict[Path, str] = {}
        self.found: dict[Path, list[str]] = {}
        self.problems = 0
        self.warnings = 0

    @property
    def ok(self) -> bool:
        return self.problems == 0

    def problem(self, path: Path, problem: Problem) -> None:
        self.found.setdefault(path, []).append(str(FileProblem(path, problem)))
        self.problems += 1

    def warning(self, path: Path, place: str, message: str) -> None:
        warning = Problem(place, f"warning: {message}")
        self.found.setdefault(path, []).append(str(FileProblem(path, warning)))
        self.warnings += 1

    @property
    def lines(self) -> list[str]:
        """Per file its problems and warnings, or OK; then a count."""
        out: list[str] = []
        for path in self.found.keys() - set(self.files):
            out.extend(self.found[path])  # a folder with nothing in it
        for path in self.files:
            found = self.found.get(path, [])
            if not any("warning: " not in line for line in found) and path in self.ok_lines:
                out.append(self.ok_lines[path])
            out.extend(found)
        out.append(
            f"{len(self.files)} file(s) checked: {self.problems} problem(s),"
            f" {self.warnings} warning(s)"
        )
        return out


def validate(paths: list[Path]) -> Report:
    """Check every file under `paths` and the files against each other."""
    report = Report(rule_files(paths))
    for folder in (p for p in paths if p.is_dir() and not rule_files([p])):
        report.problem(folder, Problem("", f"no rule set files ({', '.join(SUFFIXES)})"))
    loaded, problems = load_rule_files(paths)
    for found in problems:
        report.problem(found.path, found.problem)
    for path, ruleset in loaded:
        report.ok_lines[path] = f"{path}: OK {_summary(ruleset)}"
    _cross_check(loaded, report)
    _shadowed(loaded, report)
    return report


def _summary(ruleset: RuleSet) -> str:
    rules = len(ruleset.rules)
    return (
        f"ruleset {ruleset.name} version {ruleset.version}: {rules} rule{'s' * (rules != 1)},"
        f" effective from {ruleset.effective_from.isoformat()}"
    )


def _cross_check(loaded: list[tuple[Path, RuleSet]], report: Report) -> None:
    """The same ruleset and version in several files must be the same document."""
    by_version: dict[tuple[str, int], list[tuple[Path, RuleSet]]] = defaultdict(list)
    for path, ruleset in loaded:
        by_version[ruleset.name, ruleset.version].append((path, ruleset))
    for (name, version), copies in by_version.items():
        if len(copies) < 2:
            continue
        if len({ruleset.fingerprint for _, ruleset in copies}) > 1:
            for path, _ in copies:
                others = ", ".join(str(p) for p, _ in copies if p != path)
                report.problem(
                    path,
                    Problem(
                        "version",
                        f"{name} version {version} is also in {others} with different content;"
                        " a published version never changes: publish a new version",
                    ),
                )
        else:
            first = copies[0][0]
            for path, _ in copies[1:]:
                report.warning(path, "version", f"{name} version {version} repeats {first}")


def _shadowed(loaded: list[tuple[Path, RuleSet]], report: Report) -> None:
    """Warn about a version that never applies: a higher one is effective no later than it."""
    by_name: dict[str, dict[int, tuple[Path, RuleSet]]] = defaultdict(dict)
    for path, ruleset in loaded:
        by_name[ruleset.name].setdefault(ruleset.version, (path, ruleset))
    for versions in by_name.values():
        for version, (path, ruleset) in versions.items():
            for higher, (_, other) in sorted(versions.items()):
                if higher > version and other.effective_from <= ruleset.effective_from:
                    report.warning(
                        path,
                        "effective_from",
                        f"{ruleset.name} version {version} never applies: version {higher} is"
                        f" higher and effective from {other.effective_from.isoformat()},"
                        " no later",
                    )
                    break
