"""The optional CEL `expr` condition: compiled once per rule set version.

Expressions may read one variable, `purchase` (the purchase as JSON, for refunds the
original purchase). Evaluation is the slow path, so it is checked after every other
condition of the rule.
"""

from __future__ import annotations

from typing import Any

import cel as _cel

ALLOWED_VARIABLES = frozenset({"purchase"})


def compile_expression(source: str) -> Any:
    """A compiled program, or a message saying why the expression is refused."""
    try:
        program = _cel.compile(source)
    except (ValueError, RuntimeError, TypeError) as exc:
        return f"does not compile: {str(exc).splitlines()[0]}"
    unknown = set(program.variables()) - ALLOWED_VARIABLES
    if unknown:
        return f"unknown variable(s) {sorted(unknown)}; only `purchase` is available"
    return program
