"""The optional CEL `expr` condition: compiled once per rule set version.

Expressions may read one variable, `purchase` (the purchase as JSON, for refunds the
original purchase). Evaluation is the slow path: handing a Python mapping to the CEL
runtime costs far more than evaluating (about 50 us against 1.6 us for a small purchase
on this machine), so each event converts once, and only what the expressions can reach:
the top-level fields they name, and for `lines` read only through `size()` a list of
that many nulls instead of one map per line (`demand`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
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
_STRINGS = re.compile(r"'(?:\\.|[^'\\])*'|\"(?:\\.|[^\"\\])*\"")
# Fields of the purchase view that are always lists: `size()` of them needs only a length.
SIZED_LISTS = frozenset({"lines"})

# CEL's lexical grammar (cel-spec langdef.md), one alternative per token kind. A string
# literal is matched whole (prefixes r/b, triple quotes, escapes) so no text inside one is
# ever read as code; anything unmatched makes `demand` give up (build everything).
_SQ3, _DQ3 = "'" * 3, '"' * 3
_TOKEN = re.compile(
    "|".join(
        (
            r"(?P<space>[\t\n\f\r ]+|//[^\n]*)",
            # raw strings (r, rb, br prefixes in any case): no escapes
            rf"(?P<raw>(?:[rR][bB]?|[bB][rR])(?:{_SQ3}.*?{_SQ3}|{_DQ3}.*?{_DQ3}"
            r"""|'[^'\n]*'|"[^"\n]*"))""",
            rf"(?P<string>[bB]?(?:{_SQ3}(?:\\.|[^\\])*?{_SQ3}|{_DQ3}(?:\\.|[^\\])*?{_DQ3}"
            r"""|'(?:\\.|[^'\\\n])*'|"(?:\\.|[^"\\\n])*"))""",
            r"(?P<number>(?:0[xX][0-9a-fA-F]+|\d+\.\d+(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?"
            r"|\d+[eE][+-]?\d+|\d+)[uU]?)",
            r"(?P<ident>[_A-Za-z][_A-Za-z0-9]*)",
            r"(?P<punct>==|!=|<=|>=|&&|\|\||[-!<>+*/%?:.,()\[\]{}])",
        )
    ),
    re.DOTALL,
)


@dataclass(frozen=True, slots=True)
class Demand:
    """What of `purchase` an expression can reach: `fields` None means all of it; the
    fields in `sized` are read only through `size()` (a subset of `fields`)."""

    fields: frozenset[str] | None
    sized: frozenset[str] = frozenset()


EVERYTHING = Demand(None)


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


def tokens(source: str) -> list[str] | None:
    """The code tokens of `source` (strings as `""`, no spaces or comments), or None if
    some text is not a CEL token."""
    found: list[str] = []
    at = 0
    while at < len(source):
        match = _TOKEN.match(source, at)
        if match is None or match.end() == at:
            return None
        kind = match.lastgroup
        if kind in ("string", "raw"):
            found.append('""')
        elif kind != "space":
            found.append(match.group())
        at = match.end()
    return found


def demand(source: str) -> Demand:
    """What an expression can read of `purchase`; when in doubt, everything.

    Every token `purchase` (even a field of that name, or a macro variable that shadows
    it) counts as a use of the variable, so the analysis can only over-build. A use must
    be `purchase.<field>`; a field is `sized` when every use of it is `size(purchase.f)`
    or `purchase.f.size()` and it is one of `SIZED_LISTS`.
    """
    code = tokens(source)
    if code is None:
        return EVERYTHING
    fields: set[str] = set()
    whole: set[str] = set()
    for i, token in enumerate(code):
        if token != "purchase":
            continue
        if code[i + 1 : i + 2] != ["."] or not _is_ident(code[i + 2 : i + 3]):
            return EVERYTHING  # `purchase` whole: `size(purchase)`, `purchase["x"]`, ...
        field = code[i + 2]
        fields.add(field)
        as_argument = (
            code[max(i - 2, 0) : i] == ["size", "("]
            and (i < 3 or code[i - 3] != ".")
            and code[i + 3 : i + 4] == [")"]
        )
        as_target = code[i + 3 : i + 7] == [".", "size", "(", ")"]
        if not ((as_argument or as_target) and field in SIZED_LISTS):
            whole.add(field)
    return Demand(frozenset(fields), frozenset(fields - whole))


def _is_ident(token: list[str]) -> bool:
    return bool(token) and re.fullmatch(r"[_A-Za-z][_A-Za-z0-9]*", token[0]) is not None


def narrow(purchase: dict[str, Any], wanted: Demand) -> dict[str, Any]:
    """The view with only what `wanted` reaches: a `sized` list becomes that many nulls."""
    if wanted.fields is None:
        return purchase
    found = {k: v for k, v in purchase.items() if k in wanted.fields}
    for field in wanted.sized:
        if field in found:
            found[field] = [None] * len(found[field])
    return found


def context(purchase: dict[str, Any]) -> Any:
    """A CEL evaluation context holding `purchase`."""
    found = _cel.Context()
    found.add_variable("purchase", purchase)
    return found
