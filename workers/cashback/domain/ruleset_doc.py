"""Rule set documents (`ruleset/v1`) as written by marketing: parsing and validation.

A document is YAML or JSON. Structure, types and unknown fields are checked in one typed
pass; the rules a schema cannot express (exactly one way to pay, increasing bands, unique
rule ids, a real timezone, a CEL expression that compiles) are checked after it. Every
problem is reported with its place, e.g. ``rules[2] (id 'fuel').pay: ...``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
import orjson
import yaml
from msgspec import Meta, Struct

from cashback.domain.events import NOT_RFC3339, RFC3339, Currency, Mcc
from cashback.domain.money import MAX_MINOR, PERCENT_PATTERN

Name = Annotated[str, Meta(pattern="^[a-z0-9][a-z0-9._-]{0,63}\\Z")]
RuleId = Annotated[str, Meta(pattern="^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}\\Z")]
Minor = Annotated[int, Meta(ge=0, le=MAX_MINOR)]
PercentText = Annotated[str, Meta(pattern=PERCENT_PATTERN)]
ClockTime = Annotated[str, Meta(pattern="^([01][0-9]|2[0-3]):[0-5][0-9]\\Z")]
Template = Annotated[str, Meta(pattern="^[A-Za-z0-9][A-Za-z0-9._-]{0,127}\\Z")]
Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
Item = Annotated[str, Meta(min_length=1, max_length=128)]
Items = Annotated[tuple[Item, ...], Meta(min_length=1)]


class TimeWindow(Struct, frozen=True, forbid_unknown_fields=True, rename={"start": "from"}):
    start: ClockTime
    to: ClockTime


class When(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    categories: Items | None = None
    skus: Items | None = None
    mcc: Annotated[tuple[Mcc, ...], Meta(min_length=1)] | None = None
    merchants: Items | None = None
    channels: Items | None = None
    regions: Items | None = None
    payment_methods: Items | None = None
    tiers: Items | None = None
    segments: Items | None = None
    min_total_minor: Minor | None = None
    days_of_week: Annotated[tuple[Day, ...], Meta(min_length=1)] | None = None
    local_time: TimeWindow | None = None
    expr: Annotated[str, Meta(min_length=1, max_length=4096)] | None = None


class Band(Struct, frozen=True, forbid_unknown_fields=True):
    from_minor: Minor
    percent: PercentText


class Pay(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    percent: PercentText | None = None
    fixed_minor: Minor | None = None
    bands: Annotated[tuple[Band, ...], Meta(min_length=1, max_length=100)] | None = None
    max_minor: Minor | None = None
    min_minor: Minor | None = None


class RuleDoc(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    id: RuleId
    description: Annotated[str, Meta(min_length=1, max_length=500)]
    priority: Annotated[int, Meta(ge=-(10**9), le=10**9)] = 0
    when: When = When()
    pay: Pay


class Notify(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    accrual: Template | None = None
    reversal: Template | None = None


class RuleSetDoc(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    ruleset: Name
    version: Annotated[int, Meta(ge=1, le=2**31 - 1)]
    effective_from: datetime
    timezone: Annotated[str, Meta(min_length=1, max_length=64)] = "UTC"
    currencies: Annotated[tuple[Currency, ...], Meta(min_length=1)]
    rounding: Literal["down", "half_up", "half_even"] = "down"
    combine: Literal["first", "best", "stack"] = "first"
    max_per_purchase_minor: Minor | None = None
    hold_days: Annotated[int, Meta(ge=0, le=3650)] = 0
    expires_days: Annotated[int, Meta(ge=1, le=36500)] | None = None
    notify: Notify | None = None
    rules: Annotated[tuple[RuleDoc, ...], Meta(max_length=100_000)]


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a document, and where."""

    place: str
    message: str

    def __str__(self) -> str:
        return f"{self.place}: {self.message}" if self.place else self.message


