"""The JSON Schemas in `schemas/` against the code, example by example.

Every file under `schemas/examples/<schema>/<kind>/` goes through both the schema (JSON Schema
2020-12 with format checking) and the code that reads or writes that document. What `<kind>`
promises:

- `valid/`: both accept.
- `invalid/`: both reject, at the same place (the code's error path is one the schema names).
- `invalid-semantic/`: the schema accepts and the code rejects: checks JSON Schema cannot
  express (refund arithmetic, unique rule ids, a real timezone, CEL that compiles, ...).
- `invalid-code-accepts/`: the contract rejects it but the code accepts it today. These are
  known code gaps, kept as strict xfails: once the code is fixed they pass, the xfail turns
  into a failure, and the file moves to `invalid/`.

Then the engine's real outputs for the demo rule sets are checked against the output schemas.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

import msgspec
import pytest
from jsonschema import Draft202012Validator, FormatChecker, ValidationError, validators

from cashback.domain import records
from cashback.domain.catalog import Catalog
from cashback.domain.engine import Output
from cashback.domain.events import SCHEMA_VIOLATION, Rejection, decode_event
from cashback.domain.money import MAX_MINOR
from cashback.domain.records import Accrual, Notification, NotificationParams, RuleAmount
from cashback.domain.rules import parse_ruleset
from cashback.domain.ruleset_doc import RuleSetError, load_document
from engines import CheckedEngine

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "schemas"
EXAMPLES = SCHEMAS / "examples"
DEMO_RULES = ROOT / "deploy" / "examples" / "rules"
KINDS = ("valid", "invalid", "invalid-semantic", "invalid-code-accepts")
SCHEMA_NAMES = ("purchase.v1", "ruleset.v1", "accrual.v1", "notification.v1")

# ----------------------------------------------------------------------------- schema side

FORMATS = FormatChecker()

_RFC3339 = re.compile(
    r"(?P<year>[0-9]{4})-(?P<month>[0-9]{2})-(?P<day>[0-9]{2})[Tt]"
    r"(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2}):(?P<second>[0-9]{2})(?:\.[0-9]+)?"
    r"(?:[Zz]|(?P<sign>[+-])(?P<off_hour>[0-9]{2}):(?P<off_minute>[0-9]{2}))"
)


@FORMATS.checks("date-time", raises=ValueError)
def is_rfc3339_date_time(value: object) -> bool:
    """RFC 3339 `date-time` (section 5.6): `T` separator, an offset always, leap seconds only
    at 23:59 UTC. jsonschema checks this format only with an optional package installed, so
    the tests carry their own strict check."""
    if not isinstance(value, str):
        return True
    match = _RFC3339.fullmatch(value)
    if match is None:
        return False
    part = {k: int(v) for k, v in match.groupdict().items() if v is not None and k != "sign"}
    date(part["year"], part["month"], part["day"])  # raises ValueError for 2026-02-30
    hour, minute, second = part["hour"], part["minute"], part["second"]
    off_hour, off_minute = part.get("off_hour", 0), part.get("off_minute", 0)
    if hour > 23 or minute > 59 or second > 60 or off_hour > 23 or off_minute > 59:
        return False
    if second == 60:  # a leap second is 23:59:60 in UTC
        offset = (off_hour * 60 + off_minute) * (-1 if match["sign"] == "-" else 1)
        return (hour * 60 + minute - offset) % 1440 == 23 * 60 + 59
    return True


@cache
def _ecma_regex(pattern: str) -> re.Pattern[str]:
    # ECMA-262 `$` matches only at the very end; Python's also before a final newline.
    return re.compile(re.sub(r"(?<!\\)\$", r"\\Z", pattern))


def _ecma_pattern(
    validator: Any, pattern: str, instance: object, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    if isinstance(instance, str) and not _ecma_regex(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


# Draft 2020-12 with `pattern` read as JSON Schema says: ECMA-262, as other languages read it.
Validator = validators.extend(Draft202012Validator, {"pattern": _ecma_pattern})


@cache
def schema(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SCHEMAS / f"{name}.schema.json").read_text())
    return loaded


@cache
def validator(name: str) -> Any:
    return Validator(schema(name), format_checker=FORMATS)


def schema_errors(name: str, instance: object) -> list[ValidationError]:
    return list(validator(name).iter_errors(instance))


def error_paths(errors: list[ValidationError]) -> set[str]:
    """Every instance path an error names, including those inside oneOf/anyOf branches."""
    paths: set[str] = set()
    pending = list(errors)
    while pending:
        error = pending.pop()
        paths.add(error.json_path)
        pending.extend(error.context or ())
    return paths


def as_json_data(value: Any) -> Any:
    """A loaded YAML document as its JSON data model: YAML timestamps become RFC 3339 text."""
    if isinstance(value, dict):
        return {key: as_json_data(item) for key, item in value.items()}
    if isinstance(value, list):
        return [as_json_data(item) for item in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def instance_of(path: Path) -> Any:
    raw = path.read_bytes()
    if path.suffix in {".yaml", ".yml"}:
        return as_json_data(load_document(raw))
    return json.loads(raw)


# ----------------------------------------------------------------------------- code side


@dataclass(frozen=True)
class Objection:
    """One thing the code refuses: its error code (inputs only), the path, and why."""

    path: str
    message: str
    code: str | None = None


def _at(message: str) -> str:
    """The path in a msgspec message ("... - at `$.lines[0]`"); `$` when it names none."""
    match = re.search(r" - at `(\$[^`]*)`$", message)
    return match[1] if match else "$"


def event_objections(raw: bytes) -> list[Objection]:
    """What `decode_event` (the worker's input gate) refuses, with its dead-letter code."""
    event = decode_event(raw)
    if not isinstance(event, Rejection):
        return []
    return [Objection(_at(event.message), event.message, event.code)]


def ruleset_objections(raw: bytes) -> list[Objection]:
    """Every problem `parse_ruleset` reports; places like `rules[0] (id 'x').pay` as paths."""
    try:
        parse_ruleset(raw)
    except RuleSetError as exc:
        objections = []
        for problem in exc.problems:
            place = re.sub(r" \(id '[^']*'\)", "", problem.place)
            objections.append(Objection("$" + (f".{place}" if place else ""), problem.message))
        return objections
    return []


def _exact_fields(path: str, plain: object, struct: type[msgspec.Struct]) -> list[Objection]:
    """The worker writes every field of the struct and nothing else."""
    if not isinstance(plain, dict):
        return [Objection(path, "not an object")]
    expected = set(struct.__struct_fields__)
    found = set(plain)
    objections = [Objection(path, f"unknown field {n!r}") for n in sorted(found - expected)]
    objections += [Objection(path, f"missing field {n!r}") for n in sorted(expected - found)]
    return objections


def _uuid_text(path: str, text: str) -> list[Objection]:
    try:
        canonical = str(uuid.UUID(text))
    except ValueError:
        return [Objection(path, "not a UUID")]
    return [] if canonical == text else [Objection(path, "not lower-case canonical UUID text")]


def _aware(path: str, moment: datetime | None) -> list[Objection]:
    if moment is not None and moment.tzinfo is None:
        return [Objection(path, "timestamp without an offset")]
    return []


def _decode(raw: bytes, struct: type[msgspec.Struct]) -> Any:
    try:
        return msgspec.json.decode(raw, type=struct, strict=True)
    except msgspec.DecodeError as exc:
        return [Objection(_at(str(exc)), str(exc))]


def accrual_objections(raw: bytes) -> list[Objection]:
    """What records.py and the engine guarantee about every accrual/v1 value they write."""
    accrual = _decode(raw, Accrual)
    if isinstance(accrual, list):
        return accrual
    plain = json.loads(raw)
    found = _exact_fields("$", plain, Accrual)
    for i, rule in enumerate(plain["rules"]):
        found += _exact_fields(f"$.rules[{i}]", rule, RuleAmount)
    found += _uuid_text("$.accrual_id", accrual.accrual_id)
    for field in ("occurred_at", "available_at", "expires_at"):
        found += _aware(f"$.{field}", getattr(accrual, field))
    if found:
        return found
    if accrual.accrual_id != records.accrual_id(accrual.event_id, accrual.ruleset):
        found.append(Objection("$.accrual_id", "not derived from event_id and ruleset"))
    later = accrual.available_at > accrual.occurred_at
    if accrual.kind == "accrual":
        if accrual.amount_minor <= 0:
            found.append(Objection("$.amount_minor", "an accrual pays a positive amount"))
        if later != (accrual.status == "pending"):
            found.append(Objection("$.status", "pending exactly while available_at is ahead"))
    else:
        # Normally negative; positive only when a refund moves lines to a richer rule
        # (docs/decisions.md, "A reversal's sign follows the arithmetic").
        if accrual.amount_minor == 0:
            found.append(Objection("$.amount_minor", "a reversal is never zero"))
        if accrual.status != "available":
            found.append(Objection("$.status", "a reversal is available at once"))
        if accrual.available_at != accrual.occurred_at:
            found.append(Objection("$.available_at", "a reversal is available at its time"))
        if accrual.expires_at is not None:
            found.append(Objection("$.expires_at", "a reversal does not expire"))
    if accrual.available_at < accrual.occurred_at:
        found.append(Objection("$.available_at", "before the event"))
    if accrual.expires_at is not None and accrual.expires_at <= accrual.available_at:
        found.append(Objection("$.expires_at", "expires after it becomes available"))
    return found


def notification_objections(raw: bytes) -> list[Objection]:
    """What records.py and the engine guarantee about every notification/v1 value."""
    note = _decode(raw, Notification)
    if isinstance(note, list):
        return note
    plain = json.loads(raw)
    found = _exact_fields("$", plain, Notification)
    found += _exact_fields("$.params", plain["params"], NotificationParams)
    found += _uuid_text("$.notification_id", note.notification_id)
    found += _uuid_text("$.accrual_id", note.accrual_id)
    found += _aware("$.params.available_at", note.params.available_at)
    found += _aware("$.params.expires_at", note.params.expires_at)
    if found:
        return found
    if note.notification_id != records.notification_id(note.accrual_id, note.template):
        found.append(Objection("$.notification_id", "not derived from accrual_id and template"))
    amount = note.params.amount_minor
    if amount == 0 or (note.kind == "accrual" and amount < 0):
        found.append(Objection("$.params.amount_minor", "> 0 for accruals, never 0"))
    if note.kind == "reversal" and note.params.expires_at is not None:
        found.append(Objection("$.params.expires_at", "a reversal does not expire"))
    if not note.params.descriptions:
        found.append(Objection("$.params.descriptions", "names at least one rule"))
    return found


CODE_CHECKS = {
    "purchase.v1": event_objections,
    "ruleset.v1": ruleset_objections,
    "accrual.v1": accrual_objections,
    "notification.v1": notification_objections,
}


# ----------------------------------------------------------------------------- examples


def example_files() -> list[Path]:
    return sorted(p for p in EXAMPLES.glob("*/*/*") if p.is_file())


def _example_param(path: Path) -> Any:
    marks = []
    if path.parent.name == "invalid-code-accepts":
        gap = "known code gap: the code accepts what the contract refuses (schemas/README.md)"
        marks.append(pytest.mark.xfail(strict=True, raises=AssertionError, reason=gap))
    return pytest.param(path, id=str(path.relative_to(EXAMPLES)), marks=marks)


def _under(code_path: str, schema_path: str) -> bool:
    return schema_path == code_path or schema_path.startswith((code_path + ".", code_path + "["))


@pytest.mark.parametrize("path", [_example_param(p) for p in example_files()])
def test_example_agrees_with_schema_and_code(path: Path) -> None:
    name, kind = path.parent.parent.name, path.parent.name
    assert name in SCHEMA_NAMES, f"examples for an unknown schema: {name}"
    assert kind in KINDS, f"unknown example kind: {kind}"
    errors = schema_errors(name, instance_of(path))
    objections = CODE_CHECKS[name](path.read_bytes())
    schema_says = [f"{e.json_path}: {e.message}" for e in errors]

    if kind == "valid":
        assert not errors, f"the schema rejects a valid example: {schema_says}"
        assert not objections, f"the code rejects a valid example: {objections}"
    elif kind == "invalid-semantic":
        assert not errors, f"the schema rejects a semantic-only example: {schema_says}"
        assert objections, "the code accepts an example it must reject"
    else:  # invalid, invalid-code-accepts
        assert errors, "the schema accepts an invalid example"
        assert objections, "the code accepts an invalid example"
        # Both must object to the same thing, not merely to something.
        paths = error_paths(errors)
        for objection in objections:
            assert objection.code in {None, SCHEMA_VIOLATION}, f"dead-letter code {objection}"
            assert any(_under(objection.path, p) for p in paths), (
                f"the code objects at {objection.path}, the schema at {sorted(paths)}"
            )


def test_every_schema_is_valid_draft_2020_12() -> None:
    files = sorted(SCHEMAS.glob("*.schema.json"))
    assert [f.name.removesuffix(".schema.json") for f in files] == sorted(SCHEMA_NAMES)
    for file in files:
        document = json.loads(file.read_text())
        assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert document["$id"].endswith("/" + file.name)
        assert document.get("title") and document.get("description")
        Draft202012Validator.check_schema(document)


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_every_schema_has_valid_and_invalid_examples(name: str) -> None:
    def count(kind: str) -> int:
        folder = EXAMPLES / name / kind
        return len([p for p in folder.iterdir() if p.is_file()]) if folder.is_dir() else 0

    assert count("valid") >= 1
    assert count("invalid") >= 1


def _properties(node: Any, where: str) -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        for key, child in (node.get("properties") or {}).items():
            yield f"{where}.{key}", child
        for key, child in node.items():
            # if/then and oneOf branches restate fields declared (and described) elsewhere.
            if key not in {"properties", "const", "enum", "default", "if", "then", "oneOf"}:
                yield from _properties(child, f"{where}/{key}")
    elif isinstance(node, list):
        for i, child in enumerate(node):
            yield from _properties(child, f"{where}[{i}]")


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_every_field_is_described(name: str) -> None:
    """Other teams read the schema as documentation: no field without a description. A field
    may leave it to its `$ref` target only when that definition serves no other field name
    (e.g. `customer`), not when it is a generic type (e.g. `id`, `minor`)."""
    document = schema(name)
    fields = list(_properties(document, name))
    names_by_target: dict[str, set[str]] = {}
    for where, prop in fields:
        if "$ref" in prop:
            names_by_target.setdefault(prop["$ref"], set()).add(where.rsplit(".", 1)[1])
    missing = []
    for where, prop in fields:
        ref = prop.get("$ref", "")
        target = document["$defs"].get(ref.removeprefix("#/$defs/"), {})
        own_target = "description" in target and len(names_by_target.get(ref, ())) == 1
        if "description" not in prop and not own_target:
            missing.append(where)
    assert not missing


# ----------------------------------------------------------------------------- engine outputs


def _demo_rulesets() -> list[Path]:
    valid = sorted((EXAMPLES / "ruleset.v1" / "valid").iterdir())
    return sorted(DEMO_RULES.glob("*.yaml")) + valid


@cache
def _engine() -> CheckedEngine:
    return CheckedEngine(Catalog.of(parse_ruleset(p.read_bytes()) for p in _demo_rulesets()))


def _input_examples() -> list[Path]:
    return sorted((EXAMPLES / "purchase.v1" / "valid").iterdir())


_STRUCTS: dict[str, type[msgspec.Struct]] = {
    records.ACCRUAL_SCHEMA: Accrual,
    records.NOTIFICATION_SCHEMA: Notification,
}


def _check_output(output: Output) -> None:
    name = output.schema.replace("/", ".")
    instance = json.loads(output.value)
    errors = [f"{e.json_path}: {e.message}" for e in schema_errors(name, instance)]
    assert not errors, f"{output.value!r} breaks {name}: {errors}"
    assert not CODE_CHECKS[name](output.value)
    # Field order is the struct's, so a replay writes the same bytes.
    assert list(instance) == list(_STRUCTS[output.schema].__struct_fields__)


@pytest.mark.parametrize("path", [pytest.param(p, id=p.name) for p in _input_examples()])
def test_engine_outputs_match_output_schemas(path: Path) -> None:
    handled = _engine().handle(path.read_bytes())
    assert handled.rejection is None
    for output in handled.outputs:
        _check_output(output)


def test_engine_outputs_cover_every_output_shape() -> None:
    """The examples above exercise both kinds, holds, expiries and locales."""
    accruals: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []
    for path in _input_examples():
        for output in _engine().handle(path.read_bytes()).outputs:
            target = accruals if output.schema == records.ACCRUAL_SCHEMA else notes
            target.append(json.loads(output.value))
    assert {(a["kind"], a["status"], a["expires_at"] is None) for a in accruals} >= {
        ("accrual", "pending", False),
        ("accrual", "available", True),
        ("reversal", "available", True),
    }
    assert any(len(a["rules"]) > 1 for a in accruals)
    assert {(n["kind"], n["locale"] is None) for n in notes} >= {
        ("accrual", False),
        ("accrual", True),
        ("reversal", False),
    }


# Rule sets and events under which the engine writes what the output schemas refuse.
_NOT_MONOTONE = """
ruleset: not-monotone
version: 1
effective_from: 2026-01-01T00:00:00Z
currencies: [RUB]
rules:
  - {id: big-orders, description: 1% on big orders, priority: 10,
     when: {min_total_minor: 10000}, pay: {percent: "1"}}
  - {id: catch-all, description: 5% on everything, pay: {percent: "5"}}
"""
_EVERYTHING_BACK = """
ruleset: everything-back
version: 1
effective_from: 2026-01-01T00:00:00Z
currencies: [RUB]
rules:
  - {id: all, description: everything back, pay: {percent: "100"}}
"""
_LINES = [{"sku": s, "category": "g", "quantity": 1, "amount_minor": 5000} for s in "ab"]
_SHRINKING_REFUND = {
    "event_id": "r-1",
    "type": "refund",
    "purchase_id": "p-1",
    "occurred_at": "2026-03-08T12:00:00+03:00",
    "customer": {"id": "C-1"},
    "currency": "RUB",
    "original": {"occurred_at": "2026-03-07T12:00:00+03:00", "total_minor": 10000, "lines": _LINES},
    "refunded_lines": [{"line": 0, "amount_minor": 1000}],
}
_HUGE_PURCHASE = {
    "event_id": "e-1",
    "type": "purchase",
    "purchase_id": "p-1",
    "occurred_at": "2026-03-07T12:00:00+03:00",
    "customer": {"id": "C-1"},
    "currency": "RUB",
    "total_minor": MAX_MINOR,
    "lines": [{"sku": "a", "category": "g", "quantity": 1, "amount_minor": MAX_MINOR}] * 2,
}


@pytest.mark.parametrize(
    ("rules", "event"),
    [
        pytest.param(_NOT_MONOTONE, _SHRINKING_REFUND, id="reversal-with-positive-amount"),
    ],
)
def test_unusual_but_valid_outputs(rules: str, event: dict[str, Any]) -> None:
    engine = CheckedEngine(Catalog.of([parse_ruleset(rules)]))
    outputs = engine.handle(json.dumps(event).encode()).outputs
    assert outputs
    for output in outputs:
        _check_output(output)


def test_lines_adding_up_past_2_53_are_a_dead_letter() -> None:
    engine = CheckedEngine(Catalog.of([parse_ruleset(_EVERYTHING_BACK)]))
    handled = engine.handle(json.dumps(_HUGE_PURCHASE).encode())
    assert handled.outputs == []
    assert handled.rejection is not None
    assert handled.rejection.code == "schema_violation"
