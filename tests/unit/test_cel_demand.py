"""CEL pays only for what it reads: the reachability analysis (`cel.demand`), table-driven,
and the same answer from the minimal activation as from the whole purchase."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import msgspec
import pytest

from cashback.devtools.sample_stream import generate
from cashback.domain import cel
from cashback.domain.engine import _present, _refund_view
from cashback.domain.events import Purchase, Refund, decode_event

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "workers" / "native" / "tests"))
from compare import EXPRESSIONS

L = frozenset({"lines"})

# expression -> (fields built, of which only their size) ; None: the whole purchase
TABLE: list[tuple[str, tuple[frozenset[str], frozenset[str]] | None]] = [
    ("size(purchase.lines) >= 3", (L, L)),
    ("purchase.lines.size() >= 3", (L, L)),
    ("size( purchase . lines ) // a comment: size(purchase)\n > 1", (L, L)),
    ("size(purchase.lines) > 1 && purchase.lines[0].sku == 'a'", (L, frozenset())),
    ("purchase.lines.exists(l, l.quantity > 1)", (L, frozenset())),
    ("purchase.lines.map(l, l.sku).size() > 0", (L, frozenset())),
    ("has(purchase.lines)", (L, frozenset())),
    ("type(purchase.lines) == list", (L, frozenset())),
    ("purchase.lines == []", (L, frozenset())),
    ("x.size(purchase.lines) > 0", (L, frozenset())),  # a method `size` with an argument
    ("size(purchase.customer.segments) > 0", (frozenset({"customer"}), frozenset())),
    ("size(purchase.event_id) > 3", (frozenset({"event_id"}), frozenset())),  # a string
    (
        "purchase.customer.tier == 'gold' && size(purchase.lines) > 2",
        (frozenset({"customer", "lines"}), L),
    ),
    ("'purchase' == r'\\' && size(purchase.lines) > 0", (L, L)),  # text in strings is text
    ("'''it's size(purchase)''' != '' || size(purchase.lines) > 0", (L, L)),
    ("size(purchase) > 3", None),
    ("purchase['lines'].size() > 0", None),
    ("[purchase].exists(p, size(p.lines) > 2)", None),
    ("purchase == {}", None),
    ("'lines' in purchase", None),
    ("purchase.lines.exists(purchase, purchase.sku == 'a')", None),  # shadowed: give up
    ("l.purchase.x", (frozenset({"x"}), frozenset())),  # a field named purchase: over-builds
    ("duration('1h') > duration('30m')", (frozenset(), frozenset())),
]


@pytest.mark.parametrize(("source", "want"), TABLE)
def test_what_an_expression_can_reach(
    source: str, want: tuple[frozenset[str], frozenset[str]] | None
) -> None:
    found = cel.demand(source)
    if want is None:
        assert found == cel.EVERYTHING
    else:
        assert (found.fields, found.sized) == want


def test_text_that_is_not_cel_builds_everything() -> None:
    assert cel.demand("size(purchase.lines) > 0 # no") == cel.EVERYTHING


def test_a_sized_list_is_that_many_nulls() -> None:
    view = {"lines": [{"sku": "a"}, {"sku": "b"}], "total_minor": 5, "currency": "RUB"}
    narrowed = cel.narrow(view, cel.Demand(frozenset({"lines", "currency"}), L))
    assert narrowed == {"lines": [None, None], "currency": "RUB"}


def _outcome(program: Any, view: dict[str, Any]) -> Any:
    try:
        return ("value", program.execute(cel.context(view)))
    except Exception as exc:  # the engine treats any error as "does not hold"
        return ("error", type(exc).__name__)


def _views() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for record in generate(150, seed=5, bad_every=None):
        if record.value is None:
            continue
        event = decode_event(record.value)
        if isinstance(event, Purchase):
            found.append(_present(msgspec.to_builtins(event)))
        elif isinstance(event, Refund):
            amounts = [line.amount_minor for line in event.original.lines]
            found.append(_refund_view(event, amounts, sum(amounts)))
    return found


EXTRA = [source for source, _ in TABLE] + [
    "size(purchase.lines) == purchase.lines.size()",
    "size(purchase.lines) * 2 + purchase.total_minor % 3 > 7",
    "[1, 2, 3].exists(x, x == size(purchase.lines))",
]


def test_the_minimal_activation_answers_as_the_whole_purchase() -> None:
    views = _views()
    checked = sized = 0
    for source in list(EXPRESSIONS) + EXTRA:
        program = cel.compile_expression(source)
        if isinstance(program, str):
            continue
        wanted = cel.demand(source)
        sized += bool(wanted.sized)
        for view in views:
            assert _outcome(program, cel.narrow(view, wanted)) == _outcome(program, view), source
            checked += 1
    assert checked > 5_000
    assert sized >= 8
