"""The chart README's values table, from the `# --` comments of values.yaml (helm-docs'
convention, without needing helm-docs): one row per documented key, its default from the
YAML itself. A value with no `# --` comment on it or on an enclosing key is an error.

    python deploy/tools/values_table.py           # rewrite the table in the README
    python deploy/tools/values_table.py --check   # exit 1 if the README is not current
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

CHART = Path(__file__).resolve().parents[1] / "helm" / "cashback-accrual"
BEGIN, END = "<!-- values-table:begin -->", "<!-- values-table:end -->"
_KEY = re.compile(r"^(\s*)([A-Za-z0-9_.-]+):(.*)$")


@dataclass(frozen=True)
class Row:
    path: str
    description: str
    default: Any


def lookup(values: dict[str, Any], path: list[str]) -> Any:
    node: Any = values
    for part in path:
        node = node[part]
    return node


def rows(values_text: str) -> tuple[list[Row], list[str]]:
    values = yaml.safe_load(values_text)
    documented: list[Row] = []
    undocumented: list[str] = []
    stack: list[tuple[int, str, bool]] = []  # (indent, key, documented here or above)
    comment: list[str] = []
    for line in values_text.splitlines():
        stripped = line.strip()
        if stripped.startswith("# --"):
            comment = [stripped.removeprefix("# --").strip()]
            continue
        if comment and stripped.startswith("#"):
            comment.append(stripped.lstrip("#").strip())
            continue
        match = _KEY.match(line)
        if not match or stripped.startswith("-"):
            if not stripped.startswith("#"):
                comment = []
            continue
        indent, key = len(match.group(1)), match.group(2)
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = [entry[1] for entry in stack] + [key]
        inherited = any(entry[2] for entry in stack)
        try:
            value = lookup(values, path)
        except (KeyError, TypeError):  # a key inside a list item: part of its parent's default
            comment = []
            continue
        if comment:
            documented.append(Row(".".join(path), " ".join(comment), value))
        elif not inherited and not (isinstance(value, dict) and value):
            undocumented.append(".".join(path))
        stack.append((indent, key, bool(comment) or inherited))
        comment = []
    return documented, undocumented


def table(documented: list[Row]) -> str:
    lines = ["| Key | Default | Description |", "|---|---|---|"]
    for row in documented:
        default = json.dumps(row.default, separators=(", ", ": "))
        description = row.description.replace("|", "\\|")
        lines.append(f"| `{row.path}` | `{default}` | {description} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    documented, undocumented = rows((CHART / "values.yaml").read_text(encoding="utf-8"))
    if undocumented:
        print("values without a `# --` comment: " + ", ".join(undocumented), file=sys.stderr)
        return 1
    readme_path = CHART / "README.md"
    readme = readme_path.read_text(encoding="utf-8")
    head, rest = readme.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    current = f"{head}{BEGIN}\n{table(documented)}\n{END}{tail}"
    if args.check:
        if current != readme:
            print(f"{readme_path} is not current: run {sys.argv[0]}", file=sys.stderr)
            return 1
        return 0
    readme_path.write_text(current, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
