"""The optional CEL `expr` condition: compiled once per rule set version.

Expressions may read one variable, `purchase` (the purchase as JSON, for refunds the
original purchase). Evaluation is the slow path: handing a Python mapping to the CEL
runtime costs far more than evaluating (about 50 us against 1.6 us for a small purchase
on this machine), so each event converts once, and only the top-level fields that the
expressions name.
"""

from __future__ import annotations

import re
from typing import Any

import cel as _cel

ALLOWED_VARIABLES = frozenset({"purchase"})
# Names the CEL package reports as variables that are not: the variable a macro binds
# (`purchase.lines.exists(l, l.amount_minor > 100)`) and the type names (`type(x) == int`).
_MACRO_VARIABLE = re.compile(
    r"\.\s*(?:all|exists|exists_one|map|filter)\s*\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*,"
)
_TYPE_NAMES = frozenset(
    {"int", "uint", "double", "bool", "string", "bytes", "list", "map", "null_type", "type"}
)
_USES = re.compile(r"\bpurchase\b(\s*\.\s*([A-Za-z_][A-Za-z0-9_]*))?")
_STRINGS = re.compile(r"'(?:\\.|[^'\\])*'|\"(?:\\.|[^\"\\])*\"")


def compile_expression(source: str) -> Any:
    """A compiled program, or a message saying why the expression is refused."""
    try:
        program = _cel.compile(source)
    except (ValueError, RuntimeError, TypeError) as exc:
        return f"does not compile: {str(exc).splitlines()[0]}"
    bound = set(_MACRO_VARIABLE.findall(_STRINGS.sub('""', source)))
    unknown = set(program.variables()) - ALLOWED_VARIABLES - bound - _TYPE_NAMES
    if unknown:
        return f"unknown variable(s) {sorted(unknown)}; only `purchase` is available"
    return program


def referenced_fields(source: str) -> frozenset[str] | None:
    """The top-level `purchase` fields an expression reads, or None if it may read any."""
    code = _STRINGS.sub('""', source)
    fields: set[str] = set()
    for match in _USES.finditer(code):
        if match.group(2) is None:
            return None  # `purchase` used whole, e.g. `purchase["x"]` or `size(purchase)`
        fields.add(match.group(2))
    return frozenset(fields)


def context(purchase: dict[str, Any]) -> Any:
    """A CEL evaluation context holding `purchase`."""
    found = _cel.Context()
    found.add_variable("purchase", purchase)
    return found