class RuleSetError(ValueError):
    """A refused document; `problems` lists every problem found, each with its place."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))


# libyaml's parser when PyYAML has it (the wheels do): the same safe constructor and
# resolvers, parsing ~20x faster (a 10,000-rule document took 67 s with the Python one).
_SafeBase: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_SafeBase):  # type: ignore[valid-type,misc]
    """Safe YAML that keeps clock times like 08:00 as text rather than base-60 integers."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:int"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(r"^(?:[-+]?0|[-+]?[1-9][0-9_]*)$"),
    list("-+0123456789"),
)


def load_document(data: bytes | str) -> Any:
    """Parse YAML or JSON text (JSON is YAML) into plain Python values."""
    plain = _plain_json(data)
    if plain is not None:
        return plain
    try:
        return yaml.load(data, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise RuleSetError([Problem(where, f"not valid YAML/JSON: {problem}")]) from None


def _plain_json(data: bytes | str) -> dict[str, Any] | None:
    """A JSON object parsed by orjson when YAML would read it the same, else None.

    YAML parsing is most of a big rule set's compile time (a 10,000-rule JSON document:
    3.7 s with libyaml, 0.1 s with orjson). JSON text means the same to both except for
    floats (YAML 1.1 reads `1e5` as text), `\\u` escapes (YAML does not pair surrogates)
    and characters YAML refuses; any of those, or anything but an object, goes to YAML.
    """
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    if not text.lstrip(" \t\r\n").startswith("{") or "\\u" in text:
        return None
    if yaml.reader.Reader.NON_PRINTABLE.search(text) or "\ufffd" in text:
        return None  # "\ufffd": the bytes were not UTF-8, or the text holds one as is
    try:
        found = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    return found if isinstance(found, dict) and not _has_float(found) else None


def _has_float(value: Any) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, dict):
        return any(_has_float(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_float(v) for v in value)
    return False


def convert_document(raw: Any) -> RuleSetDoc:
    """Check structure and types; the first structural problem is reported with its place."""
    if not isinstance(raw, dict):
        raise RuleSetError([Problem("", "a rule set document must be a mapping")])
    written = raw.get("effective_from")
    if isinstance(written, str) and not RFC3339.match(written) and not _NAIVE.match(written):
        # A naive time is refused when compiled ("needs a UTC offset"); an unquoted YAML
        # timestamp arrives as a datetime, in YAML's own syntax.
        raise RuleSetError([Problem("effective_from", NOT_RFC3339)])
    try:
        return msgspec.convert(raw, RuleSetDoc, strict=True)
    except msgspec.ValidationError as exc:
        raise RuleSetError([_structural_problem(str(exc), raw)]) from None


_NAIVE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?\Z")
_PATH_RE = re.compile(r"^(?P<message>.*) - at `\$(?P<path>[^`]*)`$")
_RULE_INDEX_RE = re.compile(r"^\.rules\[(\d+)\]")


def _structural_problem(text: str, raw: dict[str, Any]) -> Problem:
    match = _PATH_RE.match(text)
    if not match:
        return Problem("", text)
    message, path = match["message"], match["path"]
    if path.endswith((".local_time.from", ".local_time.to")) and "got `int`" in message:
        message += ' (quote clock times in YAML: "08:00")'
    if path.endswith(".percent") and ("got `int`" in message or "got `float`" in message):
        message += ' (write percents as decimal strings: "1.5"; a float never touches money)'
    return Problem(_name_rule(path.lstrip("."), raw), message)


def _name_rule(place: str, raw: dict[str, Any]) -> str:
    """Add the rule id to a place inside `rules[i]`, so authors find it by name."""
    match = _RULE_INDEX_RE.match("." + place)
    rules = raw.get("rules")
    if not match or not isinstance(rules, list):
        return place
    index = int(match[1])
    rule = rules[index] if index < len(rules) else None
    rule_id = rule.get("id") if isinstance(rule, dict) else None
    if not isinstance(rule_id, str):
        return place
    head = f"rules[{index}]"
    return f"{head} (id {rule_id!r}){place[len(head) :]}"
