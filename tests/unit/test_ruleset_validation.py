"""SPEC: a document that breaks the schema, has an unknown field, a duplicate rule id, or
republishes a version with different content is refused with a message naming the place."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from cashback.domain.catalog import Catalog, RuleSetConflictError
from cashback.domain.rules import parse_ruleset
from cashback.domain.ruleset_doc import RuleSetError
from pricing_support import rule, ruleset

YAML = """
ruleset: retail
version: 3
effective_from: 2026-12-01T00:00:00+03:00
timezone: Europe/Moscow
currencies: [RUB]
notify: {accrual: cashback_accrued}
rules:
  - id: groceries-weekend
    description: 5% back on groceries at weekends
    priority: 10
    when:
      categories: [groceries]
      mcc: ["5411"]
      days_of_week: [sat, sun]
      local_time: {from: 08:00, to: "12:00"}
    pay: {percent: "5", max_minor: 300000, min_minor: 100}
"""


def test_yaml_document_with_defaults() -> None:
    rs = parse_ruleset(YAML)
    assert (rs.name, rs.version, rs.zone.key) == ("retail", 3, "Europe/Moscow")
    assert rs.rounding.value == "down" and rs.combine == "first"  # SPEC defaults
    assert rs.hold_days == 0 and rs.expires_days is None
    assert rs.rules[0].id == "groceries-weekend"


def test_json_document_is_accepted_too() -> None:
    doc = {
        "ruleset": "a",
        "version": 1,
        "effective_from": "2026-01-01T00:00:00Z",
        "currencies": ["EUR"],
        "rules": [rule()],
    }
    assert parse_ruleset(orjson.dumps(doc)).name == "a"


def doc_with(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "ruleset": "retail",
        "version": 1,
        "effective_from": "2026-01-01T00:00:00+03:00",
        "currencies": ["RUB"],
        "rules": [rule("a"), rule("b")],
    }
    doc.update(changes)
    return doc


def problems(doc: dict[str, Any] | str) -> list[str]:
    raw = doc if isinstance(doc, str) else orjson.dumps(doc)
    with pytest.raises(RuleSetError) as caught:
        parse_ruleset(raw)
    return [str(p) for p in caught.value.problems]


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        (doc_with(colour="red"), "unknown field `colour`"),
        (
            doc_with(rules=[rule("a", when={"category": ["x"]})]),
            "rules[0] (id 'a').when: Object contains unknown field `category`",
        ),
        (doc_with(rules=[rule("a", pay={"percent": 5})]), "write percents as decimal strings"),
        (doc_with(rules=[rule("a", pay={"percent": "1,5"})]), "rules[0] (id 'a').pay.percent"),
        (
            doc_with(rules=[rule("a", pay={"percent": "100.5"})]),
            "rules[0] (id 'a').pay.percent: percent must be at most 100",
        ),
        (doc_with(ruleset="Retail"), "ruleset: Expected `str` matching regex"),
        (doc_with(version=0), "version: Expected `int` >= 1"),
        (doc_with(currencies=[]), "currencies"),
        (doc_with(currencies=["rub"]), "currencies[0]"),
        (doc_with(rounding="up"), "rounding"),
        (doc_with(combine="all"), "combine"),
        (doc_with(timezone="Mars/Olympus"), "timezone: unknown IANA timezone 'Mars/Olympus'"),
        (doc_with(effective_from="2026-01-01T00:00:00"), "effective_from: needs a UTC offset"),
        (doc_with(rules=[rule("a"), rule("a")]), "rules[1] (id 'a'): duplicate rule id"),
        (
            doc_with(rules=[rule("a", pay={})]),
            "rules[0] (id 'a').pay: needs exactly one of percent, fixed_minor, bands (found none)",
        ),
        (
            doc_with(rules=[rule("a", pay={"percent": "1", "fixed_minor": 5})]),
            "(found percent, fixed_minor)",
        ),
        (
            doc_with(
                rules=[
                    rule(
                        "a",
                        pay={
                            "bands": [
                                {"from_minor": 5, "percent": "1"},
                                {"from_minor": 5, "percent": "2"},
                            ]
                        },
                    )
                ]
            ),
            "rules[0] (id 'a').pay.bands[1]: from_minor must increase",
        ),
        (
            doc_with(rules=[rule("a", pay={"percent": "1", "min_minor": 9, "max_minor": 5})]),
            "min_minor is greater than max_minor",
        ),
        (doc_with(rules=[rule("a", when={"categories": []})]), "rules[0] (id 'a').when.categories"),
        (doc_with(rules=[rule("a", when={"mcc": ["54111"]})]), "when.mcc[0]"),
        (doc_with(rules=[rule("a", when={"days_of_week": ["sunday"]})]), "days_of_week[0]"),
        (
            doc_with(rules=[rule("a", when={"local_time": {"from": "8:00", "to": "12:00"}})]),
            "when.local_time.from",
        ),
        (
            doc_with(rules=[rule("a", when={"local_time": {"from": "08:00", "to": "08:00"}})]),
            "empty window",
        ),
        (
            doc_with(rules=[rule("a", when={"expr": "purchase.total_minor >"})]),
            "rules[0] (id 'a').when.expr: does not compile",
        ),
        (
            doc_with(rules=[rule("a", when={"expr": "order.total_minor > 1"})]),
            "unknown variable(s) ['order']",
        ),
        (
            doc_with(rules=[rule("a", when={"expr": "purchase.lines.exists(l, m > 1)"})]),
            "unknown variable(s) ['m']",
        ),  # the macro binds `l`, not `m`
        (
            doc_with(rules=[{"id": "a", "pay": {"percent": "1"}}]),
            "missing required field `description`",
        ),
        ("rules: [", "not valid YAML/JSON"),
        ("- just\n- a list\n", "must be a mapping"),
    ],
)
def test_refused_with_the_place(doc: dict[str, Any] | str, expected: str) -> None:
    found = problems(doc)
    assert any(expected in p for p in found), found


def test_every_semantic_problem_is_reported_at_once() -> None:
    doc = doc_with(
        timezone="Nowhere/City",
        rules=[rule("a", pay={}), rule("a", pay={"percent": "1", "min_minor": 2, "max_minor": 1})],
    )
    assert len(problems(doc)) == 4


def test_unquoted_clock_time_in_yaml_is_text() -> None:
    rs = parse_ruleset(YAML)  # `from: 08:00` unquoted must not become 480 (base 60)
    assert rs.rules[0].conditions[-1].describe().endswith("[08:00, 12:00)")


def test_republished_version_with_other_content_is_refused() -> None:
    catalog = Catalog.of([ruleset([rule(pay={"percent": "1"})])])
    same = ruleset([rule(pay={"percent": "1"})])
    assert catalog.with_ruleset(same) is catalog  # the same content again is harmless
    with pytest.raises(RuleSetConflictError, match="retail version 1 is already published"):
        catalog.with_ruleset(ruleset([rule(pay={"percent": "2"})]))


def test_catalog_keeps_serving_known_versions_after_a_refusal() -> None:
    catalog = Catalog.of([ruleset([rule()])])
    with pytest.raises(RuleSetConflictError):
        catalog.with_ruleset(ruleset([rule(pay={"percent": "9"})]))
    assert len(catalog) == 1
    assert catalog.all()[0].rules[0].payout.percent is not None
