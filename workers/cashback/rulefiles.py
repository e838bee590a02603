"""Reading rule set documents from files and folders (the `--rules DIR` of every command)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cashback.domain.catalog import Catalog, RuleSetConflictError
from cashback.domain.rules import RuleSet, parse_ruleset
from cashback.domain.ruleset_doc import Problem, RuleSetError

SUFFIXES = (".yaml", ".yml", ".json")


@dataclass(frozen=True, slots=True)
class FileProblem:
    path: Path
    problem: Problem

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}"


def rule_files(paths: Iterable[Path]) -> list[Path]:
    """The given files, and the rule set files directly inside given folders, sorted."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.iterdir() if p.suffix in SUFFIXES))
        else:
            found.append(path)
    return found


def load_rule_files(paths: Iterable[Path]) -> tuple[list[tuple[Path, RuleSet]], list[FileProblem]]:
    """Parse every file; returns what parsed and every problem, each with file and place."""
    loaded: list[tuple[Path, RuleSet]] = []
    problems: list[FileProblem] = []
    for path in rule_files(paths):
        try:
            data = path.read_bytes()
        except OSError as exc:
            problems.append(FileProblem(path, Problem("", f"cannot read: {exc.strerror}")))
            continue
        try:
            loaded.append((path, parse_ruleset(data)))
        except RuleSetError as exc:
            problems.extend(FileProblem(path, p) for p in exc.problems)
    return loaded, problems


def catalog_from(
    loaded: Iterable[tuple[Path, RuleSet]], catalog: Catalog | None = None
) -> tuple[Catalog, list[FileProblem]]:
    """Add parsed rule sets to a catalog; a version republished with other content is refused."""
    catalog = catalog or Catalog()
    problems: list[FileProblem] = []
    for path, ruleset in loaded:
        try:
            catalog = catalog.with_ruleset(ruleset)
        except RuleSetConflictError as exc:
            problems.append(FileProblem(path, Problem("version", str(exc))))
    return catalog, problems


def load_catalog(paths: Iterable[Path]) -> Catalog:
    """Every rule set under `paths`, or RuleSetFilesError listing every problem."""
    loaded, problems = load_rule_files(paths)
    catalog, conflicts = catalog_from(loaded)
    problems.extend(conflicts)
    if problems:
        raise RuleSetFilesError(problems)
    return catalog


class RuleSetFilesError(ValueError):
    def __init__(self, problems: list[FileProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))
